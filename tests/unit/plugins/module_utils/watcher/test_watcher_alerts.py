# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Alert decisions: when a change, a crossing, a clearing, an addition or a removal alerts."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import itertools

import pytest
from hypothesis import given, settings as hsettings, strategies as st

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.rules import Policy, evaluate
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import node_image_facts
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher import alerts
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.alerts import (
    AlertSettings,
    decide,
    decide_removed,
    image_label,
    node_record,
    significant_change,
)

GI = 1024 ** 3


def rec(total, count=10, top=(), percent=None, truncated=False):
    return {"total_bytes": total, "image_count": count, "percent": percent, "truncated": truncated,
            "top": list(top)}


def ids():
    counter = itertools.count()
    return lambda *_: "id%d" % next(counter)


def breach(node, rule, observed=2 * GI, limit=GI):
    return {"node": node, "rule": rule, "rule_set": "default", "observed": observed, "limit": limit,
            "message": "node %s: %s over" % (node, rule), "lower_bound": False}


@pytest.mark.parametrize("before, after, min_bytes, min_percent, expected", [
    (10 * GI, 10 * GI, 0, 0, False),          # no change is never a change
    (10 * GI, 10 * GI + 1, 0, 0, True),       # zero minimums: any change
    (10 * GI, 11 * GI - 1, GI, 0, False),     # just under the byte minimum
    (10 * GI, 11 * GI, GI, 0, True),          # exactly the minimum counts
    (10 * GI, 9 * GI, GI, 0, True),           # shrinking counts too
    (10 * GI, 11 * GI, GI, 20, False),        # 10 %: bytes enough, percent not
    (10 * GI, 12 * GI, GI, 20, True),         # both reached
    (0, 2 * GI, GI, 50, True),                # from nothing, any percent
])
def test_significant_change_needs_both_minimums(before, after, min_bytes, min_percent, expected):
    settings = AlertSettings(min_bytes, min_percent)
    assert significant_change(rec(before), rec(after), settings) is expected


def test_first_pass_without_state_is_silent_but_thresholds_alert():
    settings = AlertSettings(GI)
    decision = decide("n1", None, rec(5 * GI), None, [breach("n1", "max_total_bytes")], settings,
                      announce_new=False, new_id=ids())
    assert [a["kind"] for a in decision.alerts] == ["threshold_crossed"]
    assert decision.record == rec(5 * GI)
    assert set(decision.open) == {"max_total_bytes"}


def test_a_new_node_is_announced_once_known_state_exists():
    decision = decide("n2", None, rec(5 * GI, count=7, percent=12.5), None, [], AlertSettings(GI),
                      announce_new=True)
    (alert,) = decision.alerts
    assert alert["kind"] == "node_added" and alert["node"] == "n2"
    assert "7 images use 5.0 GiB (12.5% of ephemeral storage)" in alert["message"]


def test_change_compares_with_the_last_alerted_record_so_small_steps_add_up():
    settings = AlertSettings(GI)
    record = rec(10 * GI)
    alerted = []
    for step in range(1, 6):  # five steps of 300 MiB: the fourth passes 1 GiB in total
        decision = decide("n1", record, rec(10 * GI + step * 300 * 1024 ** 2), {}, [], settings)
        alerted.append(bool(decision.alerts))
        record = decision.record
    assert alerted == [False, False, False, True, False]


def test_change_alert_content():
    before = rec(10 * GI, count=3, top=["a:1@sha256:aaaa", "b:1"])
    after = rec(12 * GI, count=4, top=["c:2@sha256:cccc", "a:1@sha256:aaaa"], percent=40.0)
    (alert,) = decide("n1", before, after, {}, [], AlertSettings(GI), new_id=ids(), now=0).alerts
    assert alert["kind"] == "image_storage_changed"
    assert alert["reason"] == "ImageStorageChanged"
    assert alert["delta_bytes"] == 2 * GI and alert["delta_percent"] == 20.0
    assert alert["images_added"] == ["c:2@sha256:cccc"] and alert["images_removed"] == ["b:1"]
    assert alert["message"] == ("node n1: image storage grew from 10.0 GiB to 12.0 GiB (+2.0 GiB, +20.0%) "
                                "(40.0% of ephemeral storage); new among the largest: c:2@sha256:cccc; "
                                "no longer among the largest: b:1")
    assert alert["time"] == "1970-01-01T00:00:00.000000Z" and alert["id"] == "id0"


def test_shrink_and_truncated_wording():
    (alert,) = decide("n1", rec(10 * GI), rec(8 * GI, truncated=True), {}, [], AlertSettings(GI)).alerts
    assert "shrank from 10.0 GiB to at least 8.0 GiB (-2.0 GiB, -20.0%)" in alert["message"]


