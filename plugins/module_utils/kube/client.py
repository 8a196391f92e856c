# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""The one way every plugin and the daemon talk to the Kubernetes API.

``config.py`` turns the connection settings into the official client's Configuration; here the
official ``ApiClient`` builds the TLS/proxy-aware connection pool and nothing more. Requests skip
its model layer: they send and return plain JSON, because deserializing a 5,000-node list into
models costs more than the request.

Nothing here imports Ansible; ``ansible_module.py`` adapts it to modules.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import random
import socket
import time

try:
    from urllib.parse import quote, urlencode
except ImportError:  # pragma: no cover - Python 2 is not supported, this keeps sanity's compile test quiet
    from urllib import quote, urlencode  # noqa

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import (
    ApiError,
    ConnectionFailure,
    WriteOutcomeUnknown,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.config import (
    build_configuration,
    import_kubernetes,
    resolve_auth_options,
)

USER_AGENT = "nodewatch.k8s/0.1.0"


class RetryPolicy:
    """How often and how long to retry what the API server asks us to retry."""

    def __init__(self, attempts=5, base_delay=0.5, max_delay=10.0, max_retry_after=30.0,
                 sleep=time.sleep):
        self.attempts = max(1, int(attempts))
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.max_retry_after = max_retry_after
        self.sleep = sleep

    def delay(self, attempt, retry_after=None):
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        backoff = min(self.max_delay, self.base_delay * (2 ** attempt))
        # Full jitter keeps many clients from retrying in lock-step after an outage.
        return random.uniform(backoff / 2.0, backoff)


IDEMPOTENT_METHODS = ("GET", "HEAD", "PUT", "DELETE", "OPTIONS")
READ_METHODS = ("GET", "HEAD", "OPTIONS")
VERBS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}


def parse_api_path(path):
    """``/api/v1/namespaces/ns/configmaps/x/status`` -> dict(resource, name, namespace, subresource)."""
    parts = [p for p in path.split("?", 1)[0].split("/") if p]
    if parts[:1] == ["api"]:
        rest = parts[2:]
    elif parts[:1] == ["apis"]:
        rest = parts[3:]
    else:
        return {"resource": None, "name": None, "namespace": None, "subresource": None}
    namespace = None
    if len(rest) >= 2 and rest[0] == "namespaces" and len(rest) != 2:
        namespace, rest = rest[1], rest[2:]
    return {
        "resource": rest[0] if rest else None,
        "name": rest[1] if len(rest) > 1 else None,
        "namespace": namespace,
        "subresource": "/".join(rest[2:]) or None,
    }


def _parse_retry_after(value):
    if not value:
        return None
    try:
        return float(value)
    except ValueError:
        return None


