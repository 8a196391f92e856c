# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The soak's API server, in a process of its own: the fake kube-apiserver with the scenario's
cluster, its random FaultPlan, and the scripted changes applied through its direct state access
(as the kubelets' status updates: watch events, no HTTP, no injected fault on the way).

Prints one JSON line ``{"url", "kubeconfig", "control", "pid"}`` when ready and is then driven
over a small control server on 127.0.0.1 (``control``):

* ``POST /start``: start the schedule now and turn the fault plan on;
* ``POST /plan`` ``{"enabled": false}``: pause (or resume) the fault plan;
* ``POST /restart`` ``{"down": 2, "starting": 3}``: restart the API server (watch cache lost);
* ``GET /lease?namespace=default&name=N``: the Lease's spec (who leads);
* ``GET /status``: changes applied, how late the schedule runs, faults injected;
* ``POST /stop``: stop, write the fault report and the changes log, exit.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import json
import os
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [os.path.join(os.path.dirname(os.path.dirname(HERE))), HERE]

from fakekube import FakeKube  # noqa: E402
from fakekube.faults import FaultPlan  # noqa: E402
from scenario import Cluster, node_images, scratch_entry  # noqa: E402


class SoakServer:
    def __init__(self, args):
        self.cluster = Cluster(args.nodes, args.images, args.seed, args.min_change)
        if args.fingerprint and self.cluster.fingerprint() != args.fingerprint:
            raise SystemExit("the cluster built here differs from the soak's (fingerprint %s, expected %s)"
                             % (self.cluster.fingerprint(), args.fingerprint))
        with open(args.schedule) as handle:
            self.changes = json.load(handle)
        self.changes_log = args.changes_log
        self.fault_report = args.fault_report
        self.plan = FaultPlan(**json.loads(args.fault_plan)) if args.fault_plan else None
        # The soak sends thousands of requests with state bodies: recording them would be a leak.
        self.kube = FakeKube(request_log_limit=0, bookmark_interval=args.bookmark_interval)
        self.kube.seed_nodes(self.cluster.nodes)
        self.cluster.nodes = None  # the API server holds them now
        self.applied = []
        self.restarts = []
        self.late_max = 0.0
        self.errors = []
        self.started_at = None
        self.done = threading.Event()
        self.stop_event = threading.Event()

    def start(self, kubeconfig):
        self.kube.start()
        self.kube.write_kubeconfig(kubeconfig)
        if self.plan is not None:
            self.plan.enabled = False
            self.kube.set_fault_plan(self.plan)

    def run_schedule(self):
        self.started_at = time.time()
        if self.plan is not None:
            self.plan.enabled = True
        for change in self.changes:
            due = self.started_at + change["at"]
            delay = due - time.time()
            if delay > 0 and self.stop_event.wait(delay):
                break
            name = change["node"]
            images = node_images(self.cluster.others[name], scratch_entry(name, change["version"], change["size"]))
            try:
                node = self.kube.patch_status(name, {"images": images})
            except Exception as exc:  # recorded and reported: the soak then counts that change as not applied
                self.errors.append("change %d on %s: %s: %s" % (change["i"], name, type(exc).__name__, exc))
                continue
            now = time.time()
            self.late_max = max(self.late_max, now - due)
            self.applied.append({"i": change["i"], "applied": now, "rv": node["metadata"]["resourceVersion"]})
        self.done.set()

    def restart(self, down, starting):
        self.restarts.append({"time": time.time(), "down": down, "starting": starting})
        self.kube.restart(down_seconds=down, starting_seconds=starting)

    def status(self):
        return {"applied": len(self.applied), "of": len(self.changes), "late_max": round(self.late_max, 3),
                "done": self.done.is_set(), "errors": self.errors[-5:], "running": self.kube.running,
                "faults": self.plan.counts() if self.plan is not None else {}}

    def lease(self, namespace, name):
        lease = self.kube.get("coordination.k8s.io/v1", "Lease", name, namespace)
        return (lease or {}).get("spec") or {}

    def finish(self):
        self.kube.stop()
        with open(self.changes_log, "w") as handle:
            json.dump({"started_at": self.started_at, "applied": self.applied, "errors": self.errors,
                       "late_max": self.late_max, "restarts": self.restarts}, handle)
        if self.plan is not None and self.fault_report:
            with open(self.fault_report, "w") as handle:
                json.dump({"seed": self.plan.seed, "rates": self.plan.rates, "counts": self.plan.counts(),
                           "injected": self.plan.injected}, handle)


def control_handler(server):
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _answer(self, payload, code=200):
            body = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self):
            parts = urlsplit(self.path)
            query = dict((k, v[0]) for k, v in parse_qs(parts.query).items())
            if parts.path == "/status":
                return self._answer(server.status())
            if parts.path == "/lease":
                return self._answer(server.lease(query.get("namespace", "default"), query["name"]))
            return self._answer({"error": "not found"}, 404)

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = json.loads(self.rfile.read(length) or b"{}")
            if self.path == "/start":
                threading.Thread(target=server.run_schedule, name="schedule", daemon=True).start()
                return self._answer({"ok": True})
            if self.path == "/plan":
                if server.plan is not None:
                    server.plan.enabled = bool(body.get("enabled"))
                return self._answer({"ok": True})
            if self.path == "/restart":
                threading.Thread(target=server.restart, args=(float(body.get("down", 2)), float(body.get("starting", 3))),
                                 name="restart", daemon=True).start()
                return self._answer({"ok": True})
            if self.path == "/stop":
                server.stop_event.set()
                return self._answer({"ok": True})
            return self._answer({"error": "not found"}, 404)

    return Handler


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, required=True)
    parser.add_argument("--images", type=int, required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--min-change", type=int, required=True)
    parser.add_argument("--fingerprint", default=None)
    parser.add_argument("--schedule", required=True)
    parser.add_argument("--changes-log", required=True)
    parser.add_argument("--kubeconfig", required=True)
    parser.add_argument("--fault-plan", default=None, metavar="JSON")
    parser.add_argument("--fault-report", default=None)
    parser.add_argument("--bookmark-interval", type=float, default=60.0)
    args = parser.parse_args(argv)
    server = SoakServer(args)
    server.start(args.kubeconfig)
    control = ThreadingHTTPServer(("127.0.0.1", 0), control_handler(server))
    control.daemon_threads = True
    threading.Thread(target=control.serve_forever, name="control", daemon=True).start()
    print(json.dumps({"url": server.kube.url, "kubeconfig": os.path.abspath(args.kubeconfig),
                      "control": "http://127.0.0.1:%d" % control.server_address[1], "pid": os.getpid()}), flush=True)

    def on_sigterm(signum, frame):
        server.stop_event.set()

    signal.signal(signal.SIGTERM, on_sigterm)
    try:
        server.stop_event.wait()
    finally:
        control.shutdown()
        server.finish()
    return 0


if __name__ == "__main__":
    sys.exit(main())
