"""Injected faults: what a client meets on the way to a real kube-apiserver besides clean answers.

* :class:`StatusFault` - the next matching requests answer an error Status (``fail_next``).
* :class:`ResetFault` - the answer starts (status line, headers, part of the body) and then the
  connection is reset (RST) or closed (FIN) before the body is complete: a chunked watch loses
  its terminating chunk, a Content-Length body comes up short (``reset_next``).
* :class:`SlowFault` - the server stalls, before the headers or after part of the body, for a
  set time (``slow_next``); a client whose read timeout is shorter gives up first.
* :class:`AfterAnswer` - something happens to the cluster right after an answer is sent
  (``after_next``), e.g. etcd compacts between two pages of a list.
* :class:`FaultPlan` - random faults at given rates per request, seeded, with a record of what
  was injected (for soak reports).

Faults apply after authentication, like API Priority and Fairness and the filters behind it.
A reset or a stall happens while the *answer* is sent: the request itself has been processed
(a write is stored), only its outcome is lost or late - which is what makes retrying a write
after a broken connection a question for the client.
"""
import random
import socket
import struct
import threading
import time

from . import errors as E


class ConnectionAborted(Exception):
    """Raised inside the server once a ResetFault has cut the connection."""


class _Match:
    """Which requests a fault applies to, and how many more times."""

    def __init__(self, count, path_contains=None, method=None, query=None, watch=None):
        self.count = int(count)
        self.path_contains = path_contains
        self.method = method.upper() if method else None
        self.query = dict(query or {})
        self.watch = watch

    def matches(self, method, path, query, watch):
        if self.count <= 0:
            return False
        if self.path_contains and self.path_contains not in path:
            return False
        if self.method and self.method != method:
            return False
        if self.watch is not None and bool(self.watch) != bool(watch):
            return False
        for key, value in self.query.items():
            if query.get(key) != value:
                return False
        return True


class StatusFault(_Match):
    def __init__(self, count, status=500, retry_after=None, reason=None, message=None, **match):
        super().__init__(count, **match)
        self.status, self.retry_after = int(status), retry_after
        self.reason, self.message = reason, message

    def error(self):
        return E.generic(self.status, self.reason, self.message, self.retry_after)


def abort_connection(h, how="rst"):
    """Cut the handler's connection now: ``rst`` resets it (SO_LINGER 0), ``fin`` closes it."""
    h.close_connection = True
    sock = h.request
    try:
        h.wfile.flush()
    except (OSError, ValueError):
        pass
    try:
        if how == "fin":
            sock.shutdown(socket.SHUT_RDWR)
            return
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        # The handler's file objects hold references to the socket: close them first so that
        # close() really closes the descriptor, which sends the RST at once.
        for stream in (h.rfile, h.wfile):
            try:
                stream.close()
            except (OSError, ValueError):
                pass
        sock.close()
    except OSError:
        pass


class _Delivery(_Match):
    """A fault that acts while the answer is being written."""

    def send(self, h, head, body, stop_event):
        raise NotImplementedError

    def before_watch_headers(self, stop_event):
        """Before a watch's headers are sent."""

    def on_watch_start(self, h, stop_event):
        """After a watch's headers; may raise ConnectionAborted."""

    def on_watch_write(self, h, data):
        """Before each watch chunk; returns the bytes to write (may raise ConnectionAborted)."""
        return data