class KubeClient:
    """JSON over HTTP(S) to one API server, with retries, pagination and watches."""

    def __init__(self, configuration, impersonate_user=None, impersonate_groups=None,
                 timeout=(10.0, 60.0), retry=None, pool_maxsize=None):
        k8s_client = import_kubernetes()[0]
        if pool_maxsize:
            # Concurrent callers (kubelet summaries, informers) need as many pooled connections.
            configuration.connection_pool_maxsize = int(pool_maxsize)
        self.configuration = configuration
        self.host = configuration.host.rstrip("/")
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        # The official ApiClient builds the urllib3 pool with the kubeconfig's TLS, client
        # certificate and proxy settings; we reuse that pool and nothing else of it.
        self._api_client = k8s_client.ApiClient(configuration)
        self._pool = self._api_client.rest_client.pool_manager
        self._base_headers = [("Accept", "application/json"), ("User-Agent", USER_AGENT)]
        if impersonate_user:
            self._base_headers.append(("Impersonate-User", impersonate_user))
        for group in impersonate_groups or ():
            self._base_headers.append(("Impersonate-Group", group))

    @classmethod
    def from_options(cls, options, environ=None, **kwargs):
        """Build a client from kubernetes.core-style auth options (env already applied or not)."""
        resolved = resolve_auth_options(options, environ)
        configuration = build_configuration(resolved, environ)
        return cls(configuration, impersonate_user=resolved.get("impersonate_user"),
                   impersonate_groups=resolved.get("impersonate_groups"), **kwargs)

    def close(self):
        try:
            self._pool.clear()
        except Exception:
            pass

    # -- plumbing -------------------------------------------------------------------------

    def _headers(self, content_type=None):
        import urllib3
        headers = urllib3.HTTPHeaderDict()
        for key, value in self._base_headers:
            headers.add(key, value)
        # Reading the token through the configuration runs the kubeconfig's refresh hook, so
        # exec-plugin and OIDC tokens are renewed when they expire.
        auth = self.configuration.auth_settings().get("BearerToken")
        if auth and auth.get("value"):
            headers["Authorization"] = auth["value"]
        elif self.configuration.username and self.configuration.password:
            headers["Authorization"] = self.configuration.get_basic_auth_token()
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def _url(self, path, query):
        url = self.host + quote(path, safe="/:@")
        if query:
            url += "?" + urlencode([(k, v) for k, v in query.items() if v is not None])
        return url

    def _timeout(self, timeout):
        import urllib3
        timeout = self.timeout if timeout is None else timeout
        if isinstance(timeout, (tuple, list)):
            return urllib3.Timeout(connect=timeout[0], read=timeout[1])
        return urllib3.Timeout(connect=min(10.0, timeout), read=timeout)

    def _send(self, method, path, query, body, content_type, timeout, stream):
        """One HTTP exchange; returns the urllib3 response (body not yet read when stream)."""
        import urllib3
        payload = None
        if body is not None:
            payload = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
            content_type = content_type or "application/json"
        try:
            return self._pool.request(
                method, self._url(path, query), body=payload,
                headers=self._headers(content_type), timeout=self._timeout(timeout),
                preload_content=not stream, retries=False, redirect=False)
        except urllib3.exceptions.SSLError as exc:
            if not _is_handshake_failure(exc):
                # A TLS record cut short or damaged while the answer was read: a broken
                # connection, not a certificate problem.
                raise _ReadError(self._broken(method, path, exc))
            raise ConnectionFailure(
                "TLS verification of %s failed: %s. Set ca_cert to the cluster's CA certificate "
                "file (or fix certificate-authority in the kubeconfig); validate_certs: false only "
                "for throw-away test clusters" % (self.host, _root_cause(exc)))
        except urllib3.exceptions.NewConnectionError as exc:
            raise _ConnectError(self._unreachable(exc))
        except urllib3.exceptions.ConnectTimeoutError as exc:
            raise _ConnectError("cannot connect to the API server at %s: connection timed out; check "
                                "host/the kubeconfig's server address and the network" % self.host)
        except urllib3.exceptions.ReadTimeoutError:
            raise _ReadError("the API server at %s did not answer %s %s in time" % (self.host, method, path))
        except (urllib3.exceptions.ProtocolError, urllib3.exceptions.HTTPError, socket.error) as exc:
            raise _ReadError(self._broken(method, path, exc))

    def _broken(self, method, path, exc):
        return "the connection to %s broke during %s %s: %s" % (self.host, method, path, _root_cause(exc))

    def _unreachable(self, exc):
        cause = _root_cause(exc)
        if "refused" in cause.lower():
            return ("cannot connect to the API server at %s: connection refused; check host or the "
                    "kubeconfig's server address, and that the API server is running" % self.host)
        return "cannot connect to the API server at %s: %s" % (self.host, cause)

    def _error(self, response, method, path):
        data = response.data if response.data is not None else b""
        status_obj = {}
        try:
            status_obj = json.loads(data.decode("utf-8")) if data else {}
        except ValueError:
            pass
        if not isinstance(status_obj, dict):
            status_obj = {}
        details = status_obj.get("details") or {}
        target = parse_api_path(path)
        verb = VERBS.get(method, "get" if target.get("name") else "list")
        message = status_obj.get("message") or data.decode("utf-8", "replace")[:500].strip()
        return ApiError(
            response.status, reason=status_obj.get("reason") or response.reason, message=message,
            verb=verb, resource=target["resource"] + ("/" + target["subresource"] if target["subresource"] else "")
            if target["resource"] else None,
            name=details.get("name") or target["name"], namespace=target["namespace"],
            causes=details.get("causes"), host=self.host,
            retry_after=_parse_retry_after(response.headers.get("Retry-After")), body=status_obj or None)

    @staticmethod
    def _ambiguous(error):
        """Whether the server may have acted on a request that failed this way."""
        if isinstance(error, _ReadError):
            return True
        return isinstance(error, ApiError) and error.status in (500, 502, 504)

    def _should_retry(self, method, error):
        if isinstance(error, _ConnectError):
            return True  # nothing reached the server
        if isinstance(error, ApiError) and error.status in (429, 503):
            # the request was not processed (API priority and fairness, overloaded or starting
            # server)
            return True
        if self._ambiguous(error):
            # other 5xx and lost answers may have been processed: repeat only what is safe
            return method in IDEMPOTENT_METHODS
        return False

    def _read_error_body(self, response, method, path):
        """Read the body of an error answer to a streamed request (a watch)."""
        import urllib3
        try:
            response.read()
        except (urllib3.exceptions.HTTPError, socket.error) as exc:
            raise _ReadError(self._broken(method, path, exc))
        finally:
            response.release_conn()

    def request(self, method, path, query=None, body=None, content_type=None, timeout=None,
                stream=False, retry=None):
        """Send a request, retrying what is safe to retry; return parsed JSON (or the response
        object when ``stream`` is true). ``retry`` overrides the client's RetryPolicy for this
        call. Raises ApiError / ConnectionFailure."""
        method = method.upper()
        retry = retry or self.retry
        attempt = 0
        lost = None   # the first failure after which a write may have been applied
        while True:
            try:
                response = self._send(method, path, query, body, content_type, timeout, stream)
                if response.status >= 400:
                    if stream:
                        self._read_error_body(response, method, path)
                    raise self._error(response, method, path)
                if stream:
                    return response
                return self._parse(response, method, path)
            except (ApiError, _ConnectError, _ReadError) as error:
                if lost is not None and isinstance(error, ApiError) and error.status == 409:
                    # A write repeated after a lost answer is refused as a conflict: its
                    # resourceVersion or uid precondition no longer holds, most likely because
                    # the first attempt was applied. Neither "failed" nor "done" would be true.
                    raise WriteOutcomeUnknown("%s; it was sent again and refused as a conflict (%s), so the "
                                              "first attempt was probably applied: check the object's current "
                                              "state" % (lost, error.server_message or error.reason))
                attempt += 1
                if attempt >= retry.attempts or not self._should_retry(method, error):
                    if method not in READ_METHODS and isinstance(error, _ReadError):
                        # The server may have acted before the answer was lost: say so, since
                        # repeating the call blindly could act twice.
                        raise WriteOutcomeUnknown("%s; the API server may have applied this %s before the "
                                                  "answer was lost: check the object's current state before "
                                                  "trying again" % (error, method))
                    if isinstance(error, (_ConnectError, _ReadError)):
                        raise ConnectionFailure(str(error))
                    raise
                if lost is None and method not in READ_METHODS and self._ambiguous(error):
                    lost = error
                retry.sleep(retry.delay(attempt - 1, getattr(error, "retry_after", None)))

    def _parse(self, response, method, path):
        data = response.data
        if not data:
            return None
        try:
            return json.loads(data)
        except ValueError:
            # Something between us and the API server (a proxy, a load balancer's error page)
            # answered, or the body was damaged: not something a retry of ours would fix.
            raise ConnectionFailure("the answer of %s to %s %s is not JSON (%d bytes, Content-Type %s); is "
                                    "host/the kubeconfig's server address the API server itself?"
                                    % (self.host, method, path, len(data),
                                       response.headers.get("Content-Type") or "not given"))

    # -- verbs ------------------------------------------------------------------------------

    def get(self, path, query=None, timeout=None, retry=None):
        return self.request("GET", path, query=query, timeout=timeout, retry=retry)

    def get_or_none(self, path, query=None):
        try:
            return self.get(path, query)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, path, body, dry_run=False):
        return self.request("POST", path, query={"dryRun": "All"} if dry_run else None, body=body)

    def replace(self, path, body, dry_run=False):
        return self.request("PUT", path, query={"dryRun": "All"} if dry_run else None, body=body)

    def patch(self, path, patch, patch_type="merge", dry_run=False):
        content_types = {
            "merge": "application/merge-patch+json",
            "strategic": "application/strategic-merge-patch+json",
            "json": "application/json-patch+json",
        }
        return self.request("PATCH", path, query={"dryRun": "All"} if dry_run else None,
                            body=patch, content_type=content_types[patch_type])

    def delete(self, path, grace_period=None, propagation_policy=None, preconditions=None):
        options = {"kind": "DeleteOptions", "apiVersion": "v1"}
        if grace_period is not None:
            options["gracePeriodSeconds"] = int(grace_period)
        if propagation_policy:
            options["propagationPolicy"] = propagation_policy
        if preconditions:
            options["preconditions"] = preconditions
        return self.request("DELETE", path, body=options)

    # -- collections ------------------------------------------------------------------------

    def list_pages(self, path, label_selector=None, field_selector=None, limit=500):
        """Yield list responses page by page (``limit``/``continue``).

        A continue token that expires mid-way (410) cannot be resumed consistently, so the list
        starts again; ``iter_items`` hides the repeats, callers of this raw form see a page whose
        ``metadata["nodewatch.k8s/restarted"]`` is true and must discard what they had.
        """
        query = {"labelSelector": label_selector or None, "fieldSelector": field_selector or None,
                 "limit": int(limit) if limit else None}
        token = None
        restarts = 0
        restarted = False
        while True:
            page_query = dict(query)
            if token:
                page_query["continue"] = token
            try:
                page = self.get(path, page_query)
            except ApiError as exc:
                if exc.status == 410 and token and restarts < 3:
                    restarts += 1
                    restarted = True
                    token = None
                    continue
                raise
            metadata = page.setdefault("metadata", {})
            if restarted:
                metadata["nodewatch.k8s/restarted"] = True
                restarted = False
            token = metadata.get("continue")
            yield page
            # Drop our reference before fetching the next page, so that at most one page of a
            # 70 MB NodeList is alive at a time.
            del page, metadata
            if not token:
                return

    def iter_items(self, path, label_selector=None, field_selector=None, limit=500):
        """Yield every item of a collection once, streaming page by page.

        Identities are remembered (a few bytes per item) so that a list restarted after an
        expired continue token does not yield an item twice.
        """
        seen = set()
        for page in self.list_pages(path, label_selector, field_selector, limit):
            items = page.get("items") or ()
            del page
            for item in items:
                key = _identity(item)
                if key in seen:
                    continue
                seen.add(key)
                yield item
            del items

    def list_all(self, path, label_selector=None, field_selector=None, limit=500):
        """A consistent full list: ``(items, resourceVersion)``; restarts from scratch on 410."""
        items = []
        resource_version = None
        for page in self.list_pages(path, label_selector, field_selector, limit):
            if page["metadata"].get("nodewatch.k8s/restarted"):
                items = []
            items.extend(page.get("items") or ())
            resource_version = page["metadata"].get("resourceVersion", resource_version)
        return items, resource_version

    def watch(self, path, resource_version=None, label_selector=None, field_selector=None,
              timeout_seconds=300, allow_bookmarks=True, inactivity_timeout=70.0, on_open=None):
        """Yield watch events (dicts) until the server ends the stream.

        The socket read timeout is the inactivity watchdog: bookmarks arrive about every minute,
        so silence longer than ``inactivity_timeout`` means a dead connection and raises
        ConnectionFailure. An ERROR event is raised as ApiError (410 means relist).
        ``on_open(interrupt)`` receives a function that another thread may call to end a stream
        blocked in a read (the generator then raises ConnectionFailure).
        """
        query = {"watch": "1", "resourceVersion": resource_version or None,
                 "allowWatchBookmarks": "true" if allow_bookmarks else None,
                 "timeoutSeconds": int(timeout_seconds) if timeout_seconds else None,
                 "labelSelector": label_selector or None, "fieldSelector": field_selector or None}
        response = self.request("GET", path, query=query, stream=True,
                                timeout=(self.timeout[0], inactivity_timeout))
        if on_open is not None:
            on_open(lambda: _interrupt(response))
        buffer = b""
        try:
            for chunk in _iter_stream(response, self.host):
                buffer += chunk
                while b"\n" in buffer:
                    line, buffer = buffer.split(b"\n", 1)
                    if not line.strip():
                        continue
                    try:
                        event = json.loads(line)
                    except ValueError:
                        raise ConnectionFailure("the watch on %s sent a line that is not JSON; "
                                                "reconnecting is needed" % self.host)
                    if event.get("type") == "ERROR":
                        status = event.get("object") or {}
                        raise ApiError(status.get("code") or 500, reason=status.get("reason"),
                                       message=status.get("message"), verb="watch",
                                       resource=parse_api_path(path)["resource"], host=self.host)
                    yield event
        finally:
            response.release_conn()


