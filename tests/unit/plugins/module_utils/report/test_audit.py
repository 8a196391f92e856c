# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report/audit.py: one pass over the nodes feeds the limits, the accounting and the rows."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ValidationError
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.check import build_policy, check_drift
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import (
    cluster_image_report,
    node_image_facts,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.audit import (
    console_table,
    fleet_clusters,
    fleet_entry,
    fleet_summary_text,
    report_paths,
    run_audit,
    write_reports,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.fleet import build_fleet_report
from unit.plugins.module_utils.drift.test_check import APP, BASE, GI, TOOL, StubClient, image, node

ZONE = "topology.kubernetes.io/zone"


def fleet_of_nodes():
    nodes = [
        node("w-1", [APP, BASE, TOOL], labels={ZONE: "a", "node-role.kubernetes.io/worker": ""}),
        node("gpu-1", [image("nvcr.io/cuda", 9, 3 * GI), APP, BASE], capacity="8Gi",
             labels={ZONE: "b", "node-role.kubernetes.io/gpu": "", "pool": "gpu"}),
        node("w-2", [BASE], labels={ZONE: "a", "node-role.kubernetes.io/worker": ""}),
    ]
    nodes[2]["spec"] = {"unschedulable": True}
    return nodes


def audit(nodes=None, **kwargs):
    client = StubClient(nodes if nodes is not None else fleet_of_nodes())
    policy = build_policy({"max_total_bytes": "2Gi"},
                          [{"name": "gpu", "selector": "pool=gpu", "thresholds": {"max_percent": 30}}])
    return client, run_audit(client, policy, generated_at="2026-11-30T06:00:00Z", cluster_name="prod", **kwargs)


def test_one_read_of_the_nodes_feeds_everything():
    client, report = audit()
    assert len(client.lists) == 1  # the nodes were listed once
    assert report["format"] == "nodewatch.k8s/audit-report" and report["version"] == 1
    assert report["cluster_name"] == "prod" and report["generated_at"] == "2026-11-30T06:00:00Z"
    # the same verdict as the drift check on its own ...
    alone = check_drift(StubClient(fleet_of_nodes()), build_policy(
        {"max_total_bytes": "2Gi"}, [{"name": "gpu", "selector": "pool=gpu", "thresholds": {"max_percent": 30}}]))
    for key in ("ok", "breaches", "breaching_nodes", "notes", "summary"):
        assert report[key] == alone[key], key
    assert report["breaching_nodes"] == ["gpu-1"] and report["ok"] is False
    # ... and the same accounting as node_images_info's
    facts = [node_image_facts(n, include_images=True, group_by=[ZONE, "node-role"]) for n in fleet_of_nodes()]
    accounted = cluster_image_report(facts, top=5, group_by=[ZONE, "node-role"])
    assert report["cluster"] == accounted
    assert report["cluster"]["groups"][ZONE]["a"]["node_count"] == 2


def test_rows_are_largest_first_with_what_a_person_asks():
    dummy, report = audit()
    assert [r["name"] for r in report["nodes"]] == ["gpu-1", "w-1", "w-2"]
    gpu, worker, cordoned = report["nodes"]
    assert gpu["breaches"] == ["max_percent"] and gpu["rule_set"] == "gpu" and gpu["roles"] == ["gpu"]
    assert gpu["zone"] == "b" and gpu["ready"] is False  # the stub's nodes carry no Ready condition
    assert worker["breaches"] == [] and worker["rule_set"] == "default"
    assert cordoned["schedulable"] is False
    assert [i["name"] for i in gpu["top_images"]][:1] == ["nvcr.io/cuda"]
    json.dumps(report)


def test_imagefs_figures_go_into_rows_and_totals():
    summaries = {"w-1": {"node": {"runtime": {"imageFs": {"capacityBytes": 10 * GI, "usedBytes": 5 * GI}}}},
                 "w-2": ValueError("kubelet down")}
    client = StubClient(fleet_of_nodes()[:1] + fleet_of_nodes()[2:], summaries=summaries)
    report = run_audit(client, build_policy({"max_percent": 40}), imagefs=True)
    rows = dict((r["name"], r) for r in report["nodes"])
    assert rows["w-1"]["imagefs"]["percent"] == 50.0
    assert "imagefs" not in rows["w-2"] and rows["w-2"]["imagefs_error"]
    assert report["cluster"]["imagefs"]["nodes_measured"] == 1 and report["cluster"]["imagefs"]["nodes_failed"] == 1
    assert [b["node"] for b in report["breaches"]] == ["w-1"]  # 50 % of the image filesystem > 40


@pytest.mark.parametrize("path, formats, expected", [
    ("/r/audit.md", ["markdown"], {"markdown": "/r/audit.md"}),
    ("/r/audit", ["markdown"], {"markdown": "/r/audit.md"}),
    ("/r/audit.json", ["json", "html"], {"json": "/r/audit.json", "html": "/r/audit.html"}),
    ("/r/prod.eu", ["html"], {"html": "/r/prod.eu"}),
    ("/r/prod.eu", ["html", "json"], {"html": "/r/prod.eu.html", "json": "/r/prod.eu.json"}),
    ("", ["markdown"], {}),
    (None, ["markdown"], {}),
])
def test_report_paths(path, formats, expected):
    assert report_paths(path, formats) == expected


def test_report_paths_refuse_unknown_formats():
    with pytest.raises(ValidationError, match="report_format must be one or more of markdown, json, html"):
        report_paths("/r/x", ["pdf"])


def test_write_reports_atomically_and_not_in_check_mode(tmp_path):
    dummy, report = audit()
    paths = report_paths(str(tmp_path / "out" / "audit"), ["json", "markdown", "html"])
    assert write_reports(report, paths, check_mode=True)[0]["bytes"] > 0
    assert not (tmp_path / "out").exists()
    written = write_reports(report, paths)
    assert sorted(w["format"] for w in written) == ["html", "json", "markdown"]
    assert json.loads((tmp_path / "out" / "audit.json").read_text()) == report
    assert "# Node image storage audit: prod" in (tmp_path / "out" / "audit.md").read_text()
    assert (tmp_path / "out" / "audit.html").read_text().startswith("<!DOCTYPE html>")
    assert oct(os.stat(str(tmp_path / "out" / "audit.md")).st_mode & 0o777) == "0o644"
    assert sorted(os.listdir(str(tmp_path / "out"))) == ["audit.html", "audit.json", "audit.md"]


def test_write_reports_says_why_it_cannot(tmp_path):
    (tmp_path / "file").write_text("x")
    dummy, report = audit()
    with pytest.raises(ValidationError, match="cannot write the markdown report .*file/r.md"):
        write_reports(report, {"markdown": str(tmp_path / "file" / "r.md")})


def test_console_table_columns_line_up_and_rows_are_capped():
    dummy, report = audit()
    lines = console_table(report, rows=2)
    assert lines[0].split() == ["NODE", "IMAGES", "TOTAL", "%", "CAP", "STATUS"]
    end = lines[0].index("TOTAL") + len("TOTAL")
    for row, line in zip(report["nodes"][:2], lines[1:3]):
        assert line.index(" " + row["total_human"]) + 1 + len(row["total_human"]) == end
    assert "BREACH max_percent" in lines[1]
    assert lines[3] == "... and 1 more nodes (all are in the report file)"
    assert lines[-1] == "limits: 1 breach(es) on 1 node(s): gpu-1"


def test_fleet_entry_keeps_the_worst_nodes_in_the_fleet_order():
    nodes = [node("n-%03d" % i, [image("r/app", i, (i + 1) * GI)], capacity="1000Gi") for i in range(150)]
    client = StubClient(nodes)
    report = run_audit(client, build_policy({"max_total_bytes": "149Gi"}))
    entry = fleet_entry(report, keep=10)
    names = [r["name"] for r in entry["nodes"]]
    assert names[0] == "n-149"  # the one breach first
    assert names[1:] == ["n-%03d" % i for i in range(148, 139, -1)]  # then the largest (and fullest)
    assert all("top_images" not in r for r in entry["nodes"])
    assert entry["cluster"] == report["cluster"] and entry["breaches"] == report["breaches"]


def test_fleet_clusters_turn_module_results_into_entries(tmp_path):
    dummy, report = audit()
    results = {
        "prod": {"changed": True, "fleet_entry": fleet_entry(report),
                 "reports": [{"format": "html", "path": str(tmp_path / "prod.html")},
                             {"format": "markdown", "path": str(tmp_path / "prod.md")}]},
        "lab": {"failed": True, "error_kind": "unreachable", "msg": "cannot connect to the API server at https://lab"},
        "dev": {"failed": True, "error_kind": "forbidden", "msg": "forbidden (HTTP 403): nodes is forbidden"},
        "odd": {"failed": True, "msg": "MODULE FAILURE"},
    }
    entries = fleet_clusters(results, str(tmp_path / "fleet"), ["markdown"])
    by_name = dict((e["name"], e) for e in entries)
    assert by_name["prod"]["report_path"] == "prod.md"
    assert by_name["lab"]["status"] == "unreachable" and by_name["dev"]["status"] == "forbidden"
    assert by_name["odd"]["status"] == "error" and by_name["odd"]["error"] == "MODULE FAILURE"
    fleet = build_fleet_report(entries, generated_at="2026-11-30T06:00:00Z")
    text = fleet_summary_text(fleet)
    assert text.splitlines()[0] == ("fleet image audit: 4 clusters, 3 nodes: 1 breach on 1 node, "
                                    "3 clusters not read")
    assert "cluster lab could not be read (unreachable): cannot connect to the API server at https://lab" in text
    breach = report["breaches"][0]
    assert "cluster prod: %s" % breach["message"] in text
    for words in ("gpu-1", "max_percent", breach["observed_human"], breach["limit_human"]):
        assert words in breach["message"]


def test_fleet_clusters_refuse_what_is_not_a_result():
    with pytest.raises(ValidationError, match="clusters.prod must be the registered result"):
        fleet_clusters({"prod": "ok"}, "/tmp/fleet", ["markdown"])
