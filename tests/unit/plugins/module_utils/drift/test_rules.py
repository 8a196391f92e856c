# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift import rules as drift
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.rules import (
    DriftConfigError,
    Policy,
    RuleSet,
    Thresholds,
    breach_transitions,
    evaluate,
    evaluate_cluster,
    summary_text,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import KubeError

GiB = 1 << 30
CAPTURED = "2026-11-18T10:00:00Z"


def facts(name="worker-1", total=1000, count=None, images=None, capacity=None, percent=None,
          truncated=False, imagefs=None):
    if images is None:
        images = [{"key": "example.com/app@sha256:%064x" % i, "size_bytes": 1} for i in range(count or 0)]
    result = {
        "name": name,
        "image_count": len(images) if count is None else count,
        "total_bytes": total,
        "capacity_bytes": capacity,
        "percent_of_capacity": percent,
        "truncated": truncated,
        "images": images,
    }
    if imagefs is not None:
        result["imagefs"] = imagefs
    return result


def base_node(total=1000, images=None, truncated=False):
    entry = {"total_bytes": total, "image_count": len(images or {}), "images": dict(images or {}),
             "captured_at": CAPTURED}
    if truncated:
        entry["truncated"] = True
    return entry


def rules(result):
    return [b["rule"] for b in result.breaches]


# ----------------------------------------------------------------------------------------------
# Boundaries: equal to the limit is fine, strictly greater is a breach
# ----------------------------------------------------------------------------------------------

BOUNDARY_CASES = [
    # (id, thresholds, facts kwargs, baseline node or None, rule, breach expected)
    ("total below", {"max_total_bytes": 1000}, {"total": 999}, None, "max_total_bytes", False),
    ("total equal", {"max_total_bytes": 1000}, {"total": 1000}, None, "max_total_bytes", False),
    ("total above", {"max_total_bytes": 1000}, {"total": 1001}, None, "max_total_bytes", True),
    ("total limit 0, 0 used", {"max_total_bytes": 0}, {"total": 0}, None, "max_total_bytes", False),
    ("total limit 0, 1 used", {"max_total_bytes": 0}, {"total": 1}, None, "max_total_bytes", True),
    ("total 5Gi equal", {"max_total_bytes": "5Gi"}, {"total": 5 * GiB}, None, "max_total_bytes", False),
    ("total 5GiB above", {"max_total_bytes": "5GiB"}, {"total": 5 * GiB + 1}, None, "max_total_bytes", True),
    ("percent below", {"max_percent": 80}, {"percent": 79.99}, None, "max_percent", False),
    ("percent equal", {"max_percent": "80%"}, {"percent": 80.0}, None, "max_percent", False),
    ("percent above", {"max_percent": "80%"}, {"percent": 80.01}, None, "max_percent", True),
    ("percent from capacity equal", {"max_percent": 50}, {"total": 500, "capacity": 1000}, None,
     "max_percent", False),
    ("percent from capacity above", {"max_percent": 50}, {"total": 501, "capacity": 1000}, None,
     "max_percent", True),
    ("imagefs equal wins over ephemeral", {"max_percent": 80},
     {"percent": 99.0, "imagefs": {"capacity_bytes": 100, "used_bytes": 80, "percent": 80.0}}, None,
     "max_percent", False),
    ("imagefs above", {"max_percent": 80},
     {"percent": 10.0, "imagefs": {"capacity_bytes": 10000, "used_bytes": 8001, "percent": 80.01}}, None,
     "max_percent", True),
    ("imagefs from used/capacity equal", {"max_percent": 80},
     {"imagefs": {"capacity_bytes": 1000, "used_bytes": 800, "percent": None}}, None, "max_percent", False),
    ("imagefs from used/capacity above", {"max_percent": 80},
     {"imagefs": {"capacity_bytes": 1000, "used_bytes": 801}}, None, "max_percent", True),
    ("count below", {"max_image_count": 3}, {"count": 2}, None, "max_image_count", False),
    ("count equal", {"max_image_count": 3}, {"count": 3}, None, "max_image_count", False),
    ("count above", {"max_image_count": 3}, {"count": 4}, None, "max_image_count", True),
    ("growth below", {"max_growth_bytes": 500}, {"total": 1499}, base_node(1000), "max_growth_bytes", False),
    ("growth equal", {"max_growth_bytes": 500}, {"total": 1500}, base_node(1000), "max_growth_bytes", False),
    ("growth above", {"max_growth_bytes": 500}, {"total": 1501}, base_node(1000), "max_growth_bytes", True),
    ("shrink never breaches", {"max_growth_bytes": 0}, {"total": 10}, base_node(1000), "max_growth_bytes", False),
    ("growth pct below", {"max_growth_percent": 50}, {"total": 1499}, base_node(1000), "max_growth_percent", False),
    ("growth pct equal", {"max_growth_percent": 50}, {"total": 1500}, base_node(1000), "max_growth_percent", False),
    ("growth pct above", {"max_growth_percent": 50}, {"total": 1501}, base_node(1000), "max_growth_percent", True),
    ("growth pct 0 limit, no growth", {"max_growth_percent": 0}, {"total": 1000}, base_node(1000),
     "max_growth_percent", False),
    ("growth pct 0 limit, 1 byte", {"max_growth_percent": 0}, {"total": 1001}, base_node(1000),
     "max_growth_percent", True),
]


@pytest.mark.parametrize("thresholds,kwargs,base,rule,expected",
                         [c[1:] for c in BOUNDARY_CASES], ids=[c[0] for c in BOUNDARY_CASES])
def test_boundaries(thresholds, kwargs, base, rule, expected):
    result = evaluate(facts(**kwargs), {}, {"thresholds": thresholds}, base)
    assert (rule in rules(result)) is expected
    assert result.ok is (not expected)
    if expected:
        breach = result.breaches[0]
        assert breach["observed"] > breach["limit"]
        assert set(breach) >= {"node", "rule", "rule_set", "observed", "limit", "observed_human",
                               "limit_human", "message", "lower_bound"}


def test_no_limits_no_breaches():
    result = evaluate(facts(total=10 ** 15, count=9999, percent=100.0), {}, Policy(), base_node(0))
    assert result.ok and result.breaches == []


# ----------------------------------------------------------------------------------------------
# Messages
# ----------------------------------------------------------------------------------------------

def test_message_percent_ephemeral():
    result = evaluate(facts(name="worker-3", percent=87.2), {}, {"thresholds": {"max_percent": "80%"}})
    breach, = result.breaches
    assert breach["message"] == ("node worker-3: images use 87.2% of ephemeral-storage capacity (limit 80%) "
                                 "[rule max_percent, rule set default]")
    assert (breach["observed_human"], breach["limit_human"]) == ("87.2%", "80%")
    assert breach["lower_bound"] is False


def test_message_percent_imagefs_says_which():
    result = evaluate(facts(name="worker-3", percent=10.0,
                            imagefs={"capacity_bytes": 1000, "used_bytes": 900, "percent": 90.0}),
                      {}, {"thresholds": {"max_percent": 85.5}})
    assert result.breaches[0]["message"] == ("node worker-3: images use 90.0% of the image filesystem "
                                             "(limit 85.5%) [rule max_percent, rule set default]")
    assert result.percent_source == "imagefs"


def test_percent_is_computed_from_bytes_not_the_rounded_percentage():
    # 80.004% is reported rounded as 80.0, but it is over an 80% limit
    result = evaluate(facts(total=80004, capacity=100000, percent=80.0), {}, {"thresholds": {"max_percent": 80}})
    assert rules(result) == ["max_percent"] and result.breaches[0]["observed_human"] == "80.004%"


def test_message_percent_close_to_limit_gets_more_decimals():
    result = evaluate(facts(percent=80.04), {}, {"thresholds": {"max_percent": 80}})
    assert result.breaches[0]["observed_human"] == "80.04%"


def test_message_growth():
    result = evaluate(facts(name="worker-3", total=int(16.1 * GiB)), {}, {"thresholds": {"max_growth_bytes": "5Gi"}},
                      base_node(10 * GiB))
    assert result.breaches[0]["message"] == (
        "node worker-3: image storage grew by 6.1 GiB since the baseline of 2026-11-18T10:00:00Z (limit 5.0 GiB) "
        "[rule max_growth_bytes, rule set default]")
    assert result.growth_bytes == int(16.1 * GiB) - 10 * GiB


def test_message_growth_percent():
    result = evaluate(facts(name="w", total=15 * GiB), {}, {"thresholds": {"max_growth_percent": 25}},
                      base_node(10 * GiB))
    assert result.breaches[0]["message"] == (
        "node w: image storage grew by 50.0% since the baseline of 2026-11-18T10:00:00Z, from 10.0 GiB to "
        "15.0 GiB (limit 25%) [rule max_growth_percent, rule set default]")


def test_message_bytes_equal_when_rounded_show_exact_bytes():
    result = evaluate(facts(total=5 * GiB + 1), {}, {"thresholds": {"max_total_bytes": "5GiB"}})
    breach = result.breaches[0]
    assert breach["observed_human"] == "5.0 GiB (5368709121 bytes)"
    assert breach["limit_human"] == "5.0 GiB (5368709120 bytes)"


def test_message_total_and_count():
    result = evaluate(facts(name="n", total=3 * GiB, count=12), {},
                      {"thresholds": {"max_total_bytes": "2GiB", "max_image_count": 10}})
    assert [b["message"] for b in result.breaches] == [
        "node n: images occupy 3.0 GiB (limit 2.0 GiB) [rule max_total_bytes, rule set default]",
        "node n: 12 images are present (limit 10) [rule max_image_count, rule set default]",
    ]


# ----------------------------------------------------------------------------------------------
# Deny list and new images
# ----------------------------------------------------------------------------------------------

DENY_CASES = [
    # (id, image, patterns, expected matched name or None)
    ("tag matches", {"key": "docker.io/library/foo@sha256:aa", "tags": ["docker.io/library/foo:1"]},
     ["docker.io/library/*"], "docker.io/library/foo:1"),
    ("key matches without tags", {"key": "docker.io/library/foo:1"}, ["docker.io/library/*"], "docker.io/library/foo:1"),
    ("repo of a digest key", {"key": "quay.io/x/y@sha256:bb"}, ["quay.io/x/y"], "quay.io/x/y"),
    ("digest pattern", {"key": "quay.io/x/y@sha256:bb"}, ["*@sha256:bb"], "quay.io/x/y@sha256:bb"),
    ("no match", {"key": "quay.io/x/y@sha256:bb", "tags": ["quay.io/x/y:2"]}, ["docker.io/*"], None),
    ("case-sensitive", {"key": "Docker.io/library/foo:1"}, ["docker.io/*"], None),
    ("second pattern", {"key": "ghcr.io/a/b:latest"}, ["docker.io/*", "*:latest"], "ghcr.io/a/b:latest"),
]


@pytest.mark.parametrize("image,patterns,expected", [c[1:] for c in DENY_CASES], ids=[c[0] for c in DENY_CASES])
def test_deny(image, patterns, expected):
    image = dict(image, size_bytes=10)
    result = evaluate(facts(images=[image]), {}, {"thresholds": {"deny": patterns}})
    if expected is None:
        assert result.ok
    else:
        breach, = result.breaches
        assert breach["rule"] == "deny" and breach["observed"] == expected


def test_deny_message():
    result = evaluate(facts(name="worker-3", images=[{"key": "docker.io/library/foo:1", "size_bytes": 1}]), {},
                      {"thresholds": {"deny": ["docker.io/library/*"]}})
    assert result.breaches[0]["message"] == ("node worker-3: image docker.io/library/foo:1 matches the deny list "
                                             "pattern 'docker.io/library/*' [rule deny, rule set default]")


def test_deny_without_image_list_is_noted():
    f = facts()
    del f["images"]
    result = evaluate(f, {}, {"thresholds": {"deny": ["*"]}})
    assert result.ok
    assert "not checked" in result.notes[0]


NEW_CASES = [
    # (id, fail_on_new_images, allow_new, expected breaching keys)
    ("new images fine by default", False, [], []),
    ("fail on new, nothing allowed", True, [], ["ghcr.io/new/b:1", "quay.io/new/a@sha256:01"]),
    ("allowed by tag", True, ["ghcr.io/*"], ["quay.io/new/a@sha256:01"]),
    ("allowed by repo of digest", True, ["quay.io/new/a"], ["ghcr.io/new/b:1"]),
    ("all allowed", True, ["*"], []),
]


@pytest.mark.parametrize("fail,allow,expected", [c[1:] for c in NEW_CASES], ids=[c[0] for c in NEW_CASES])
def test_new_images(fail, allow, expected):
    images = [{"key": "old/img@sha256:00", "size_bytes": 5},
              {"key": "quay.io/new/a@sha256:01", "size_bytes": 5},
              {"key": "ghcr.io/new/b:1", "size_bytes": 5}]
    thresholds = {"fail_on_new_images": fail, "allow_new": allow}
    result = evaluate(facts(images=images, total=15), {}, {"thresholds": thresholds},
                      base_node(5, {"old/img@sha256:00": 5}))
    assert result.new_images == ["ghcr.io/new/b:1", "quay.io/new/a@sha256:01"]
    assert sorted(b["observed"] for b in result.breaches) == expected
    assert all(b["rule"] == "new_image" for b in result.breaches)


def test_new_image_message():
    result = evaluate(facts(name="w", images=[{"key": "a/b:1", "size_bytes": 1}]), {},
                      {"thresholds": {"fail_on_new_images": True, "allow_new": ["x/*", "y/*"]}}, base_node(1))
    assert result.breaches[0]["message"] == (
        "node w: image a/b:1 is new since the baseline of 2026-11-18T10:00:00Z and matches no allow_new "
        "pattern (allow_new: 'x/*', 'y/*') [rule new_image, rule set default]")


# ----------------------------------------------------------------------------------------------
# Truncated facts
# ----------------------------------------------------------------------------------------------

def test_truncated_is_still_a_breach_and_says_at_least():
    result = evaluate(facts(name="w", total=2 * GiB, count=50, percent=90.0, truncated=True), {},
                      {"thresholds": {"max_total_bytes": "1GiB", "max_image_count": 49, "max_percent": 80}})
    assert rules(result) == ["max_total_bytes", "max_percent", "max_image_count"]
    assert all(b["lower_bound"] for b in result.breaches)
    assert result.breaches[0]["message"].startswith("node w: images occupy at least 2.0 GiB")
    assert "at least 90.0% of ephemeral-storage" in result.breaches[1]["message"]
    assert "at least 50 images" in result.breaches[2]["message"]
    assert any("truncated" in note and "lower bounds" in note for note in result.notes)


def test_truncated_under_limit_is_not_a_breach_but_noted():
    result = evaluate(facts(total=10, truncated=True), {}, {"thresholds": {"max_total_bytes": 10}})
    assert result.ok and result.truncated and result.notes


def test_truncated_with_exact_imagefs_is_not_a_lower_bound():
    result = evaluate(facts(truncated=True, imagefs={"capacity_bytes": 100, "used_bytes": 95, "percent": 95.0}),
                      {}, {"thresholds": {"max_percent": 90}})
    breach, = result.breaches
    assert breach["lower_bound"] is False and "at least" not in breach["message"]


def test_truncated_baseline_makes_growth_approximate():
    result = evaluate(facts(total=2000), {}, {"thresholds": {"max_growth_bytes": 10}},
                      base_node(1000, truncated=True))
    assert result.breaches[0]["lower_bound"] is False
    assert any("approximate" in n for n in result.notes)


def test_percent_unknown_is_noted():
    result = evaluate(facts(), {}, {"thresholds": {"max_percent": 1}})
    assert result.ok and "max_percent not checked" in result.notes[0]


def test_growth_percent_from_zero_baseline_is_not_computed():
    result = evaluate(facts(total=100), {}, {"thresholds": {"max_growth_percent": 10}}, base_node(0))
    assert result.ok and result.growth_percent is None
    assert "baseline total was 0" in result.notes[0]


# ----------------------------------------------------------------------------------------------
# Threshold validation
# ----------------------------------------------------------------------------------------------

def test_thresholds_parse_sizes_and_percents():
    th = Thresholds.from_dict({"max_total_bytes": "5Gi", "max_growth_bytes": "500MB", "max_percent": "80%",
                               "max_growth_percent": 12.5, "max_image_count": "300", "deny": ["a/*"],
                               "allow_new": ("b/*",), "fail_on_new_images": True})
    assert th.max_total_bytes == 5 * GiB and th.max_growth_bytes == 500 * 10 ** 6
    assert th.max_percent == 80.0 and th.max_growth_percent == 12.5 and th.max_image_count == 300
    assert th.deny == ("a/*",) and th.allow_new == ("b/*",) and th.fail_on_new_images is True
    assert Thresholds.from_dict(th.as_dict()) == th
    assert Thresholds.from_dict(None) == Thresholds() == Thresholds.from_dict({"max_percent": None})


BAD_THRESHOLDS = [
    # (thresholds, words the message must contain)
    ({"max_totl_bytes": 1}, ["unknown key 'max_totl_bytes'", "accepted keys are", "max_total_bytes"]),
    ({"max_total_bytes": -1}, ["thresholds.max_total_bytes", "negative"]),
    ({"max_total_bytes": "-5Gi"}, ["thresholds.max_total_bytes", "negative"]),
    ({"max_total_bytes": "5 parsecs"}, ["thresholds.max_total_bytes", "size"]),
    ({"max_total_bytes": True}, ["thresholds.max_total_bytes", "size", "bool"]),
    ({"max_total_bytes": [1]}, ["thresholds.max_total_bytes", "list"]),
    ({"max_growth_bytes": {"a": 1}}, ["thresholds.max_growth_bytes", "dict"]),
    ({"max_percent": 120}, ["thresholds.max_percent", "between 0 and 100"]),
    ({"max_percent": "100.5%"}, ["thresholds.max_percent", "between 0 and 100"]),
    ({"max_percent": -1}, ["thresholds.max_percent", "between 0 and 100"]),
    ({"max_percent": "eighty"}, ["thresholds.max_percent", "0 to 100"]),
    ({"max_percent": False}, ["thresholds.max_percent", "percentage"]),
    ({"max_growth_percent": -5}, ["thresholds.max_growth_percent", "0 or more"]),
    ({"max_image_count": -3}, ["thresholds.max_image_count", "negative"]),
    ({"max_image_count": 2.5}, ["thresholds.max_image_count", "whole number"]),
    ({"max_image_count": True}, ["thresholds.max_image_count", "whole number"]),
    ({"deny": "docker.io/*"}, ["thresholds.deny", "list of glob patterns", "str"]),
    ({"deny": ["ok", 3]}, ["thresholds.deny[1]", "glob pattern"]),
    ({"allow_new": [""]}, ["thresholds.allow_new[0]", "non-empty"]),
    ({"fail_on_new_images": "yes"}, ["thresholds.fail_on_new_images", "true or false"]),
]


@pytest.mark.parametrize("data,words", BAD_THRESHOLDS, ids=[str(c[0]) for c in BAD_THRESHOLDS])
def test_bad_thresholds(data, words):
    with pytest.raises(DriftConfigError) as info:
        Thresholds.from_dict(data)
    for word in words:
        assert word in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, KubeError)


