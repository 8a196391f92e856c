# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""The one exception hierarchy of the engine.

Every error a user can meet is a ``KubeError`` whose ``str()`` is a sentence that says what
failed and what to do. Modules turn them into ``fail_json(msg=...)`` in one place
(``ansible_module.py``); the inventory plugin and the daemon print them as they are.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class KubeError(Exception):
    """Base class: anything the engine raises on purpose."""


class ConfigError(KubeError):
    """The connection settings are missing, malformed or point nowhere."""


class MissingLibraryError(KubeError):
    """A Python library the operation needs is not installed."""

    def __init__(self, library, reason=None):
        self.library = library
        self.reason = reason
        super(MissingLibraryError, self).__init__(
            "the Python library '%s' is required%s but is not installed for this interpreter; "
            "install it with 'pip install %s'" % (library, " (%s)" % reason if reason else "", library)
        )


class ValidationError(KubeError, ValueError):
    """User input that Kubernetes would reject, caught before any call."""


class ConnectionFailure(KubeError):
    """The API server could not be reached or the TLS handshake failed."""


class WriteOutcomeUnknown(ConnectionFailure):
    """A write whose answer was lost: the API server may or may not have applied it.

    Read-modify-write callers (``kube.conflicts.retry_on_conflict``) read the object again and
    decide from what they find; others pass the sentence on.
    """


class ApiError(KubeError):
    """An HTTP error answered by the API server, with the request it answered."""

    # What a person can do about each status, appended to the server's own message.
    _ADVICE = {
        401: "the credentials were rejected: check api_key/the token, the client certificate or the "
             "kubeconfig user (an exec or OIDC plugin may have failed to refresh the token)",
        403: "grant this permission to the user with RBAC, or use another context or credentials",
        404: None,
        409: None,
        410: "the requested resourceVersion or continue token has expired; start a new list",
        422: None,
        429: "the API server is throttling requests; retry later or lower the request rate",
    }

    def __init__(self, status, reason=None, message=None, verb=None, resource=None, name=None,
                 namespace=None, causes=None, host=None, retry_after=None, body=None):
        self.status = int(status) if status is not None else 0
        self.reason = reason or ""
        self.server_message = message or ""
        self.verb = verb
        self.resource = resource
        self.name = name
        self.namespace = namespace
        self.causes = causes or []
        self.host = host
        self.retry_after = retry_after
        self.body = body
        super(ApiError, self).__init__(self._sentence())

    def _target(self):
        what = self.resource or "resource"
        if self.name:
            what = '%s "%s"' % (what, self.name)
        if self.namespace:
            what += ' in namespace "%s"' % self.namespace
        return what

    def _sentence(self):
        status = self.status
        if status == 401:
            text = "unauthorized (HTTP 401) talking to %s" % (self.host or "the API server")
        elif status == 403:
            text = "forbidden (HTTP 403): %s" % (
                self.server_message or "cannot %s %s" % (self.verb or "access", self._target()))
        elif status == 404:
            text = "not found (HTTP 404): %s" % (self.server_message or "%s does not exist" % self._target())
        elif status == 409:
            text = "conflict (HTTP 409) on %s: %s" % (self._target(), self.server_message or self.reason)
        elif status == 410:
            text = "gone (HTTP 410): %s" % (self.server_message or "expired")
        elif status == 422:
            text = "invalid %s (HTTP 422): %s" % (self._target(), self.server_message or self.reason)
            if self.causes:
                text += "; causes: " + "; ".join(
                    "%s: %s" % (c.get("field", "?"), c.get("message", c.get("reason", "")))
                    for c in self.causes)
        else:
            text = "HTTP %s %s from %s on %s %s" % (
                status, self.reason or "error", self.host or "the API server",
                self.verb or "request", self._target())
            if self.server_message:
                text += ": %s" % self.server_message
        advice = self._ADVICE.get(status)
        if advice:
            text += " (%s)" % advice
        return text


class WaitTimeout(KubeError):
    """A wait for a condition ran out of time."""
