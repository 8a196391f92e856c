# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""report/markdown.py: the audit and fleet reports as Markdown, safe against hostile names."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.check import build_policy
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.audit import fleet_entry, run_audit
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.fleet import build_fleet_report
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.markdown import (
    render_audit_markdown,
    render_fleet_markdown,
)
from unit.plugins.module_utils.drift.test_check import APP, BASE, GI, StubClient, image, node


def report_of(nodes, thresholds):
    return run_audit(StubClient(nodes), build_policy(thresholds), generated_at="2026-11-30T06:00:00Z",
                     cluster_name="prod")


def table_rows(text, heading):
    section = text.split("## %s" % heading, 1)[1].split("\n## ", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|")][2:]


def test_a_failing_audit_names_node_rule_value_and_limit():
    report = report_of([node("w-1", [image("r/big", 1, 5 * GI), BASE]), node("w-2", [APP])],
                       {"max_total_bytes": "4Gi"})
    text = render_audit_markdown(report)
    assert text.startswith("# Node image storage audit: prod\n")
    assert "**Result: FAILED - 1 breach(es) on 1 node(s).**" in text
    assert table_rows(text, "Limits") == ["| w-1 | max_total_bytes | default | 5.3 GiB | 4.0 GiB |  |"]
    nodes = table_rows(text, "Nodes")
    assert [row.split("|")[1].strip() for row in nodes] == ["w-1", "w-2"]
    assert nodes[0].endswith("| not ready, **breach: max_total_bytes** |")
    assert "Limits applied (default rule set): max_total_bytes = %d." % (4 * GI) in text
    assert "## Images taking most space (size x nodes)" in text


def test_hostile_names_cannot_break_a_table():
    hostile = {"names": ["evil|image:1\nnext", "evil@sha256:%064x" % 3], "sizeBytes": GI}
    report = report_of([node("w-1", [hostile])], {"max_image_count": 0})
    text = render_audit_markdown(report)
    for heading in ("Nodes", "Largest images", "Most common images"):
        for row in table_rows(text, heading):
            assert row.replace("\\|", "").count("|") == row.split("\n")[0].replace("\\|", "").count("|")
            assert "\n" not in row
    assert "evil\\|image:1 next" in text


def test_a_passing_audit_and_the_baseline_line():
    text = render_audit_markdown(report_of([node("w-1", [APP])], {"max_percent": 90}))
    assert "**Result: PASSED - no limit crossed.**" in text
    assert "No limit crossed on 1 node." in text
    assert "Baseline: none (growth and new-image rules not checked)." in text


def test_the_fleet_summary():
    prod = report_of([node("w-1", [image("r/big", 1, 5 * GI)])], {"max_total_bytes": "4Gi"})
    test = report_of([node("t-1", [APP])], {"max_total_bytes": "4Gi"})
    fleet = build_fleet_report([
        {"name": "prod", "report": fleet_entry(prod), "report_path": "prod.md"},
        {"name": "test", "report": fleet_entry(test), "report_path": "test.md"},
        {"name": "lab", "report": None, "status": "unreachable", "error": "cannot connect | at all"},
    ], generated_at="2026-11-30T06:00:00Z")
    text = render_fleet_markdown(fleet)
    assert "**Result: FAILED - 1 breach(es) on 1 node(s); 1 cluster could not be read.**" in text
    assert table_rows(text, "Clusters")[0].startswith("| prod | breach | 1 | 5.0 GiB | 1 | 1 | prod.md |")
    assert table_rows(text, "Clusters")[2] == "| lab | **unreachable** | - | - | - | - | - |"
    assert "- **lab** (unreachable): cannot connect \\| at all" in text
    assert table_rows(text, "Breaches") == ["| prod | w-1 | max_total_bytes | default | 5.0 GiB | 4.0 GiB |"]
    assert table_rows(text, "Worst nodes of the fleet")[0].startswith("| prod | w-1 | 5.0 GiB |")
