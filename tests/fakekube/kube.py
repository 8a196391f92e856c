"""FakeKube: the object tests use - server lifecycle, direct state access, fault injection
and request inspection."""
import collections
import copy
import datetime
import json
import os
import shutil
import socket
import ssl
import tempfile
import threading
import time
import uuid

import yaml

from . import errors as E
from . import resources as R
from .auth import Auth
from .certs import CertBundle
from .faults import AfterAnswer, FaultRegistry, ResetFault, SlowFault, StatusFault
from .registry import Registry, _order_meta, external, now_rfc3339
from .schema import DecodeError, decode as schema_decode
from .server import Api, Handler, _Server
from .store import CLOSED, DROPPED, Store, object_key
from .validation import validate_object_meta

GIT_VERSION = "v1.31.0"


class FakeKube:
    """A fake kube-apiserver on 127.0.0.1 (see the package docstring for the API)."""

    def __init__(self, tls=False, tokens=None, watch_window=1000, bookmark_interval=60.0, *,
                 admin_token=None, anonymous=False, continue_ttl=300.0, watch_timeout=1800.0,
                 git_version=GIT_VERSION, port=0, watch_list=False, request_log_limit=None):
        self.tls = bool(tls)
        self.admin_token = admin_token or "fakekube-admin-" + uuid.uuid4().hex
        self.auth = Auth(tokens, self.admin_token, anonymous=anonymous)
        self.store = Store(watch_window=watch_window, continue_ttl=continue_ttl)
        self.registry = Registry(self.store)
        self.registry.ensure_initial_namespaces()
        self.bookmark_interval = float(bookmark_interval)
        self.watch_timeout = float(watch_timeout)
        self.git_version = git_version
        # the WatchList feature gate (sendInitialEvents) is off on a v1.31 apiserver
        self.watch_list = watch_list
        self.port = port
        self.url = None
        self.ca_file = None
        self._certs = None
        self._tmpdir = None
        self._server = None
        self._thread = None
        self._faults = FaultRegistry()
        self._fault_plan = None
        self._stopping = threading.Event()     # ends injected stalls when the server goes away
        self._starting_until = 0.0             # monotonic deadline of a restart's starting phase
        self._lifecycle = threading.RLock()
        self._stopped = False
        # Every request is kept (headers and body) for tests to inspect; a long soak would hold
        # gigabytes, so ``request_log_limit`` keeps only the latest N (0: none).
        self._request_log_limit = None if request_log_limit is None else int(request_log_limit)
        self._requests = collections.deque(maxlen=self._request_log_limit)
        self._request_log = collections.deque(maxlen=self._request_log_limit)
        self._requests_lock = threading.Lock()
        self._kubelet = {}
        self._pf_flowschema = str(uuid.uuid4())
        self._pf_priority = str(uuid.uuid4())
        self.last_delete_options = None

    # ------------------------------------------------------------------ lifecycle
    def start(self):
        with self._lifecycle:
            self._stopped = False
            if self._server is not None:
                return self
            if self._tmpdir is None:
                self._tmpdir = tempfile.mkdtemp(prefix="fakekube-")
                if self.tls:
                    self._certs = CertBundle(os.path.join(self._tmpdir, "pki"))
                    self.ca_file = self._certs.ca_file
            self._listen()
            return self

    def _listen(self):
        ctx = None
        if self.tls:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.minimum_version = ssl.TLSVersion.TLSv1_2
            ctx.load_cert_chain(self._certs.server_cert_file, self._certs.server_key_file)
            ctx.load_verify_locations(self._certs.ca_file)
            ctx.verify_mode = ssl.CERT_OPTIONAL
        self._stopping.clear()
        self._api = Api(self)
        self._server = _Server(("127.0.0.1", self.port), Handler, self._api, ctx)
        port = self._server.server_address[1]
        self.port = port            # a restart listens on the same port
        self.url = "%s://127.0.0.1:%d" % ("https" if self.tls else "http", port)
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.02},
                                        name="fakekube-%d" % port, daemon=True)
        self._thread.start()

    def _close(self, watch_end):
        self._stopping.set()
        for w in self.store.all_watchers():
            w.push(watch_end)
        self._server.shutdown()
        self._server.close_all_connections()
        self._server.server_close()
        self._thread.join(5)
        self._server = None

    def stop(self):
        with self._lifecycle:
            self._stopped = True
            if self._server is not None:
                self._close(CLOSED)
            if self._tmpdir:
                shutil.rmtree(self._tmpdir, ignore_errors=True)
                self._tmpdir = None

    @property
    def running(self):
        return self._server is not None

    def crash(self):
        """The apiserver process dies: the port is closed (connection refused), every open
        connection is cut (watches without their final chunk). The data stays, as in etcd."""
        with self._lifecycle:
            if self._server is not None:
                self._close(DROPPED)

    def recover(self, starting_seconds=0.0):
        """A new apiserver process on the same port after ``crash()``. Its watch cache starts
        at the current resourceVersion (a watch from an older one answers 410 "too old resource
        version"), and the continue tokens issued before answer 410. For ``starting_seconds``
        it is still starting: /readyz and /healthz fail, and lists and watches its watch cache
        would serve answer 429 "storage is (re)initializing" (Retry-After: 1)."""
        with self._lifecycle:
            if self._stopped:
                return self   # stop() came while it was down (a plan's restart at teardown)
            if self._server is not None:
                raise RuntimeError("recover() follows crash(); the server is running")
            # A starting apiserver writes (its identity Lease, the kubernetes Endpoints), so
            # etcd's revision moves on; its new watch cache starts after that.
            self.store.expire_continue_tokens()
            self.store.reset_watch_cache()
            self._starting_until = time.monotonic() + float(starting_seconds)
            self._listen()
        return self

    def restart(self, down_seconds=0.0, starting_seconds=0.0):
        """``crash()``, ``down_seconds`` of connection refused, then ``recover(starting_seconds)``.
        Blocks for ``down_seconds``; the starting phase runs on while requests are served."""
        self.crash()
        if down_seconds:
            time.sleep(float(down_seconds))
        return self.recover(starting_seconds)

    def starting(self):
        """True during the starting phase of a restarted server."""
        return time.monotonic() < self._starting_until

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # ------------------------------------------------------------------ kubeconfig / identity
    def write_kubeconfig(self, path, token=None, context="fake", user="fake-admin", use_ca=True,
                         insecure=False, namespace=None, client_cert=None):
        """Write a kubeconfig for this server; returns ``path``.

        ``client_cert``: a (cert_file, key_file) pair (see issue_client_cert) instead of a token."""
        if self.url is None:
            raise RuntimeError("start() the server first")
        cluster = {"server": self.url}
        if self.tls:
            if insecure:
                cluster["insecure-skip-tls-verify"] = True
            elif use_ca:
                cluster["certificate-authority"] = self.ca_file
        if client_cert:
            user_entry = {"client-certificate": client_cert[0], "client-key": client_cert[1]}
        else:
            user_entry = {"token": token if token is not None else self.admin_token}
        ctx = {"cluster": context, "user": user}
        if namespace:
            ctx["namespace"] = namespace
        cfg = {"apiVersion": "v1", "kind": "Config", "preferences": {},
               "clusters": [{"name": context, "cluster": cluster}],
               "users": [{"name": user, "user": user_entry}],
               "contexts": [{"name": context, "context": ctx}],
               "current-context": context}
        d = os.path.dirname(os.path.abspath(path))
        os.makedirs(d, exist_ok=True)
        with open(path, "w") as f:
            yaml.safe_dump(cfg, f, default_flow_style=False, sort_keys=False)
        os.chmod(path, 0o600)
        return path

    def add_token(self, token, rule):
        self.auth.add_token(token, rule)

    def set_rule(self, rule):
        """Permissions of a user authenticated by client certificate or impersonated."""
        self.auth.set_rule(rule)

    def issue_client_cert(self, user, groups=()):
        """(cert_file, key_file) of a client certificate (CN=user, O=groups); needs tls=True."""
        if not self.tls or self._certs is None:
            raise RuntimeError("client certificates need FakeKube(tls=True).start()")
        return self._certs.issue_client(user, groups)

    def version_info(self):
        v = self.git_version.lstrip("v").split(".")
        return {"major": v[0], "minor": v[1], "gitVersion": self.git_version,
                "gitCommit": "9edcffcde5595e8a5b1a35f88c421764e575afce", "gitTreeState": "clean",
                "buildDate": "2024-08-13T07:28:49Z", "goVersion": "go1.22.5", "compiler": "gc",
                "platform": "linux/amd64"}

    # ------------------------------------------------------------------ direct state access
    @property
    def resource_version(self):
        return str(self.store.rv)

    @staticmethod
    def _rt(api_version, kind):
        return R.lookup_kind(api_version, kind)

    @staticmethod
    def _copy(obj):
        return copy.deepcopy(obj)

    def create(self, obj):
        rt = self._rt(obj.get("apiVersion"), obj.get("kind"))
        ns = (obj.get("metadata") or {}).get("namespace") or ("default" if rt.namespaced else "")
        created, dummy = self.registry.create(rt, ns, copy.deepcopy(obj))
        return self._copy(external(rt, created))

    def get(self, api_version, kind, name, namespace=None):
        rt = self._rt(api_version, kind)
        ns = (namespace or "default") if rt.namespaced else ""
        obj = self.store.get(rt.storage, object_key(ns, name) if rt.namespaced else name)
        return None if obj is None else self._copy(external(rt, obj))

    def update(self, obj, subresource=None):
        """PUT semantics (``metadata.resourceVersion`` is a precondition when set); the main
        resource ignores ``status`` changes - pass ``subresource="status"`` to write status."""
        rt = self._rt(obj.get("apiVersion"), obj.get("kind"))
        md = obj.get("metadata") or {}
        ns = (md.get("namespace") or "default") if rt.namespaced else ""
        updated, dummy = self.registry.update(rt, ns, md.get("name", ""), copy.deepcopy(obj),
                                              subresource=subresource)
        return self._copy(external(rt, updated))

    def patch(self, api_version, kind, name, patch, namespace=None,
              content_type="application/strategic-merge-patch+json", subresource=None):
        rt = self._rt(api_version, kind)
        ns = (namespace or "default") if rt.namespaced else ""
        body = patch if isinstance(patch, (bytes, bytearray)) else json.dumps(patch).encode()
        out, dummy = self.registry.patch(rt, ns, name, content_type, body, subresource=subresource)
        return self._copy(external(rt, out))

    def patch_status(self, name, patch_dict):
        """Strategic-merge ``patch_dict`` into node ``name`` through the status subresource
        (``{"conditions": [...]}`` or ``{"status": {...}}``)."""
        if "status" not in patch_dict and "metadata" not in patch_dict:
            patch_dict = {"status": patch_dict}
        return self.patch("v1", "Node", name, patch_dict, subresource="status")

    def delete(self, api_version, kind, name, namespace=None, **options):
        rt = self._rt(api_version, kind)
        ns = (namespace or "default") if rt.namespaced else ""
        try:
            result, dummy = self.registry.delete(rt, ns, name, options)
        except E.ApiError as e:
            if e.code == 404:
                return None
            raise
        return self._copy(result)

    def list(self, api_version, kind, namespace=None):
        rt = self._rt(api_version, kind)
        snap = self.store.snapshot(rt.storage)
        out = []
        for k, s in zip(snap.keys, snap.stored):
            if namespace and rt.namespaced and not k.startswith(namespace + "/"):
                continue
            out.append(self._copy(external(rt, s.obj)))
        return out

    def _load_nodes(self, nodes, replace):
        rt = R.NODES
        items = []
        for n in nodes:
            try:
                obj, dummy = schema_decode(rt.schema, n)
            except DecodeError as e:
                raise ValueError("invalid node %r: %s" % ((n.get("metadata") or {}).get("name"), e))
            obj = {"kind": "Node", "apiVersion": "v1",
                   **{k: v for k, v in obj.items() if k not in ("kind", "apiVersion")}}
            md = obj["metadata"]
            if not md.get("name"):
                raise ValueError("node without metadata.name")
            errs = validate_object_meta(md, False, "Node") + rt.validator(obj, None, rt)
            if errs:
                raise E.invalid("", "Node", md["name"], errs)
            md.pop("namespace", None)
            md["resourceVersion"] = ""
            md.setdefault("uid", str(uuid.uuid4()))
            md.setdefault("creationTimestamp", now_rfc3339())
            obj["metadata"] = _order_meta(md)
            items.append((md["name"], obj))
        with self.store.lock:
            if replace:
                for k in list(self.store.snapshot(rt.storage).keys):
                    self.store.remove(rt.storage, k)
            self.store.load(rt.storage, items)

    def seed_nodes(self, nodes):
        """Replace every Node with ``nodes`` (DELETED/ADDED watch events are emitted).

        ``metadata.creationTimestamp`` and ``uid`` given in the input are kept (nodes that
        registered in the past); the rest of the metadata is set like the server does."""
        self._load_nodes(nodes, replace=True)

    def add_nodes(self, nodes):
        """Add ``nodes`` (a node whose name exists is replaced: MODIFIED)."""
        self._load_nodes(nodes, replace=False)

    # ------------------------------------------------------------------ faults
    def expire_continue_tokens(self):
        self.store.expire_continue_tokens()

    def compact(self):
        self.store.compact()

    def fail_next(self, count, status=500, retry_after=None, path_contains=None, reason=None,
                  message=None, method=None, query=None, watch=None):
        """The next ``count`` matching requests answer ``status`` (a Status body; 429 and 503
        with ``retry_after`` also carry Retry-After). Requests match on ``path_contains``,
        ``method``, ``query`` (these query parameters with these values) and ``watch``
        (True: watches only, False: everything but watches)."""
        self._faults.add_status(StatusFault(count, status, retry_after, reason, message,
                                            path_contains=path_contains, method=method,
                                            query=query, watch=watch))

    def reset_next(self, count=1, path_contains=None, method=None, query=None, watch=None,
                   after_bytes=None, after_events=1, how="rst"):
        """The answers to the next ``count`` matching requests break off: the request is
        processed, the status line, headers and part of the body are sent (``after_bytes``,
        default half; a watch sends ``after_events`` events and half of the next chunk), then
        the connection is reset (``how="rst"``) or closed (``"fin"``)."""
        self._faults.add_delivery(ResetFault(count, after_bytes, after_events, how,
                                             path_contains=path_contains, method=method,
                                             query=query, watch=watch))

    def slow_next(self, count=1, seconds=5.0, path_contains=None, method=None, query=None,
                  watch=None, stage="body", after_bytes=None):
        """The answers to the next ``count`` matching requests stall for ``seconds``: before
        anything is sent (``stage="headers"``) or after the headers and part of the body
        (``"body"``; a watch: before its first event)."""
        self._faults.add_delivery(SlowFault(count, seconds, stage, after_bytes,
                                            path_contains=path_contains, method=method,
                                            query=query, watch=watch))

    def after_next(self, action, count=1, path_contains=None, method=None, query=None, watch=None):
        """Call ``action()`` right after the answer to each of the next ``count`` matching
        requests is sent (before the connection can carry another request): a compaction
        between two pages of a list is ``after_next(kube.expire_continue_tokens, query=...)``."""
        self._faults.add_delivery(AfterAnswer(action, count, path_contains=path_contains, method=method,
                                              query=query, watch=watch))

    def set_fault_plan(self, plan):
        """Inject faults at random from now on (a ``faults.FaultPlan``; None ends it)."""
        self._fault_plan = plan

    def clear_faults(self):
        self._faults.clear()

    def _take_faults(self, method, path, query, watch):
        error, delivery = self._faults.take(method, path, query, watch)
        plan = self._fault_plan
        if plan is not None and error is None and delivery is None:
            error, delivery = plan.draw(self, method, path, query, watch)
        return error, delivery

    def drop_watches(self):
        """Abruptly close every open watch connection (no final chunk)."""
        for w in self.store.all_watchers():
            w.push(DROPPED)
            conn = w.connection
            if conn is not None:
                try:
                    conn.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass

    def open_watches(self):
        return len(self.store.all_watchers())

    # ------------------------------------------------------------------ node and lease scenarios
    def recreate_node(self, name, node=None):
        """Delete node ``name`` and create it again under the same name, as when a machine is
        replaced and its kubelet registers anew: watchers see DELETED then ADDED, and the new
        object has a new uid and creationTimestamp. ``node`` is the new object (its name must
        be ``name``); by default the old one's labels, annotations, spec and status are kept.
        Returns the new node."""
        rt = R.NODES
        with self.store.lock:
            old = self.store.get(rt.storage, name)
            if old is None:
                raise E.not_found("", "nodes", name)
            if node is None:
                node = copy.deepcopy(external(rt, old))
                md = node["metadata"]
                for key in ("uid", "creationTimestamp", "resourceVersion", "managedFields"):
                    md.pop(key, None)
            else:
                node = copy.deepcopy(node)
                md = node.setdefault("metadata", {})
                if md.get("name", name) != name:
                    raise ValueError("recreate_node(%r): the new node is named %r" % (name, md["name"]))
                md["name"] = name
                md.pop("uid", None)
                md.pop("creationTimestamp", None)
            self.store.remove(rt.storage, name)
            self._load_nodes([node], replace=False)
        return self.get("v1", "Node", name)

    def write_lease(self, name, namespace="default", holder=None, renew_time=None,
                    skew_seconds=0.0, lease_duration_seconds=15, acquire_time=None,
                    lease_transitions=None):
        """Create or update a coordination.k8s.io/v1 Lease as another candidate would, with its
        own clock: ``renewTime`` is ``renew_time`` (a datetime, an epoch number or MicroTime
        text; default now) shifted by ``skew_seconds`` (positive: a clock running ahead).
        ``acquire_time`` defaults to the renew time when the holder changes. The write goes
        through the same validation and compare-free update as a PUT without resourceVersion.
        Returns the stored Lease."""
        def micro(value):
            if value is None:
                value = time.time()
            if isinstance(value, (int, float)):
                value = datetime.datetime.fromtimestamp(float(value), datetime.timezone.utc)
            if isinstance(value, datetime.datetime):
                if value.tzinfo is None:
                    value = value.replace(tzinfo=datetime.timezone.utc)
                value = value + datetime.timedelta(seconds=float(skew_seconds))
                return value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
            return value
        with self.store.lock:
            current = self.get("coordination.k8s.io/v1", "Lease", name, namespace)
            old_spec = (current or {}).get("spec") or {}
            renew = micro(renew_time)
            spec = dict(old_spec)
            spec["holderIdentity"] = holder
            spec["leaseDurationSeconds"] = lease_duration_seconds
            spec["renewTime"] = renew
            if acquire_time is not None:
                spec["acquireTime"] = micro(acquire_time)
            elif old_spec.get("holderIdentity") != holder or not old_spec.get("acquireTime"):
                spec["acquireTime"] = renew
            if lease_transitions is not None:
                spec["leaseTransitions"] = lease_transitions
            elif current is not None and old_spec.get("holderIdentity") not in (None, "", holder):
                spec["leaseTransitions"] = (old_spec.get("leaseTransitions") or 0) + 1
            else:
                spec.setdefault("leaseTransitions", 0)
            spec = dict((k, v) for k, v in spec.items() if v is not None)
            body = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                    "metadata": {"name": name, "namespace": namespace}, "spec": spec}
            if current is None:
                return self.create(body)
            return self.update(body)

    def set_kubelet_summary(self, node_name, summary=None, status=None):
        if summary is None and status is None:
            self._kubelet.pop(node_name, None)
        else:
            self._kubelet[node_name] = {"summary": summary, "status": status}

    # ------------------------------------------------------------------ inspection
    def _record(self, method, path, query, user, h, body, impersonator):
        if self._request_log_limit == 0:
            return
        entry = {"method": method, "path": path, "query": query, "user": user,
                 "impersonator": impersonator,
                 "content_type": h.headers.get("Content-Type"),
                 "user_agent": h.headers.get("User-Agent"),
                 "headers": dict(h.headers.items()), "body": body, "status": None}
        with self._requests_lock:
            self._requests.append((method, path, query, user))
            self._request_log.append(entry)
        h._fakekube_log_entry = entry

    def _log_status(self, code):
        pass

    def _note_delete_options(self, opts):
        self.last_delete_options = dict(opts)

    @property
    def requests(self):
        with self._requests_lock:
            return list(self._requests)

    @property
    def request_log(self):
        """Like ``requests`` but dicts with headers, body, impersonator, content type."""
        with self._requests_lock:
            return list(self._request_log)

    def clear_requests(self):
        with self._requests_lock:
            self._requests.clear()
            self._request_log.clear()