def test_thresholds_not_a_mapping():
    with pytest.raises(DriftConfigError, match="thresholds must be a mapping"):
        Thresholds.from_dict(["max_percent", 80])


# ----------------------------------------------------------------------------------------------
# Rule sets and policy
# ----------------------------------------------------------------------------------------------

POLICY = {
    "thresholds": {"max_total_bytes": 1000},
    "rule_sets": [
        {"name": "gpu-workers", "selector": "node-role.kubernetes.io/gpu", "thresholds": {"max_total_bytes": 5000}},
        {"name": "pool-b", "selector": "pool in (b)", "thresholds": {"max_total_bytes": 2000}},
        {"name": "no-limits", "selector": "pool=c"},
    ],
}

RULE_SET_CASES = [
    # (labels, total, expected rule set, breach)
    ({}, 1001, "default", True),
    ({}, 1000, "default", False),
    ({"node-role.kubernetes.io/gpu": ""}, 5000, "gpu-workers", False),
    ({"node-role.kubernetes.io/gpu": ""}, 5001, "gpu-workers", True),
    ({"pool": "b"}, 2000, "pool-b", False),
    ({"pool": "b"}, 2001, "pool-b", True),
    ({"pool": "b", "node-role.kubernetes.io/gpu": ""}, 4000, "gpu-workers", False),  # first match wins
    ({"pool": "c"}, 10 ** 12, "no-limits", False),  # a rule set's thresholds replace the defaults
    ({"pool": "d"}, 1001, "default", True),
]


