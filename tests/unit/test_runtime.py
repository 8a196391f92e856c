"""meta/runtime.yml: module_defaults must reach every module (kubernetes.core's k8s_taint lesson)."""
import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _modules():
    folder = os.path.join(ROOT, "plugins", "modules")
    return sorted(f[:-3] for f in os.listdir(folder) if f.endswith(".py") and not f.startswith("_"))


def test_every_module_is_in_the_nodes_action_group():
    with open(os.path.join(ROOT, "meta", "runtime.yml")) as handle:
        runtime = yaml.safe_load(handle)
    group = runtime["action_groups"]["nodes"]
    assert sorted(group) == _modules(), "add new modules to action_groups.nodes in meta/runtime.yml"


def test_requires_ansible_is_declared():
    with open(os.path.join(ROOT, "meta", "runtime.yml")) as handle:
        runtime = yaml.safe_load(handle)
    assert runtime["requires_ansible"].startswith(">=2.16")


def test_module_auth_spec_matches_the_client_options():
    from ansible_collections.nodewatch.k8s.plugins.module_utils.ansible_module import AUTH_ARG_SPEC
    from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.config import AUTH_OPTIONS
    assert set(AUTH_ARG_SPEC) == set(AUTH_OPTIONS)
