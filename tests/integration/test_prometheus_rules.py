# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The watcher's Prometheus rules, checked by Prometheus' own promtool (Debian package prometheus).

* The shipped rules file is the role's template rendered with the role's defaults (one source).
* ``promtool check rules`` accepts it, and accepts what the role renders with other limits.
* ``promtool test rules`` proves every alert and every recording rule on synthetic series
  (tests/integration/prometheus/*_test.yml): each alert fires when it should and not when it
  should not; and the same tests fail against rules rendered with another limit, so they test.
* ``promtool check metrics`` accepts what a running watcher daemon serves on /metrics.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import os
import re
import shutil
import subprocess

import pytest
import yaml

from fakekube import FakeKube
from prometheus.render import EXTRAS, render, role_default_max_percent
from test_role_watcher import APPLY, deploy, prometheus_operator_crds  # noqa: F401  pylint: disable=unused-import
from test_watcher import GI, Daemon, make_node

pytestmark = pytest.mark.integration

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = sorted(glob.glob(os.path.join(HERE, "prometheus", "*_test.yml")))
PROMTOOL = shutil.which("promtool")


@pytest.fixture(scope="module")
def promtool():
    if not PROMTOOL:
        pytest.skip("promtool is not installed (Debian package: prometheus)")
    return PROMTOOL


def run(*args, stdin=None, cwd=None):
    done = subprocess.run(list(args), input=stdin, capture_output=True, cwd=cwd, timeout=120, check=False)
    return done.returncode, done.stdout.decode() + done.stderr.decode()


def load(path):
    with open(path) as handle:
        return yaml.safe_load(handle)


# The alerts read what the recording group writes at the same instant; promtool runs groups in no
# fixed order unless told (the test files say the same).
GROUP_EVAL_ORDER = ["nodewatch-recording", "nodewatch-nodes", "nodewatch-watcher", "nodewatch-drift-check"]


def rules_of(doc):
    return [rule for group in doc["groups"] for rule in group["rules"]]


def with_rules(test_file, rules_path, tmp_path):
    """A copy of a promtool test file that reads ``rules_path`` instead of the shipped rules."""
    doc = load(test_file)
    doc["rule_files"] = [str(rules_path)]
    copy = tmp_path / os.path.basename(test_file)
    copy.write_text(yaml.safe_dump(doc, sort_keys=False))
    return copy


# -- one source ------------------------------------------------------------------------------------

def test_the_shipped_rules_are_the_role_template_rendered_with_the_role_defaults():
    with open(EXTRAS) as handle:
        shipped = handle.read()
    assert shipped == render(), "extras/prometheus/nodewatch-rules.yml is stale: python tests/integration/prometheus/render.py --write"
    assert role_default_max_percent() == 80
    limit_alert = next(r for r in rules_of(load(EXTRAS)) if r.get("alert") == "NodewatchNodeImageStorageLimitSoon")
    assert ">= 80" in limit_alert["expr"] and "12 * 3600" in limit_alert["expr"]


def test_without_a_percent_limit_the_limit_rules_are_left_out_and_the_rest_stays():
    doc = yaml.safe_load(render(max_percent=None))
    names = [r.get("alert") or r.get("record") for r in rules_of(doc)]
    assert "NodewatchNodeImageStorageLimitSoon" not in names
    assert "node:nodewatch_node_image_storage_percent:hours_to_limit" not in names
    assert len(names) == len(rules_of(load(EXTRAS))) - 2


# -- promtool check rules ----------------------------------------------------------------------------

def test_promtool_accepts_the_shipped_rules(promtool):
    rc, out = run(promtool, "check", "rules", EXTRAS)
    assert rc == 0, out
    assert "SUCCESS: %d rules found" % len(rules_of(load(EXTRAS))) in out


def test_promtool_accepts_the_rules_the_role_renders_with_its_own_limit_and_they_use_it(
        promtool, fake_kube, kubeconfig, tmp_path, prometheus_operator_crds):  # noqa: F811
    preview = deploy(tmp_path, kubeconfig, check=True, diff=True,
                     watcher_thresholds={"max_percent": "65%", "max_growth_bytes": "5Gi"})
    assert preview.rc == 0, preview
    sent = [d["after"] for d in preview.result(APPLY)["diff"]]
    rule = next(o for o in sent if o["kind"] == "PrometheusRule")
    rendered = tmp_path / "role-rules.yml"
    rendered.write_text(yaml.safe_dump({"groups": rule["spec"]["groups"]}, sort_keys=False))
    rc, out = run(promtool, "check", "rules", str(rendered))
    assert rc == 0, out
    # The role renders the very template the shipped file comes from, with its limit.
    assert rule["spec"]["groups"] == yaml.safe_load(render(max_percent="65%"))["groups"]
    assert rule["spec"]["groups"] != load(EXTRAS)["groups"]

    # A node at 50 % growing 1.875 points an hour: 65 % is 8 hours away, within the 12 the alert
    # looks ahead (80 % is 16 hours away: the shipped rules stay quiet).
    case = {"rule_files": [str(rendered)], "evaluation_interval": "1m", "group_eval_order": GROUP_EVAL_ORDER, "tests": [{
        "interval": "1m",
        "input_series": [{"series": 'nodewatch_node_image_storage_percent{node="w"}', "values": "50+0.03125x120"}],
        "alert_rule_test": [{"eval_time": "1h", "alertname": "NodewatchNodeImageStorageLimitSoon", "exp_alerts": [{
            "exp_labels": {"node": "w", "severity": "warning"},
            "exp_annotations": {
                "summary": "Image storage on w will reach its limit of 65 % within 12 hours",
                "description": "At the growth of the last 6 hours, the images on w (now 51.9 % of its storage) cross "
                               "the max_percent limit of 65 % within 12 hours; node:nodewatch_node_image_storage_percent:"
                               "hours_to_limit says when. Find what grows with the nodewatch.k8s.node_images_info module, "
                               "and prune unused images before the drift check fails."}}]}],
        "promql_expr_test": [{"expr": "node:nodewatch_node_image_storage_percent:hours_to_limit", "eval_time": "2h",
                              "exp_samples": [{"labels": 'node:nodewatch_node_image_storage_percent:hours_to_limit{node="w"}',
                                               "value": 6}]}],
    }]}
    test_file = tmp_path / "role_limit_test.yml"
    test_file.write_text(yaml.safe_dump(case, sort_keys=False))
    rc, out = run(promtool, "test", "rules", str(test_file))
    assert rc == 0, out
    case["rule_files"] = [EXTRAS]
    test_file.write_text(yaml.safe_dump(case, sort_keys=False))
    rc, out = run(promtool, "test", "rules", str(test_file))
    assert rc != 0 and "NodewatchNodeImageStorageLimitSoon" in out, out


# -- promtool test rules -------------------------------------------------------------------------------

def test_promtool_proves_every_rule_on_synthetic_series(promtool):
    assert [os.path.basename(t) for t in TESTS] == ["nodes_test.yml", "recording_test.yml", "watcher_test.yml"]
    rc, out = run(promtool, "test", "rules", *TESTS)
    assert rc == 0, out
    assert out.count("SUCCESS") == len(TESTS), out


def test_every_alert_is_tested_firing_and_quiet_and_every_recording_rule_is_tested():
    rules = rules_of(load(EXTRAS))
    alerts = set(r["alert"] for r in rules if "alert" in r)
    records = set(r["record"] for r in rules if "record" in r)
    firing, quiet, exprs = set(), set(), []
    for path in TESTS:
        for case in load(path)["tests"]:
            for check in case.get("alert_rule_test", ()):
                (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
            exprs += [check["expr"] for check in case.get("promql_expr_test", ())]
    assert alerts - firing == set(), "alerts never shown firing"
    assert alerts - quiet == set(), "alerts never shown quiet when they should be"
    tested = set(name for name in records if any(re.search(r"(^|[^\w:])%s([^\w:]|$)" % re.escape(name), e) for e in exprs))
    assert records - tested == set(), "recording rules without a test"


def test_the_tests_fail_against_rules_with_another_limit(promtool, tmp_path):
    """They would pass against anything if they tested nothing: a limit of 90 % must fail them."""
    other = tmp_path / "rules-90.yml"
    other.write_text(render(max_percent=90))
    copies = [str(with_rules(path, other, tmp_path)) for path in TESTS]
    rc, out = run(promtool, "test", "rules", *copies)
    assert rc != 0
    assert "NodewatchNodeImageStorageLimitSoon" in out and "hours_to_limit" in out, out


# -- promtool check metrics -----------------------------------------------------------------------------

def test_promtool_accepts_the_metrics_a_running_watcher_serves(promtool, tmp_path):
    kube = FakeKube(tls=True, bookmark_interval=0.5).start()
    try:
        kube.add_nodes([make_node("node-a", [2 * GI, GI]), make_node("node-b", [GI])])
        daemon = Daemon(tmp_path, kube, config={"thresholds": {"max_total_bytes": "2Gi"},
                                                "sinks": {"webhook": {"url": "http://127.0.0.1:9/hook"}}})
        try:
            daemon.wait_ready()
            daemon.wait_alerts(1)
            status, text = daemon.get("/metrics")
        finally:
            daemon.stop()
    finally:
        kube.stop()
    assert status == 200
    # The scrape has every family the daemon serves: per node (one breaching), per sink, the daemon's own.
    assert "nodewatch_node_threshold_breaches{" in text and 'sink="webhook"' in text
    rc, out = run(promtool, "check", "metrics", stdin=text.encode())
    assert (rc, out.strip()) == (0, ""), out
