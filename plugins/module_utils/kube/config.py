# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Connection settings: kubernetes.core's auth options and ``K8S_AUTH_*`` variables, resolved
once, checked, and turned into a ``kubernetes.client.Configuration`` by the official client.

The official ``kubernetes`` client does what it is best at here: reading kubeconfigs (contexts,
exec and OIDC plugins with token refresh) and the in-cluster service account. ``client.py``
takes the resulting configuration and does the requests.

Options come from playbooks, inventory files, daemon configs and the environment, so each is
checked for its shape first, and every kubeconfig file is read once through the safe YAML reader
(size, depth, alias bombs) before the official client parses it: a wrong value ends as a
``ConfigError`` sentence naming the option or file, never as an error inside the client.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import logging
import os
import warnings

try:
    from urllib.parse import urlsplit
except ImportError:  # pragma: no cover - Python 2 is not supported; keeps sanity's compile test quiet
    from urlparse import urlsplit  # noqa

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ConfigError, MissingLibraryError
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.untrusted import (
    KUBECONFIG_MAX_BYTES,
    check_depth,
    check_path,
    load_yaml,
    read_file,
)

# Option name -> (kubernetes.core's alternative env name or None, value type).
# The environment is read as K8S_AUTH_<OPTION> first, then the alternative, exactly like
# kubernetes.core, so module_defaults and CI environments carry over unchanged.
AUTH_OPTIONS = {
    "kubeconfig": (None, "raw"),
    "context": (None, "str"),
    "host": (None, "str"),
    "api_key": (None, "str"),
    "username": (None, "str"),
    "password": (None, "str"),
    "validate_certs": ("K8S_AUTH_VERIFY_SSL", "bool"),
    "ca_cert": ("K8S_AUTH_SSL_CA_CERT", "path"),
    "client_cert": ("K8S_AUTH_CERT_FILE", "path"),
    "client_key": ("K8S_AUTH_KEY_FILE", "path"),
    "proxy": (None, "str"),
    "no_proxy": (None, "str"),
    "proxy_headers": (None, "dict"),
    "impersonate_user": (None, "str"),
    "impersonate_groups": (None, "list"),
    "persist_config": (None, "bool"),
}
PROXY_HEADER_OPTIONS = ("proxy_basic_auth", "basic_auth", "user_agent")
PROXY_SCHEMES = ("http", "https", "socks4", "socks4a", "socks5", "socks5h")
HOST_SCHEMES = ("https", "http")

IN_CLUSTER_ENV = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"

_TRUE = ("1", "true", "yes", "on", "y", "t")
_FALSE = ("0", "false", "no", "off", "n", "f")
_EXEC_ERROR_LIMIT = 500


def _env_bool(text):
    return text.strip().lower() not in ("0", "false", "no", "off")


def _env_value(environ, name, alt_name):
    """``K8S_AUTH_<NAME>``, else the alternative name; an empty value counts as unset.

    kubernetes.core reads ``os.getenv(primary) or os.getenv(alternative)`` and then treats an
    empty result as not given (an empty kubeconfig falls back to KUBECONFIG): the same here.
    """
    for key in (name, alt_name):
        if key:
            value = environ.get(key)
            if value is not None and value.strip():
                return value
    return None


def resolve_auth_options(options, environ=None):
    """Merge explicit options with ``K8S_AUTH_*`` variables: explicit values win.

    ``options`` may contain any subset of ``AUTH_OPTIONS`` (None meaning "not set").
    """
    environ = os.environ if environ is None else environ
    resolved = {}
    for name, (alt_env, kind) in AUTH_OPTIONS.items():
        value = options.get(name)
        if value is None and name == "proxy_headers":
            headers = {}
            for key in PROXY_HEADER_OPTIONS:
                env_value = _env_value(environ, "K8S_AUTH_PROXY_HEADERS_%s" % key.upper(), None)
                if env_value is not None:
                    headers[key] = env_value
            value = headers or None
        elif value is None:
            env_value = _env_value(environ, "K8S_AUTH_%s" % name.upper(), alt_env)
            if env_value is not None:
                if kind == "bool":
                    value = _env_bool(env_value)
                elif kind == "list":
                    value = [item.strip() for item in env_value.split(",") if item.strip()]
                elif kind == "path":
                    value = os.path.expanduser(env_value)
                else:
                    value = env_value
        if value is not None:
            resolved[name] = value
    return resolved


