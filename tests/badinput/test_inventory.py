# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every case of ``cases_inventory`` through Ansible's InventoryManager (``inventory_driver.py``,
one process for all), and a damaged cache once through ansible-inventory itself."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re
import subprocess
import sys

import pytest
import yaml

from harness import BIN, ansible_env

from badinput.cases_inventory import BOMB_TEXT, CASES
from badinput.common import Case, ClusterUnchanged, check, materialize, params

HERE = os.path.dirname(os.path.abspath(__file__))


def inventory_file(case, tmp_path, kubeconfig):
    directory = tmp_path / case.id
    directory.mkdir()
    (directory / "bomb").write_text(BOMB_TEXT)
    options = {"plugin": "nodewatch.k8s.nodes", "kubeconfig": kubeconfig}
    options.update(materialize(case.data.get("options") or {}, directory, kubeconfig))
    if case.data.get("damage"):
        options.update({"cache": True, "cache_plugin": "ansible.builtin.jsonfile",
                        "cache_connection": str(directory / "cache"), "cache_timeout": 3600})
    options = dict((k, v) for k, v in options.items() if v is not None)
    path = directory / "case.nodes.yml"
    path.write_text(yaml.safe_dump(options))
    return {"id": case.id, "source": str(path), "cache": True, "damage": case.data.get("damage"),
            "cache_dir": str(directory / "cache") if case.data.get("damage") else None}


@pytest.fixture(scope="module")
def driven(kube, kubeconfig, tmp_path_factory):
    """All cases in one InventoryManager process; ``{case id: result}``."""
    tmp_path = tmp_path_factory.mktemp("badinput-inventory")
    specs = [inventory_file(case, tmp_path, kubeconfig) for case in CASES]
    (tmp_path / "cases.json").write_text(json.dumps(specs))
    env = ansible_env(tmp_path, {"ANSIBLE_INVENTORY_ENABLED": "nodewatch.k8s.nodes"})
    cluster = ClusterUnchanged(kube)
    proc = subprocess.run([sys.executable, os.path.join(HERE, "inventory_driver.py"), str(tmp_path / "cases.json"),
                           str(tmp_path / "results.json")], env=env, capture_output=True, text=True, timeout=600,
                          check=False, cwd=str(tmp_path))
    assert proc.returncode == 0, proc.stderr[-5000:]
    results = dict((r["id"], r) for r in json.loads((tmp_path / "results.json").read_text()))
    return results, cluster


@pytest.mark.parametrize("case", params(CASES))
def test_inventory_case(case, driven, kube):
    results, dummy = driven
    result = results[case.id]
    assert "setup_failed" not in result, result
    assert not result.get("python_error"), "%s: %s" % (case.id, result.get("traceback"))
    if case.data.get("damage"):
        # A bad cache entry is a miss: the inventory is built from the API and the entry rewritten.
        assert "error" not in result, "%s: the inventory failed: %s" % (case.id, result["error"])
        assert result["hosts"] == sorted(n["metadata"]["name"] for n in kube.list("v1", "Node")), result["hosts"]
        check(case, result["stderr"])
        if not case.warn:
            assert "nodewatch.k8s.nodes" not in result["stderr"], result["stderr"]
        stored = json.loads(result["cache_files"][0])
        payload = json.loads(stored["__payload__"]) if "__payload__" in stored else stored
        assert payload["format"] and isinstance(json.loads(payload["clusters"]), list), "the entry was not rewritten"
    else:
        assert not result.get("hosts"), "%s: the inventory was built anyway: %s" % (case.id, result.get("hosts"))
        check(case, result["stderr"], result.get("error"))
        assert re.search(r"Failed to parse inventory with '[\w.]*nodewatch.k8s[\w.]*nodes' plugin", result["stderr"])


def test_inventory_cases_changed_nothing_in_the_cluster(driven):
    driven[1].assert_same(Case("every inventory case", []))


def test_a_damaged_cache_through_ansible_inventory(kube, kubeconfig, tmp_path):
    """As a user runs it: the second --list reads a truncated jsonfile entry, warns once, and
    lists every node from the API (no traceback, exit 0)."""
    cache = tmp_path / "cache"
    source = tmp_path / "cached.nodes.yml"
    source.write_text(yaml.safe_dump({"plugin": "nodewatch.k8s.nodes", "kubeconfig": kubeconfig, "cache": True,
                                      "cache_plugin": "ansible.builtin.jsonfile", "cache_connection": str(cache)}))
    command = [os.path.join(BIN, "ansible-inventory"), "-i", str(source), "--list"]
    env = ansible_env(tmp_path)
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert first.returncode == 0, first.stderr
    for entry in cache.iterdir():
        entry.write_text(entry.read_text()[:25])
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert second.returncode == 0, second.stderr
    case = Case("ansible-inventory-truncated-cache", [r"the cache entry .*it was ignored and the nodes are read"])
    check(case, second.stderr)
    assert second.stderr.count("nodewatch.k8s.nodes inventory") == 1, second.stderr
    listed = json.loads(second.stdout)
    assert sorted(listed["_meta"]["hostvars"]) == sorted(n["metadata"]["name"] for n in kube.list("v1", "Node"))
