# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""The watcher's configuration: defaults < YAML/JSON file < ``NODEWATCH_*`` environment < flags.

Everything is validated before anything starts, and every problem names its key
(``sinks.webhook.url``, ``thresholds.max_percent``), so a typo fails the start with exit code 2
instead of silently running with a default. Thresholds and rule sets are validated by ``drift``,
the same code the drift-check playbook uses: one definition of what a breach is.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import copy
import os
import re
import socket
import uuid

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.untrusted import (
    CONFIG_MAX_BYTES,
    SECRET_FILE_MAX_BYTES,
    check_path,
    finite_number,
    load_json,
    load_yaml,
    read_file,
    seconds,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.config import AUTH_OPTIONS, check_auth_options
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.rules import (
    DriftConfigError,
    Policy,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import KubeError, ValidationError
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.label_selectors import parse_label_selector
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.names import is_dns1123_label
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.quantity import parse_percent, parse_size
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.alerts import (
    CHANGED,
    CLEARED,
    CROSSED,
    KINDS,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.sinks import redact_url, webhook_url_problem

PROG = "nodewatch-watcher"
ENV_PREFIX = "NODEWATCH_"


class WatcherConfigError(KubeError, ValueError):
    """Invalid configuration; the message names the key. Exit code 2."""


# -- the schema ---------------------------------------------------------------------------------

class Field:
    """One setting: ``kind`` picks the check, ``default`` the value when unset."""

    __slots__ = ("kind", "default", "extra")

    def __init__(self, kind, default=None, **extra):
        self.kind = kind
        self.default = default
        self.extra = extra


_AUTH_KEYS = tuple(k for k in AUTH_OPTIONS if k not in ("kubeconfig", "context"))
EVENT_KINDS_DEFAULT = [CHANGED, CROSSED, CLEARED]

# Upper bounds: a value beyond them is a typo (or hostile), and some would overflow a timer.
MAX_COUNT = 1000000
SCHEMA = {
    "kubeconfig": Field("path"),
    "context": Field("str"),
    "auth": Field("auth", {}),
    "request_timeout_seconds": Field("number", 60, minimum=1),
    "label_selector": Field("selector", ""),
    "resync_seconds": Field("number", 30, minimum=0),
    "page_size": Field("int", 500, minimum=1, maximum=MAX_COUNT),
    "watch_timeout_seconds": Field("int", 300, minimum=1, maximum=86400),
    "inactivity_timeout_seconds": Field("number", 70, minimum=1),
    "max_images": Field("int", 50, minimum=0, maximum=MAX_COUNT),
    "top_images": Field("int", 10, minimum=0, maximum=1000),
    "min_change_bytes": Field("size", "1Gi"),
    "min_change_percent": Field("percent", 0),
    "alert_on": Field("kinds", list(KINDS)),
    "thresholds": Field("raw", None),
    "rule_sets": Field("raw", None),
    "policy_file": Field("path"),
    "baseline": {
        "file": Field("path"),
        "configmap": Field("nsname"),
        "reload_seconds": Field("number", 300, minimum=1),
    },
    "sinks": {
        "stdout": {
            "enabled": Field("bool", True),
            "kinds": Field("kinds", list(KINDS)),
        },
        "events": {
            "enabled": Field("bool", True),
            "namespace": Field("dns", "default"),
            "kinds": Field("kinds", EVENT_KINDS_DEFAULT),
            "queue_size": Field("int", 1000, minimum=1, maximum=MAX_COUNT),
        },
        "webhook": {
            "url": Field("url"),
            "url_file": Field("path"),
            "timeout_seconds": Field("number", 10, minimum=0.1),
            "queue_size": Field("int", 1000, minimum=1, maximum=MAX_COUNT),
            "backoff_initial_seconds": Field("number", 1, minimum=0.001),
            "backoff_max_seconds": Field("number", 60, minimum=0.001),
            "max_attempts": Field("int", 0, minimum=0, maximum=MAX_COUNT),
            "headers": Field("headers", {}),
            "kinds": Field("kinds", list(KINDS)),
        },
    },
    "http": {
        "address": Field("address", "0.0.0.0:8080"),
        "metrics": Field("bool", True),
    },
    "leader_election": {
        "enabled": Field("bool", False),
        "namespace": Field("dns", "default"),
        "name": Field("dns", "nodewatch-watcher"),
        "identity": Field("identity"),
        "lease_duration_seconds": Field("number", 15, minimum=1),
        "renew_deadline_seconds": Field("number", 10, minimum=0.5),
        "retry_period_seconds": Field("number", 2, minimum=0.1),
    },
    "state": {
        "backend": Field("choice", "none", choices=("none", "file", "configmap")),
        "path": Field("path"),
        "namespace": Field("dns", "default"),
        "name": Field("dns", "nodewatch-watcher-state"),
        "flush_seconds": Field("number", 2, minimum=0.05),
    },
    "log_level": Field("choice", "info", choices=("debug", "info", "warning", "error")),
    "log_format": Field("choice", "json", choices=("json", "text")),
    "once": Field("bool", False),
    "shutdown_timeout_seconds": Field("number", 10, minimum=0),
}

# flag -> (dotted key, argparse options). Each flag also reads NODEWATCH_<FLAG> from the
# environment (e.g. NODEWATCH_WEBHOOK_URL: the place for a URL that carries a token).
FLAGS = (
    ("--kubeconfig", "kubeconfig", {"metavar": "PATH", "help": "kubeconfig file (default: KUBECONFIG, "
                                    "~/.kube/config, then the in-cluster service account)"}),
    ("--context", "context", {"help": "kubeconfig context"}),
    ("--label-selector", "label_selector", {"metavar": "SELECTOR", "help": "watch only matching nodes"}),
    ("--resync-seconds", "resync_seconds", {"metavar": "S", "help": "re-check every node this often (30)"}),
    ("--min-change-bytes", "min_change_bytes", {"metavar": "SIZE", "help": "smallest change that alerts (1Gi)"}),
    ("--min-change-percent", "min_change_percent", {"metavar": "P", "help": "smallest relative change that alerts (0)"}),
    ("--policy-file", "policy_file", {"metavar": "PATH", "help": "YAML file with thresholds and rule_sets, "
                                      "shared with the drift check"}),
    ("--webhook-url", "sinks.webhook.url", {"metavar": "URL", "help": "POST alerts here (Slack-compatible)"}),
    ("--events", "sinks.events.enabled", {"action": "store_const", "const": True,
                                          "help": "create Kubernetes Events on the Node (default)"}),
    ("--no-events", "sinks.events.enabled", {"action": "store_const", "const": False,
                                             "help": "do not create Kubernetes Events"}),
    ("--events-namespace", "sinks.events.namespace", {"metavar": "NS", "help": "namespace of the Events (default)"}),
    ("--no-stdout", "sinks.stdout.enabled", {"action": "store_const", "const": False,
                                             "help": "do not print alerts on stdout"}),
    ("--http-address", "http.address", {"metavar": "HOST:PORT", "help": "serve /metrics, /healthz, /readyz "
                                        "here (0.0.0.0:8080; empty: off)"}),
    ("--leader-elect", "leader_election.enabled", {"action": "store_const", "const": True,
                                                   "help": "elect a leader among replicas with a Lease"}),
    ("--lease-name", "leader_election.name", {"metavar": "NAME"}),
    ("--lease-namespace", "leader_election.namespace", {"metavar": "NS"}),
    ("--identity", "leader_election.identity", {"metavar": "ID", "help": "this replica's name (POD_NAME or "
                                                "hostname_random)"}),
    ("--state-file", "state.path", {"metavar": "PATH", "help": "persist state in this file"}),
    ("--state-configmap", "state.configmap", {"metavar": "NS/NAME", "help": "persist state in this ConfigMap"}),
    ("--log-level", "log_level", {"metavar": "LEVEL"}),
    ("--log-format", "log_format", {"metavar": "json|text"}),
    ("--once", "once", {"action": "store_const", "const": True,
                        "help": "one list-and-evaluate pass, then exit (cron, tests)"}),
)


def _flag_env_name(flag):
    return ENV_PREFIX + flag.lstrip("-").replace("-", "_").upper()


def build_parser():
    parser = argparse.ArgumentParser(
        prog=PROG, description="Watch Kubernetes nodes and alert on changes of the storage their "
                               "container images occupy.",
        epilog="Every flag can also be set as NODEWATCH_<FLAG> in the environment (e.g. "
               "NODEWATCH_WEBHOOK_URL); flags beat the environment, which beats the config file.")
    parser.add_argument("--config", "-c", metavar="PATH",
                        help="YAML or JSON config file (also NODEWATCH_CONFIG)")
    parser.add_argument("--check-config", action="store_true",
                        help="validate the configuration, print it (secrets redacted) and exit")
    for flag, key, options in FLAGS:
        options = dict(options)
        options.setdefault("default", None)
        parser.add_argument(flag, dest=flag.lstrip("-").replace("-", "_"), **options)
    return parser


# -- checks -----------------------------------------------------------------------------------

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_TRUE = ("1", "true", "yes", "on")
_FALSE = ("0", "false", "no", "off", "")


def _type_name(value):
    return "null" if value is None else type(value).__name__


def _fail(key, text):
    raise WatcherConfigError("%s %s" % (key, text))


def _check(key, field, value):
    """The validated value of one setting (None passes for every optional kind)."""
    kind = field.kind
    if value is None:
        if field.default is None:
            return None
        value = copy.deepcopy(field.default)
    if kind == "raw":
        return value
    if kind in ("str", "dns", "path", "identity"):
        if not isinstance(value, str):
            _fail(key, "must be a string, got %s" % _type_name(value))
        if kind == "dns" and not is_dns1123_label(value):
            _fail(key, "must be a DNS-1123 label (at most 63 lower-case letters, digits and '-'), got %r" % value)
        if kind == "path":
            check_path(value, key, WatcherConfigError)
        if kind == "identity" and (not value.strip() or len(value) > 128 or any(c.isspace() for c in value)):
            _fail(key, "must be 1 to 128 characters without spaces (it names this replica in the Lease and in "
                       "Events), got %r" % (value[:40] + "..." if len(value) > 40 else value))
        return value
    if kind == "bool":
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        if not isinstance(value, bool):
            _fail(key, "must be true or false, got %r" % (value,))
        return value
    if kind == "number":
        # Every number of the schema is a duration: NaN, infinity and more than a year are refused.
        return seconds(value, key, minimum=field.extra.get("minimum"), error=WatcherConfigError)
    if kind == "int":
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                _fail(key, "must be a whole number, got %r" % value)
        return finite_number(value, key, minimum=field.extra.get("minimum"), maximum=field.extra.get("maximum"),
                             integer=True, error=WatcherConfigError)
    if kind == "size":
        try:
            return int(parse_size(value))
        except (TypeError, ValueError) as exc:
            _fail(key, "is not a size: %s" % exc)
    if kind == "percent":
        try:
            return parse_percent(value)
        except (TypeError, ValueError) as exc:
            _fail(key, "is not a percentage: %s" % exc)
    if kind == "choice":
        choices = field.extra["choices"]
        if value not in choices:
            _fail(key, "must be one of %s, got %r" % (", ".join(choices), value))
        return value
    if kind == "kinds":
        if isinstance(value, str):
            value = [v.strip() for v in value.split(",") if v.strip()]
        if not isinstance(value, (list, tuple)):
            _fail(key, "must be a list of alert kinds (%s), got %s" % (", ".join(KINDS), _type_name(value)))
        unknown = [v for v in value if v not in KINDS]
        if unknown:
            _fail(key, "has unknown alert kind(s) %s; known kinds are %s"
                  % (", ".join(repr(v) for v in unknown), ", ".join(KINDS)))
        return list(value)
    if kind == "url":
        problem = webhook_url_problem(value)
        if problem:
            redacted = redact_url(value) if isinstance(value, str) else "<redacted>"
            _fail(key, "%s, got %s" % (problem, redacted if redacted != "<redacted>"
                                       else "a value that is not one (not shown: it may hold a secret)"))
        return value
    if kind == "nsname":
        if not isinstance(value, str) or value.count("/") != 1 or not all(
                is_dns1123_label(p) for p in value.split("/")):
            _fail(key, "must be NAMESPACE/NAME (DNS-1123 labels), got %r" % (value,))
        return value
    if kind == "address":
        if not isinstance(value, str):
            _fail(key, "must be HOST:PORT (or empty to turn it off), got %s" % _type_name(value))
        if value == "":
            return value
        host, sep, port = value.rpartition(":")
        if not sep or not port.isdigit() or not 0 <= int(port) <= 65535:
            _fail(key, "must be HOST:PORT such as 0.0.0.0:8080 (or empty to turn it off), got %r" % value)
        return value
    if kind == "selector":
        if not isinstance(value, str):
            _fail(key, "must be a label selector string, got %s" % _type_name(value))
        try:
            parse_label_selector(value)
        except ValidationError as exc:
            _fail(key, "is invalid: %s" % exc)
        return value
    if kind == "headers":
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
            _fail(key, "must be a mapping of header names to string values")
        for name, text in value.items():
            if not _HEADER_NAME.match(name):
                _fail(key, "has the header name %r, which is not an HTTP token (letters, digits and !#$%%&'*+-.^_`|~)"
                      % name[:64])
            if any(ord(c) < 32 and c != "\t" or ord(c) == 127 for c in text):
                _fail("%s.%s" % (key, name), "must not contain line breaks or control characters (value not shown: "
                                             "it may hold a secret)")
        return dict(value)
    if kind == "auth":
        if not isinstance(value, dict):
            _fail(key, "must be a mapping of kubernetes.core auth options (%s)" % ", ".join(_AUTH_KEYS))
        unknown = sorted(str(k) for k in value if k not in _AUTH_KEYS)
        if unknown:
            _fail(key, "has unknown option(s) %s; accepted are %s (kubeconfig and context are top-level keys)"
                  % (", ".join(repr(k) for k in unknown), ", ".join(_AUTH_KEYS)))
        try:
            return check_auth_options(dict(value))
        except KubeError as exc:
            _fail(key, "is not usable: %s" % exc)
    raise AssertionError(kind)  # pragma: no cover


def _validate(schema, data, prefix=""):
    if data is None:
        data = {}
    if not isinstance(data, dict):
        _fail(prefix.rstrip(".") or "the configuration", "must be a mapping, got %s" % _type_name(data))
    unknown = sorted(str(k) for k in data if k not in schema)
    if unknown:
        where = prefix.rstrip(".")
        raise WatcherConfigError("unknown key%s %s; accepted keys%s are %s" % (
            "s" if len(unknown) > 1 else "", ", ".join(repr(prefix + k) for k in unknown),
            " in %s" % where if where else "", ", ".join(sorted(schema))))
    result = {}
    for key, spec in schema.items():
        if isinstance(spec, dict):
            result[key] = _validate(spec, data.get(key), prefix + key + ".")
        else:
            result[key] = _check(prefix + key, spec, data.get(key))
    return result


def _set_dotted(data, dotted, value):
    parts = dotted.split(".")
    node = data
    for depth, part in enumerate(parts[:-1]):
        child = node.get(part)
        if child is None:
            child = node[part] = {}
        elif not isinstance(child, dict):
            _fail(".".join(parts[:depth + 1]), "must be a mapping, got %s" % _type_name(child))
        node = child
    node[parts[-1]] = value


# -- loading ----------------------------------------------------------------------------------

def read_config_file(path, what=None):
    """A YAML or JSON (``.json``) file of settings, read with the safe readers: at most
    ``CONFIG_MAX_BYTES``, no deeper than 64 levels, no YAML alias bombs."""
    what = what or "the config file %s" % path
    data = read_file(path, what, CONFIG_MAX_BYTES, WatcherConfigError)
    if path.endswith(".json"):
        data = load_json(data, what, error=WatcherConfigError)
    else:
        data = load_yaml(data, what, error=WatcherConfigError)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise WatcherConfigError("%s must hold a mapping of settings, got %s" % (what, _type_name(data)))
    return data


def _read_secret_file(path, key):
    data = read_file(path, "%s %s" % (key, path), SECRET_FILE_MAX_BYTES, WatcherConfigError)
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise WatcherConfigError("%s %s is not UTF-8 text" % (key, path))


def load_policy(config):
    """The drift Policy from ``thresholds``/``rule_sets`` or from ``policy_file`` (not both)."""
    inline = config.get("thresholds") is not None or config.get("rule_sets") is not None
    if config.get("policy_file"):
        if inline:
            raise WatcherConfigError("policy_file and thresholds/rule_sets are exclusive: keep the policy "
                                     "in one place")
        path = config["policy_file"]
        data = read_config_file(path, "policy_file %s" % path)
        where = "policy_file %s: " % path
    else:
        data = dict((k, config.get(k)) for k in ("thresholds", "rule_sets") if config.get(k) is not None)
        where = ""
    try:
        return Policy.from_dict(data)
    except DriftConfigError as exc:
        raise WatcherConfigError("%s%s" % (where, exc))


def default_identity(environ):
    return environ.get("POD_NAME") or "%s_%s" % (socket.gethostname(), uuid.uuid4().hex[:8])


def load(argv=None, environ=None):
    """Parse flags, environment and file; return ``(config, policy, check_only)``.

    ``config`` is the full nested mapping with defaults filled in. Raises WatcherConfigError.
    """
    environ = os.environ if environ is None else environ
    args = build_parser().parse_args(argv)
    path = args.config or environ.get(ENV_PREFIX + "CONFIG")
    data = read_config_file(path) if path else {}
    # Environment, then flags, over the file.
    for source in ("env", "flag"):
        for flag, key, options in FLAGS:
            dest = flag.lstrip("-").replace("-", "_")
            if source == "env":
                value = environ.get(_flag_env_name(flag))
                if value is None:
                    continue
                if options.get("action") == "store_const":
                    if not _check(_flag_env_name(flag), Field("bool"), value):
                        continue
                    value = options["const"]
            else:
                value = getattr(args, dest)
                if value is None:
                    continue
            if key == "state.configmap":
                namespace_name = _check(flag if source == "flag" else _flag_env_name(flag), Field("nsname"), value)
                namespace, name = namespace_name.split("/")
                _set_dotted(data, "state.backend", "configmap")
                _set_dotted(data, "state.namespace", namespace)
                _set_dotted(data, "state.name", name)
                continue
            if key == "state.path":
                _set_dotted(data, "state.backend", "file")
            _set_dotted(data, key, value)
    config, policy = validate_settings(data, environ)
    return config, policy, args.check_config


def validate_settings(data, environ=None):
    """Validate settings shaped like the config file; return ``(config, policy)``.

    ``config`` has every default filled in and has passed the cross-checks. ``load`` and what
    embeds the watcher (the EDA source ``nodewatch.k8s.node_images``) share it, so both accept
    and refuse exactly the same settings. Raises WatcherConfigError naming the key.
    """
    config = _validate(SCHEMA, data)
    _cross_checks(config, os.environ if environ is None else environ)
    return config, load_policy(config)


def _cross_checks(config, environ):
    webhook = config["sinks"]["webhook"]
    if webhook["url"] and webhook["url_file"]:
        raise WatcherConfigError("sinks.webhook.url and sinks.webhook.url_file are exclusive")
    if webhook["url_file"]:
        webhook["url"] = _check("sinks.webhook.url_file (its content)", Field("url"),
                                _read_secret_file(webhook["url_file"], "sinks.webhook.url_file"))
    if webhook["backoff_max_seconds"] < webhook["backoff_initial_seconds"]:
        raise WatcherConfigError("sinks.webhook.backoff_max_seconds must not be smaller than "
                                 "sinks.webhook.backoff_initial_seconds")
    state = config["state"]
    if state["backend"] == "file" and not state["path"]:
        raise WatcherConfigError("state.path is required with state.backend: file")
    election = config["leader_election"]
    if election["enabled"]:
        if not (election["lease_duration_seconds"] > election["renew_deadline_seconds"]
                > election["retry_period_seconds"]):
            raise WatcherConfigError(
                "leader_election needs lease_duration_seconds > renew_deadline_seconds > "
                "retry_period_seconds, got %s, %s, %s" % (
                    election["lease_duration_seconds"], election["renew_deadline_seconds"],
                    election["retry_period_seconds"]))
        if config["once"]:
            raise WatcherConfigError("--once runs a single pass and cannot take part in leader election; "
                                     "turn one of them off")
    if not election["identity"]:
        election["identity"] = default_identity(environ)
    baseline = config["baseline"]
    if baseline["file"] and baseline["configmap"]:
        raise WatcherConfigError("baseline.file and baseline.configmap are exclusive")
    if config["min_change_percent"] and config["min_change_percent"] > 100:
        raise WatcherConfigError("min_change_percent must be between 0 and 100")


def redacted(config):
    """The configuration as safe to print or log."""
    shown = copy.deepcopy(config)
    webhook = shown["sinks"]["webhook"]
    if webhook.get("url"):
        webhook["url"] = redact_url(webhook["url"])
    if webhook.get("headers"):
        webhook["headers"] = dict((k, "<redacted>") for k in webhook["headers"])
    auth = shown.get("auth") or {}
    for key in ("api_key", "password", "proxy_headers"):
        if auth.get(key):
            auth[key] = "<redacted>"
    return shown