def test_crossing_alerts_once_and_clearing_once():
    settings = AlertSettings(GI)
    first = decide("n1", rec(GI), rec(GI), {}, [breach("n1", "max_percent")], settings)
    assert [a["kind"] for a in first.alerts] == ["threshold_crossed"]
    assert first.alerts[0]["severity"] == "warning"
    again = decide("n1", first.record, rec(GI), first.open, [breach("n1", "max_percent")], settings)
    assert again.alerts == [] and again.open == first.open
    cleared = decide("n1", again.record, rec(GI), again.open, [], settings)
    assert [a["kind"] for a in cleared.alerts] == ["threshold_cleared"]
    assert cleared.alerts[0]["severity"] == "resolved" and cleared.open == {}
    assert "back within limits [rule max_percent, rule set default]" in cleared.alerts[0]["message"]


def test_several_deny_hits_are_one_alert():
    decision = decide("n1", rec(GI), rec(GI), {}, [breach("n1", "deny"), breach("n1", "deny")], AlertSettings())
    assert len(decision.alerts) == 1


def test_disabled_kinds_keep_the_bookkeeping_but_send_nothing():
    settings = AlertSettings(GI, kinds=["threshold_cleared"])
    decision = decide("n1", rec(GI), rec(5 * GI), {}, [breach("n1", "max_total_bytes")], settings)
    assert decision.alerts == []
    assert decision.record == rec(5 * GI) and "max_total_bytes" in decision.open


def test_removed_node_resolves_its_breaches_then_says_so():
    settings = AlertSettings()
    open_breaches = {"max_total_bytes": {"rule_set": "default", "since": "t0", "message": "m"}}
    decision = decide_removed("n1", rec(3 * GI, count=5), open_breaches, settings)
    assert [a["kind"] for a in decision.alerts] == ["threshold_cleared", "node_removed"]
    assert "resolved because the node was removed" in decision.alerts[0]["message"]
    assert "5 images using 3.0 GiB" in decision.alerts[1]["message"]
    assert decision.record is None and decision.open == {}
    assert decide_removed("ghost", None, None, settings).alerts == []


def test_image_label_and_record_from_real_facts():
    node = {"metadata": {"name": "n1"}, "status": {
        "capacity": {"ephemeral-storage": "100Gi"},
        "images": [{"names": ["docker.io/library/nginx@sha256:" + "a" * 64, "docker.io/library/nginx:1.25"],
                    "sizeBytes": 3 * GI},
                   {"names": ["registry.k8s.io/pause:3.9"], "sizeBytes": 700000}]}}
    facts = node_image_facts(node, top=10)
    record = node_record(facts, top_images=1)
    assert record == {"total_bytes": 3 * GI + 700000, "image_count": 2, "percent": 3.0,
                      "truncated": False, "top": ["docker.io/library/nginx:1.25@sha256:aaaaaaaaaaaa"]}
    assert image_label({"name": "x", "tags": [], "digest": None}) == "x"


def test_decisions_follow_drift_evaluate_results():
    """The thresholds are drift's: the decision only turns its breaches into transitions."""
    policy = Policy.from_dict({"thresholds": {"max_total_bytes": "2Gi"}})
    node = {"metadata": {"name": "n1"}, "status": {"images": [{"names": ["a:1"], "sizeBytes": 3 * GI}]}}
    facts = node_image_facts(node)
    result = evaluate(facts, {}, policy)
    decision = decide("n1", None, node_record(facts), {}, result.breaches, AlertSettings(), announce_new=False)
    (alert,) = decision.alerts
    assert alert["rule"] == "max_total_bytes" and alert["limit"] == 2 * GI
    assert alert["message"] == result.breaches[0]["message"]


def test_alert_text_is_one_line_with_severity():
    alert = alerts.make_alert("threshold_crossed", "n1", "node n1: too big")
    assert alerts.alert_text(alert) == "[nodewatch-watcher] WARNING node n1: too big"


@hsettings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 20 * GI), st.booleans()), min_size=1, max_size=30))
def test_every_crossing_has_exactly_one_open_and_one_clear(steps):
    """Over any sequence of observations: crossed/cleared alternate, starting with crossed."""
    settings = AlertSettings(GI)
    record, open_breaches, kinds = None, {}, []
    for total, over in steps:
        breaches = [breach("n1", "max_total_bytes")] if over else []
        decision = decide("n1", record, rec(total), open_breaches, breaches, settings, announce_new=False)
        record, open_breaches = decision.record, decision.open
        kinds.extend(a["kind"] for a in decision.alerts if a["kind"].startswith("threshold"))
    for i, kind in enumerate(kinds):
        assert kind == ("threshold_crossed" if i % 2 == 0 else "threshold_cleared")
    assert bool(open_breaches) == steps[-1][1]