@pytest.mark.parametrize("labels,total,rule_set,breach", RULE_SET_CASES)
def test_rule_sets(labels, total, rule_set, breach):
    result = evaluate(facts(total=total), labels, Policy.from_dict(POLICY))
    assert result.rule_set == rule_set
    assert (not result.ok) is breach
    for b in result.breaches:
        assert b["rule_set"] == rule_set
        assert b["message"].endswith("[rule max_total_bytes, rule set %s]" % rule_set)


BAD_POLICIES = [
    ({"thresholds": {}, "rulesets": []}, "unknown key 'rulesets'"),
    ({"rule_sets": {"name": "x"}}, "rule_sets must be a list"),
    ({"rule_sets": ["x"]}, "rule_sets[0] must be a mapping"),
    ({"rule_sets": [{"selector": "a"}]}, "rule_sets[0].name must be a non-empty string"),
    ({"rule_sets": [{"name": "default", "selector": "a"}]}, "reserved"),
    ({"rule_sets": [{"name": "x"}]}, "rule_sets[0] (x).selector is required"),
    ({"rule_sets": [{"name": "x", "selector": "a in (b"}]}, "rule_sets[0] (x).selector: invalid label selector 'a in (b'"),
    ({"rule_sets": [{"name": "x", "selector": "a", "thresholds": {"max_percent": 200}}]},
     "rule_sets[0] (x).thresholds.max_percent"),
    ({"rule_sets": [{"name": "x", "selector": "a", "extra": 1}]}, "unknown key 'extra'"),
    ({"rule_sets": [{"name": "x", "selector": "a"}, {"name": "x", "selector": "b"}]}, "used twice"),
    ("thresholds", "must be a mapping"),
]


