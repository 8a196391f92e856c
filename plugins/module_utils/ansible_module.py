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
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import KubeError, MissingLibraryError

AUTH_ARG_SPEC = {
    "kubeconfig": {"type": "raw", "no_log": True},
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
        return self._client


def run_module(argument_spec, handler, **module_kwargs):
    """Build the module, call ``handler(module)`` and exit with its result dict.

    Every engine error ends as ``fail_json`` with a sentence; anything else is a bug and keeps
    its traceback (in ``exception``, shown with -vvv) so it can be reported.
    """
    module = NodewatchModule(argument_spec, **module_kwargs)
    try:
        result = handler(module)
    except MissingLibraryError as exc:
        module.fail_json(msg=missing_required_lib(exc.library, reason=exc.reason),
                         exception=traceback.format_exc())
    except KubeError as exc:
        fail = {"msg": str(exc)}
        status = getattr(exc, "status", None)
        if status:
            fail["status"] = status
            fail["reason"] = exc.reason
        module.fail_json(**fail)
    module.exit_json(**result)