class ResetFault(_Delivery):
    """Headers and part of the body, then the connection is cut.

    ``after_bytes``: body bytes sent before the cut (default: half the body). For a watch,
    ``after_events`` complete events (bookmarks included) go out, then half of the next chunk.
    ``how``: ``"rst"`` (reset) or ``"fin"`` (closed without completing the body).
    """

    def __init__(self, count=1, after_bytes=None, after_events=1, how="rst", **match):
        super().__init__(count, **match)
        if how not in ("rst", "fin"):
            raise ValueError("how must be 'rst' or 'fin'")
        self.after_bytes = after_bytes
        self.after_events = int(after_events)
        self.how = how

    def _clone(self):
        # Each matching request gets its own copy: the event counter is per connection.
        c = ResetFault(1, self.after_bytes, self.after_events, self.how)
        c._written = 0
        return c

    def send(self, h, head, body, stop_event):
        cut = len(body) // 2 if self.after_bytes is None else max(0, min(int(self.after_bytes), len(body) - 1))
        h.wfile.write(head + bytes(body[:cut]))
        abort_connection(h, self.how)

    def on_watch_start(self, h, stop_event):
        if self.after_events <= 0:
            abort_connection(h, self.how)
            raise ConnectionAborted()

    def on_watch_write(self, h, data):
        self._written += 1
        if self._written <= self.after_events:
            return data
        h.wfile.write(data[:max(1, len(data) // 2)])
        abort_connection(h, self.how)
        raise ConnectionAborted()


class SlowFault(_Delivery):
    """The answer stalls for ``seconds``: before anything is sent (``stage="headers"``) or after
    the headers and ``after_bytes`` of the body (``stage="body"``, default half the body; for a
    watch, before the first event). The rest follows if the client is still there."""

    def __init__(self, count=1, seconds=5.0, stage="body", after_bytes=None, **match):
        super().__init__(count, **match)
        if stage not in ("headers", "body"):
            raise ValueError("stage must be 'headers' or 'body'")
        self.seconds = float(seconds)
        self.stage = stage
        self.after_bytes = after_bytes

    def _clone(self):
        return SlowFault(1, self.seconds, self.stage, self.after_bytes)

    def send(self, h, head, body, stop_event):
        if self.stage == "headers":
            stop_event.wait(self.seconds)
            h.wfile.write(head + bytes(body))
            return
        cut = len(body) // 2 if self.after_bytes is None else max(0, min(int(self.after_bytes), len(body)))
        h.wfile.write(head + bytes(body[:cut]))
        h.wfile.flush()
        stop_event.wait(self.seconds)
        h.wfile.write(bytes(body[cut:]))

    def before_watch_headers(self, stop_event):
        if self.stage == "headers":
            stop_event.wait(self.seconds)

    def on_watch_start(self, h, stop_event):
        if self.stage == "body":
            stop_event.wait(self.seconds)


class AfterAnswer(_Delivery):
    """``action()`` runs right after the answer to a matching request is sent, before the same
    connection can carry another request: e.g. etcd compacting between two pages of a list.
    Not for watches, whose answer does not end (use ``watch=False`` when the path is shared)."""

    def __init__(self, action, count=1, **match):
        super().__init__(count, **match)
        self.action = action

    def _clone(self):
        return AfterAnswer(self.action, 1)

    def send(self, h, head, body, stop_event):
        h.wfile.write(head + bytes(body))
        h.wfile.flush()
        self.action()


class FaultRegistry:
    """Armed faults of one FakeKube, consumed by matching requests (thread-safe)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.status = []
        self.delivery = []

    def add_status(self, fault):
        with self.lock:
            self.status.append(fault)

    def add_delivery(self, fault):
        with self.lock:
            self.delivery.append(fault)

    def clear(self):
        with self.lock:
            self.status = []
            self.delivery = []

    @staticmethod
    def _take(faults, method, path, query, watch):
        for f in faults:
            if f.matches(method, path, query, watch):
                f.count -= 1
                return f
        return None

    def take(self, method, path, query, watch):
        """(error or None, delivery fault or None) for one request."""
        with self.lock:
            status = self._take(self.status, method, path, query, watch)
            delivery = self._take(self.delivery, method, path, query, watch)
            self.status = [f for f in self.status if f.count > 0]
            self.delivery = [f for f in self.delivery if f.count > 0]
        return (status.error() if status else None), (delivery._clone() if delivery else None)


# ------------------------------------------------------------------------------------------------
# Random faults
# ------------------------------------------------------------------------------------------------

RESPONSE_KINDS = ("status_429", "status_500", "status_503", "status_504", "reset", "slow")
CLUSTER_KINDS = ("drop_watches", "compact", "expire_continue", "restart")
KINDS = RESPONSE_KINDS + CLUSTER_KINDS


class FaultPlan:
    """Faults at random: ``rates`` maps a kind to its probability per request (0..1).

    Response kinds (at most one per request): ``status_429`` (with Retry-After), ``status_500``,
    ``status_503``, ``status_504``, ``reset`` (mid-body, see ResetFault), ``slow`` (a stall of
    ``slow_seconds``). Cluster kinds (each drawn on its own, for every request): ``drop_watches``,
    ``compact``, ``expire_continue`` and ``restart`` (the server restarts on a background thread,
    down for ``restart_down_seconds`` and then starting for ``restart_starting_seconds``; one
    restart at a time).

    Only requests whose path contains ``path_contains`` (default: every API request, never the
    health endpoints) are eligible. ``enabled`` pauses and resumes the plan. ``injected`` lists
    what was done: ``{"time", "kind", "method", "path", "watch"}``; ``counts()`` sums it up.
    """

    def __init__(self, seed, rates, slow_seconds=2.0, retry_after=1, restart_down_seconds=0.5,
                 restart_starting_seconds=1.0, path_contains=None, clock=time.time):
        unknown = sorted(set(rates) - set(KINDS))
        if unknown:
            raise ValueError("unknown fault kinds %s (known: %s)" % (unknown, ", ".join(KINDS)))
        for kind, rate in rates.items():
            if not 0.0 <= float(rate) <= 1.0:
                raise ValueError("rate of %s must be between 0 and 1, got %r" % (kind, rate))
        if sum(float(rates.get(k, 0.0)) for k in RESPONSE_KINDS) > 1.0:
            raise ValueError("the response fault rates add up to more than 1")
        self.seed = seed
        self.rates = dict((k, float(v)) for k, v in rates.items())
        self.slow_seconds = float(slow_seconds)
        self.retry_after = retry_after
        self.restart_down_seconds = float(restart_down_seconds)
        self.restart_starting_seconds = float(restart_starting_seconds)
        self.path_contains = path_contains
        self.enabled = True
        self.injected = []
        self._clock = clock
        self._random = random.Random(seed)
        self._lock = threading.Lock()
        self._restarting = threading.Lock()

    def counts(self):
        with self._lock:
            out = dict((k, 0) for k in KINDS)
            for entry in self.injected:
                out[entry["kind"]] += 1
            return out

    def _note(self, kind, method, path, watch):
        self.injected.append({"time": self._clock(), "kind": kind, "method": method, "path": path,
                              "watch": bool(watch)})

    def draw(self, kube, method, path, query, watch):
        """Decide this request's faults; returns (error or None, delivery fault or None) and
        performs the cluster-wide ones."""
        if not self.enabled or (self.path_contains and self.path_contains not in path):
            return None, None
        with self._lock:
            roll = self._random.random()
            response = None
            edge = 0.0
            for kind in RESPONSE_KINDS:
                edge += self.rates.get(kind, 0.0)
                if roll < edge:
                    response = kind
                    break
            cluster = [k for k in CLUSTER_KINDS if self._random.random() < self.rates.get(k, 0.0)]
            if response:
                self._note(response, method, path, watch)
            for kind in cluster:
                self._note(kind, method, path, watch)
        error = delivery = None
        if response and response.startswith("status_"):
            code = int(response[len("status_"):])
            error = E.generic(code, retry_after=self.retry_after if code in (429, 503) else None)
        elif response == "reset":
            delivery = ResetFault(1)._clone()
        elif response == "slow":
            delivery = SlowFault(1, seconds=self.slow_seconds)._clone()
        for kind in cluster:
            if kind == "drop_watches":
                kube.drop_watches()
            elif kind == "compact":
                kube.compact()
            elif kind == "expire_continue":
                kube.expire_continue_tokens()
            elif kind == "restart":
                self._restart_in_background(kube)
        return error, delivery

    def _restart_in_background(self, kube):
        if not self._restarting.acquire(blocking=False):
            return

        def run():
            try:
                kube.restart(down_seconds=self.restart_down_seconds,
                             starting_seconds=self.restart_starting_seconds)
            finally:
                self._restarting.release()

        threading.Thread(target=run, name="fakekube-plan-restart", daemon=True).start()
