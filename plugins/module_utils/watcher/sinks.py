# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Where alerts go: JSON lines on stdout, Kubernetes Events on the Node, a webhook.

Sinks that talk to a network queue their alerts and deliver them from a thread of their own, so
a slow API server or a dead chat service never slows the watch. Their queues are bounded: when
one is full the oldest alert is dropped (and counted), since the newest says most about now.
The webhook retries until delivered (backoff with jitter, honouring Retry-After), in order, and
its undelivered alerts are saved with the watcher's state so a restart resends them.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import collections
import json
import logging
import random
import socket
import sys
import threading
import time

try:
    from urllib.error import HTTPError, URLError
    from urllib.parse import urlsplit, urlunsplit
    from urllib.request import HTTPRedirectHandler, Request, build_opener
except ImportError:  # pragma: no cover - Python 2 is not supported; keeps sanity's compile test quiet
    HTTPError = URLError = HTTPRedirectHandler = Request = build_opener = urlsplit = urlunsplit = None

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import namespaced_path
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError, KubeError
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.untrusted import WEBHOOK_RESPONSE_MAX_BYTES
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.informer import Backoff
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.alerts import (
    EVENT_TYPES,
    KINDS,
    SOURCE,
    alert_text,
)

USER_AGENT = "nodewatch-watcher/0.1.0"
EVENT_MESSAGE_LIMIT = 1024
_LOG = logging.getLogger("nodewatch.watcher.sinks")


def redact_url(url):
    """``https://hooks.example.com/services/T0/B0/SECRET?token=x`` -> ``https://hooks.example.com/<redacted>``.

    Webhook paths and queries routinely carry the credential (Slack, Teams, Discord), and so can
    the user-info part: only scheme, host and port are safe to print.
    """
    if not isinstance(url, str):
        return "<redacted>"
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "<redacted>"
    if not parts.scheme or not host:
        return "<redacted>"
    netloc = host if port is None else "%s:%d" % (host, port)
    if ":" in host:
        netloc = "[%s]" % host if port is None else "[%s]:%d" % (host, port)
    hidden = parts.path not in ("", "/") or parts.query or parts.fragment
    return urlunsplit((parts.scheme, netloc, "/<redacted>" if hidden else parts.path, "", ""))


def webhook_url_problem(url):
    """Why ``url`` cannot be a webhook URL, or None.

    The one definition: the daemon's configuration (``sinks.webhook.url``, its file and
    ``NODEWATCH_WEBHOOK_URL``) and the watcher role's check use it. The sentence never quotes the
    URL (its path or query usually holds the credential).
    """
    wanted = "must be an http:// or https:// URL"
    if not isinstance(url, str):
        return "%s (a string), got %s" % (wanted, "null" if url is None else type(url).__name__)
    if any(c.isspace() or ord(c) < 32 or ord(c) == 127 for c in url):
        return "%s without spaces or control characters" % wanted
    try:
        parts = urlsplit(url)
        _port = parts.port  # urlsplit checks the port only when asked for it
    except ValueError as exc:
        return "%s with a valid host and port (%s)" % (wanted, str(exc).split(":", maxsplit=1)[0])
    if parts.scheme.lower() not in ("http", "https"):
        return wanted
    if not parts.hostname:
        return "%s with a host" % wanted
    return None


class SinkStats:
    def __init__(self):
        self.sent = 0
        self.failures = 0
        self.dropped = 0


class StdoutSink:
    """One JSON object per line: the alert, as sent to every other sink."""

    name = "stdout"

    def __init__(self, stream=None, kinds=KINDS, logger=None):
        self.stream = stream
        self.kinds = frozenset(kinds)
        self.stats = SinkStats()
        self.log = logger or _LOG
        self._lock = threading.Lock()

    def send(self, alert):
        line = json.dumps(alert, sort_keys=True, separators=(",", ":")) + "\n"
        stream = self.stream or sys.stdout
        with self._lock:
            try:
                stream.write(line)
                stream.flush()
                self.stats.sent += 1
            except (OSError, ValueError) as exc:
                self.stats.failures += 1
                self.log.error("cannot write an alert to stdout: %s", exc)

    def start(self):
        return self

    def stop(self, timeout=None):
        return True

    def drain(self, timeout):
        return True

    def pending(self):
        return []


class _Retry(Exception):
    def __init__(self, reason, retry_after=None):
        super(_Retry, self).__init__(reason)
        self.retry_after = retry_after


class _Permanent(Exception):
    pass


