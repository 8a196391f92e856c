# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test helpers: a webhook receiver on 127.0.0.1 and an in-memory API with compare-and-swap.

Importable as ``unit.plugins.module_utils.watcher.helpers`` (``tests/`` is on sys.path), so the
integration tests use the same receiver.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError


class Receiver:
    """``answers``: a list of (status, headers) consumed one per request before 200s."""

    def __init__(self, port=0):
        self.port = port
        self.received = []
        self.requests = []
        self.answers = []
        self.cond = threading.Condition()
        self._server = None

    @property
    def url(self):
        return "http://127.0.0.1:%d/services/T0/B0/SECRETTOKEN?key=hidden" % self.port

    def start(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with owner.cond:
                    owner.requests.append((self.path, dict(self.headers), body))
                    status, headers = owner.answers.pop(0) if owner.answers else (200, {})
                    if status < 300:
                        owner.received.append(json.loads(body))
                    owner.cond.notify_all()
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        class Server(ThreadingHTTPServer):
            daemon_threads = True
            allow_reuse_address = True

        self._server = Server(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05})
        thread.daemon = True
        thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def wait_for(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                assert remaining > 0, "received %d of %d webhook posts" % (len(self.received), count)
                self.cond.wait(remaining)
            return list(self.received)


class Calls:
    """Handler calls recorded from any thread; ``wait_for(predicate)`` until they satisfy it."""

    def __init__(self):
        self.calls = []
        self.changed = threading.Condition()

    def record(self, *call):
        with self.changed:
            self.calls.append(call)
            self.changed.notify_all()

    def wait_for(self, predicate, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.changed:
            while not predicate(self.calls):
                remaining = deadline - time.monotonic()
                assert remaining > 0, "timed out; calls so far: %r" % (self.calls,)
                self.changed.wait(remaining)
            return list(self.calls)


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def make_node(name, sizes, labels=None, capacity="100Gi"):
    """A Node whose images (one per size, each with a digest and a tag) the watcher will count."""
    return {"apiVersion": "v1", "kind": "Node",
            "metadata": {"name": name, "labels": dict({"kubernetes.io/hostname": name}, **(labels or {}))},
            "status": {"capacity": {"ephemeral-storage": capacity, "cpu": "4", "memory": "16Gi", "pods": "110"},
                       "images": images(name, sizes)}}


def images(name, sizes):
    return [{"names": ["registry.example.com/%s/app-%d@sha256:%064x" % (name, i, i + 1),
                       "registry.example.com/%s/app-%d:v%d" % (name, i, i)], "sizeBytes": size}
            for i, size in enumerate(sizes)]


def set_images(kube, name, sizes):
    """What a kubelet's status update does: the node's image list replaced."""
    kube.patch_status(name, {"images": images(name, sizes)})


class MemoryApi:
    """Just enough of KubeClient for stores and leases: get/create/replace with resourceVersion
    compare-and-swap, and injectable failures (``fail[verb] = [ApiError, ...]``)."""

    def __init__(self):
        self.objects = {}
        self.rv = 0
        self.calls = []
        self.fail = {"get": [], "create": [], "replace": []}
        self.lock = threading.Lock()

    def _maybe_fail(self, verb):
        if self.fail[verb]:
            raise self.fail[verb].pop(0)

    def get(self, path, query=None):
        with self.lock:
            self.calls.append(("get", path))
            self._maybe_fail("get")
            if path not in self.objects:
                raise ApiError(404, reason="NotFound", name=path.rsplit("/", 1)[-1])
            return json.loads(json.dumps(self.objects[path]))

    def create(self, path, body):
        with self.lock:
            name = body["metadata"]["name"]
            full = path + "/" + name
            self.calls.append(("create", full))
            self._maybe_fail("create")
            if full in self.objects:
                raise ApiError(409, reason="AlreadyExists", name=name)
            return self._store(full, body)

    def replace(self, path, body):
        with self.lock:
            self.calls.append(("replace", path))
            self._maybe_fail("replace")
            current = self.objects.get(path)
            if current is None:
                raise ApiError(404, reason="NotFound")
            if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                raise ApiError(409, reason="Conflict", message="the object has been modified")
            return self._store(path, body)

    def request(self, method, path, query=None, body=None, content_type=None):
        """The raw verb form OwnedConfigMaps uses, mapped onto the methods above."""
        if method == "GET":
            return self.get(path, query)
        if method == "POST":
            return self.create(path, body)
        if method == "PUT":
            return self.replace(path, body)
        raise AssertionError("MemoryApi does not serve %s" % method)

    def _store(self, path, body):
        self.rv += 1
        obj = json.loads(json.dumps(body))
        obj["metadata"]["resourceVersion"] = str(self.rv)
        self.objects[path] = obj
        return json.loads(json.dumps(obj))