# -- shapes -----------------------------------------------------------------------------------------

def _type_name(value):
    """The plain type's name, also for values ansible-core 2.19 tags (``_AnsibleTaggedInt``...)."""
    if value is None:
        return "null"
    for plain in (bool, int, float, str, bytes, list, tuple, dict):
        if isinstance(value, plain):
            return plain.__name__
    return type(value).__name__


_ORDINALS = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}


def _a_type(value):
    name = _type_name(value)
    return ("an " if name[0] in "aeiou" else "a ") + name


def _as_bool(name, value):
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
        return value.strip().lower() in _TRUE
    raise ConfigError("%s must be true or false, got %s" % (name, _type_name(value)))


def _check_url(name, value, schemes, example):
    try:
        parts = urlsplit(value)
        _port = parts.port  # urlsplit checks the port only when asked for it
    except ValueError as exc:
        raise ConfigError("%s is not a valid URL (%s); write it like %s" % (name, exc, example))
    if parts.scheme.lower() not in schemes or not parts.hostname:
        raise ConfigError("%s must be a URL starting with %s and naming a host, like %s; got one %s"
                          % (name, " or ".join("%s://" % s for s in schemes), example,
                             "without a scheme" if not parts.scheme or not parts.netloc else
                             "with the scheme '%s'" % parts.scheme if parts.scheme.lower() not in schemes
                             else "without a host"))
    return parts.scheme.lower()


def _kubeconfig_option_problem(kubeconfig):
    """Values are never quoted: the option is no_log (a mapping form holds credentials)."""
    if isinstance(kubeconfig, (dict, str)):
        return None
    if isinstance(kubeconfig, (list, tuple)):
        if not kubeconfig:
            return "kubeconfig is an empty list; give at least one kubeconfig file path"
        bad = [item for item in kubeconfig if not isinstance(item, str) or not item.strip()]
        if bad:
            # "the 2nd item", not "item 2": a no_log option's values (here 2) are masked in any text
            position = kubeconfig.index(bad[0]) + 1
            return ("kubeconfig must be a list of file paths (strings), but its %s item is %s; write each path as "
                    "a string" % (_ORDINALS.get(position, "#%d" % position), "an empty string"
                                  if isinstance(bad[0], str) else _a_type(bad[0])))
        return None
    return "kubeconfig must be a file path, a list of file paths or a kubeconfig mapping, got %s" % _a_type(kubeconfig)