class QueuedSink:
    """A bounded queue and a delivery thread; subclasses implement ``_deliver(alert)``.

    The head of the queue is removed only once delivered (or given up), so ``pending()`` always
    includes an alert being sent, and delivery is in order.
    """

    name = "queued"

    def __init__(self, kinds=KINDS, queue_size=1000, backoff_initial=1.0, backoff_max=60.0,
                 max_attempts=0, logger=None):
        self.kinds = frozenset(kinds)
        self.queue_size = int(queue_size)
        self.max_attempts = int(max_attempts or 0)
        self.backoff = Backoff(backoff_initial, backoff_max)
        self.stats = SinkStats()
        self.log = logger or _LOG
        self.version = 0  # bumped on every queue change: tells the state flusher to save
        self._queue = collections.deque()
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._busy = False
        self._thread = None

    def send(self, alert):
        with self._cond:
            if len(self._queue) >= self.queue_size:
                dropped = self._queue.popleft()
                self.stats.dropped += 1
                self.log.error("the %s queue is full (%d alerts): dropped the oldest, %s on %s",
                               self.name, self.queue_size, dropped.get("kind"), dropped.get("node"))
            self._queue.append(alert)
            self.version += 1
            self._cond.notify_all()

    def restore(self, alerts):
        """Queue alerts saved by an earlier run ahead of anything new."""
        with self._cond:
            known = set(a.get("id") for a in self._queue)
            for alert in reversed(list(alerts)):
                if alert.get("id") not in known:
                    self._queue.appendleft(alert)
            while len(self._queue) > self.queue_size:
                self._queue.popleft()
                self.stats.dropped += 1
            self.version += 1
            self._cond.notify_all()

    def pending(self):
        with self._cond:
            return list(self._queue)

    def __len__(self):
        with self._cond:
            return len(self._queue)

    def start(self):
        self._thread = threading.Thread(target=self._run, name="sink %s" % self.name)
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self, timeout=5.0):
        self._stop.set()
        with self._cond:
            self._cond.notify_all()
        if self._thread is not None:
            self._thread.join(timeout)
            return not self._thread.is_alive()
        return True

    def drain(self, timeout):
        """Wait until everything queued is delivered; False when time ran out first."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._queue or self._busy:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self._thread is None or not self._thread.is_alive():
                    return not self._queue
                self._cond.wait(min(remaining, 0.1))
        return True

    def _run(self):
        attempts = 0
        while not self._stop.is_set():
            with self._cond:
                while not self._queue and not self._stop.is_set():
                    self._cond.wait()
                if self._stop.is_set():
                    return
                alert = self._queue[0]
                self._busy = True
            done = True
            try:
                self._deliver(alert)
                self.stats.sent += 1
                self.backoff.reset()
                attempts = 0
            except _Permanent as exc:
                self.stats.failures += 1
                self.stats.dropped += 1
                self.log.error("%s rejected the %s alert on %s for good, dropping it: %s",
                               self.name, alert.get("kind"), alert.get("node"), exc)
                attempts = 0
            except _Retry as exc:
                self.stats.failures += 1
                attempts += 1
                if self.max_attempts and attempts >= self.max_attempts:
                    self.stats.dropped += 1
                    self.log.error("giving up on the %s alert on %s after %d attempts: %s",
                                   alert.get("kind"), alert.get("node"), attempts, exc)
                    attempts = 0
                else:
                    done = False
                    delay = self.backoff.next(exc.retry_after)
                    self.log.warning("sending to %s failed (%s); %d alert(s) waiting, retrying in %.1fs",
                                     self.name, exc, len(self), delay)
                    self._stop.wait(delay)
            except Exception as exc:  # a bug must not end delivery for good
                self.stats.failures += 1
                self.stats.dropped += 1
                self.log.error("unexpected error sending to %s, dropping the alert: %s: %s",
                               self.name, type(exc).__name__, exc, exc_info=True)
                attempts = 0
            with self._cond:
                if done and self._queue and self._queue[0] is alert:
                    self._queue.popleft()
                    self.version += 1
                self._busy = False
                self._cond.notify_all()

    def _deliver(self, alert):  # pragma: no cover - abstract
        raise NotImplementedError


class _NoRedirect(HTTPRedirectHandler if HTTPRedirectHandler is not None else object):
    """A redirected POST would be replayed as a GET by urllib: treat redirects as errors."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


