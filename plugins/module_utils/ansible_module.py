# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""The only engine file that knows Ansible: shared argument spec and error handling for modules.

A module declares its own options, calls ``run_module(spec, handler)``, and returns whatever the
handler returns. Engine errors become ``fail_json(msg=...)`` here, once for all modules.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import traceback

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import KubeClient
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.config import kubeconfig_secrets, tls_verification_warning
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import (
    ApiError,
    ConfigError,
    ConnectionFailure,
    KubeError,
    MissingLibraryError,
    ValidationError,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.untrusted import seconds

AUTH_ARG_SPEC = {
    # Not no_log: a path must stay readable in messages; a kubeconfig given as a mapping has its
    # credentials masked one by one instead (NodewatchModule.__init__).
    "kubeconfig": {"type": "raw"},
    "context": {"type": "str"},
    "host": {"type": "str"},
    "api_key": {"type": "str", "no_log": True},
    "username": {"type": "str"},
    "password": {"type": "str", "no_log": True},
    "validate_certs": {"type": "bool", "aliases": ["verify_ssl"]},
    "ca_cert": {"type": "path", "aliases": ["ssl_ca_cert"]},
    "client_cert": {"type": "path", "aliases": ["cert_file"]},
    "client_key": {"type": "path", "aliases": ["key_file"], "no_log": False},
    "proxy": {"type": "str"},
    "no_proxy": {"type": "str"},
    "proxy_headers": {
        "type": "dict",
        "options": {
            "proxy_basic_auth": {"type": "str", "no_log": True},
            "basic_auth": {"type": "str", "no_log": True},
            "user_agent": {"type": "str"},
        },
    },
    "persist_config": {"type": "bool"},
    "impersonate_user": {"type": "str"},
    "impersonate_groups": {"type": "list", "elements": "str"},
}


class NodewatchModule(AnsibleModule):
    """AnsibleModule with the shared auth options and a lazily built API client."""

    def __init__(self, argument_spec, **kwargs):
        spec = dict(AUTH_ARG_SPEC)
        spec.update(argument_spec)
        super(NodewatchModule, self).__init__(argument_spec=spec, **kwargs)
        self.no_log_values.update(kubeconfig_secrets(self.params.get("kubeconfig")))
        self._client = None

    @property
    def client(self):
        return self.get_client()

    def get_client(self, **client_kwargs):
        """The module's client, built on first use (``client_kwargs`` such as ``pool_maxsize``
        apply to that first build)."""
        if self._client is None:
            options = dict((name, self.params.get(name)) for name in AUTH_ARG_SPEC)
            self._client = KubeClient.from_options(options, **client_kwargs)
            warning = tls_verification_warning(self._client.configuration)
            if warning:
                self.warn(warning)
        return self._client


def error_kind(exc):
    """What kind of failure an engine error is, for playbooks that go on after it (the fleet
    audit reports a cluster as unreachable, forbidden or in error)."""
    if isinstance(exc, ConnectionFailure):
        return "unreachable"
    if isinstance(exc, ApiError) and exc.status in (401, 403):
        return "forbidden"
    if isinstance(exc, (ConfigError, ValidationError)):
        return "invalid"
    return "error"


def _check_durations(module, argument_spec):
    """Every ``*_timeout`` option is a number of seconds: NaN, infinity, a negative number or more
    than a year is refused here, naming the option, for every module at once (a float('inf')
    deadline would otherwise end in "timestamp out of range" deep in a thread pool)."""
    for name in argument_spec:
        if name.endswith("_timeout") and module.params.get(name) is not None:
            seconds(module.params[name], name, minimum=0, error=ValidationError)


def run_module(argument_spec, handler, kubernetes=True, **module_kwargs):
    """Build the module, call ``handler(module)`` and exit with its result dict.

    ``kubernetes=False`` builds a plain ``AnsibleModule``, without the connection options, for a
    module that runs on a node instead of talking to the API (``node_image_prune``).

    Every engine error ends as ``fail_json`` with a sentence. Anything else is a bug: it still
    ends as a sentence (what failed, and that it is a bug to report), with its traceback kept in
    ``exception`` (shown with -vvv) for the report, never as "MODULE FAILURE".
    """
    if kubernetes:
        module = NodewatchModule(argument_spec, **module_kwargs)
    else:
        module = AnsibleModule(argument_spec=argument_spec, **module_kwargs)
    try:
        _check_durations(module, argument_spec)
        result = handler(module)
    except MissingLibraryError as exc:
        module.fail_json(msg=missing_required_lib(exc.library, reason=exc.reason),
                         exception=traceback.format_exc())
    except KubeError as exc:
        fail = {"msg": str(exc), "error_kind": error_kind(exc)}
        status = getattr(exc, "status", None)
        if status:
            fail["status"] = status
            fail["reason"] = exc.reason
        module.fail_json(**fail)
    except Exception as exc:  # the last resort: a bug, said as one, with its traceback for the report
        module.fail_json(
            msg="%s failed unexpectedly (%s: %s). This is a bug in the nodewatch.k8s collection, not in "
                "your input: please report it with the output of this task at -vvv (the 'exception' "
                "field holds the traceback)" % (module._name, type(exc).__name__, exc),
            exception=traceback.format_exc())
    module.exit_json(**result)