def check_auth_options(options):
    """Refuse options of the wrong shape, naming the option; returns a normalized copy."""
    checked = dict(options)
    kubeconfig = checked.get("kubeconfig")
    if kubeconfig is not None:
        problem = _kubeconfig_option_problem(kubeconfig)
        if problem:
            raise ConfigError(problem)
        if isinstance(kubeconfig, str):
            check_path(kubeconfig, "kubeconfig", ConfigError)
        elif isinstance(kubeconfig, (list, tuple)):
            for path in kubeconfig:
                check_path(path, "kubeconfig", ConfigError)
    for name in ("context", "host", "api_key", "username", "password", "proxy", "no_proxy", "impersonate_user"):
        value = checked.get(name)
        if value is not None and not isinstance(value, str):
            raise ConfigError("%s must be a string, got %s" % (name, _type_name(value)))
    for name in ("ca_cert", "client_cert", "client_key"):
        if checked.get(name) is not None:
            check_path(checked[name], name, ConfigError)
    for name in ("validate_certs", "persist_config"):
        if checked.get(name) is not None:
            checked[name] = _as_bool(name, checked[name])
    if checked.get("host"):
        _check_url("host", checked["host"], HOST_SCHEMES, "https://203.0.113.10:6443")
    if checked.get("proxy"):
        scheme = _check_url("proxy", checked["proxy"], PROXY_SCHEMES, "http://proxy.example.com:3128")
        if scheme.startswith("socks"):
            try:
                import socks  # noqa: F401 pylint: disable=unused-import
            except ImportError:
                raise MissingLibraryError("PySocks", "for the %s:// proxy set in the proxy option" % scheme)
    headers = checked.get("proxy_headers")
    if headers is not None:
        if not isinstance(headers, dict):
            raise ConfigError("proxy_headers must be a mapping with %s, got %s"
                              % (", ".join(PROXY_HEADER_OPTIONS), _type_name(headers)))
        unknown = sorted(str(k) for k in headers if k not in PROXY_HEADER_OPTIONS)
        if unknown:
            raise ConfigError("proxy_headers has unknown key(s) %s; accepted are %s"
                              % (", ".join(unknown), ", ".join(PROXY_HEADER_OPTIONS)))
        for key, value in headers.items():
            if value is not None and not isinstance(value, str):
                raise ConfigError("proxy_headers.%s must be a string, got %s" % (key, _type_name(value)))
    groups = checked.get("impersonate_groups")
    if groups is not None:
        if isinstance(groups, str):
            groups = checked["impersonate_groups"] = [groups]
        if not isinstance(groups, (list, tuple)) or not all(isinstance(g, str) and g for g in groups):
            raise ConfigError("impersonate_groups must be a list of group names (strings), got %r" % (groups,))
        if groups and not checked.get("impersonate_user"):
            raise ConfigError("impersonate_groups needs impersonate_user: Kubernetes impersonates groups only "
                              "together with a user")
    return checked


def kubeconfig_problem(doc):
    """What makes a parsed kubeconfig unusable by its shape, or None (the client checks the rest)."""
    if not isinstance(doc, dict):
        return ("it must hold a mapping with apiVersion, clusters, contexts, users and current-context, got %s"
                % _type_name(doc))
    for section, inner in (("clusters", "cluster"), ("contexts", "context"), ("users", "user")):
        entries = doc.get(section)
        if entries is None:
            continue
        if not isinstance(entries, list):
            return "%s must be a list, got %s" % (section, _type_name(entries))
        for index, entry in enumerate(entries):
            if not isinstance(entry, dict):
                return "%s[%d] must be a mapping with name and %s, got %s" % (section, index, inner, _type_name(entry))
            if not isinstance(entry.get("name"), str) or not entry["name"]:
                return "%s[%d] has no name (a string)" % (section, index)
            if entry.get(inner) is not None and not isinstance(entry[inner], dict):
                return "%s[%d] (%s).%s must be a mapping, got %s" % (
                    section, index, entry["name"], inner, _type_name(entry[inner]))
    current = doc.get("current-context")
    if current is not None and not isinstance(current, str):
        return "current-context must be a string, got %s" % _type_name(current)
    return None


def read_kubeconfig_file(path):
    """Check one kubeconfig file with the safe reader (size, depth, aliases, UTF-8, shape)."""
    what = "the kubeconfig file %s" % path
    data = read_file(path, what, KUBECONFIG_MAX_BYTES, ConfigError)
    doc = load_yaml(data, what, error=ConfigError)
    if doc is None:
        return None  # empty: the client says "no configuration found" or merges the others
    problem = kubeconfig_problem(doc)
    if problem:
        raise ConfigError("%s is not a usable kubeconfig: %s" % (what, problem))
    return doc


