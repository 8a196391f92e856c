"""The HTTP(S) front end: request parsing (RequestInfo), authentication, impersonation,
fault injection, authorization and the REST handlers (get/list/watch/create/update/patch/
delete/deletecollection, discovery, the node proxy to the simulated kubelet).

Served by ``http.server.ThreadingHTTPServer`` (a daemon thread per connection) speaking
HTTP/1.1 with keep-alive; watch responses are chunked JSON lines like the real apiserver's.
"""
import base64
import binascii
import json
import queue
import select
import socket
import ssl
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

import yaml

from . import auth as A
from . import errors as E
from . import kubelet
from . import registry as REG
from . import resources as R
from .certs import subject_of
from .faults import ConnectionAborted
from .selectors import parse_field_selector, parse_label_selector
from .store import CLOSED, DROPPED, find_start

JSON = "application/json"
_NOT_FOUND_BODY = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                   "message": "the server could not find the requested resource",
                   "reason": "NotFound", "details": {}, "code": 404}


def _client_gone(sock):
    """True when the peer closed a plain-TCP watch connection (TLS: not detected here;
    the next write fails instead)."""
    if isinstance(sock, ssl.SSLSocket):
        return False
    try:
        readable, dummy, dummy = select.select([sock], [], [], 0)
        return bool(readable) and sock.recv(1, socket.MSG_PEEK) == b""
    except (OSError, ValueError):
        return True


def _accepts_json(accept):
    """Whether an Accept header allows a plain JSON answer (Table/PartialObjectMetadata
    renderings and protobuf are not produced by this fake)."""
    if not accept:
        return True
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        mtype = fields[0].lower()
        params = dict(f.split("=", 1) for f in fields[1:] if "=" in f)
        if "as" in params:
            continue
        if mtype in ("application/json", "application/*", "*/*", "*"):
            return True
    return False


class Bookmark:
    __slots__ = ("rv", "initial_end")

    def __init__(self, rv, initial_end=False):
        self.rv, self.initial_end = rv, initial_end


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def go_bool(value):
    """runtime.Convert_Slice_string_To_bool: absent is false; any value but "0"/"false"
    (case-insensitive), even an empty one, is true."""
    if value is None:
        return False
    return not (value == "0" or value.lower() == "false")


class RequestInfo:
    def __init__(self):
        self.is_resource = False
        self.verb = ""
        self.group = self.version = self.resource = self.subresource = ""
        self.name = self.namespace = ""
        self.path_name = ""          # the name in the URL (``name`` may come from a selector)
        self.extra = []
        self.path = ""


def parse_request_info(method, path, q):
    info = RequestInfo()
    info.path = path
    verb = {"GET": "get", "HEAD": "get", "POST": "create", "PUT": "update", "PATCH": "patch",
            "DELETE": "delete"}.get(method, method.lower())
    segs = [unquote(s) for s in path.strip("/").split("/")] if path.strip("/") else []
    info.verb = verb
    if not segs or segs[0] not in ("api", "apis"):
        return info
    if segs[0] == "api":
        if len(segs) < 3:
            return info
        info.group, info.version, rest = "", segs[1], segs[2:]
    else:
        if len(segs) < 4:
            return info
        info.group, info.version, rest = segs[1], segs[2], segs[3:]
    info.is_resource = True
    if rest[0] == "watch":
        verb = "watch"
        rest = rest[1:]
        if not rest:
            info.is_resource = False
            return info
    if rest[0] == "namespaces" and len(rest) > 1:
        info.namespace = rest[1]
        if len(rest) > 2 and rest[2] not in ("status", "finalize"):
            rest = rest[2:]
    info.resource = rest[0]
    if len(rest) > 1:
        info.name = info.path_name = rest[1]
    if len(rest) > 2:
        info.subresource = rest[2]
    info.extra = rest[3:]
    if verb in ("get", "delete") and not info.name:
        verb = "list" if verb == "get" else "deletecollection"
    if verb in ("get", "list") and go_bool(q.get("watch")):
        verb = "watch"
    if verb in ("list", "watch") and not info.name and q.get("fieldSelector"):
        for term in q["fieldSelector"].split(","):
            for op in ("==", "="):
                if term.startswith("metadata.name" + op):
                    info.name = term[len("metadata.name" + op):]
                    break
    info.verb = verb
    return info


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, addr, handler, api, ssl_context):
        self.api = api
        self.ssl_context = ssl_context
        self.connections = set()
        self.conn_lock = threading.Lock()
        super().__init__(addr, handler)

    def handle_error(self, request, client_address):
        pass  # client went away, TLS handshake failed, ...: nothing to report

    def close_all_connections(self):
        with self.conn_lock:
            conns = list(self.connections)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "fakekube"
    sys_version = ""
    # Responses are written in one piece (see Api.send); with Nagle's algorithm on, small
    # writes would also wait for delayed ACKs (~40 ms) - an artefact a real server lacks.
    disable_nagle_algorithm = True

    def setup(self):
        ctx = self.server.ssl_context
        if ctx is not None:
            self.request.settimeout(10)
            self.request = ctx.wrap_socket(self.request, server_side=True)
            self.request.settimeout(None)
        with self.server.conn_lock:
            self.server.connections.add(self.request)
        super().setup()

    def finish(self):
        try:
            super().finish()
        finally:
            with self.server.conn_lock:
                self.server.connections.discard(self.request)

    def log_message(self, fmt, *args):
        pass

    def _go(self, method):
        self.server.api.handle(self, method)

    def do_GET(self):
        self._go("GET")

    def do_POST(self):
        self._go("POST")

    def do_PUT(self):
        self._go("PUT")

    def do_PATCH(self):
        self._go("PATCH")

    def do_DELETE(self):
        self._go("DELETE")

    def do_HEAD(self):
        self._go("HEAD")

    def do_OPTIONS(self):
        self._go("OPTIONS")


