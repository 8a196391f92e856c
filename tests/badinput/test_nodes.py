# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every case of ``cases_nodes``: each reader of nodes in this process, then the nodes a real API
server can return served by a fake cluster of their own to the modules and the daemon."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import logging
import re

import pytest
import yaml

from fakekube import FakeKube, make_cluster

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.baseline import build_baseline
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.rules import Policy, evaluate_cluster
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import (
    cluster_image_report,
    node_image_facts,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.inventory.hosts import (
    compact_node,
    normalize_settings,
    plan_hosts,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.nodes.model import summarize_node
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.alerts import AlertSettings
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.engine import Engine, slim_node
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.sinks import Sinks

from badinput.cases_nodes import CASES
from badinput.common import Case, check, no_python_error, params, run_module
from badinput.test_daemon import run_main

POLICY = {"thresholds": {"max_percent": 95, "max_total_bytes": "1Ti", "max_growth_bytes": "100Gi",
                         "deny": ["*forbidden*"], "fail_on_new_images": False}}


def node_of(case, name=None):
    node = copy.deepcopy(make_cluster(2, seed=11)[1])
    case.change(node)
    if name:
        node["metadata"]["name"] = name
    return node


def read_everywhere(node, caplog):
    """Every in-process reader of a node; returns what they said (notes, malformed, logs)."""
    said = []
    facts = node_image_facts(node, top=5, include_images=True)
    said += [json.dumps(facts.get("malformed"), default=str), " ".join(facts.get("notes") or ())]
    summarize_node(node)
    settings = normalize_settings({})
    for dummy in plan_hosts([{"name": "c", "host_prefix": "", "nodes": [compact_node(node)]}], settings):
        pass
    labels = (node.get("metadata") or {}).get("labels") or {}
    baseline = build_baseline([node_image_facts(node, top=0, include_images=True)], captured_at="2026-11-01T00:00:00Z")
    report = evaluate_cluster([(facts, labels)], Policy.from_dict(POLICY), baseline)
    said.append(" ".join(report.get("notes") or ()))
    cluster_image_report([node_image_facts(node, top=5, include_images=True)])
    engine = Engine(AlertSettings(1, 0, ["image_storage_changed"], 5), Policy.from_dict(POLICY), Sinks([]))
    engine.on_add(slim_node(copy.deepcopy(node)))
    updated = copy.deepcopy(node)
    updated["metadata"]["resourceVersion"] = "999999"
    engine.on_update(slim_node(copy.deepcopy(node)), slim_node(updated))
    said.append(caplog.text)
    return "\n".join(said)


@pytest.mark.parametrize("case", params(CASES))
def test_node_case_in_every_reader(case, caplog):
    caplog.set_level(logging.INFO)
    said = read_everywhere(node_of(case), caplog)
    check(case, said)


@pytest.fixture(scope="module")
def odd_cluster(tmp_path_factory):
    """A cluster of its own holding every node a real API server can return."""
    server = FakeKube(tls=True).start()
    nodes = [node_of(case, name="odd-" + case.id) for case in CASES if case.api]
    server.seed_nodes(nodes)
    path = server.write_kubeconfig(str(tmp_path_factory.mktemp("badinput-odd") / "kubeconfig"))
    try:
        yield server, path
    finally:
        server.stop()


API_CASES = [case for case in CASES if case.api]


@pytest.fixture(scope="module")
def served(odd_cluster, tmp_path_factory):
    """What the modules and the daemon make of those nodes, read once."""
    server, kubeconfig = odd_cluster
    tmp_path = tmp_path_factory.mktemp("badinput-served")
    outputs = {}
    outputs["node_info"] = run_module("node_info", {"kubeconfig": kubeconfig, "detail": "complete"})
    outputs["node_images_info"] = run_module("node_images_info", {"kubeconfig": kubeconfig, "top": 3, "detail": "complete",
                                                                  "group_by": ["topology.kubernetes.io/zone"]})
    baseline = str(tmp_path / "baseline.json")
    outputs["capture"] = run_module("node_image_drift", {"kubeconfig": kubeconfig, "baseline_source": "file",
                                                         "baseline_path": baseline, "update_baseline": "true"})
    outputs["drift"] = run_module("node_image_drift", dict(POLICY["thresholds"], kubeconfig=kubeconfig,
                                                           baseline_source="file", baseline_path=baseline,
                                                           fail_on_breach=False))
    config = tmp_path / "watcher.yml"
    config.write_text(yaml.safe_dump({"baseline": {"file": baseline}, "thresholds": POLICY["thresholds"],
                                      "state": {"backend": "file", "path": str(tmp_path / "state.json")}}))
    outputs["daemon"] = run_main(["--config", str(config), "--kubeconfig", kubeconfig, "--once", "--no-events"], {})
    return outputs


@pytest.mark.parametrize("reader", ["node_info", "node_images_info", "capture", "drift"])
def test_modules_read_every_odd_node(reader, served):
    result, stderr = served[reader]
    assert not result.get("failed"), result.get("msg")
    text = json.dumps(result)
    no_python_error(Case(reader, []), text + stderr)
    listed = set(re.findall(r"odd-[a-z0-9-]+", text))
    if reader in ("node_info", "node_images_info"):
        assert set("odd-" + c.id for c in API_CASES) <= listed, sorted(set("odd-" + c.id for c in API_CASES) - listed)


def test_the_daemon_reads_every_odd_node(served):
    code, out, err = served["daemon"]
    assert code == 0, err
    no_python_error(Case("daemon", []), err + out)
    assert re.search(r"checked %d nodes" % len(API_CASES), err), err


@pytest.mark.parametrize("case", params([c for c in API_CASES if c.expect]))
def test_what_cannot_be_counted_is_said_per_node(case, served):
    result, dummy = served["node_images_info"]
    entry = [n for n in result["nodes"] if n["name"] == "odd-" + case.id]
    assert entry, result["nodes"]
    check(case, json.dumps(entry[0]))