def import_kubernetes():
    """Import the official client only when a connection is really built (it costs ~0.15 s)."""
    try:
        from kubernetes import client as k8s_client
        from kubernetes import config as k8s_config
    except ImportError:
        raise MissingLibraryError("kubernetes", "to read kubeconfig files and build API connections")
    return k8s_client, k8s_config


def _kubeconfig_paths(kubeconfig, environ):
    """The kubeconfig file(s) to read, as kubectl would pick them, or None."""
    if isinstance(kubeconfig, (list, tuple)):
        return [os.path.expanduser(p) for p in kubeconfig]
    if isinstance(kubeconfig, str) and kubeconfig.strip():
        return [os.path.expanduser(p) for p in kubeconfig.split(os.pathsep) if p]
    env_paths = environ.get("KUBECONFIG")
    if env_paths and env_paths.strip():
        return [os.path.expanduser(p) for p in env_paths.split(os.pathsep) if p]
    return [os.path.expanduser("~/.kube/config")]


def build_configuration(options, environ=None):
    """Turn resolved auth options into a ``kubernetes.client.Configuration``.

    Order, as kubectl: an explicit ``kubeconfig`` or ``context``; else ``host`` with
    credentials; else ``KUBECONFIG``/``~/.kube/config`` when it exists; else the in-cluster
    service account when running in a pod.
    """
    environ = os.environ if environ is None else environ
    options = check_auth_options(options)
    k8s_client, k8s_config = import_kubernetes()
    configuration = k8s_client.Configuration()
    kubeconfig = options.get("kubeconfig")
    context = options.get("context")
    host = options.get("host")
    has_direct_credentials = host and (
        options.get("api_key") or (options.get("username") and options.get("password"))
        or (options.get("client_cert") and options.get("client_key")))

    persist = bool(options.get("persist_config"))
    if isinstance(kubeconfig, dict):
        problem = kubeconfig_problem(check_depth(kubeconfig, "the kubeconfig given as a mapping", error=ConfigError))
        if problem:
            raise ConfigError("the kubeconfig given as a mapping is not usable: %s" % problem)
        _load_kubeconfig_dict(k8s_config, kubeconfig, context, configuration)
    elif kubeconfig or context or not has_direct_credentials:
        paths = _kubeconfig_paths(kubeconfig, environ)
        for path in paths:
            check_path(path, "the kubeconfig path %r" % path if kubeconfig else "KUBECONFIG", ConfigError)
        existing = [p for p in paths if os.path.isfile(p)]
        if kubeconfig and len(existing) != len(paths):
            missing = [p for p in paths if p not in existing]
            directories = [p for p in missing if os.path.isdir(p)]
            if directories:
                raise ConfigError("kubeconfig %s is a directory, not a file; set the kubeconfig option "
                                  "(or K8S_AUTH_KUBECONFIG) to the kubeconfig file itself" % ", ".join(directories))
            raise ConfigError("kubeconfig file %s does not exist; set the kubeconfig option "
                              "(or K8S_AUTH_KUBECONFIG) to a readable file" % ", ".join(missing))
        if existing:
            docs = [read_kubeconfig_file(path) for path in existing]
            _load_kubeconfig_files(k8s_config, existing, context, configuration, persist, docs)
        elif context:
            raise ConfigError("context '%s' was requested but no kubeconfig file was found at %s"
                              % (context, ", ".join(paths)))
        elif all(environ.get(v) for v in IN_CLUSTER_ENV) and os.path.exists(SERVICE_ACCOUNT_TOKEN):
            try:
                k8s_config.load_incluster_config(client_configuration=configuration)
            except Exception as exc:
                raise ConfigError("in-cluster configuration failed: %s" % exc)
        elif not host:
            raise ConfigError(
                "no cluster to talk to: no kubeconfig at %s and not running in a pod; set "
                "kubeconfig (or KUBECONFIG), or host with api_key or a client certificate"
                % ", ".join(paths))

    _apply_overrides(configuration, options)
    if not configuration.host:
        raise ConfigError("the API server address is empty; set host or a kubeconfig with a server")
    return configuration