@pytest.mark.parametrize("data,words", BAD_POLICIES)
def test_bad_policies(data, words):
    with pytest.raises(DriftConfigError) as info:
        Policy.from_dict(data)
    assert words in str(info.value)


def test_policy_round_trip_and_coercion():
    policy = Policy.from_dict(POLICY)
    again = Policy.from_dict(policy.as_dict())
    assert again.as_dict() == policy.as_dict()
    assert Policy.coerce(policy) is policy
    assert Policy.coerce(Thresholds(max_image_count=1)).thresholds.max_image_count == 1
    assert isinstance(policy.rule_sets[0], RuleSet)
    assert policy.select({"pool": "b"})[0] == "pool-b"


# ----------------------------------------------------------------------------------------------
# Cluster evaluation and report
# ----------------------------------------------------------------------------------------------

def baseline_doc(nodes):
    return {"format": "nodewatch.k8s/baseline", "version": 1, "captured_at": CAPTURED, "nodes": nodes}


def test_cluster_added_and_removed_nodes():
    baseline = baseline_doc({
        "worker-1": {"total_bytes": 1000, "image_count": 1, "images": {"a@sha256:1": 1000}},
        "worker-gone": {"total_bytes": 5, "image_count": 0, "images": {}},
    })
    pairs = [
        (facts("worker-1", total=1200, images=[{"key": "a@sha256:1", "size_bytes": 1200}]), {}),
        (facts("worker-new", total=10 ** 9, images=[{"key": "b:1", "size_bytes": 10 ** 9}]), {}),
    ]
    policy = {"thresholds": {"max_growth_bytes": 100, "fail_on_new_images": True}}
    report = evaluate_cluster(pairs, policy, baseline, keep_results=True)
    assert report["nodes_checked"] == 2
    assert report["nodes_added"] == ["worker-new"]
    assert report["nodes_removed"] == ["worker-gone"]
    # the added node is informational: no growth from zero, no new-image breach
    assert [(b["node"], b["rule"]) for b in report["breaches"]] == [("worker-1", "max_growth_bytes")]
    assert report["ok"] is False and report["breaching_nodes"] == ["worker-1"]
    added = [r for r in report["results"] if r["node"] == "worker-new"][0]
    assert added["baseline_status"] == "added" and added["growth_bytes"] is None
    assert report["baseline_captured_at"] == CAPTURED
    assert "since the baseline of 2026-11-18T10:00:00Z" in report["breaches"][0]["message"]


