"""metav1.Status error bodies, shaped like k8s.io/apimachinery/pkg/api/errors.

Every constructor returns an :class:`ApiError` whose ``status`` dict is exactly what the real
kube-apiserver writes on the wire (``details`` fields are ``omitempty`` as in Go).
"""
import json


class ApiError(Exception):
    """An error answered to the client as a ``Status`` object."""

    def __init__(self, status, headers=None):
        super().__init__(status.get("message", ""))
        self.status = status
        self.code = status["code"]
        self.headers = dict(headers or {})

    def body(self):
        return json.dumps(self.status, separators=(",", ":")).encode()


def status_dict(code, reason, message, details=None, extra_meta=None):
    out = {"kind": "Status", "apiVersion": "v1", "metadata": dict(extra_meta or {}),
           "status": "Failure", "message": message}
    if reason:
        out["reason"] = reason
    if details:
        d = {k: v for k, v in details.items() if v not in (None, "", [], 0)}
        if d:
            out["details"] = d
    out["code"] = code
    return out


def qualified(group, resource):
    """schema.GroupResource.String(): ``nodes`` or ``deployments.apps``."""
    return resource if not group else "%s.%s" % (resource, group)


def not_found(group, resource, name):
    return ApiError(status_dict(404, "NotFound", '%s "%s" not found' % (qualified(group, resource), name),
                                {"name": name, "group": group, "kind": resource}))


def already_exists(group, resource, name):
    return ApiError(status_dict(409, "AlreadyExists",
                                '%s "%s" already exists' % (qualified(group, resource), name),
                                {"name": name, "group": group, "kind": resource}))


CONFLICT_MODIFIED = ("the object has been modified; please apply your changes to the latest "
                     "version and try again")


def conflict(group, resource, name, why=CONFLICT_MODIFIED):
    return ApiError(status_dict(
        409, "Conflict",
        'Operation cannot be fulfilled on %s "%s": %s' % (qualified(group, resource), name, why),
        {"name": name, "group": group, "kind": resource}))


def bad_request(message):
    return ApiError(status_dict(400, "BadRequest", message))


def unauthorized(message="Unauthorized"):
    return ApiError(status_dict(401, "Unauthorized", message))


def forbidden(group, resource, name, why):
    if not resource and not group:
        message = "forbidden: %s" % why
    elif not name:
        message = "%s is forbidden: %s" % (qualified(group, resource), why)
    else:
        message = '%s "%s" is forbidden: %s' % (qualified(group, resource), name, why)
    return ApiError(status_dict(403, "Forbidden", message,
                                {"name": name, "group": group, "kind": resource}))


def method_not_allowed(group, resource, verb):
    # errors.NewMethodNotSupported
    return ApiError(status_dict(405, "MethodNotAllowed",
                                '%s is not supported on resources of kind "%s"'
                                % (verb, qualified(group, resource)),
                                {"group": group, "kind": resource}))


def gone_expired(message, continue_token=None):
    meta = {"continue": continue_token} if continue_token else None
    return ApiError(status_dict(410, "Expired", message, extra_meta=meta))


def unsupported_media_type(accepted):
    return ApiError(status_dict(
        415, "UnsupportedMediaType",
        "the body of the request was in an unknown format - accepted media types include: "
        + ", ".join(accepted)))


def not_acceptable(accepted):
    return ApiError(status_dict(
        406, "NotAcceptable",
        "only the following media types are accepted: " + ", ".join(accepted)))


def too_many_requests(message="Too many requests, please try again later.", retry_after=None):
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    details = {"retryAfterSeconds": int(retry_after)} if retry_after is not None else None
    return ApiError(status_dict(429, "TooManyRequests", message, details), headers)


def internal_error(message):
    return ApiError(status_dict(500, "InternalError", "Internal error occurred: %s" % message,
                                {"causes": [{"message": message}]}))


def service_unavailable(message):
    return ApiError(status_dict(503, "ServiceUnavailable", message))


def timeout(message, retry_after=None):
    details = {"retryAfterSeconds": retry_after} if retry_after else None
    return ApiError(status_dict(504, "Timeout", message, details))


# Reason a client sees for an injected failure with a given code (fail_next).
REASON_FOR_CODE = {
    400: "BadRequest", 401: "Unauthorized", 403: "Forbidden", 404: "NotFound",
    405: "MethodNotAllowed", 406: "NotAcceptable", 409: "Conflict", 410: "Gone",
    413: "RequestEntityTooLarge", 415: "UnsupportedMediaType", 422: "Invalid",
    429: "TooManyRequests", 500: "InternalError", 503: "ServiceUnavailable", 504: "Timeout",
}