def _iter_stream(response, host):
    import urllib3
    try:
        yield from response.stream(65536)
    except urllib3.exceptions.ReadTimeoutError:
        raise ConnectionFailure("the watch on %s went silent (no event or bookmark in time); "
                                "reconnecting is needed" % host)
    except (urllib3.exceptions.HTTPError, socket.error) as exc:
        # ProtocolError (reset, chunk cut short), SSLError (a TLS record cut short), ...
        raise ConnectionFailure("the watch connection to %s broke: %s" % (host, _root_cause(exc)))


def _interrupt(response):
    """Unblock a read on ``response`` from another thread (urllib3 2.3+ can shut the socket)."""
    shutdown = getattr(response, "shutdown", None)
    if shutdown is not None:
        try:
            shutdown()
        except Exception:  # the stream may already be closed; nothing left to interrupt
            pass


def _identity(item):
    # By name, not uid: a list holds one object per name, and a node deleted and re-created
    # between two pages of a restarted list is the same host, not two.
    metadata = item.get("metadata") or {}
    return (metadata.get("namespace"), metadata.get("name"))


def _is_handshake_failure(exc):
    """Whether a urllib3 SSLError comes from setting TLS up (certificates, protocol) rather
    than from a connection that broke while an answer was read."""
    import ssl
    seen = 0
    while exc is not None and seen < 6:
        if isinstance(exc, ssl.SSLCertVerificationError):
            return True
        if isinstance(exc, (ssl.SSLEOFError, ssl.SSLZeroReturnError)):
            return False
        text = str(exc)
        if any(marker in text for marker in _BROKEN_TLS_MARKERS):
            return False
        exc = getattr(exc, "reason", None) or exc.__cause__ or exc.__context__
        seen += 1
    return True


