# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The HTML audit report opened in a real headless Chromium, as a person would open the file.

The report is the engine's own, of a fake cluster with breaching nodes, a node reporting its
image filesystem and one image whose name is markup. One browser serves every test of a worker
(``chromium`` fixture); each page's console, exceptions and requests are checked, and the
screenshots are kept under tests/output/html-report/.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import re

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import KubeClient
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.fleet import build_fleet_report
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.html import render_audit_html, render_fleet_html
from browser import Chromium, find_chromium
from fakekube import FakeKube, make_cluster
from unit.plugins.module_utils.report.samples import engine_report

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUTPUT = os.path.join(ROOT, "tests", "output", "html-report")
EVIL = 'evil.example/<img src=x onerror="window.__pwned=1">'
BREACH_RED = "rgb(198, 40, 40)"


@pytest.fixture(scope="session")
def chromium(tmp_path_factory):
    if not find_chromium():
        pytest.skip("Chromium is not installed (Debian package: chromium)")
    browser = Chromium(str(tmp_path_factory.mktemp("chromium")))
    try:
        yield browser
    finally:
        browser.close()


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """The audit report of a 60-node fake cluster and a fleet page around it, written to files."""
    with FakeKube(tls=False) as kube:
        kube.add_nodes(make_cluster(60, seed=7))
        victim = kube.list("v1", "Node")[0]
        images = [{"names": [EVIL + "@sha256:" + "a" * 64, EVIL + ":<b>latest"], "sizeBytes": 90 * 2 ** 30}]
        kube.patch_status(victim["metadata"]["name"], {"images": images + victim["status"]["images"][:40]})
        client = KubeClient.from_options({"host": kube.url, "api_key": kube.admin_token}, environ={})
        report = engine_report(client, {"max_percent": 12, "max_total_bytes": "80Gi"}, imagefs=True,
                               cluster_name="prod-eu")
    os.makedirs(OUTPUT, exist_ok=True)
    out = tmp_path_factory.mktemp("pages")
    audit = out / "prod-eu.html"
    audit.write_text(render_audit_html(report), encoding="utf-8")
    fleet = build_fleet_report([
        {"name": "prod-eu", "report": report, "report_path": "prod-eu.html"},
        {"name": "staging", "report": None, "status": "unreachable",
         "error": "cannot connect to https://127.0.0.1:9: connection refused; check the kubeconfig's server address"},
    ], generated_at="2026-11-30T06:00:00Z")
    fleet_page = out / "fleet.html"
    fleet_page.write_text(render_fleet_html(fleet), encoding="utf-8")
    (out / "prod-eu.json").write_text(json.dumps(report), encoding="utf-8")
    return {"audit": str(audit), "fleet": str(fleet_page), "report": report, "victim": victim["metadata"]["name"]}


def opened(chromium, path):
    page = chromium.new_page()
    page.open("file://" + path)
    return page


def column(page, table_id, index, attribute=None):
    getter = "c.getAttribute(%s)" % json.dumps(attribute) if attribute else "c.textContent"
    return page.evaluate("Array.prototype.map.call(document.querySelectorAll('#%s tbody tr'), function (r) {"
                         "var c = r.cells[%d]; return %s; })" % (table_id, index, getter))


def test_a_person_sees_the_title_the_status_the_bars_and_the_breach_rows(chromium, pages):
    page = opened(chromium, pages["audit"])
    report = pages["report"]
    assert page.evaluate("document.title") == "Image storage audit: prod-eu"
    status = page.evaluate("document.querySelector('p.status').textContent")
    assert len(report["breaching_nodes"]) > 3, "the fixture is meant to breach on several nodes"
    assert status == "%d breaches on %d nodes" % (len(report["breaches"]), len(report["breaching_nodes"]))
    assert page.evaluate("Array.prototype.map.call(document.querySelectorAll('h2'), function (h) { return h.textContent; })") == [
        "Summary", "Charts", "Breaches", "Nodes", "Images", "Policy", "Notes"]
    # Bars are drawn and laid out, and breaching nodes are red on the screen.
    drawn = page.evaluate("Array.prototype.map.call(document.querySelectorAll('#chart-nodes rect.bar'), function (r) {"
                          "var b = r.getBoundingClientRect(); return [b.width, b.height,"
                          "getComputedStyle(r).fill, r.parentNode.querySelector('text.label').textContent]; })")
    assert len(drawn) == 30
    assert all(width > 0 and height > 10 for width, height, _fill, _name in drawn)
    red = set(name for _w, _h, fill, name in drawn if fill == BREACH_RED)
    largest = sorted(report["nodes"], key=lambda n: -n["total_bytes"])[:30]
    assert red == set(n["name"] for n in largest if n["name"] in report["breaching_nodes"]) and red
    assert page.evaluate("document.querySelectorAll('#chart-zones rect.bar').length") == 3
    assert page.evaluate("document.querySelectorAll('#chart-percent rect.bar').length") == 30
    assert page.evaluate("document.querySelectorAll('#chart-images rect.bar').length") > 0
    # Every breach is a row of the Breaches table, highlighted.
    rows = page.evaluate("Array.prototype.map.call(document.querySelectorAll('#breaches-table tbody tr'), function (r) {"
                         "return [r.cells[0].textContent, r.cells[1].textContent,"
                         "getComputedStyle(r.cells[0]).backgroundColor]; })")
    assert [(node, rule) for node, rule, _bg in rows] == [(b["node"], b["rule"]) for b in report["breaches"]]
    assert set(bg for _n, _r, bg in rows) == {"rgb(253, 240, 240)"}
    assert page.evaluate("document.querySelectorAll('#nodes-table tbody tr').length") == 60
    assert page.console_errors() == []
    assert page.requests_made() == ["file://" + pages["audit"]], "nothing but the file itself is loaded"
    page.screenshot(os.path.join(OUTPUT, "audit-report.png"))
    page.screenshot(os.path.join(OUTPUT, "audit-report-top.png"), max_height=1500)  # what the docs show
    page.screenshot(os.path.join(OUTPUT, "audit-report-charts.png"), "#charts")