def generic(code, reason=None, message=None, retry_after=None):
    """A Status of any code (errors.NewGenericServerResponse-like)."""
    if code == 429:
        return too_many_requests(message or "Too many requests, please try again later.",
                                 retry_after)
    reason = reason if reason is not None else REASON_FOR_CODE.get(code, "")
    if message is None:
        if code == 500:
            message = "Internal error occurred: injected failure"
        elif code == 503:
            message = "The server is currently unable to handle the request"
        elif code == 504:
            message = "Timeout: request did not complete within the allotted timeout"
        else:
            message = "the server responded with the status code %d" % code
    details = {"retryAfterSeconds": int(retry_after)} if retry_after is not None else None
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else {}
    return ApiError(status_dict(code, reason, message, details), headers)


# ---------------------------------------------------------------------------
# field.Error / field.ErrorList  ->  422 Invalid
# ---------------------------------------------------------------------------

_TYPE_WORDS = {
    "FieldValueNotFound": "Not found", "FieldValueRequired": "Required value",
    "FieldValueDuplicate": "Duplicate value", "FieldValueInvalid": "Invalid value",
    "FieldValueNotSupported": "Unsupported value", "FieldValueForbidden": "Forbidden",
    "FieldValueTooLong": "Too long", "FieldValueTooMany": "Too many",
}

_OMIT = object()


def _go_quote(s):
    # fmt %q of a Go string is close enough to a JSON string literal for our purposes.
    return json.dumps(s, ensure_ascii=False)


class FieldError:
    """One field.Error: type, field path, bad value and detail."""

    def __init__(self, type_, field, value=_OMIT, detail=""):
        self.type = type_
        self.field = field
        self.value = value
        self.detail = detail

    def body(self):
        word = _TYPE_WORDS[self.type]
        if self.type in ("FieldValueRequired", "FieldValueForbidden", "FieldValueTooLong"):
            s = word
        elif self.value is _OMIT:
            s = word
        else:
            v = self.value
            if isinstance(v, bool):
                s = "%s: %s" % (word, "true" if v else "false")
            elif isinstance(v, (int, float)):
                s = "%s: %s" % (word, v)
            elif isinstance(v, str):
                s = "%s: %s" % (word, _go_quote(v))
            else:
                s = "%s: %s" % (word, json.dumps(v, separators=(",", ":")))
        if self.detail:
            s += ": " + self.detail
        return s

    def __str__(self):
        return "%s: %s" % (self.field, self.body())


def invalid_value(field, value, detail):
    return FieldError("FieldValueInvalid", field, value, detail)


def required(field, detail=""):
    return FieldError("FieldValueRequired", field, _OMIT, detail)


def forbidden_field(field, detail):
    return FieldError("FieldValueForbidden", field, _OMIT, detail)


def not_supported(field, value, valid):
    return FieldError("FieldValueNotSupported", field, value,
                      "supported values: " + ", ".join(_go_quote(v) for v in valid))


def duplicate(field, value, detail=""):
    return FieldError("FieldValueDuplicate", field, value, detail)


def immutable(field, value):
    return FieldError("FieldValueInvalid", field, value, "field is immutable")


def aggregate_message(errs):
    msgs = []
    for e in errs:
        m = str(e)
        if m not in msgs:
            msgs.append(m)
    if len(msgs) == 1:
        return msgs[0]
    return "[" + ", ".join(msgs) + "]"


def invalid(group, kind, name, errs):
    """errors.NewInvalid(GroupKind, name, ErrorList) -> 422."""
    gk = kind if not group else "%s.%s" % (kind, group)
    causes = [{"reason": e.type, "message": e.body(), "field": e.field} for e in errs]
    if errs:
        message = '%s "%s" is invalid: %s' % (gk, name, aggregate_message(errs))
    else:
        message = '%s "%s" is invalid' % (gk, name)
    return ApiError(status_dict(422, "Invalid", message,
                                {"name": name, "group": group, "kind": kind, "causes": causes}))


def unprocessable(cause=""):
    """errors.NewGenericServerResponse(422, "", GroupResource{}, "", err, 0, false): the real
    server answers a failed JSON-patch operation with this fixed message (the jsonpatch error
    text is not included) and an empty ``details``."""
    st = status_dict(422, "Invalid", "the server rejected our request due to an error in our request")
    st["details"] = {}
    st["code"] = st.pop("code")
    return ApiError(st)
