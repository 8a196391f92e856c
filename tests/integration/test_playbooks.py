"""The collection's playbooks, run by FQCN as a user runs them, against the fake API server.

One story, with exit codes checked at each step: capturing fails without the baseline
namespace, then succeeds; a node grows; the audit fails naming the node, the rule, the value
and the limit (after writing its report), and so does the drift check, which leaves the
baseline alone; the baseline is captured again; the audit and the drift check now pass, and the
drift check refreshes the baseline.
"""
import json

import pytest

from harness import run_playbook

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift import baseline as bl
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import node_image_facts

pytestmark = pytest.mark.integration

GI = 1 << 30
BIG = {"names": ["registry.example.com/ml/trainer@sha256:%064x" % 77, "registry.example.com/ml/trainer:2.4.1"],
       "sizeBytes": 12 * GI}
NODE = "worker-b-1"


def stored_baseline(kube):
    obj = kube.get("v1", "ConfigMap", "nodewatch-baseline", namespace="nodewatch-system")
    return None if obj is None else bl.join_from_configmaps([obj["data"]])


def failure(run):
    failed = [r for r in run.results if r["status"] == "failed"]
    assert failed, run
    return failed[-1]


def test_audit_drift_check_and_capture_baseline(seeded_kube, kubeconfig, tmp_path):
    kube = seeded_kube
    auth = {"kubeconfig": kubeconfig}

    # 1. No namespace for the baseline yet: capturing fails and says what to do.
    run = run_playbook(tmp_path, "nodewatch.k8s.capture_baseline", extra_vars=auth)
    assert run.rc == 2, run
    assert "does namespace nodewatch-system exist" in failure(run)["result"]["msg"]

    kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "nodewatch-system"}})
    run = run_playbook(tmp_path, "nodewatch.k8s.capture_baseline", extra_vars=auth)
    assert run.rc == 0, run
    assert run.result("Capture the baseline")["changed"] is True
    assert "Captured the baseline of 12 nodes" in run.result("Report")["msg"]
    first = stored_baseline(kube)
    assert len(first["nodes"]) == 12

    # 2. A 12 GiB image lands on one node: growth over the default 10Gi limit.
    node = kube.get("v1", "Node", NODE)
    kube.patch_status(NODE, {"images": [BIG] + node["status"]["images"]})

    # Connection from KUBECONFIG this time, as a cron job would have it.
    run = run_playbook(tmp_path, "nodewatch.k8s.audit", env={"KUBECONFIG": kubeconfig})
    assert run.rc == 2, run
    failed = failure(run)
    assert failed["task"] == "nodewatch.k8s.nodewatch : Fail when a limit is crossed"
    for words in ("node %s" % NODE, "rule max_growth_bytes", "grew by 12.0 GiB", "limit 10.0 GiB"):
        assert words in failed["result"]["msg"], failed["result"]["msg"]
        assert words in run.stdout
    table = run.result("Show the nodes")["msg"]
    assert table[0].split() == ["NODE", "IMAGES", "TOTAL", "%", "CAP", "STATUS"]
    row = [line for line in table if line.startswith(NODE + " ")][0]
    assert "BREACH max_growth_bytes" in row
    # columns line up: every size ends where the TOTAL heading ends
    end = table[0].index("TOTAL") + len("TOTAL")
    for facts in (node_image_facts(node) for node in kube.list("v1", "Node")):
        line = [text for text in table if text.startswith(facts["name"] + " ")][0]
        assert line.index(" " + facts["total_human"]) + 1 + len(facts["total_human"]) == end, table
    report = (tmp_path / "nodewatch-audit.md").read_text()
    assert "**Result: FAILED - 1 breach(es) on 1 node(s).**" in report
    assert "| %s | max_growth_bytes | default | 12.0 GiB | 10.0 GiB |" % NODE in report
    assert "registry.example.com/ml/trainer:2.4.1 | 12.0 GiB | 1 |" in report

    # 3. The periodic check fails too, and a failing check never refreshes the baseline.
    run = run_playbook(tmp_path, "nodewatch.k8s.drift_check",
                       extra_vars=dict(auth, nodewatch_refresh_baseline_on_success=True))
    assert run.rc == 2, run
    result = failure(run)["result"]
    assert result["breaching_nodes"] == [NODE] and result["baseline"]["updated"] is False
    assert "node %s: image storage grew by 12.0 GiB" % NODE in result["msg"]
    assert stored_baseline(kube) == first

    # 4. The growth is accepted: capture the baseline again.
    run = run_playbook(tmp_path, "nodewatch.k8s.capture_baseline", extra_vars=auth)
    assert run.rc == 0, run
    second = stored_baseline(kube)
    assert second["nodes"][NODE]["total_bytes"] == first["nodes"][NODE]["total_bytes"] + 12 * GI

    # 5. The audit passes now (a JSON report in a new directory this time), and so does the check,
    #    which refreshes the baseline.
    run = run_playbook(tmp_path, "nodewatch.k8s.audit",
                       extra_vars=dict(auth, nodewatch_report_format="json", nodewatch_report_path="out/audit.json"))
    assert run.rc == 0, run
    data = json.loads((tmp_path / "out" / "audit.json").read_text())
    assert data["ok"] is True and data["breaches"] == [] and len(data["nodes"]) == 12
    assert data["cluster"]["node_count"] == 12 and data["baseline"]["found"] is True
    assert data["nodes"][0]["name"] == NODE, "nodes are listed largest first"

    run = run_playbook(tmp_path, "nodewatch.k8s.drift_check",
                       extra_vars=dict(auth, nodewatch_refresh_baseline_on_success=True))
    assert run.rc == 0, run
    check = run.result("Compare the nodes with the limits and the baseline")
    assert check["ok"] is True and check["changed"] is True and check["baseline"]["updated"] is True
    assert stored_baseline(kube)["captured_at"] == check["baseline"]["new_captured_at"]
