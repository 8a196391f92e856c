# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Connection settings: kubernetes.core's auth options and ``K8S_AUTH_*`` variables, resolved
once, and turned into a ``kubernetes.client.Configuration`` by the official client.

The official ``kubernetes`` client does what it is best at here: reading kubeconfigs (contexts,
exec and OIDC plugins with token refresh) and the in-cluster service account. ``client.py``
takes the resulting configuration and does the requests.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ConfigError, MissingLibraryError

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

IN_CLUSTER_ENV = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
SERVICE_ACCOUNT_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token"


def _env_bool(text):
    return text.strip().lower() not in ("0", "false", "no", "off", "")


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
                env_value = environ.get("K8S_AUTH_PROXY_HEADERS_%s" % key.upper())
                if env_value is not None:
                    headers[key] = env_value
            value = headers or None
        elif value is None:
            env_value = environ.get("K8S_AUTH_%s" % name.upper())
            if env_value is None and alt_env:
                env_value = environ.get(alt_env)
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
    if isinstance(kubeconfig, str):
        return [os.path.expanduser(p) for p in kubeconfig.split(os.pathsep) if p]
    env_paths = environ.get("KUBECONFIG")
    if env_paths:
        return [os.path.expanduser(p) for p in env_paths.split(os.pathsep) if p]
    return [os.path.expanduser("~/.kube/config")]


def build_configuration(options, environ=None):
    """Turn resolved auth options into a ``kubernetes.client.Configuration``.

    Order, as kubectl: an explicit ``kubeconfig`` or ``context``; else ``host`` with
    credentials; else ``KUBECONFIG``/``~/.kube/config`` when it exists; else the in-cluster
    service account when running in a pod.
    """
    environ = os.environ if environ is None else environ
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
        _load_kubeconfig_dict(k8s_config, kubeconfig, context, configuration)
    elif kubeconfig or context or not has_direct_credentials:
        paths = _kubeconfig_paths(kubeconfig, environ)
        existing = [p for p in paths if os.path.isfile(p)]
        if kubeconfig and len(existing) != len(paths):
            missing = [p for p in paths if p not in existing]
            raise ConfigError("kubeconfig file %s does not exist; set the kubeconfig option "
                              "(or K8S_AUTH_KUBECONFIG) to a readable file" % ", ".join(missing))
        if existing:
            _load_kubeconfig_files(k8s_config, existing, context, configuration, persist)
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


def _load_kubeconfig_files(k8s_config, paths, context, configuration, persist=False):
    try:
        k8s_config.load_kube_config(config_file=os.pathsep.join(paths), context=context,
                                    client_configuration=configuration, persist_config=persist)
    except Exception as exc:
        raise ConfigError(_kubeconfig_problem(exc, ", ".join(paths), context))


def _load_kubeconfig_dict(k8s_config, kubeconfig, context, configuration):
    try:
        k8s_config.load_kube_config_from_dict(config_dict=kubeconfig, context=context,
                                              client_configuration=configuration,
                                              persist_config=False)
    except Exception as exc:
        raise ConfigError(_kubeconfig_problem(exc, "the kubeconfig given as a dict", context))


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