def test_cluster_ok_and_pairs_or_facts_with_labels():
    items = [dict(facts("a"), labels={"pool": "b"}), (facts("b"), None)]
    report = evaluate_cluster(items, POLICY)
    assert report["ok"] is True and report["nodes_checked"] == 2
    assert report["nodes_added"] == [] and report["nodes_removed"] == []


def test_cluster_without_baseline_notes_unchecked_rules():
    report = evaluate_cluster([(facts(), {})], {"thresholds": {"max_growth_bytes": 1}})
    assert any("no baseline" in n for n in report["notes"])
    report = evaluate_cluster([(facts(), {})], {"thresholds": {"max_total_bytes": 10 ** 9}})
    assert report["notes"] == []


def test_cluster_notes_are_grouped():
    pairs = [(facts("n%d" % i, truncated=True), {}) for i in range(10)]
    report = evaluate_cluster(pairs, {})
    assert report["notes"] == ["the image list is truncated on 10 nodes, so their totals are lower bounds "
                               "(n0, n1, n2 and 7 more)"]
    report = evaluate_cluster(pairs[:2], {})
    assert len(report["notes"]) == 2 and report["notes"][0].startswith("node n0: the image list is truncated")


def test_cluster_duplicate_node_is_noted():
    report = evaluate_cluster([(facts("a"), {}), (facts("a"), {})], {})
    assert any("more than once" in n for n in report["notes"])


