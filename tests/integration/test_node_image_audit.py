"""nodewatch.k8s.node_image_audit and the audit playbook: one read of the nodes, reports, limits."""
import json

import pytest

from harness import local_play, run_playbook

pytestmark = pytest.mark.integration


def node_lists(kube):
    return [r for r in kube.requests if r[0] == "GET" and r[1] == "/api/v1/nodes"]


def test_one_read_of_the_nodes_and_check_mode_writes_nothing(seeded_kube, kubeconfig, tmp_path):
    seeded_kube.clear_requests()
    tasks = [{"name": "preview", "nodewatch.k8s.node_image_audit": {
        "max_percent": 80, "report_format": ["markdown", "json"], "report_path": str(tmp_path / "r" / "audit")},
        "register": "audit"}]
    run = run_playbook(tmp_path, local_play(tasks, kubeconfig), check=True)
    assert run.rc == 0, run
    preview = run.result("preview")
    assert preview["changed"] is True and preview["nodes_checked"] == 12
    assert [r["path"] for r in preview["reports"]] == [str(tmp_path / "r" / "audit.json"), str(tmp_path / "r" / "audit.md")]
    assert not (tmp_path / "r").exists()
    # one list of the nodes (12 fit one page) and nothing else: no read per node, no second pass
    assert len(node_lists(seeded_kube)) == 1
    assert all(r[1].startswith("/api/v1/nodes") is False or r[1] == "/api/v1/nodes" for r in seeded_kube.requests)
    assert "nodes" not in preview  # the rows stay in the report file
    assert len(preview["table"]) == 12 + 5


def test_the_report_holds_every_node_and_the_verdict(seeded_kube, kubeconfig, tmp_path):
    tasks = [{"name": "audit", "nodewatch.k8s.node_image_audit": {
        "max_image_count": 10, "report_format": "json", "report_path": str(tmp_path / "audit.json"),
        "cluster_name": "fake", "table_rows": 3, "fail_on_breach": True}}]
    run = run_playbook(tmp_path, local_play(tasks, kubeconfig))
    assert run.rc == 2, run
    result = run.result("audit")
    assert run.status("audit") == "failed" and result["msg"] == result["summary"]
    report = json.loads((tmp_path / "audit.json").read_text())
    assert report["cluster_name"] == "fake" and len(report["nodes"]) == 12
    assert report["breaching_nodes"] == result["breaching_nodes"] and result["breaching_nodes"]
    for row in report["nodes"]:
        assert ("max_image_count" in row["breaches"]) == (row["name"] in result["breaching_nodes"])
    assert result["table"][-1].startswith("limits: %d breach(es)" % len(result["breaches"]))


def test_audit_playbook_takes_each_limit_as_its_own_variable(seeded_kube, kubeconfig, tmp_path):
    """-e nodewatch_max_percent wins over nodewatch_thresholds, for every threshold the engine knows."""
    extra = {"kubeconfig": kubeconfig, "nodewatch_baseline_source": "none", "nodewatch_report_format": "html",
             "nodewatch_thresholds": {"max_percent": 100, "max_image_count": 1000}, "nodewatch_max_image_count": 1}
    run = run_playbook(tmp_path, "nodewatch.k8s.audit", extra_vars=extra)
    assert run.rc == 2, run
    audit = run.result("Read every node once, check the limits, account for the images")
    assert audit["policy"]["thresholds"]["max_image_count"] == 1 and audit["policy"]["thresholds"]["max_percent"] == 100
    assert set(b["rule"] for b in audit["breaches"]) == {"max_image_count"}
    page = (tmp_path / "nodewatch-audit.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "max_image_count" in page


def test_a_limit_set_to_null_switches_the_default_off(seeded_kube, kubeconfig, tmp_path):
    run = run_playbook(tmp_path, "nodewatch.k8s.audit", extra_vars={
        "kubeconfig": kubeconfig, "nodewatch_baseline_source": "none", "nodewatch_report_path": "",
        "nodewatch_max_growth_bytes": None, "nodewatch_max_percent": ""})
    assert run.rc == 0, run
    policy = run.result("Read every node once, check the limits, account for the images")["policy"]
    assert policy["thresholds"]["max_growth_bytes"] is None and policy["thresholds"]["max_percent"] is None
    assert not list(tmp_path.glob("nodewatch-audit*"))


def test_audit_playbook_refuses_a_bad_limit_before_reading(seeded_kube, kubeconfig, tmp_path):
    seeded_kube.clear_requests()
    run = run_playbook(tmp_path, "nodewatch.k8s.audit", extra_vars={
        "kubeconfig": kubeconfig, "nodewatch_baseline_source": "none", "nodewatch_max_percent": 120})
    assert run.rc == 2, run
    failed = [r for r in run.results if r["status"] == "failed"][-1]
    assert "max_percent" in failed["result"]["msg"] and "120" in failed["result"]["msg"]
    assert "Traceback" not in run.stdout + run.stderr
    assert not node_lists(seeded_kube)
    assert not (tmp_path / "nodewatch-audit.md").exists()