# OpenSSL's words for a TLS stream damaged or cut after the handshake.
_BROKEN_TLS_MARKERS = ("BAD_RECORD_MAC", "DECRYPTION_FAILED", "UNEXPECTED_EOF", "EOF occurred",
                       "record layer failure")


def _root_cause(exc):
    """The innermost readable reason of a urllib3 error chain."""
    seen = 0
    reason = getattr(exc, "reason", None)
    while reason is not None and seen < 5:
        exc, reason, seen = reason, getattr(reason, "reason", None), seen + 1
    args = getattr(exc, "args", ())
    if len(args) == 2 and isinstance(args[0], str) and isinstance(args[1], BaseException):
        # urllib3's ProtocolError("Connection broken: ...", cause): say it in words
        return _broken_reason(args[1])
    text = str(exc)
    # urllib3 prefixes pool details that mean nothing to a user.
    for marker in ("Failed to establish a new connection: ", "[SSL: "):
        if marker in text:
            text = text[text.index(marker) + (len(marker) if marker.startswith("Failed") else 0):]
    return text.strip() or type(exc).__name__


def _broken_reason(cause):
    import http.client
    if isinstance(cause, http.client.IncompleteRead):
        expected = cause.expected
        got = len(cause.partial or b"")
        if expected:
            return "the answer ended after %d bytes, %d more were announced" % (got, expected)
        return "the answer ended early"
    if isinstance(cause, ConnectionResetError):
        return "the connection was reset by the server or the network"
    return str(cause) or type(cause).__name__


class _ConnectError(Exception):
    """Internal: the request never reached the server (safe to retry)."""


class _ReadError(Exception):
    """Internal: the request may have reached the server; the answer was lost."""


def node_path(name=None, subresource=None):
    path = "/api/v1/nodes"
    if name:
        path += "/" + name
        if subresource:
            path += "/" + subresource
    return path


def namespaced_path(resource, namespace, name=None, group=None, version="v1"):
    prefix = "/api/%s" % version if not group else "/apis/%s/%s" % (group, version)
    path = "%s/namespaces/%s/%s" % (prefix, namespace, resource)
    if name:
        path += "/" + name
    return path