def test_cluster_rejects_a_non_baseline():
    with pytest.raises(ValueError, match="nodes"):
        evaluate_cluster([], {}, {"format": "x"})


def test_summary_text():
    pairs = [(facts("n%02d" % i, total=2000), {}) for i in range(25)]
    report = evaluate_cluster(pairs, {"thresholds": {"max_total_bytes": 1000}},
                              baseline_doc({"old": {"total_bytes": 1, "image_count": 0, "images": {}}}))
    text = summary_text(report)
    lines = text.splitlines()
    assert lines[0] == "image drift: 25 breaches on 25 of 25 nodes"
    assert lines[1] == "- node n00: images occupy 2.0 KiB (limit 1000 B) [rule max_total_bytes, rule set default]"
    assert len([line for line in lines if line.startswith("- ")]) == 20
    assert "... and 5 more" in lines
    assert "25 nodes added since the baseline (informational): n00, n01" in text
    assert "1 node removed since the baseline (informational): old" in text


def test_summary_text_ok():
    assert summary_text(evaluate_cluster([(facts(), {})], {})) == "image drift: no breaches on 1 node"


# ----------------------------------------------------------------------------------------------
# Alert transitions
# ----------------------------------------------------------------------------------------------

def _b(node, rule):
    return {"node": node, "rule": rule}