class _ExecFailures(logging.Handler):
    """Collects what the official client logs (and otherwise swallows) when an exec credential
    plugin fails, so the failure becomes the sentence instead of a later 401."""

    def __init__(self):
        super(_ExecFailures, self).__init__(logging.ERROR)
        self.messages = []

    def emit(self, record):
        if "kubernetes" in (record.pathname or ""):
            self.messages.append(record.getMessage())


def _merged(docs):
    """Contexts, clusters and users of kubeconfigs merged as kubectl merges them (the first file
    naming an entry wins), and the current context."""
    merged = {"contexts": {}, "clusters": {}, "users": {}}
    current = None
    for doc in docs:
        if not isinstance(doc, dict):
            continue
        current = current or doc.get("current-context")
        for section, inner in (("contexts", "context"), ("clusters", "cluster"), ("users", "user")):
            for entry in doc.get(section) or ():
                merged[section].setdefault(entry["name"], entry.get(inner) or {})
    return merged, current


def _context_problem(docs, context, where):
    """client-go refuses a context whose cluster or user is not defined; the official Python
    client silently goes on without credentials. Refuse it here, as kubectl does."""
    merged, current = _merged(docs)
    name = context or current
    selected = merged["contexts"].get(name)
    if not name or selected is None:
        return None  # the client's own message names the missing context
    for key, section in (("cluster", "clusters"), ("user", "users")):
        wanted = selected.get(key)
        if wanted and wanted not in merged[section]:
            return ("context '%s' in %s names the %s '%s', which is not defined there; add it to %s or fix the "
                    "context" % (name, where, key, wanted, section))
    return None


def _exec_command(docs, context):
    """The exec plugin command of the user the context selects in these kubeconfigs, or None."""
    merged, current = _merged(docs)
    user = merged["users"].get((merged["contexts"].get(context or current) or {}).get("user")) or {}
    plugin = user.get("exec")
    if not isinstance(plugin, dict):
        return None
    return plugin.get("command") or "(no command)"


def _load_checked(load, configuration, where, context, docs):
    """Run the official client's ``load()``; a failed exec plugin becomes a ConfigError."""
    problem = _context_problem(docs, context, where)
    if problem:
        raise ConfigError(problem)
    failures = _ExecFailures()
    root = logging.getLogger()
    root.addHandler(failures)
    try:
        load()
    except Exception as exc:
        raise ConfigError(_kubeconfig_problem(exc, where, context))
    finally:
        root.removeHandler(failures)
    command = _exec_command(docs, context)
    has_token = bool((configuration.api_key or {}).get("authorization"))
    if command is not None and failures.messages and not has_token and not configuration.cert_file:
        text = "; ".join(failures.messages)
        if len(text) > _EXEC_ERROR_LIMIT:
            text = text[:_EXEC_ERROR_LIMIT] + "..."
        raise ConfigError("the exec credential plugin '%s' of the kubeconfig user in %s failed, so there is no "
                          "token to send: %s; run the command by hand to see why, or fix the user's exec "
                          "section" % (command, where, text))


def _load_kubeconfig_files(k8s_config, paths, context, configuration, persist=False, docs=()):
    def load():
        k8s_config.load_kube_config(config_file=os.pathsep.join(paths), context=context,
                                    client_configuration=configuration, persist_config=persist)
    _load_checked(load, configuration, ", ".join(paths), context, docs)


def _load_kubeconfig_dict(k8s_config, kubeconfig, context, configuration):
    def load():
        k8s_config.load_kube_config_from_dict(config_dict=kubeconfig, context=context,
                                              client_configuration=configuration,
                                              persist_config=False)
    _load_checked(load, configuration, "the kubeconfig given as a mapping", context, [kubeconfig])


