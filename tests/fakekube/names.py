"""Name/label validation helpers ported from k8s.io/apimachinery/pkg/api/validate/content.

Each function returns a list of error strings (empty when valid), with the exact wording
of the real validators so 422 messages match the apiserver's.
"""
import re

_LABEL_KEY_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
_LABEL_KEY_RE = re.compile("^" + _LABEL_KEY_FMT + "$")
_LABEL_KEY_MSG = ("must consist of alphanumeric characters, '-', '_' or '.', and must start "
                  "and end with an alphanumeric character")
_LABEL_VALUE_FMT = "(" + _LABEL_KEY_FMT + ")?"
_LABEL_VALUE_RE = re.compile("^" + _LABEL_VALUE_FMT + "$")
_LABEL_VALUE_MSG = ("a valid label must be an empty string or consist of alphanumeric "
                    "characters, '-', '_' or '.', and must start and end with an alphanumeric "
                    "character")
_DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
_DNS1123_LABEL_RE = re.compile("^" + _DNS1123_LABEL_FMT + "$")
_DNS1123_LABEL_MSG = ("a lowercase RFC 1123 label must consist of lower case alphanumeric "
                      "characters or '-', and must start and end with an alphanumeric character")
_DNS1123_SUB_FMT = _DNS1123_LABEL_FMT + "(\\." + _DNS1123_LABEL_FMT + ")*"
_DNS1123_SUB_RE = re.compile("^" + _DNS1123_SUB_FMT + "$")
_DNS1123_SUB_MSG = ("a lowercase RFC 1123 subdomain must consist of lower case alphanumeric "
                    "characters, '-' or '.', and must start and end with an alphanumeric character")


def _regex_error(msg, fmt, *examples):
    if not examples:
        return msg + " (regex used for validation is '" + fmt + "')"
    ex = " or ".join("'" + e + "'" for e in examples)
    return msg + " (e.g. " + ex + ", regex used for validation is '" + fmt + "')"


def max_len_error(n):
    return "must be no more than %d bytes" % n


def _full(rx, s):
    # Go's regexp "$" does not match before a trailing newline; Python's does.
    return rx.match(s) is not None and not s.endswith("\n")


def is_dns1123_subdomain(value):
    errs = []
    if len(value.encode()) > 253:
        errs.append(max_len_error(253))
    if not _full(_DNS1123_SUB_RE, value):
        errs.append(_regex_error(_DNS1123_SUB_MSG, _DNS1123_SUB_FMT, "example.com"))
    return errs


def is_dns1123_label(value):
    errs = []
    if len(value.encode()) > 63:
        errs.append(max_len_error(63))
    if not _full(_DNS1123_LABEL_RE, value):
        if _full(_DNS1123_SUB_RE, value):
            errs.append("must not contain dots")
        else:
            errs.append(_regex_error(_DNS1123_LABEL_MSG, _DNS1123_LABEL_FMT, "my-name", "123-abc"))
    return errs


def is_qualified_name(value):
    """content.IsLabelKey (a.k.a. IsQualifiedName)."""
    errs = []
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs.append("prefix part must be non-empty")
        else:
            errs.extend("prefix part " + m for m in is_dns1123_subdomain(prefix))
    else:
        return ["a valid label key " + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName",
                                                    "my.name", "123-abc")
                + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name.encode()) > 63:
        errs.append("name part " + max_len_error(63))
    if not _full(_LABEL_KEY_RE, name):
        errs.append("name part " + _regex_error(_LABEL_KEY_MSG, _LABEL_KEY_FMT, "MyName",
                                                "my.name", "123-abc"))
    return errs


def is_label_value(value):
    errs = []
    if len(value.encode()) > 63:
        errs.append(max_len_error(63))
    if not _full(_LABEL_VALUE_RE, value):
        errs.append(_regex_error(_LABEL_VALUE_MSG, _LABEL_VALUE_FMT, "MyValue", "my_value", "12345"))
    return errs


def generate_name_validate(validator, name, prefix):
    """ValidateNameFunc semantics: with prefix=True a trailing '-' is tolerated (maskTrailingDash)."""
    if prefix and len(name) > 1 and name.endswith("-"):
        name = name[:-1] + "a"
    return validator(name)
