# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A webhook receiver that records every alert it accepts, and can be taken down.

Modes: ``up`` (200, the alert is recorded), ``failing`` (503, nothing recorded: a chat service
in trouble), ``down`` (the port is closed: connection refused). Records are kept in memory and
appended to a JSON-lines file as they arrive.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

UP, FAILING, DOWN = "up", "failing", "down"
KEPT = ("id", "time", "kind", "node", "old_bytes", "new_bytes", "observed", "rule")


class Receiver:
    def __init__(self, log_path, port=0):
        self.port = port
        self.mode = DOWN
        self.records = []
        self.refused = 0          # answered 503
        self.malformed = 0
        self.last_received = None
        self.changes = []         # (time, mode)
        self._lock = threading.Lock()
        self._log = open(log_path, "a")
        self._server = None
        self._thread = None

    @property
    def url(self):
        return "http://127.0.0.1:%d/hooks/soak" % self.port

    def _handler(self):
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args):
                pass

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                code = receiver.receive(body)
                answer = b"ok" if code == 200 else b"service unavailable"
                self.send_response(code)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(answer)))
                self.send_header("Connection", "close")
                self.end_headers()
                self.wfile.write(answer)

        return Handler

    def receive(self, body):
        now = time.time()
        with self._lock:
            if self.mode != UP:
                self.refused += 1
                return 503
            try:
                alert = json.loads(body)["alert"]
                record = dict((key, alert.get(key)) for key in KEPT)
            except (ValueError, KeyError, TypeError, AttributeError):
                self.malformed += 1
                return 400
            record["received"] = now
            self.records.append(record)
            self.last_received = now
            self._log.write(json.dumps(record, separators=(",", ":")) + "\n")
            return 200

    def _listen(self):
        if self._server is None:
            self._server = ThreadingHTTPServer(("127.0.0.1", self.port), self._handler())
            self._server.daemon_threads = True
            self.port = self._server.server_address[1]
            self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                            name="webhook-receiver", daemon=True)
            self._thread.start()

    def _set(self, mode):
        with self._lock:
            self.mode = mode
            self.changes.append((time.time(), mode))

    def up(self):
        self._listen()
        self._set(UP)

    def failing(self):
        self._listen()
        self._set(FAILING)

    def down(self):
        self._set(DOWN)
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
            self._thread.join(5)

    def stop(self):
        self.down()
        with self._lock:
            self._log.close()

    def count(self):
        with self._lock:
            return len(self.records)

    def snapshot(self):
        with self._lock:
            return list(self.records)
