"""meta/runtime.yml: module_defaults must reach every module (kubernetes.core's k8s_taint lesson)."""
import os

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _modules():
    """``{module: takes the connection options}`` for every module of the collection."""
    folder = os.path.join(ROOT, "plugins", "modules")
    found = {}
    for name in sorted(os.listdir(folder)):
        if not name.endswith(".py") or name.startswith("_"):
            continue
        with open(os.path.join(folder, name)) as handle:
            source = handle.read()
        docs = yaml.safe_load(source.split('DOCUMENTATION = r"""', 1)[1].split('"""', 1)[0])
        found[name[:-3]] = "nodewatch.k8s.auth" in (docs.get("extends_documentation_fragment") or [])
    return found


def test_every_module_that_talks_to_a_cluster_is_in_the_nodes_action_group():
    with open(os.path.join(ROOT, "meta", "runtime.yml")) as handle:
        runtime = yaml.safe_load(handle)
    group = runtime["action_groups"]["nodes"]
    modules = _modules()
    assert len(modules) >= 8
    assert sorted(group) == sorted(name for name, connects in modules.items() if connects), \
        "add modules that take the connection options (and only those) to action_groups.nodes in meta/runtime.yml"


def test_requires_ansible_is_declared():
    with open(os.path.join(ROOT, "meta", "runtime.yml")) as handle:
        runtime = yaml.safe_load(handle)
    assert runtime["requires_ansible"].startswith(">=2.16")


def test_module_auth_spec_matches_the_client_options():
    from ansible_collections.nodewatch.k8s.plugins.module_utils.ansible_module import AUTH_ARG_SPEC
    from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.config import AUTH_OPTIONS
    assert set(AUTH_ARG_SPEC) == set(AUTH_OPTIONS)