TRANSITION_CASES = [
    # (previous open keys, current breaches, opened keys, still open keys, cleared keys)
    (set(), [], [], [], []),
    (set(), [_b("a", "max_percent")], [("a", "max_percent")], [], []),
    ({("a", "max_percent")}, [_b("a", "max_percent")], [], [("a", "max_percent")], []),
    ({("a", "max_percent")}, [], [], [], [("a", "max_percent")]),
    ({("a", "deny")}, [_b("a", "deny"), _b("a", "deny"), _b("b", "deny")], [("b", "deny")], [("a", "deny")], []),
    ({("a", "x"), ("b", "y")}, [_b("b", "y"), _b("c", "z")], [("c", "z")], [("b", "y")], [("a", "x")]),
]


@pytest.mark.parametrize("previous,current,opened,still,cleared", TRANSITION_CASES)
def test_breach_transitions(previous, current, opened, still, cleared):
    t = breach_transitions(previous, current)
    assert [drift.breach_key(b) for b in t.opened] == opened
    assert [drift.breach_key(b) for b in t.still_open] == still
    assert t.cleared == cleared
    assert t.open_keys == set(opened) | set(still)
    o, s, c = t  # a plain 3-tuple too
    assert (o, s, c) == (t.opened, t.still_open, t.cleared)


def test_breach_transitions_fire_once_per_crossing():
    open_keys = set()
    fired = []
    for total in (500, 1500, 1600, 900, 2000):
        report = evaluate_cluster([(facts("w", total=total), {})], {"thresholds": {"max_total_bytes": 1000}})
        t = breach_transitions(open_keys, report["breaches"])
        fired.extend(("open", b["observed"]) for b in t.opened)
        fired.extend(("clear", k) for k in t.cleared)
        open_keys = t.open_keys
    assert fired == [("open", 1500), ("clear", ("w", "max_total_bytes")), ("open", 2000)]


def test_breach_transitions_custom_key():
    current = [dict(_b("a", "deny"), observed="x"), dict(_b("a", "deny"), observed="y")]
    t = breach_transitions({("a", "deny", "x")}, current, key=lambda b: (b["node"], b["rule"], b["observed"]))
    assert [b["observed"] for b in t.opened] == ["y"]
    assert [b["observed"] for b in t.still_open] == ["x"]


def test_growth_limit_may_exceed_100_percent():
    """A node can more than double its image storage; only shares of capacity stop at 100 %."""
    assert Thresholds.from_dict({"max_growth_percent": 150}).max_growth_percent == 150.0
    with pytest.raises(DriftConfigError, match="between 0 and 100"):
        Thresholds.from_dict({"max_percent": 150})