class Api:
    """Request handling; ``kube`` is the owning FakeKube (state, auth, faults, logs)."""

    def __init__(self, kube):
        self.kube = kube
        self.registry = kube.registry
        self.store = kube.store

    # ------------------------------------------------------------------ plumbing
    def _read_body(self, h):
        te = (h.headers.get("Transfer-Encoding") or "").lower()
        if "chunked" in te:
            chunks = []
            while True:
                line = h.rfile.readline().strip()
                size = int(line.split(b";")[0], 16) if line else 0
                if size == 0:
                    while h.rfile.readline().strip():
                        pass
                    break
                chunks.append(h.rfile.read(size))
                h.rfile.readline()
            return b"".join(chunks)
        n = int(h.headers.get("Content-Length") or 0)
        return h.rfile.read(n) if n else b""

    def _headers(self, extra=None):
        hs = [("Audit-Id", str(uuid.uuid4())), ("Cache-Control", "no-cache, private"),
              ("X-Kubernetes-Pf-Flowschema-Uid", self.kube._pf_flowschema),
              ("X-Kubernetes-Pf-Prioritylevel-Uid", self.kube._pf_priority)]
        for k, v in (extra or {}).items():
            if isinstance(v, (list, tuple)):
                hs.extend((k, x) for x in v)
            else:
                hs.append((k, v))
        return hs

    def send(self, h, code, body, ctype=JSON, headers=None):
        if not isinstance(body, (bytes, bytearray)):
            body = dumps(body)
        h.send_response_only(code)
        h.send_header("Date", h.date_time_string())
        for k, v in self._headers(headers):
            h.send_header(k, v)
        h.send_header("Content-Type", ctype)
        h.send_header("Content-Length", str(len(body)))
        # end_headers() would flush the headers alone; write headers and body in one go
        h._headers_buffer.append(b"\r\n")
        delivery = getattr(h, "_fakekube_delivery", None)
        if delivery is not None:
            h._fakekube_delivery = None
            head = b"".join(h._headers_buffer)
            h._headers_buffer = []
            self.kube._log_status(code)
            delivery.send(h, head, b"" if h.command == "HEAD" else body, self.kube._stopping)
            return
        if h.command != "HEAD":
            h._headers_buffer.append(bytes(body))
        h.flush_headers()
        self.kube._log_status(code)

    def send_error(self, h, err):
        self.send(h, err.code, err.body(), headers=err.headers)

    # ------------------------------------------------------------------ entry point
    def handle(self, h, method):
        parsed = urlsplit(h.path)
        path = parsed.path or "/"
        raw_q = parse_qs(parsed.query, keep_blank_values=True)
        q = {k: v[0] for k, v in raw_q.items()}
        try:
            body = self._read_body(h)
        except (ValueError, OSError):
            h.close_connection = True
            return
        caller = rule = None
        try:
            peer = None
            if self.kube.tls:
                try:
                    peer = subject_of(h.request.getpeercert())
                except (AttributeError, ValueError):
                    peer = None
            caller = self.kube.auth.authenticate(h.headers.get("Authorization"), peer)
            rule = self.kube.auth.impersonate(caller, h.headers.get("Impersonate-User"),
                                              h.headers.get_all("Impersonate-Group") or [])
        except E.ApiError as e:
            self.kube._record(method, path, q, caller.user if caller else None, h, body, None)
            return self.send_error(h, e)
        self.kube._record(method, path, q, rule.user, h, body,
                          caller.user if rule is not caller else None)
        try:
            info = parse_request_info(method, path, q)
            fault, h._fakekube_delivery = self.kube._take_faults(method, path, q, info.verb == "watch")
            if fault is not None:
                return self.send_error(h, fault)
            attrs = A.Attributes(rule, info.verb, is_resource=info.is_resource,
                                 group=info.group, resource=info.resource,
                                 subresource=info.subresource, namespace=info.namespace,
                                 name=info.name, path=path)
            self.kube.auth.authorize(rule, attrs)
            if not _accepts_json(h.headers.get("Accept")):
                raise E.not_acceptable(["application/json", "application/yaml",
                                        "application/vnd.kubernetes.protobuf"])
            if method == "OPTIONS":
                return self.send(h, 405, _NOT_FOUND_BODY)
            if not info.is_resource:
                return self._non_resource(h, method, path)
            if self.kube.starting():
                self._check_cache_ready(info, q)
            return self._resource(h, method, info, q, raw_q, body)
        except E.ApiError as e:
            return self.send_error(h, e)
        except (OSError, ConnectionAborted):
            # the client went away, or an injected fault cut the connection
            h.close_connection = True
        except Exception as e:  # a bug in the fake: answer like an apiserver panic would
            import traceback
            traceback.print_exc()
            try:
                self.send_error(h, E.internal_error("fakekube: %s: %s" % (type(e).__name__, e)))
            except OSError:
                h.close_connection = True

    # ------------------------------------------------------------------ a starting server
    @staticmethod
    def _check_cache_ready(info, q):
        """A restarted apiserver whose watch cache is still initializing (ResilientWatchCache-
        Initialization, on by default since v1.31): GETs and consistent lists (no
        resourceVersion, or a continue token) go to etcd; a paged list without selectors from
        the cache is delegated too; other lists and every watch from a resourceVersion are
        answered 429 ``storage is (re)initializing`` with Retry-After."""
        if info.verb == "watch":
            if q.get("resourceVersion", "") == "":
                return
        elif info.verb == "list":
            if q.get("resourceVersion", "") == "" or q.get("continue"):
                return
            if q.get("limit") and not q.get("labelSelector") and not q.get("fieldSelector"):
                return
        else:
            return
        raise E.too_many_requests("storage is (re)initializing", retry_after=1)

    # ------------------------------------------------------------------ discovery
    def _non_resource(self, h, method, path):
        p = path.rstrip("/") or "/"
        if method not in ("GET", "HEAD"):
            return self.send(h, 405, _NOT_FOUND_BODY)
        if p == "/version":
            return self.send(h, 200, self.kube.version_info())
        if p in ("/healthz", "/readyz") and self.kube.starting():
            # the post-start hooks have not finished: the checks fail, reasons withheld
            return self.send(h, 500, b"[+]ping ok\n[+]log ok\n[+]etcd ok\n"
                             b"[-]poststarthook/start-apiextensions-informers failed: reason withheld\n"
                             b"[-]informer-sync failed: reason withheld\n"
                             b"%s check failed\n" % p.strip("/").encode(), "text/plain; charset=utf-8")
        if p in ("/healthz", "/livez", "/readyz"):
            return self.send(h, 200, b"ok", "text/plain; charset=utf-8")
        if p == "/api":
            return self.send(h, 200, R.api_versions())
        if p == "/apis":
            return self.send(h, 200, R.api_group_list())
        segs = p.strip("/").split("/")
        if segs[0] == "api" and len(segs) == 2:
            doc = R.api_resource_list("", segs[1])
        elif segs[0] == "apis" and len(segs) == 2:
            doc = R.api_group(segs[1])
        elif segs[0] == "apis" and len(segs) == 3:
            doc = R.api_resource_list(segs[1], segs[2])
        else:
            doc = None
        if doc is None:
            return self.send(h, 404, _NOT_FOUND_BODY)
        return self.send(h, 200, doc)

    # ------------------------------------------------------------------ resources
    def _resource(self, h, method, info, q, raw_q, body):
        rt = R.lookup(info.group, info.version, info.resource)
        if rt is None:
            return self.send(h, 404, _NOT_FOUND_BODY)
        if info.resource == "namespaces" and info.path_name:
            ns = ""
        else:
            ns = info.namespace
            if ns and not rt.namespaced:
                return self.send(h, 404, _NOT_FOUND_BODY)
        if info.subresource and info.subresource not in rt.subresources:
            return self.send(h, 404, _NOT_FOUND_BODY)
        if info.subresource != "proxy" and info.extra:
            return self.send(h, 404, _NOT_FOUND_BODY)
        if rt.namespaced and not ns and info.path_name:
            return self.send(h, 404, _NOT_FOUND_BODY)
        dry_run = self._dry_run(raw_q)
        fv = self._field_validation(q)
        if info.subresource == "proxy":
            return self._proxy(h, method, rt, info)
        if method in ("GET", "HEAD"):
            if info.verb == "watch":
                return self._watch(h, rt, ns, q, info.path_name)
            if info.path_name:
                obj = self.registry.get(rt, ns, info.path_name)
                return self.send(h, 200, REG.external(rt, obj))
            return self._list(h, rt, ns, q)
        if method == "POST":
            if info.path_name or info.subresource:
                return self.send(h, 405, self._method_not_allowed(rt, method))
            if rt.namespaced and not ns:
                return self.send(h, 405, self._method_not_allowed(rt, method))
            obj = self._parse_body(h, body, rt)
            created, warnings = self.registry.create(rt, ns, obj, dry_run=dry_run,
                                                     field_validation=fv)
            return self.send(h, 201, REG.external(rt, created), headers=self._warn(warnings))
        if method == "PUT":
            if not info.path_name:
                return self.send(h, 405, self._method_not_allowed(rt, method))
            obj = self._parse_body(h, body, rt)
            if info.subresource == "finalize" or info.subresource == "status" or not info.subresource:
                updated, warnings = self.registry.update(rt, ns, info.path_name, obj,
                                                         subresource=info.subresource or None,
                                                         dry_run=dry_run, field_validation=fv)
                return self.send(h, 200, REG.external(rt, updated), headers=self._warn(warnings))
            return self.send(h, 405, self._method_not_allowed(rt, method))
        if method == "PATCH":
            if not info.path_name or info.subresource == "finalize":
                return self.send(h, 405, self._method_not_allowed(rt, method))
            patched, warnings = self.registry.patch(
                rt, ns, info.path_name, h.headers.get("Content-Type"), body,
                subresource=info.subresource or None, dry_run=dry_run, field_validation=fv)
            return self.send(h, 200, REG.external(rt, patched), headers=self._warn(warnings))
        if method == "DELETE":
            if info.subresource:
                return self.send(h, 405, self._method_not_allowed(rt, method))
            options = self._delete_options(h, body, q, raw_q)
            if not info.path_name:
                if "deletecollection" not in rt.verbs or (rt.namespaced and not ns):
                    return self.send(h, 405, self._method_not_allowed(rt, method))
                return self._delete_collection(h, rt, ns, q, options, dry_run)
            result, code = self.registry.delete(rt, ns, info.path_name, options, dry_run=dry_run)
            return self.send(h, code, result)
        return self.send(h, 405, self._method_not_allowed(rt, method))

    def _method_not_allowed(self, rt, method):
        return {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                "message": "the server does not allow this method on the requested resource",
                "reason": "MethodNotAllowed", "details": {}, "code": 405}

    @staticmethod
    def _warn(warnings):
        if not warnings:
            return None
        return {"Warning": ['299 - "%s"' % w.replace("\\", "\\\\").replace('"', '\\"')
                            for w in warnings]}

    @staticmethod
    def _dry_run(raw_q):
        vals = raw_q.get("dryRun") or []
        for v in vals:
            if v != "All":
                raise E.invalid("meta.k8s.io", "CreateOptions", "", [
                    E.not_supported("dryRun", vals, ["All"])])
        return bool(vals)

    @staticmethod
    def _field_validation(q):
        v = q.get("fieldValidation", "")
        if v in ("", "Warn"):
            return "Warn"
        if v in ("Ignore", "Strict"):
            return v
        raise E.bad_request("fieldValidation parameter unsupported: %s" % v)

    def _parse_body(self, h, body, rt):
        ctype = (h.headers.get("Content-Type") or JSON).split(";")[0].strip().lower()
        if not body:
            raise E.bad_request("Object 'Kind' is missing in ''")
        if ctype in ("application/json", "*/*", ""):
            try:
                return json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                raise E.bad_request("couldn't get version/kind; json parse error: %s" % e)
        if ctype == "application/yaml":
            try:
                return yaml.safe_load(body.decode("utf-8"))
            except (yaml.YAMLError, UnicodeDecodeError) as e:
                raise E.bad_request("couldn't get version/kind; yaml parse error: %s" % e)
        raise E.unsupported_media_type(["application/json", "application/yaml",
                                        "application/vnd.kubernetes.protobuf"])

    def _delete_options(self, h, body, q, raw_q):
        opts = {}
        if body:
            try:
                opts = json.loads(body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError) as e:
                raise E.bad_request("couldn't get version/kind; json parse error: %s" % e)
            if not isinstance(opts, dict):
                raise E.bad_request("json: cannot unmarshal into Go value of type v1.DeleteOptions")
        if "gracePeriodSeconds" in q:
            try:
                opts["gracePeriodSeconds"] = int(q["gracePeriodSeconds"])
            except ValueError:
                raise E.bad_request('strconv.ParseInt: parsing "%s": invalid syntax' % q["gracePeriodSeconds"])
        if "propagationPolicy" in q:
            opts["propagationPolicy"] = q["propagationPolicy"]
        if "orphanDependents" in q:
            opts["orphanDependents"] = go_bool(q["orphanDependents"])
        if raw_q.get("dryRun"):
            opts["dryRun"] = raw_q["dryRun"]
        pp = opts.get("propagationPolicy")
        if pp is not None and pp not in ("Foreground", "Background", "Orphan"):
            raise E.invalid("meta.k8s.io", "DeleteOptions", "", [
                E.not_supported("propagationPolicy", pp, ["Foreground", "Background", "Orphan"])])
        if opts.get("orphanDependents") is not None and pp is not None:
            raise E.invalid("meta.k8s.io", "DeleteOptions", "", [E.invalid_value(
                "propagationPolicy", pp, "orphanDependents and deletionPropagation cannot be both set")])
        self.kube._note_delete_options(opts)
        return opts

    # ------------------------------------------------------------------ list
    def _selectors(self, rt, q):
        ls = parse_label_selector(q.get("labelSelector"))
        fs = parse_field_selector(q.get("fieldSelector"), rt.convert_field_label)
        return ls, fs

    def _matcher(self, rt, ls, fs):
        if ls.empty() and fs.empty():
            return None

        def match(obj):
            if not ls.empty() and not ls.matches((obj.get("metadata") or {}).get("labels")):
                return False
            if not fs.empty() and not fs.matches(rt.field_fn(obj)):
                return False
            return True
        return match

    def _validate_list_options(self, q, watch):
        """metainternalversion validation.ValidateListOptions (422 ListOptions)."""
        errs = []
        rvm = q.get("resourceVersionMatch", "")
        sie = q.get("sendInitialEvents")
        if watch:
            if sie is not None:
                if rvm != "NotOlderThan":
                    errs.append(E.forbidden_field("resourceVersionMatch",
                                                  "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
                if not self.kube.watch_list:
                    errs.append(E.forbidden_field("sendInitialEvents",
                                                  "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"))
            if rvm:
                if sie is None:
                    errs.append(E.forbidden_field("resourceVersionMatch",
                                                  "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"))
                if rvm != "NotOlderThan":
                    errs.append(E.not_supported("resourceVersionMatch", rvm, ["NotOlderThan"]))
                if q.get("continue"):
                    errs.append(E.forbidden_field("resourceVersionMatch",
                                                  "resourceVersionMatch is forbidden when continue is provided"))
        else:
            if rvm:
                if not q.get("resourceVersion"):
                    errs.append(E.forbidden_field("resourceVersionMatch",
                                                  "resourceVersionMatch is forbidden unless resourceVersion is provided"))
                if q.get("continue"):
                    errs.append(E.forbidden_field("resourceVersionMatch",
                                                  "resourceVersionMatch is forbidden when continue is provided"))
                if rvm not in ("Exact", "NotOlderThan"):
                    errs.append(E.not_supported("resourceVersionMatch", rvm, ["Exact", "NotOlderThan", ""]))
                if rvm == "Exact" and q.get("resourceVersion") == "0":
                    errs.append(E.forbidden_field("resourceVersionMatch",
                                                  'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'))
            if sie is not None:
                errs.append(E.forbidden_field("sendInitialEvents", "sendInitialEvents is forbidden for list"))
        if errs:
            raise E.invalid("meta.k8s.io", "ListOptions", "", errs)

    def _parse_rv(self, s):
        try:
            v = int(s)
            if v < 0:
                raise ValueError
            return v
        except ValueError:
            raise E.bad_request('invalid resource version: strconv.ParseUint: parsing "%s": invalid syntax' % s)

    def _list(self, h, rt, ns, q):
        self._validate_list_options(q, False)
        ls, fs = self._selectors(rt, q)
        match = self._matcher(rt, ls, fs)
        limit = 0
        if q.get("limit"):
            try:
                limit = int(q["limit"])
            except ValueError:
                raise E.bad_request('strconv.ParseInt: parsing "%s": invalid syntax' % q["limit"])
            limit = max(limit, 0)
        rv_param = q.get("resourceVersion", "")
        prefix = ns + "/" if (rt.namespaced and ns) else ""
        start = prefix
        cont = q.get("continue", "")
        gp = rt.storage
        if cont:
            if rv_param and rv_param != "0":
                raise E.bad_request("specifying resource version is not allowed when using continue")
            start_rel, token_rv = self._decode_continue(cont)
            start = prefix + start_rel
            if token_rv < 0:
                snap = self.store.snapshot(gp, keep=True)
            else:
                snap = self.store.snapshot_for_continue(gp, token_rv)
            if snap is None:
                raise E.gone_expired(
                    "The provided continue parameter is too old to display a consistent list "
                    "result. You can start a new list without the continue parameter, or use the "
                    "continue token in this response to retrieve the remainder of the results. "
                    "Continuing with the provided token results in an inconsistent list - objects "
                    "that were created, modified, or deleted between the time the first chunk was "
                    "returned and now may show up in the list.",
                    continue_token=self._encode_continue(-1, start_rel))
        else:
            if rv_param not in ("", "0"):
                want = self._parse_rv(rv_param)
                if want > self.store.rv:
                    # the watch cache waits (up to 3s) for the RV, then gives up
                    deadline = time.monotonic() + 3.0
                    while self.store.rv < want and time.monotonic() < deadline:
                        time.sleep(0.05)
                    if self.store.rv < want:
                        raise E.timeout("Too large resource version: %d, current: %d"
                                        % (want, self.store.rv), retry_after=1)
                if q.get("resourceVersionMatch") == "Exact" and want != self.store.rv:
                    raise E.gone_expired("The resourceVersion for the provided list is too old.")
            if rv_param == "0":
                limit = 0   # v1.31 watch cache serves resourceVersion=0 in full (limit ignored)
            snap = self.store.snapshot(gp, keep=False)
        keys = snap.keys
        i = find_start(keys, start)
        end = find_start(keys, prefix[:-1] + "0") if prefix else len(keys)  # '0' follows '/'
        items = []
        last_key = None
        n_keys = end
        while i < n_keys:
            s = snap.stored[i]
            k = keys[i]
            i += 1
            if match is not None and not match(s.obj):
                continue
            items.append(s)
            last_key = k
            if limit and len(items) >= limit:
                break
        meta = {"resourceVersion": str(snap.rv)}
        if limit and i < n_keys and len(items) >= limit:
            self.store.keep_snapshot(gp, snap)  # pin this state for the next pages
            meta["continue"] = self._encode_continue(snap.rv, last_key[len(prefix):] + "\x00")
            if match is None:
                meta["remainingItemCount"] = n_keys - i
        if rt.to_external:
            parts = [dumps({k: v for k, v in rt.to_external(s.obj).items()
                            if k not in ("kind", "apiVersion")}) for s in items]
        else:
            parts = [s.item_json() for s in items]
        head = dumps({"kind": rt.list_kind, "apiVersion": rt.api_version, "metadata": meta})
        body = head[:-1] + b',"items":[' + b",".join(parts) + b"]}"
        return self.send(h, 200, body)

    @staticmethod
    def _encode_continue(rv, start):
        tok = json.dumps({"v": "meta.k8s.io/v1", "rv": rv, "start": start}, separators=(",", ":"))
        return base64.urlsafe_b64encode(tok.encode()).rstrip(b"=").decode()

    @staticmethod
    def _decode_continue(token):
        try:
            pad = "=" * (-len(token) % 4)
            data = base64.urlsafe_b64decode(token + pad)
            c = json.loads(data.decode())
        except (binascii.Error, ValueError, UnicodeDecodeError) as e:
            raise E.bad_request("invalid continue token: continue key is not valid: %s" % e)
        if not isinstance(c, dict) or c.get("v") != "meta.k8s.io/v1":
            raise E.bad_request("invalid continue token: continue key is not valid: server does "
                                "not recognize this encoded version %s"
                                % (c.get("v") if isinstance(c, dict) else ""))
        rv = c.get("rv")
        if not isinstance(rv, int) or rv == 0:
            raise E.bad_request("invalid continue token: continue key is not valid: incorrect "
                                "encoded start resourceVersion (version meta.k8s.io/v1)")
        start = c.get("start")
        if not isinstance(start, str) or not start:
            raise E.bad_request("invalid continue token: continue key is not valid: encoded start "
                                "key empty (version meta.k8s.io/v1)")
        if "/../" in "/" + start or start.startswith("../"):
            raise E.bad_request("invalid continue token: continue key is not valid: %s" % start)
        return start, rv

    # ------------------------------------------------------------------ delete collection
    def _delete_collection(self, h, rt, ns, q, options, dry_run):
        ls, fs = self._selectors(rt, q)
        match = self._matcher(rt, ls, fs)
        prefix = ns + "/" if (rt.namespaced and ns) else ""
        deleted = []
        with self.store.lock:
            snap = self.store.snapshot(rt.storage)
            for k, s in zip(snap.keys, snap.stored):
                if prefix and not k.startswith(prefix):
                    continue
                if match is not None and not match(s.obj):
                    continue
                md = s.obj["metadata"]
                res, dummy = self.registry.delete(rt, md.get("namespace", ""), md["name"], options,
                                                  dry_run=dry_run)
                deleted.append(res if res.get("kind") != "Status" else REG.external(rt, s.obj))
        items = [{k: v for k, v in REG.external(rt, o).items() if k not in ("kind", "apiVersion")}
                 for o in deleted]
        return self.send(h, 200, {"kind": rt.list_kind, "apiVersion": rt.api_version,
                                  "metadata": {"resourceVersion": str(self.store.rv)},
                                  "items": items})

    # ------------------------------------------------------------------ watch
    def _watch(self, h, rt, ns, q, name):
        self._validate_list_options(q, True)
        if name:
            fsel = q.get("fieldSelector")
            if fsel and fsel not in ("metadata.name=" + name, "metadata.name==" + name):
                raise E.bad_request("fieldSelector metadata.name doesn't match requested name")
            q = dict(q, fieldSelector="metadata.name=" + name)
        ls, fs = self._selectors(rt, q)
        match = self._matcher(rt, ls, fs)
        bookmarks = go_bool(q.get("allowWatchBookmarks"))
        send_initial = q.get("sendInitialEvents")
        timeout = self.kube.watch_timeout
        if q.get("timeoutSeconds"):
            try:
                timeout = float(int(q["timeoutSeconds"]))
            except ValueError:
                raise E.bad_request('strconv.ParseInt: parsing "%s": invalid syntax' % q["timeoutSeconds"])
            if timeout <= 0:
                timeout = self.kube.watch_timeout
        rv_param = q.get("resourceVersion", "")
        from_rv = None
        if rv_param not in ("", "0"):
            from_rv = self._parse_rv(rv_param)
        if send_initial is not None and go_bool(send_initial):
            from_rv = None
        prefix = ns + "/" if (rt.namespaced and ns) else ""
        delivery = getattr(h, "_fakekube_delivery", None)
        h._fakekube_delivery = None
        if delivery is not None:
            delivery.before_watch_headers(self.kube._stopping)
        too_old = None
        try:
            watcher, initial = self.store.watch(rt.storage, from_rv)
        except E.ApiError as e:
            too_old, watcher, initial = e, None, []
        h.send_response_only(200)
        h.send_header("Date", h.date_time_string())
        for k, v in self._headers():
            h.send_header(k, v)
        h.send_header("Content-Type", JSON)
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        self.kube._log_status(200)
        wfile = h.wfile

        def write(obj):
            data = dumps(obj) + b"\n"
            chunk = b"%x\r\n%s\r\n" % (len(data), data)
            if delivery is not None:
                chunk = delivery.on_watch_write(h, chunk)
            wfile.write(chunk)
            wfile.flush()

        def end():
            wfile.write(b"0\r\n\r\n")
            wfile.flush()

        if watcher is not None:
            watcher.connection = h.request
        try:
            if delivery is not None:
                delivery.on_watch_start(h, self.kube._stopping)
            if too_old is not None:
                write({"type": "ERROR", "object": too_old.status})
                end()
                return
        except (ConnectionAborted, OSError, ValueError):
            h.close_connection = True
            if watcher is not None:
                watcher.stop()
            return
        try:
            for ev in initial:
                self._deliver(write, rt, ev, match, prefix)
            if send_initial is not None and go_bool(send_initial) and bookmarks:
                with self.store.lock:
                    watcher.push(Bookmark(self.store.rv, initial_end=True))
            deadline = time.monotonic() + timeout
            interval = self.kube.bookmark_interval
            next_bm = time.monotonic() + interval if bookmarks else None
            while True:
                now = time.monotonic()
                if now >= deadline:
                    end()
                    return
                if next_bm is not None and now >= next_bm:
                    with self.store.lock:
                        watcher.push(Bookmark(self.store.rv))
                    next_bm = now + interval
                wait = deadline - now
                if next_bm is not None:
                    wait = min(wait, max(0.0, next_bm - now))
                try:
                    item = watcher.q.get(timeout=max(0.001, min(wait, 0.5)))
                except queue.Empty:
                    if _client_gone(h.request):
                        h.close_connection = True
                        return
                    continue
                if item is DROPPED:
                    h.close_connection = True
                    try:
                        h.request.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if item is CLOSED:
                    end()
                    h.close_connection = True
                    return
                if isinstance(item, Bookmark):
                    md = {"resourceVersion": str(item.rv)}
                    if item.initial_end:
                        md["annotations"] = {"k8s.io/initial-events-end": "true"}
                    write({"type": "BOOKMARK", "object": {"kind": rt.kind, "apiVersion": rt.api_version,
                                                          "metadata": md}})
                    continue
                self._deliver(write, rt, item, match, prefix)
        except (BrokenPipeError, ConnectionResetError, OSError, ValueError, ConnectionAborted):
            h.close_connection = True
        finally:
            watcher.stop()

    @staticmethod
    def _deliver(write, rt, ev, match, prefix):
        obj, prev = ev.obj, ev.prev
        if prefix:
            md = obj.get("metadata") or {}
            if md.get("namespace", "") + "/" != prefix:
                return
        cur_ok = ev.type != "DELETED" and (match is None or match(obj))
        old_ok = False
        if ev.type == "DELETED":
            old_ok = match is None or match(prev if prev is not None else obj)
        elif prev is not None:
            old_ok = match is None or match(prev)
        if not cur_ok and not old_ok:
            return
        if cur_ok and not old_ok:
            typ, out = "ADDED", obj
        elif cur_ok and old_ok:
            typ, out = "MODIFIED", obj
            if ev.type == "ADDED":
                typ = "ADDED"
        else:
            typ = "DELETED"
            if ev.type == "DELETED":
                out = obj
            else:
                # the previous object's content, at the event's resourceVersion
                out = dict(prev)
                out["metadata"] = dict(prev.get("metadata") or {}, resourceVersion=str(ev.rv))
        write({"type": typ, "object": REG.external(rt, out)})

    # ------------------------------------------------------------------ node proxy
    def _proxy(self, h, method, rt, info):
        if rt.kind != "Node":
            return self.send(h, 404, _NOT_FOUND_BODY)
        name = info.path_name
        parts = name.split(":")
        if len(parts) == 3:
            name = parts[1]
        elif len(parts) == 2:
            name = parts[0] if parts[1].isdigit() else parts[1]
        node = self.registry.get(rt, "", name)
        sub = "/".join(info.extra)
        configured = self.kube._kubelet.get(name)
        if configured and configured.get("status"):
            code, ctype, body = kubelet.proxy_error(node, configured["status"])
            return self.send(h, code, body, ctype)
        if sub == "stats/summary" and method == "GET":
            summary = configured.get("summary") if configured else None
            if summary is None:
                summary = kubelet.default_summary(node)
            return self.send(h, 200, summary)
        if sub in ("healthz", "") and method == "GET":
            return self.send(h, 200, b"ok", "text/plain; charset=utf-8")
        return self.send(h, 404, b"404 page not found\n", "text/plain; charset=utf-8")
