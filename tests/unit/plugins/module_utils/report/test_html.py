# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML report: what a reader of the page gets, read back from the page itself."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import re

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.report.document import (
    ReportInputError,
    group_totals,
    heaviest_images,
    node_byte_limit,
    storage_percent,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.fleet import build_fleet_report
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.html import (
    CHART_ROWS,
    render_audit_html,
    render_fleet_html,
)

from .samples import GiB, MiB, breach, headers, image, node, parse, report, table_rows


def cluster_with_breaches():
    nodes = [
        node("worker-1", 85 * GiB, roles=[], zone="eu-west-1a"),
        node("worker-2", 30 * GiB, zone="eu-west-1b", truncated=True, count=50),
        node("worker-3", 10 * GiB, zone="eu-west-1b", ready=False),
        node("cp-1", 4 * GiB, roles=["control-plane"], zone="eu-west-1c", schedulable=False),
    ]
    images = [image("ghcr.io/acme/search-indexer", "3.1.0", 1400 * MiB, ["worker-1", "worker-2"], 1),
              image("quay.io/cilium/cilium", "v1.16.3", 190 * MiB, ["worker-1", "worker-2", "worker-3", "cp-1"], 2),
              image("registry.k8s.io/pause", "3.10", 300 * 1024, ["worker-1", "worker-2", "worker-3", "cp-1"], 3)]
    breaches = [breach("worker-1", "max_percent", 85.0, 80.0), breach("worker-2", "max_image_count", 50, 40, lower_bound=True)]
    return report(nodes, breaches, limits={"max_percent": 80.0, "max_image_count": 40}, images=images,
                  notes=["no baseline was given: max_growth_bytes was not checked"], cluster_name="prod-eu")


def bars(dom, figure_id):
    """(label, value text, css classes, bar width or None, limit tick x or None) per row of a chart."""
    rows = []
    for group in dom.by_id(figure_id).find_all("g", cls="row"):
        rect = group.find("rect", cls="bar")
        tick = group.find("line", cls="limit-tick")
        rows.append({"label": group.find("text", cls="label").text(), "value": group.find("text", cls="value").text(),
                     "css": group.classes, "x": float(rect.attrs["x"]) if rect else None,
                     "width": float(rect.attrs["width"]) if rect else None,
                     "tick": float(tick.attrs["x1"]) if tick else None, "tip": group.find("title").text()})
    return rows


def section_ids(dom):
    return [s.attrs["id"] for s in dom.find_all("section")]


# -- structure -----------------------------------------------------------------------------------

def test_a_report_with_breaches_shows_status_charts_then_breaches_then_every_node():
    page = render_audit_html(cluster_with_breaches())
    dom = parse(page)
    assert page.startswith("<!DOCTYPE html>")
    assert dom.find("title").text() == "Image storage audit: prod-eu"
    assert dom.find("h1").text() == "Image storage audit: prod-eu"
    assert dom.find("p", cls="status").text() == "2 breaches on 2 nodes"
    assert "breach" in dom.find("p", cls="status").classes
    # Charts come first, then the tables, the breaches first among them.
    assert section_ids(dom) == ["summary", "charts", "breaches", "nodes", "images", "policy", "notes"]
    assert [a.attrs["href"] for a in dom.find("nav").find_all("a")] == [
        "#summary", "#charts", "#breaches", "#nodes", "#images", "#policy", "#notes"]
    cards = dict((c.find("dt").text(), c.find("dd").text()) for c in dom.find_all("div", cls="card"))
    assert cards["Nodes"].startswith("4") and "1 not ready, 1 cordoned" in cards["Nodes"]
    assert cards["Image bytes"].startswith("\u2265 129.0 GiB"), "a truncated list makes the total a lower bound"
    assert cards["Breaches"].startswith("2")

    assert headers(dom, "breaches-table") == ["Node", "Rule", "Rule set", "Observed", "Limit", "What"]
    assert [r[:5] for r in table_rows(dom, "breaches-table")] == [
        ["worker-1", "max_percent", "default", "85.0%", "80%"],
        ["worker-2", "max_image_count", "default", "\u2265 50", "40"]]

    rows = table_rows(dom, "nodes-table")
    assert [r[0] for r in rows] == ["worker-1", "worker-2", "worker-3", "cp-1"], "largest first"
    assert rows[1][5:8] == ["\u2265 50", "\u2265 30.0 GiB", "30.0 %"]
    assert rows[2][3] == "no" and rows[3][4] == "no" and rows[3][1] == "control-plane"
    assert [r[-1] for r in rows] == ["max_percent", "max_image_count", "", ""]
    body = dom.by_id("nodes-table").find("tbody").find_all("tr")
    assert [("breach" in tr.classes) for tr in body] == [True, True, False, False]
    # Sort keys are the numbers, not the text shown.
    assert [tr.find_all("td")[6].attrs["data-v"] for tr in body] == [str(85 * GiB), str(30 * GiB), str(10 * GiB), str(4 * GiB)]
    assert dom.by_id("nodes-table").find_all("th")[6].attrs["aria-sort"] == "descending"

    chart = bars(dom, "chart-nodes")
    assert [b["label"] for b in chart] == ["worker-1", "worker-2", "worker-3", "cp-1"]
    assert [b["value"] for b in chart] == ["85.0 GiB", "\u2265 30.0 GiB", "10.0 GiB", "4.0 GiB"]
    assert "breach" in chart[0]["css"] and "breach" in chart[1]["css"] and "lower" in chart[1]["css"]
    assert "breach" not in chart[2]["css"]
    assert "breaches: max_percent" in chart[0]["tip"]
    zones = bars(dom, "chart-zones")
    assert [(z["label"], z["value"]) for z in zones] == [
        ("eu-west-1a", "85.0 GiB \u00b7 1 node \u00b7 1 breaching"), ("eu-west-1b", "\u2265 40.0 GiB \u00b7 2 nodes \u00b7 1 breaching"),
        ("eu-west-1c", "4.0 GiB \u00b7 1 node")]
    roles = bars(dom, "chart-roles")
    assert [r["label"] for r in roles] == ["(no role)", "control-plane"]
    heavy = bars(dom, "chart-images")
    assert [h["label"] for h in heavy] == [
        "ghcr.io/acme/search-indexer:3.1.0", "quay.io/cilium/cilium:v1.16.3", "registry.k8s.io/pause:3.10"]
    assert heavy[0]["value"] == "1.4 GiB \u00d7 2 nodes = 2.7 GiB"
    assert "does not rank every image" in dom.by_id("chart-images").text(), "worked out from the listed images"
    assert "no baseline was given" in dom.by_id("notes").text()


def test_the_page_loads_nothing_and_its_policy_allows_only_its_own_style_and_script():
    page = render_audit_html(cluster_with_breaches())
    dom = parse(page)
    scripts, styles = dom.find_all("script"), dom.find_all("style")
    assert len(scripts) == 1 and len(styles) == 1
    policy = dom.find("meta", **{"http-equiv": "Content-Security-Policy"}).attrs["content"]

    def digest(text):
        return "'sha256-%s'" % base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()

    assert "default-src 'none'" in policy
    assert "script-src %s;" % digest(scripts[0].text()) in policy
    assert "style-src %s;" % digest(styles[0].text()) in policy
    for element in dom.iter():
        assert "src" not in element.attrs, element
        assert not element.attrs.get("href", "#").lstrip("#") or element.attrs["href"].startswith("#"), element
        assert not [a for a in element.attrs if a.startswith("on")], element
    assert re.findall(r"https?://[^\s\"'<]+", page) == ["http://www.w3.org/2000/svg"] * len(dom.find_all("svg"))


HOSTILE = '<script>alert("x")</script><img src=x onerror=alert(1)>'


def test_hostile_strings_from_the_cluster_are_shown_as_text_never_as_markup():
    evil_node = node("n" + HOSTILE, 50 * GiB, roles=["r" + HOSTILE], zone="z\"' onmouseover=alert(1) " + HOSTILE,
                     imagefs_error="kubelet said " + HOSTILE)
    images = [dict(image("evil.example/" + HOSTILE, "t" + HOSTILE, GiB, [evil_node["name"]]), nodes=[evil_node["name"]])]
    doc = report([evil_node, node("fine", GiB)], [dict(breach(evil_node["name"], "deny", 1, 0), message="m" + HOSTILE,
                                                       rule_set="rs" + HOSTILE)],
                 images=images, notes=["note " + HOSTILE], cluster_name="c" + HOSTILE,
                 rule_sets=[{"name": "rs" + HOSTILE, "selector": "x", "thresholds": {"deny": [HOSTILE]}}],
                 generated_at=HOSTILE)
    page = render_audit_html(doc)
    dom = parse(page)
    assert len(dom.find_all("script")) == 1, "only the page's own script"
    assert dom.find_all("img") == [] and dom.find_all("iframe") == []
    for element in dom.iter():
        assert not [a for a in element.attrs if a.startswith("on")], element
    assert HOSTILE not in page and "<script>alert" not in page
    # ... and the strings are all there, as text a person can read.
    text = dom.text()
    for shown in ("n" + HOSTILE, "r" + HOSTILE, "kubelet said " + HOSTILE, "m" + HOSTILE, "note " + HOSTILE,
                  "evil.example/" + HOSTILE + ":t" + HOSTILE, "rs" + HOSTILE):
        assert shown in text, shown
    assert dom.find("title").text() == "Image storage audit: c" + HOSTILE
    assert table_rows(dom, "nodes-table")[0][2] == "z\"' onmouseover=alert(1) " + HOSTILE


def test_an_empty_cluster_renders_a_page_that_says_so():
    dom = parse(render_audit_html(report([], limits={"max_percent": 80.0})))
    assert dom.find("p", cls="status").text() == "All 0 nodes within limits"
    assert dom.find_all("rect", cls="bar") == []
    assert dom.by_id("chart-nodes").find("p", cls="empty").text() == "No nodes in this report."
    assert table_rows(dom, "nodes-table") == [["No nodes matched the selection."]]
    assert dom.by_id("chart-percent") is None, "no percent to chart"


def test_an_all_ok_report_has_no_breach_section_and_no_breach_marks():
    doc = report([node("worker-%d" % i, (i + 1) * GiB) for i in range(5)], limits={"max_percent": 80.0})
    page = render_audit_html(doc)
    dom = parse(page)
    assert "ok" in dom.find("p", cls="status").classes
    assert dom.find("p", cls="status").text() == "All 5 nodes within limits"
    assert "breaches" not in section_ids(dom)
    assert dom.find_all(cls="breach") == []
    assert "breaches a limit" not in dom.by_id("chart-nodes").text(), "no legend entry for what is not there"


def test_max_total_bytes_is_one_line_across_the_node_chart():
    doc = report([node("a", 30 * GiB), node("b", 10 * GiB)], [breach("a", "max_total_bytes", 30 * GiB, 20 * GiB)],
                 limits={"max_total_bytes": 20 * GiB})
    dom = parse(render_audit_html(doc))
    figure = dom.by_id("chart-nodes")
    lines = figure.find_all("line", cls="limit-line")
    assert len(lines) == 1 and figure.find_all("line", cls="limit-tick") == []
    chart = bars(dom, "chart-nodes")
    # The line stands where 20 GiB is on the scale the bars use.
    x = float(lines[0].attrs["x1"])
    assert (x - chart[0]["x"]) / chart[0]["width"] == pytest.approx(20 / 30.0, rel=1e-3)
    assert "max_total_bytes 20.0 GiB" in figure.find("p", cls="legend").text()


def test_max_percent_is_a_tick_per_node_at_that_share_of_its_capacity():
    doc = report([node("small-disk", 40 * GiB, capacity=50 * GiB), node("big-disk", 60 * GiB, capacity=200 * GiB),
                  node("measured", 30 * GiB, imagefs=(20 * GiB, 100 * GiB))],
                 [breach("small-disk", "max_percent", 80.0, 70.0)], limits={"max_percent": 70.0})
    dom = parse(render_audit_html(doc))
    chart = dict((b["label"], b) for b in bars(dom, "chart-nodes"))
    for name, value, limit in (("small-disk", 40, 35), ("big-disk", 60, 140)):
        drawn = chart[name]
        assert (drawn["tick"] - drawn["x"]) / drawn["width"] == pytest.approx(limit / float(value), rel=1e-3), name
    assert chart["measured"]["tick"] is None, "max_percent reads the measured filesystem there, not these bytes"
    legend = dom.by_id("chart-nodes").find("p", cls="legend").text()
    assert "max_percent 70.0 % of the node's ephemeral storage" in legend
    assert "no percent mark" in dom.by_id("chart-nodes").find("p", cls="note").text()


def test_a_node_in_a_rule_set_gets_the_limit_of_its_rule_set():
    gpu = {"name": "gpu", "selector": "pool=gpu", "thresholds": {"max_total_bytes": 100 * GiB}}
    doc = report([node("gpu-1", 60 * GiB, rule_set="gpu"), node("worker-1", 60 * GiB)],
                 limits={"max_total_bytes": 50 * GiB}, rule_sets=[gpu], ok=False)
    dom = parse(render_audit_html(doc))
    chart = dict((b["label"], b) for b in bars(dom, "chart-nodes"))
    assert (chart["gpu-1"]["tick"] - chart["gpu-1"]["x"]) / chart["gpu-1"]["width"] == pytest.approx(100 / 60.0, rel=1e-3)
    assert (chart["worker-1"]["tick"] - chart["worker-1"]["x"]) / chart["worker-1"]["width"] == pytest.approx(50 / 60.0, rel=1e-3)
    assert "rule set gpu" in chart["gpu-1"]["tip"]
    assert [r[0] for r in table_rows(dom, "policy-table")] == ["default", "gpu"]


def test_no_limit_means_no_line_and_the_page_says_so():
    dom = parse(render_audit_html(report([node("a", GiB)], limits={})))
    figure = dom.by_id("chart-nodes")
    assert figure.find_all("line", cls="limit-line") == [] and figure.find_all("line", cls="limit-tick") == []
    assert "No byte or percent limit applies" in figure.text()
    assert "limits: none" in dom.find("p", cls="meta").text()


def test_imagefs_present_adds_its_column_and_the_measured_percent():
    doc = report([node("a", 30 * GiB, imagefs=(45 * GiB, 50 * GiB)), node("b", 20 * GiB, imagefs_error="403 forbidden")],
                 [breach("a", "max_percent", 90.0, 80.0)], cluster={"imagefs": {
                     "used_bytes": 45 * GiB, "capacity_bytes": 50 * GiB, "percent": 90.0, "nodes_measured": 1, "nodes_failed": 1}})
    dom = parse(render_audit_html(doc))
    assert "Image filesystem" in headers(dom, "nodes-table")
    rows = dict((r[0], r) for r in table_rows(dom, "nodes-table"))
    assert rows["a"][8] == "45.0 GiB / 50.0 GiB (90.0 %)"
    assert rows["b"][8] == "not read: 403 forbidden"
    percent = dict((b["label"], b["value"]) for b in bars(dom, "chart-percent"))
    assert percent == {"a": "90.0 % fs", "b": "20.0 %"}, "measured where it was, else bytes over ephemeral storage"
    cards = dict((c.find("dt").text(), c.find("dd").text()) for c in dom.find_all("div", cls="card"))
    assert cards["Image filesystems (measured)"].startswith("45.0 GiB90.0 % of 50.0 GiB on 1 node")


def test_without_imagefs_there_is_no_imagefs_column():
    dom = parse(render_audit_html(report([node("a", GiB)])))
    assert "Image filesystem" not in headers(dom, "nodes-table")
    assert "Image filesystems (measured)" not in dom.by_id("summary").text()


def test_charts_stay_at_the_top_n_while_the_table_holds_every_node():
    nodes = [node("worker-%03d" % i, (i + 1) * GiB, zone="zone-%d" % (i % 40)) for i in range(120)]
    dom = parse(render_audit_html(report(nodes)))
    assert len(bars(dom, "chart-nodes")) == CHART_ROWS
    assert bars(dom, "chart-nodes")[0]["label"] == "worker-119"
    assert len(bars(dom, "chart-zones")) == CHART_ROWS, "40 zones, the 30 largest drawn"
    assert "The top 30 of 120." in dom.by_id("chart-nodes").text()
    assert len(table_rows(dom, "nodes-table")) == 120


def test_given_heaviest_images_are_used_as_they_are():
    heaviest = [dict(image("a/huge", "1", 10 * GiB, ["n1"]), total_bytes=10 * GiB),
                dict(image("b/common", "1", GiB, ["n%d" % i for i in range(10)]), node_count=40, total_bytes=40 * GiB)]
    doc = report([node("n1", GiB)], cluster={"heaviest_images": heaviest}, format="nodewatch.k8s/audit-report", version=1)
    dom = parse(render_audit_html(doc))
    assert [b["label"] for b in bars(dom, "chart-images")] == ["b/common:1", "a/huge:1"]
    assert "does not rank every image" not in dom.by_id("chart-images").text()


# -- bad input --------------------------------------------------------------------------------------

@pytest.mark.parametrize("mutate, words", [
    (lambda r: r.update(nodes="all"), "nodes must be a list"),
    (lambda r: r["nodes"][1].update(total_bytes="30Gi"), "nodes[1].total_bytes must be a number, got '30Gi'"),
    (lambda r: r["nodes"][0].pop("name"), "nodes[0].name must be the node's name"),
    (lambda r: r["breaches"].append("worker-1"), "breaches[2] must be a mapping"),
    (lambda r: r["policy"]["thresholds"].update(max_total_bytes="40Gi"), "max_total_bytes must be a number"),
    (lambda r: r.update(format="nodewatch.k8s/fleet-report"),
     "is a fleet summary (format nodewatch.k8s/fleet-report), not one cluster's audit report"),
    (lambda r: r.update(version=2), "version 2 is newer than this collection reads (1)"),
    (lambda r: r["cluster"].update(imagefs=[1]), "cluster.imagefs must be a mapping"),
])
def test_a_malformed_report_is_named_not_a_traceback(mutate, words):
    doc = cluster_with_breaches()
    mutate(doc)
    with pytest.raises(ReportInputError) as caught:
        render_audit_html(doc)
    assert words in str(caught.value)
    assert str(caught.value).startswith("the audit report")


def test_something_else_than_a_report_is_refused_with_a_sentence():
    with pytest.raises(ReportInputError, match="the audit report must be a mapping .* got list"):
        render_audit_html([])
    with pytest.raises(ReportInputError, match="the fleet report: this document is one cluster's audit report"):
        render_fleet_html(dict(cluster_with_breaches(), format="nodewatch.k8s/audit-report"))


# -- the figures ------------------------------------------------------------------------------------

def test_group_totals_add_up_and_flag_lower_bounds():
    nodes = [{"name": "a", "zone": "z1", "total_bytes": 5, "truncated": False},
             {"name": "b", "zone": "z1", "total_bytes": 7, "truncated": True},
             {"name": "c", "zone": "z2", "total_bytes": 20, "truncated": False}]
    groups = group_totals(nodes, lambda n: n["zone"], breaching={"b"})
    assert groups == [
        {"name": "z2", "node_count": 1, "total_bytes": 20, "breaching_nodes": 0, "lower_bound": False},
        {"name": "z1", "node_count": 2, "total_bytes": 12, "breaching_nodes": 1, "lower_bound": True}]


def test_heaviest_images_from_the_listed_ones_rank_size_times_nodes():
    big = image("big", "1", 10 * GiB, ["n1"], 1)
    common = image("common", "1", 1 * GiB, ["n%d" % i for i in range(20)], 2)
    common["node_count"] = 20
    images, exact = heaviest_images({"largest_images": [big, common], "most_common_images": [common]})
    assert [(i["name"], i["total_bytes"]) for i in images] == [("common", 20 * GiB), ("big", 10 * GiB)]
    assert exact is False


@pytest.mark.parametrize("node_facts, limits, expected", [
    ({"capacity_bytes": 100}, {"max_total_bytes": 50}, (50, "max_total_bytes")),
    ({"capacity_bytes": 100}, {"max_percent": 80.0}, (80.0, "max_percent")),
    ({"capacity_bytes": 100}, {"max_total_bytes": 90, "max_percent": 80.0}, (80.0, "max_percent")),
    ({"capacity_bytes": 100}, {"max_total_bytes": 60, "max_percent": 80.0}, (60, "max_total_bytes")),
    ({"capacity_bytes": None}, {"max_percent": 80.0}, (None, None)),
    ({"capacity_bytes": 100, "imagefs": {"used_bytes": 1, "capacity_bytes": 2}}, {"max_percent": 80.0}, (None, None)),
    ({"capacity_bytes": 100}, {}, (None, None)),
])
def test_the_byte_limit_of_a_node(node_facts, limits, expected):
    assert node_byte_limit(node_facts, limits) == expected


def test_storage_percent_reads_the_filesystem_when_measured():
    assert storage_percent({"percent_of_capacity": 12.5}) == (12.5, "ephemeral-storage")
    assert storage_percent({"percent_of_capacity": 12.5, "imagefs": {"used_bytes": 3, "capacity_bytes": 4}}) == \
        (75.0, "imagefs")
    assert storage_percent({"percent_of_capacity": None}) == (None, None)


def test_capacity_is_worked_out_when_a_slim_report_leaves_it_out():
    slim = node("a", 40 * GiB, capacity=50 * GiB)
    del slim["capacity_bytes"]
    dom = parse(render_audit_html(report([slim], limits={"max_percent": 70.0})))
    drawn = bars(dom, "chart-nodes")[0]
    assert "limit 35.0 GiB (max_percent" in drawn["tip"]


# -- the fleet --------------------------------------------------------------------------------------

def fleet_of_three():
    ok = report([node("web-1", 20 * GiB), node("web-2", 5 * GiB)], images=[image("nginx", "1", 70 * MiB, ["web-1", "web-2"], 9)])
    return build_fleet_report([
        {"name": "prod-eu", "report": cluster_with_breaches(), "report_path": "prod-eu.html"},
        {"name": "prod-us", "report": ok, "report_path": "reports/prod us.html"},
        {"name": "staging", "report": None, "status": "unreachable", "report_path": None,
         "error": "cannot connect to https://127.0.0.1:1: connection refused; check the server address"},
    ], generated_at="2026-11-30T06:00:00Z")


def test_the_fleet_summary_counts_clusters_read_and_ranks_the_worst_nodes():
    fleet = fleet_of_three()
    assert fleet["format"] == "nodewatch.k8s/fleet-report" and fleet["version"] == 1 and fleet["ok"] is False
    assert [(c["name"], c["status"]) for c in fleet["clusters"]] == [("prod-eu", "breach"), ("prod-us", "ok"),
                                                                     ("staging", "unreachable")]
    assert fleet["totals"] == {"clusters": 3, "clusters_ok": 1, "clusters_breach": 1, "clusters_unreadable": 1,
                               "nodes": 6, "total_bytes": 154 * GiB, "breaches": 2, "breaching_nodes": 2}
    assert [(n["cluster"], n["name"], n["breaches"]) for n in fleet["worst_nodes"][:3]] == [
        ("prod-eu", "worker-1", ["max_percent"]), ("prod-eu", "worker-2", ["max_image_count"]),
        ("prod-us", "web-1", [])]
    assert [b["cluster"] for b in fleet["breaches"]] == ["prod-eu", "prod-eu"]
    cilium = next(i for i in fleet["heaviest_images"] if i["name"] == "quay.io/cilium/cilium")
    assert cilium["clusters"] == ["prod-eu"] and cilium["node_count"] == 4
    assert fleet["policy"]["thresholds"]["max_percent"] == 80.0


def test_the_fleet_page_names_the_cluster_it_could_not_read_and_keeps_the_others():
    dom = parse(render_fleet_html(fleet_of_three()))
    assert dom.find("h1").text() == "Image storage audit: fleet of 3 clusters"
    assert dom.find("p", cls="status").text() == "2 breaches on 2 nodes; 1 cluster not read"
    assert section_ids(dom) == ["summary", "charts", "unreadable", "breaches", "clusters", "worst", "policy"]
    assert table_rows(dom, "unreadable-table") == [
        ["staging", "unreachable", "cannot connect to https://127.0.0.1:1: connection refused; check the server address"]]
    chart = bars(dom, "chart-clusters")
    assert [(b["label"], b["width"] is not None) for b in chart] == [("prod-eu", True), ("prod-us", True), ("staging", False)]
    assert chart[2]["value"] == "unreachable: no data" and "unread" in chart[2]["css"]
    assert "breach" in chart[0]["css"]
    rows = table_rows(dom, "clusters-table")
    assert rows[2][:3] == ["staging", "unreachable: cannot connect to https://127.0.0.1:1: connection refused; check the "
                                      "server address", "\u2014"]
    links = dict((a.text(), a.attrs["href"]) for a in dom.by_id("clusters-table").find_all("a"))
    assert links == {"prod-eu": "prod-eu.html", "prod-us": "reports/prod%20us.html"}
    assert [r[:2] for r in table_rows(dom, "breaches-table")] == [["prod-eu", "worker-1"], ["prod-eu", "worker-2"]]
    assert len(bars(dom, "chart-worst")) == 6


@pytest.mark.parametrize("path", ["javascript:alert(1)//x.html", "https://evil.example/r.html", "//evil.example/r.html",
                                  "report.json"])
def test_a_report_path_becomes_a_link_only_to_a_local_html_file(path):
    fleet = build_fleet_report([{"name": "c", "report": report([node("a", GiB)]), "report_path": path}])
    dom = parse(render_fleet_html(fleet))
    assert dom.by_id("clusters-table").find_all("a") == []
    assert table_rows(dom, "clusters-table")[0][0] == "c"


@pytest.mark.parametrize("entries, words", [
    ([{"report": None}], "clusters[0]: needs a name"),
    ([{"name": "a", "report": None, "status": "ok", "error": "x"}], "clusters[0] (a): without a report, status must be"),
    ([{"name": "a", "report": None, "status": "unreachable"}], "without a report, error must say what failed"),
    ([{"name": "a", "report": None, "status": "error", "error": "x"}] * 2, "the name is used twice"),
    ([{"name": "a", "report": {"nodes": [{"name": "n", "total_bytes": "1"}]}}],
     "the audit report of cluster a: nodes[0].total_bytes must be a number"),
    ("prod", "the fleet's clusters must be a list"),
])
def test_fleet_entries_that_cannot_be_summed_up_are_named(entries, words):
    with pytest.raises(ReportInputError) as caught:
        build_fleet_report(entries)
    assert words in str(caught.value)


def test_a_fleet_of_healthy_clusters_is_ok():
    fleet = build_fleet_report([{"name": "a", "report": report([node("n", GiB)])}, {"name": "b", "report": report([])}])
    assert fleet["ok"] is True
    dom = parse(render_fleet_html(fleet))
    assert dom.find("p", cls="status").text() == "Every cluster read, every node within limits"
    assert "unreadable" not in section_ids(dom) and "breaches" not in section_ids(dom)
