"""Benchmark: the HTML audit report at fleet scale, against floors measured in the same run.

Not part of the test suite. Run:

    .venv/bin/python tests/benchmarks/bench_html_report.py [--nodes 5000] [--no-browser]

The report is the real one: a fake cluster of ``--nodes`` nodes with 50 images each
(tests/fakekube), read by the engine exactly as the audit playbook reads it (image facts plus the
drift check, with limits low enough that some nodes breach), then rendered.

Floors:
- rendering: ``json.dumps(report, indent=2)``, i.e. writing the JSON report of the same data;
- opening: Chromium opening the least page that lists every node (a bare two-column table of
  names and bytes, no style, charts or script), both timed from navigation to the load event;
- sorting: none; the time to sort the node table by one column is reported as it is.
"""
import argparse
import html
import json
import os
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "integration")]

# Links the checkout as a collection.
import conftest  # noqa: E402,F401  pylint: disable=unused-import
from fakekube import FakeKube, make_cluster  # noqa: E402

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import KubeClient  # noqa: E402
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.html import render_audit_html  # noqa: E402
from unit.plugins.module_utils.report.samples import engine_report  # noqa: E402


def best_of(runs, fn):
    times = []
    value = None
    for _run in range(runs):
        started = time.perf_counter()
        value = fn()
        times.append(time.perf_counter() - started)
    return min(times), value


def browser_times(page_path, floor_path, runs):
    from browser import Chromium

    def load_ms(page, path):
        page.open("file://" + path)
        return page.evaluate("(function(){var t=performance.getEntriesByType('navigation')[0];"
                             "return t.loadEventEnd - t.startTime;})()")

    with tempfile.TemporaryDirectory() as work, Chromium(work) as chromium:
        page = chromium.new_page(network=False)
        load_ms(page, floor_path)  # warm-up: the browser's own first-page costs
        floor = statistics.median([load_ms(page, floor_path) for _run in range(runs)])
        opened = statistics.median([load_ms(page, page_path) for _run in range(runs)])
        sort = page.evaluate("(function(){var th=document.querySelectorAll('#nodes-table th')[0];"
                             "var t=performance.now(); th.click(); var a=performance.now()-t;"
                             "t=performance.now(); document.querySelectorAll('#nodes-table th')[6].click();"
                             "return [a, performance.now()-t];})()")
        errors = page.console_errors()
    return floor, opened, sort, errors


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--no-browser", action="store_true")
    args = parser.parse_args()

    with FakeKube(tls=False) as kube:
        started = time.perf_counter()
        kube.add_nodes(make_cluster(args.nodes, seed=7))
        print("seeded %d nodes (50 images each at most) in %.1f s" % (args.nodes, time.perf_counter() - started))
        client = KubeClient.from_options({"host": kube.url, "api_key": kube.admin_token}, environ={})
        started = time.perf_counter()
        report = engine_report(client, {"max_percent": 60, "max_image_count": 49}, cluster_name="bench")
        print("read through the engine in %.1f s: %d nodes, %d breaches"
              % (time.perf_counter() - started, len(report["nodes"]), len(report["breaches"])))

    floor_s, as_json = best_of(args.runs, lambda: json.dumps(report, indent=2))
    render_s, page = best_of(args.runs, lambda: render_audit_html(report))
    print("render: floor (json.dumps of the report) %.3f s; render_audit_html %.3f s (x%.2f)"
          % (floor_s, render_s, render_s / floor_s))
    print("size: JSON report %.2f MiB; HTML page %.2f MiB (x%.2f); %d SVG bars, %d table rows"
          % (len(as_json) / 2.0 ** 20, len(page.encode()) / 2.0 ** 20, len(page.encode()) / float(len(as_json)),
             page.count('class="bar"'), page.count("<tr")))
    if args.no_browser:
        return
    with tempfile.TemporaryDirectory() as tmp:
        page_path = os.path.join(tmp, "report.html")
        floor_path = os.path.join(tmp, "floor.html")
        with open(page_path, "w") as handle:
            handle.write(page)
        with open(floor_path, "w") as handle:
            handle.write("<!DOCTYPE html><html><head><meta charset=\"utf-8\"><title>floor</title></head><body><table>%s"
                         "</table></body></html>" % "".join("<tr><td>%s</td><td>%d</td></tr>" % (html.escape(n["name"]), n["total_bytes"])
                                                            for n in report["nodes"]))
        floor_ms, open_ms, sort_ms, errors = browser_times(page_path, floor_path, args.runs)
    print("open in Chromium (navigation to load event, median of %d): floor (a bare table of every node) %.0f ms; "
          "HTML report %.0f ms (x%.2f)" % (args.runs, floor_ms, open_ms, open_ms / floor_ms))
    print("sort the %d-row node table: by name %.0f ms, by image bytes %.0f ms" % (len(report["nodes"]), sort_ms[0], sort_ms[1]))
    if errors:
        print("console errors: %s" % errors)


if __name__ == "__main__":
    main()