def test_clicking_a_header_sorts_the_table_and_clicking_again_reverses_it(chromium, pages):
    page = opened(chromium, pages["audit"])
    sizes = [int(v) for v in column(page, "nodes-table", 6, "data-v")]
    assert sizes == sorted(sizes, reverse=True), "largest first when the page opens"
    page.click("#nodes-table th:nth-child(1)")
    names = column(page, "nodes-table", 0)
    assert names != [n["name"] for n in sorted(pages["report"]["nodes"], key=lambda n: -n["total_bytes"])]
    natural = sorted(names, key=lambda n: [int(p) if p.isdigit() else p for p in re.split(r"(\d+)", n)])
    assert names == natural, "names sort as people read them: worker-a-2 before worker-a-10"
    assert page.evaluate("document.querySelector('#nodes-table th').getAttribute('aria-sort')") == "ascending"
    page.click("#nodes-table th:nth-child(1)")
    assert column(page, "nodes-table", 0) == list(reversed(natural))
    page.click("#nodes-table th:nth-child(7)")
    assert [int(v) for v in column(page, "nodes-table", 6, "data-v")] == sorted(sizes, reverse=True), \
        "numbers sort largest first on the first click"
    page.click("#nodes-table th:nth-child(7)")
    assert [int(v) for v in column(page, "nodes-table", 6, "data-v")] == sorted(sizes), "then smallest first"
    # Rows move whole: a node keeps its own bytes whatever the order.
    pairs = dict(zip(column(page, "nodes-table", 0), column(page, "nodes-table", 6, "data-v")))
    assert all(int(pairs[n["name"]]) == n["total_bytes"] for n in pages["report"]["nodes"])
    page.click("#breaches-table th:nth-child(4)")
    observed = [float(v) for v in column(page, "breaches-table", 3, "data-v")]
    assert observed == sorted(observed, reverse=True), "numbers sort largest first on the first click"
    assert page.console_errors() == []


def test_a_markup_image_name_is_shown_as_text_and_runs_nothing(chromium, pages):
    page = opened(chromium, pages["audit"])
    assert page.evaluate("typeof window.__pwned") == "undefined"
    assert page.evaluate("document.querySelectorAll('[onerror], img, iframe').length") == 0
    shown = page.evaluate("document.getElementById('largest-images').textContent")
    assert EVIL + ":<b>latest" in shown
    assert page.console_errors() == []


def test_the_fleet_page_shows_the_unreachable_cluster_and_the_one_read(chromium, pages):
    page = opened(chromium, pages["fleet"])
    assert page.evaluate("document.title") == "Image storage audit: fleet of 2 clusters"
    assert "1 cluster not read" in page.evaluate("document.querySelector('p.status').textContent")
    labels = page.evaluate("Array.prototype.map.call(document.querySelectorAll('#chart-clusters g.row'), function (g) {"
                           "return [g.querySelector('text.label').textContent, !!g.querySelector('rect.bar'),"
                           "g.querySelector('text.value').textContent]; })")
    assert labels[0][:2] == ["prod-eu", True]
    assert labels[1] == ["staging", False, "unreachable: no data"]
    assert column(page, "unreadable-table", 0) == ["staging"]
    assert page.evaluate("document.querySelector('#clusters-table a').getAttribute('href')") == "prod-eu.html"
    # The link opens the cluster's own report next to it.
    page.click("#clusters-table a")
    page.wait_event("Page.loadEventFired")
    assert page.evaluate("document.title") == "Image storage audit: prod-eu"
    assert page.console_errors() == []
    page.open("file://" + pages["fleet"])
    page.screenshot(os.path.join(OUTPUT, "fleet-report.png"))