def _kubeconfig_problem(exc, where, context):
    text = str(exc).strip() or type(exc).__name__
    if context and "context" in text.lower():
        return ("context '%s' is not in %s (%s); set context to one of the contexts listed by "
                "'kubectl config get-contexts'" % (context, where, text))
    return "cannot use %s: %s" % (where, text)


def _apply_overrides(configuration, options):
    """Explicit options beat whatever the kubeconfig said, as in kubernetes.core."""
    if options.get("host"):
        configuration.host = options["host"].rstrip("/")
    if options.get("api_key"):
        configuration.api_key = {"authorization": "Bearer %s" % options["api_key"]}
        configuration.api_key_prefix = {}
        configuration.refresh_api_key_hook = None
    if options.get("username") is not None:
        configuration.username = options["username"]
    if options.get("password") is not None:
        configuration.password = options["password"]
    if options.get("validate_certs") is not None:
        configuration.verify_ssl = bool(options["validate_certs"])
    for option, attribute in (("ca_cert", "ssl_ca_cert"), ("client_cert", "cert_file"),
                              ("client_key", "key_file")):
        path = options.get(option)
        if path:
            path = os.path.expanduser(path)
            if not os.path.isfile(path):
                raise ConfigError("%s file %s does not exist or is not a file" % (option, path))
            setattr(configuration, attribute, path)
    if options.get("proxy"):
        configuration.proxy = options["proxy"]
    if options.get("no_proxy"):
        configuration.no_proxy = options["no_proxy"]
    if options.get("proxy_headers"):
        import urllib3
        wanted = dict((k, v) for k, v in options["proxy_headers"].items() if v is not None)
        configuration.proxy_headers = urllib3.util.make_headers(**wanted)


# The credentials a kubeconfig user can hold (client-go's AuthInfo); paths and names are not secret.
_USER_SECRETS = ("token", "password", "client-key-data")


def kubeconfig_secrets(kubeconfig):
    """Every credential in a kubeconfig given as a mapping - tokens, passwords, client keys,
    auth-provider settings and exec-plugin environment values - to be masked in any output."""
    found = set()
    if not isinstance(kubeconfig, dict) or not isinstance(kubeconfig.get("users"), list):
        return found
    for entry in kubeconfig["users"]:
        user = entry.get("user") if isinstance(entry, dict) else None
        if not isinstance(user, dict):
            continue
        values = [user.get(key) for key in _USER_SECRETS]
        provider = user.get("auth-provider")
        if isinstance(provider, dict) and isinstance(provider.get("config"), dict):
            values.extend(provider["config"].values())
        plugin = user.get("exec")
        if isinstance(plugin, dict) and isinstance(plugin.get("env"), list):
            values.extend(item.get("value") for item in plugin["env"] if isinstance(item, dict))
        found.update(value for value in values if isinstance(value, str) and value)
    return found


def tls_verification_warning(configuration, where=None):
    """The one warning for a connection that does not verify the API server's certificate.

    None when TLS is verified (or not used). urllib3's own warning, repeated for every request,
    is silenced once this one is returned: the caller shows it once per run.
    """
    host = configuration.host or ""
    if configuration.verify_ssl or not host.lower().startswith("https://"):
        return None
    try:
        from urllib3.exceptions import InsecureRequestWarning
        warnings.filterwarnings("ignore", category=InsecureRequestWarning)
    except ImportError:  # pragma: no cover - urllib3 comes with the kubernetes client
        pass
    return ("TLS certificate verification is turned off for %s%s (validate_certs: false, K8S_AUTH_VERIFY_SSL "
            "or insecure-skip-tls-verify in the kubeconfig): anyone on the network path can impersonate the API "
            "server and read the credentials sent to it; set ca_cert (or certificate-authority in the "
            "kubeconfig) instead" % (host, " (%s)" % where if where else ""))