class WebhookSink(QueuedSink):
    """POST each alert as JSON: ``{"text": ..., "alert": {...}}`` (Slack-compatible ``text``)."""

    name = "webhook"

    def __init__(self, url, timeout=10.0, headers=None, **kwargs):
        super(WebhookSink, self).__init__(**kwargs)
        self.url = url
        self.redacted = redact_url(url)
        self.timeout = float(timeout)
        self.headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT}
        self.headers.update(headers or {})
        self._opener = build_opener(_NoRedirect())

    def _scrub(self, text):
        """Error texts can quote the URL; never let its secret part reach a log line."""
        text = str(text)
        if self.url and self.url in text:
            text = text.replace(self.url, self.redacted)
        path = urlsplit(self.url).path
        if len(path) > 1 and path in text:
            text = text.replace(path, "/<redacted>")
        return text

    def payload(self, alert):
        return json.dumps({"text": alert_text(alert), "alert": alert}, sort_keys=True,
                          separators=(",", ":")).encode("utf-8")

    def _deliver(self, alert):
        request = Request(self.url, data=self.payload(alert), headers=self.headers, method="POST")
        try:
            response = self._opener.open(request, timeout=self.timeout)
            try:
                # Only the status matters; a receiver answering with an endless body must not
                # hold the delivery thread or its memory.
                response.read(WEBHOOK_RESPONSE_MAX_BYTES)
            finally:
                response.close()
            return
        except HTTPError as exc:
            status = exc.code
            retry_after = _retry_after(exc.headers.get("Retry-After") if exc.headers else None)
            try:
                exc.close()
            except Exception:
                pass
            if status in (408, 425, 429) or status >= 500:
                raise _Retry("HTTP %d from %s" % (status, self.redacted), retry_after)
            raise _Permanent("HTTP %d from %s (check the webhook URL and its credentials)"
                             % (status, self.redacted))
        except URLError as exc:
            raise _Retry("cannot reach %s: %s" % (self.redacted, self._scrub(getattr(exc, "reason", exc))))
        except (socket.timeout, OSError) as exc:
            raise _Retry("no answer from %s: %s" % (self.redacted, self._scrub(exc)))


def _retry_after(value):
    try:
        return float(value) if value else None
    except ValueError:
        return None


class EventSink(QueuedSink):
    """A core/v1 Event per alert, on the Node, in ``namespace`` (``default``, as the kubelet)."""

    name = "event"

    def __init__(self, client, namespace="default", instance=None, node_uid=None, **kwargs):
        kwargs.setdefault("max_attempts", 5)
        super(EventSink, self).__init__(**kwargs)
        self.client = client
        self.namespace = namespace
        self.instance = instance or socket.gethostname()
        self.node_uid = node_uid or (lambda name: None)

    def event_body(self, alert, now=None):
        now = time.time() if now is None else now
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        node = alert["node"]
        message = alert.get("message") or ""
        if len(message) > EVENT_MESSAGE_LIMIT:
            message = message[:EVENT_MESSAGE_LIMIT - 3] + "..."
        return {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"name": "%s.%x" % (node, int(now * 1e9) + random.randint(0, 0xfff)),
                         "namespace": self.namespace},
            # The kubelet sets the UID of its node references to the node name; kubectl describe
            # node finds events by either, so the real UID is used when known.
            "involvedObject": {"apiVersion": "v1", "kind": "Node", "name": node,
                               "uid": self.node_uid(node) or node},
            "reason": alert["reason"],
            "message": message,
            "type": EVENT_TYPES.get(alert["kind"], "Normal"),
            "source": {"component": SOURCE},
            "reportingComponent": SOURCE,
            "reportingInstance": self.instance,
            "firstTimestamp": stamp,
            "lastTimestamp": stamp,
            "count": 1,
        }

    def _deliver(self, alert):
        path = namespaced_path("events", self.namespace)
        try:
            self.client.create(path, self.event_body(alert))
        except ApiError as exc:
            if exc.status in (429, 500, 502, 503, 504):
                raise _Retry(str(exc), exc.retry_after)
            raise _Permanent(str(exc))
        except KubeError as exc:
            raise _Retry(str(exc))


class Sinks:
    """Fan-out to every sink that takes the alert's kind."""

    def __init__(self, sinks):
        self.sinks = list(sinks)

    def emit(self, alert):
        kind = alert["kind"]
        for sink in self.sinks:
            if kind in sink.kinds:
                sink.send(alert)

    def get(self, name):
        for sink in self.sinks:
            if sink.name == name:
                return sink
        return None

    def start(self):
        for sink in self.sinks:
            sink.start()
        return self

    def drain(self, timeout):
        deadline = time.monotonic() + timeout
        ok = True
        for sink in self.sinks:
            ok = sink.drain(max(0.0, deadline - time.monotonic())) and ok
        return ok

    def stop(self, timeout=5.0):
        for sink in self.sinks:
            sink.stop(timeout)
