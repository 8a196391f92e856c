"""Authentication (bearer tokens, client certificates) and RBAC-like authorization.

A :class:`Rule` grants a user a set of ``(verb, resource[, namespace])`` permissions:

* ``verb``: get/list/watch/create/update/patch/delete/deletecollection/impersonate or ``*``;
* ``resource``: ``plural`` (any API group), ``plural.group`` (e.g. ``deployments.apps``,
  ``events.events.k8s.io``), a subresource ``nodes/status`` / ``nodes/proxy``, ``nodes/*``
  (every subresource of nodes), ``*/status`` or ``*`` (everything, subresources included), or
  a non-resource URL path starting with ``/`` (``/metrics``; a trailing ``*`` is a prefix);
* ``namespace`` (optional): the permission only applies in that namespace (a RoleBinding);
  without it the permission is cluster-wide (a ClusterRoleBinding).

As with RBAC, ``nodes`` does not grant ``nodes/status``.  Every authenticated user may read
the discovery and version endpoints (system:discovery / system:public-info-viewer).
"""
import threading

from . import errors

DISCOVERY_PATHS = ("/api", "/apis", "/version", "/healthz", "/livez", "/readyz",
                   "/openapi", "/.well-known/openid-configuration", "/openid/v1/jwks")


class Rule:
    def __init__(self, user, allow=(), groups=()):
        self.user = user
        self.groups = tuple(groups)
        self.allow = [self._norm(a) for a in allow]

    @staticmethod
    def _norm(entry):
        if isinstance(entry, str):
            raise TypeError("Rule.allow entries are (verb, resource[, namespace]) tuples")
        entry = tuple(entry)
        if len(entry) == 2:
            verb, res = entry
            ns = None
        elif len(entry) == 3:
            verb, res, ns = entry
        else:
            raise TypeError("Rule.allow entries are (verb, resource[, namespace]) tuples")
        return (verb, res, ns)

    def __repr__(self):
        return "Rule(user=%r, groups=%r, allow=%r)" % (self.user, self.groups, self.allow)

    def allows(self, attrs):
        for verb, res, ns in self.allow:
            if verb != "*" and verb != attrs.verb:
                continue
            if ns is not None and ns != attrs.namespace:
                continue
            if _resource_matches(res, attrs):
                return True
        return False


def _resource_matches(pattern, attrs):
    if not attrs.is_resource:
        if not pattern.startswith("/"):
            return pattern == "*"
        if pattern.endswith("*"):
            return attrs.path.startswith(pattern[:-1])
        return attrs.path == pattern
    if pattern.startswith("/"):
        return False
    if pattern == "*":
        return True
    main, dummy, sub = pattern.partition("/")
    plural, dummy, group = main.partition(".")
    if plural != "*" and plural != attrs.resource:
        return False
    if group and group != attrs.group:
        return False
    if not sub:
        return not attrs.subresource
    return sub == "*" or sub == attrs.subresource


class Attributes:
    """authorizer.Attributes of one request."""

    def __init__(self, user, verb, *, is_resource=True, group="", resource="", subresource="",
                 namespace="", name="", path=""):
        self.user, self.verb, self.is_resource = user, verb, is_resource
        self.group, self.resource, self.subresource = group, resource, subresource
        self.namespace, self.name, self.path = namespace, name, path

    def forbidden_error(self):
        """responsewriters.ForbiddenStatusError."""
        username = self.user.user if self.user else ""
        if not self.is_resource:
            msg = 'User "%s" cannot %s path "%s"' % (username, self.verb, self.path)
            return errors.forbidden("", "", "", msg)
        res = self.resource + ("/" + self.subresource if self.subresource else "")
        if self.namespace:
            msg = 'User "%s" cannot %s resource "%s" in API group "%s" in the namespace "%s"' % (
                username, self.verb, res, self.group, self.namespace)
        else:
            msg = 'User "%s" cannot %s resource "%s" in API group "%s" at the cluster scope' % (
                username, self.verb, res, self.group)
        return errors.forbidden(self.group, self.resource, self.name, msg)


ANONYMOUS = Rule("system:anonymous", groups=("system:unauthenticated",))


class Auth:
    """Token/cert authentication and rule-based authorization."""

    def __init__(self, tokens, admin_token, admin_user="fake-admin", anonymous=False):
        self.lock = threading.Lock()
        self.admin = Rule(admin_user, allow=[("*", "*"), ("*", "/*")], groups=("system:masters",))
        self.tokens = {admin_token: self.admin}
        self.by_user = {admin_user: self.admin}
        self.anonymous = anonymous
        for tok, rule in (tokens or {}).items():
            self.add_token(tok, rule)

    def add_token(self, token, rule):
        with self.lock:
            self.tokens[token] = rule
            self.by_user.setdefault(rule.user, rule)

    def set_rule(self, rule):
        """Rules for a user that authenticates by certificate or is impersonated."""
        with self.lock:
            self.by_user[rule.user] = rule
            for tok, r in list(self.tokens.items()):
                if r.user == rule.user and r is not self.admin:
                    self.tokens[tok] = rule

    def authenticate(self, authorization, peer_cert_subject):
        """Returns the Rule of the caller; raises 401."""
        if authorization:
            scheme, dummy, cred = authorization.partition(" ")
            if scheme.lower() == "bearer" and cred.strip():
                rule = self.tokens.get(cred.strip())
                if rule is None:
                    raise errors.unauthorized()
                return rule
            raise errors.unauthorized()
        if peer_cert_subject:
            user, groups = peer_cert_subject
            rule = self.by_user.get(user)
            if rule is None:
                return Rule(user, groups=groups)
            return rule
        if self.anonymous:
            return ANONYMOUS
        raise errors.unauthorized()

    def impersonate(self, caller, user, groups):
        """Apply Impersonate-User/Impersonate-Group; returns the effective Rule or raises 403."""
        if not user:
            if groups:
                raise errors.ApiError(errors.status_dict(
                    500, "InternalError", "Internal error occurred: requested %s without "
                    "impersonating a user" % groups))
            return caller
        checks = [("users", user)] + [("groups", g) for g in groups]
        for resource, name in checks:
            attrs = Attributes(caller, "impersonate", resource=resource, name=name)
            if not caller.allows(attrs):
                raise attrs.forbidden_error()
        base = self.by_user.get(user)
        rule = Rule(user, groups=tuple(groups) or (base.groups if base else ()))
        rule.allow = list(base.allow) if base else []
        return rule

    def authorize(self, rule, attrs):
        if not attrs.is_resource and rule is not ANONYMOUS:
            p = attrs.path.rstrip("/") or "/"
            if attrs.verb == "get" and (p in DISCOVERY_PATHS or p.startswith("/api/")
                                        or p.startswith("/apis/") or p.startswith("/openapi/")):
                return
        if not attrs.is_resource and rule is ANONYMOUS:
            if attrs.verb == "get" and attrs.path.rstrip("/") in ("/version", "/healthz", "/livez", "/readyz"):
                return
        if not rule.allows(attrs):
            raise attrs.forbidden_error()
