# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""drift_check.py: policy options, baseline locations and one whole check over a stub API.

The stub serves Nodes (and kubelet Summaries, and ConfigMap errors) from memory; the ConfigMap
store itself over real HTTP is exercised in tests/integration/test_node_image_drift.py.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift import baseline as bl
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.rules import DriftConfigError, Policy
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.check import (
    BaselineAccessError,
    build_policy,
    check_drift,
    open_baseline,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import (
    ApiError,
    ConnectionFailure,
    ValidationError,
)

GI = 1 << 30
MI = 1 << 20
CAPTURED = "2026-11-18T10:00:00Z"


def image(repo, n, size, tag="1.0"):
    return {"names": ["%s@sha256:%064x" % (repo, n), "%s:%s" % (repo, tag)], "sizeBytes": size}


def node(name, images, capacity="4Gi", labels=None):
    meta = {"name": name, "uid": "uid-" + name, "labels": dict(labels or {})}
    return {"metadata": meta, "status": {"images": images, "capacity": {"ephemeral-storage": capacity}}}


BASE = image("registry.k8s.io/pause", 1, 256 * MI, "3.9")
APP = image("registry.example.com/team/app", 2, 512 * MI)
TOOL = image("docker.io/library/tool", 3, 256 * MI, "latest")
NEW = image("registry.example.com/team/new", 4, 128 * MI)


class StubClient:
    """Nodes from memory; configmap GETs answer what ``configmap_answer`` says."""

    def __init__(self, nodes, summaries=None, configmap_answer=None):
        self.nodes = nodes
        self.summaries = summaries or {}
        self.configmap_answer = configmap_answer
        self.lists = []
        self.retry = None
        self.writes = []

    def iter_items(self, path, label_selector=None, field_selector=None, limit=500):
        self.lists.append((path, label_selector, field_selector, limit))
        yield from self.nodes

    def get(self, path, query=None, timeout=None, retry=None):
        if "/configmaps" in path:
            if isinstance(self.configmap_answer, Exception):
                raise self.configmap_answer
            if self.configmap_answer is None:
                raise ApiError(404, reason="NotFound", message="not found", resource="configmaps")
            return self.configmap_answer
        name = path.split("/")[4]
        answer = self.summaries.get(name)
        if isinstance(answer, Exception):
            raise answer
        return answer

    def request(self, method, path, query=None, body=None, content_type=None, timeout=None):
        self.writes.append((method, path))
        if isinstance(self.configmap_answer, Exception):
            raise self.configmap_answer
        raise ApiError(404, reason="NotFound", message='namespaces "nodewatch-system" not found',
                       verb="create", resource="configmaps", namespace="nodewatch-system")


def cluster():
    """w-1: 1 GiB in 3 images of a 4 GiB disk (25 %); gpu-1 (pool=gpu): 2 GiB in 4 images."""
    return [
        node("w-1", [APP, BASE, TOOL]),
        node("gpu-1", [image("nvcr.io/cuda", 9, GI), APP, BASE, TOOL], capacity="8Gi", labels={"pool": "gpu"}),
    ]


def write_baseline(path, nodes, captured_at=CAPTURED):
    """A baseline file as the nodes would have been captured (raw node dicts)."""
    from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import node_image_facts
    facts = [node_image_facts(n, include_images=True) for n in nodes]
    bl.FileBaselineStore(str(path)).write(bl.build_baseline(facts, captured_at=captured_at))


# ----------------------------------------------------------------------------------------------
# Policy from module options
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("options, key, expected", [
    ({"max_total_bytes": "5Gi"}, "max_total_bytes", 5 * GI),
    ({"max_total_bytes": "5GiB"}, "max_total_bytes", 5 * GI),
    ({"max_total_bytes": 5000000000}, "max_total_bytes", 5000000000),
    ({"max_total_bytes": "5000000000"}, "max_total_bytes", 5000000000),
    ({"max_growth_bytes": "500MB"}, "max_growth_bytes", 500 * 10 ** 6),
    ({"max_growth_bytes": 0}, "max_growth_bytes", 0),
    ({"max_percent": 80}, "max_percent", 80.0),
    ({"max_percent": "80%"}, "max_percent", 80.0),
    ({"max_percent": "100"}, "max_percent", 100.0),
    ({"max_growth_percent": 0}, "max_growth_percent", 0.0),
    ({"max_image_count": "300"}, "max_image_count", 300),
    ({"max_total_bytes": None}, "max_total_bytes", None),
    ({"max_total_bytes": ""}, "max_total_bytes", None),
    ({"deny": []}, "deny", []),
    ({"deny": ["*:latest"]}, "deny", ["*:latest"]),
])
def test_threshold_options_are_read(options, key, expected):
    policy = build_policy(options)
    assert policy.as_dict()["thresholds"][key] == expected


@pytest.mark.parametrize("options, rule_sets, words", [
    ({"max_total_bytes": "-5Gi"}, None, ["max_total_bytes", "negative"]),
    ({"max_total_bytes": -1}, None, ["max_total_bytes", "negative"]),
    ({"max_total_bytes": "5 gigs"}, None, ["max_total_bytes", "unknown unit"]),
    ({"max_total_bytes": "lots"}, None, ["max_total_bytes", "does not start with a number"]),
    ({"max_growth_bytes": "500m"}, None, ["max_growth_bytes", "fraction of a byte"]),
    ({"max_percent": 120}, None, ["max_percent", "out of range"]),
    ({"max_percent": "101%"}, None, ["max_percent", "out of range"]),
    ({"max_percent": -1}, None, ["max_percent", "out of range"]),
    ({"max_growth_percent": "ten"}, None, ["max_growth_percent", "invalid percentage"]),
    ({"max_image_count": -3}, None, ["max_image_count", "negative"]),
    ({"max_image_count": "3.5"}, None, ["max_image_count", "whole number"]),
    ({"deny": [""]}, None, ["deny[0]", "glob pattern"]),
    ({}, [{"name": "gpu", "selector": "pool in (", "thresholds": {}}], ["rule_sets[0] (gpu).selector"]),
    ({}, [{"name": "gpu", "selector": "pool=gpu", "thresholds": {"max_percent": 200}}],
     ["rule_sets[0] (gpu).thresholds.max_percent", "out of range"]),
    ({}, [{"name": "default", "selector": "pool=gpu"}], ["rule_sets[0].name", "reserved"]),
    ({}, [{"name": "a", "selector": "x"}, {"name": "a", "selector": "y"}], ["used twice"]),
])
def test_bad_threshold_options_name_the_option(options, rule_sets, words):
    with pytest.raises(DriftConfigError) as info:
        build_policy(options, rule_sets)
    text = str(info.value)
    assert text.startswith("invalid drift threshold: ")
    for word in words:
        assert word in text, text


def test_rule_set_thresholds_filled_by_ansible_with_none_mean_not_checked():
    filled = dict((k, None) for k in ("max_total_bytes", "max_percent", "max_image_count", "max_growth_bytes",
                                      "max_growth_percent", "deny", "allow_new", "fail_on_new_images"))
    filled["max_percent"] = 90
    policy = build_policy({}, [{"name": "gpu", "selector": "pool=gpu", "thresholds": filled}])
    assert policy.rule_sets[0].thresholds.max_percent == 90.0
    assert policy.rule_sets[0].thresholds.deny == ()


# ----------------------------------------------------------------------------------------------
# Baseline locations
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("source, configmap, path, words", [
    ("cloud", None, None, ["baseline_source", "cloud"]),
    ("file", None, None, ["baseline_path"]),
    ("file", None, "  ", ["baseline_path"]),
    ("configmap", {"namespace": "x"}, None, ["baseline_configmap", "namespace and name"]),
    ("configmap", {"namespace": "x", "name": "Bad_Name"}, None, ["baseline_configmap", "DNS-1123"]),
])
def test_baseline_location_errors(source, configmap, path, words):
    with pytest.raises(ValidationError) as info:
        open_baseline(StubClient([]), source, configmap, path)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("answer, words", [
    (ApiError(403, reason="Forbidden", message='configmaps "b" is forbidden: User "ci" cannot get resource',
              verb="get", resource="configmaps", name="b", namespace="ns"),
     ["cannot read the baseline in ConfigMap ns/b", "forbidden (HTTP 403)", "grant get, create and update"]),
    (ConnectionFailure("cannot connect to the API server at https://x: connection refused"),
     ["cannot read the baseline in ConfigMap ns/b", "connection refused"]),
    ({"metadata": {"name": "b"}, "data": {"other": "x"}},
     ["ConfigMap ns/b has no baseline.json key", "NOT overwritten"]),
    ({"metadata": {"name": "b"}, "data": {"baseline.json": "{not json"}},
     ["ConfigMap ns/b", "not valid JSON", "NOT overwritten"]),
])
def test_configmap_read_problems_fail_before_any_node_is_listed(answer, words):
    client = StubClient(cluster(), configmap_answer=answer)
    with pytest.raises(bl.BaselineError) as info:
        check_drift(client, Policy(), baseline_source="configmap",
                    baseline_configmap={"namespace": "ns", "name": "b"}, update_baseline="true")
    for word in words:
        assert word in str(info.value), str(info.value)
    assert client.lists == [] and client.writes == []
    if isinstance(answer, ApiError):
        assert isinstance(info.value, BaselineAccessError) and info.value.status == 403


@pytest.mark.parametrize("check_mode", [False, True])
def test_foreign_configmap_is_refused_before_any_node_is_listed(check_mode):
    from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import node_image_facts
    doc = bl.build_baseline([node_image_facts(n, include_images=True) for n in cluster()], captured_at=CAPTURED)
    foreign = {"metadata": {"name": "b", "labels": {"app": "someone-else"}}, "data": bl.split_for_configmaps(doc)[0]}
    client = StubClient(cluster(), configmap_answer=foreign)
    result = check_drift(client, Policy(), baseline_source="configmap", baseline_configmap={"namespace": "ns", "name": "b"})
    assert result["baseline"]["found"] and result["baseline"]["nodes"] == 2, "a foreign baseline can still be read"
    client.lists = []
    with pytest.raises(bl.BaselineError) as info:
        check_drift(client, Policy(), baseline_source="configmap", baseline_configmap={"namespace": "ns", "name": "b"},
                    update_baseline="on_success", check_mode=check_mode)
    assert str(info.value).startswith("ConfigMap ns/b exists but is not managed by nodewatch.k8s")
    assert client.lists == [] and client.writes == []


def test_configmap_write_into_a_missing_namespace_says_so():
    client = StubClient(cluster())
    with pytest.raises(BaselineAccessError) as info:
        check_drift(client, Policy(), baseline_source="configmap",
                    baseline_configmap={"namespace": "nodewatch-system", "name": "b"}, update_baseline="true")
    text = str(info.value)
    assert "cannot write the baseline in ConfigMap nodewatch-system/b" in text
    assert "does namespace nodewatch-system exist" in text


# ----------------------------------------------------------------------------------------------
# The check
# ----------------------------------------------------------------------------------------------

def test_limits_without_baseline():
    client = StubClient(cluster())
    result = check_drift(client, build_policy({"max_percent": 25, "max_image_count": 3, "deny": ["*:latest"],
                                               "max_growth_bytes": "1Gi"}),
                         label_selectors=["pool"], field_selectors=["spec.unschedulable=false"])
    assert client.lists[0][1:3] == ("pool", "spec.unschedulable=false")
    assert result["nodes_checked"] == 2 and result["ok"] is False and result["changed"] is False
    rules = sorted((b["node"], b["rule"]) for b in result["breaches"])
    # w-1 is exactly at 25 % and 3 images: only its denied image breaches
    assert rules == [("gpu-1", "deny"), ("gpu-1", "max_image_count"), ("w-1", "deny")]
    assert result["breaching_nodes"] == ["gpu-1", "w-1"]
    assert any("no baseline was given" in n for n in result["notes"])
    assert result["baseline"] == {"source": "none", "found": False, "captured_at": None, "nodes": 0,
                                  "updated": False, "new_captured_at": None}
    assert result["summary"].startswith("image drift: 3 breaches on 2 of 2 nodes")
    assert "node gpu-1: 4 images are present (limit 3) [rule max_image_count, rule set default]" in result["summary"]


def test_rule_sets_replace_the_defaults_for_their_nodes():
    policy = build_policy({"max_total_bytes": "1Gi"},
                          [{"name": "gpu", "selector": "pool=gpu", "thresholds": {"max_total_bytes": "1.5Gi"}}])
    result = check_drift(StubClient(cluster()), policy)
    assert [(b["node"], b["rule"], b["rule_set"], b["limit"]) for b in result["breaches"]] == [
        ("gpu-1", "max_total_bytes", "gpu", int(1.5 * GI))]


def test_growth_and_new_images_against_a_file_baseline(tmp_path):
    path = tmp_path / "baseline.json"
    before = cluster()
    write_baseline(path, before)
    now = cluster()
    now[0]["status"]["images"].append(NEW)  # w-1 grows by 128 MiB = 12.5 %
    policy = build_policy({"max_growth_bytes": 128 * MI, "max_growth_percent": 12.5, "fail_on_new_images": True,
                           "allow_new": ["registry.example.com/team/*"]})
    result = check_drift(StubClient(now), policy, baseline_source="file", baseline_path=str(path))
    assert result["ok"], result["summary"]
    assert result["baseline"]["found"] and result["baseline"]["captured_at"] == CAPTURED
    assert result["baseline"]["nodes"] == 2

    policy = build_policy({"max_growth_bytes": 128 * MI - 1, "max_growth_percent": 12.4, "fail_on_new_images": True})
    result = check_drift(StubClient(now), policy, baseline_source="file", baseline_path=str(path))
    rules = sorted(b["rule"] for b in result["breaches"])
    assert rules == ["max_growth_bytes", "max_growth_percent", "new_image"]
    assert all(b["node"] == "w-1" for b in result["breaches"])


def test_added_and_removed_nodes(tmp_path):
    path = tmp_path / "baseline.json"
    write_baseline(path, cluster())
    now = [cluster()[0], node("w-9", [BASE])]
    result = check_drift(StubClient(now), build_policy({"max_growth_bytes": 0}), baseline_source="file",
                         baseline_path=str(path))
    assert result["nodes_added"] == ["w-9"] and result["nodes_removed"] == ["gpu-1"]
    assert result["ok"]


@pytest.mark.parametrize("mode, breach, check_mode, written, changed", [
    ("false", False, False, False, False),
    ("true", False, False, True, True),
    ("true", True, False, True, True),
    ("on_success", False, False, True, True),
    ("on_success", True, False, False, False),
    ("true", False, True, False, True),
    ("on_success", False, True, False, True),
    ("on_success", True, True, False, False),
    (True, False, False, True, True),
    (False, False, False, False, False),
])
def test_update_modes(tmp_path, mode, breach, check_mode, written, changed):
    path = tmp_path / "state" / "baseline.json"
    policy = build_policy({"max_image_count": 3 if breach else 10})
    result = check_drift(StubClient(cluster()), policy, baseline_source="file", baseline_path=str(path),
                         update_baseline=mode, check_mode=check_mode, want_diff=True,
                         captured_at="2026-11-19T08:00:00Z")
    assert path.exists() is written
    assert result["changed"] is changed
    assert result["baseline"]["updated"] is written
    assert result["baseline"]["new_captured_at"] == ("2026-11-19T08:00:00Z" if changed else None)
    assert ("diff" in result) is changed
    if changed:
        assert result["diff"]["before_header"] == "baseline (absent)"
        assert "w-1: 1.0 GiB in 3 images" in result["diff"]["after"]
    if written:
        doc = bl.FileBaselineStore(str(path)).read()
        assert sorted(doc["nodes"]) == ["gpu-1", "w-1"]
        assert doc["nodes"]["w-1"]["total_bytes"] == GI and len(doc["nodes"]["w-1"]["images"]) == 3
        assert oct(os.stat(str(path)).st_mode & 0o777) == "0o600"
    if mode == "on_success" and breach:
        assert any("was not updated because the check found 1 breach" in n for n in result["notes"])


def test_update_replaces_and_diff_shows_the_change(tmp_path):
    path = tmp_path / "baseline.json"
    write_baseline(path, cluster())
    now = cluster()
    now[0]["status"]["images"].append(NEW)
    result = check_drift(StubClient(now), Policy(), baseline_source="file", baseline_path=str(path),
                         update_baseline="true", want_diff=True, captured_at="2026-11-19T08:00:00Z")
    assert result["changed"] and result["baseline"]["updated"]
    assert result["baseline"]["captured_at"] == CAPTURED
    assert "w-1: 1.0 GiB in 3 images" in result["diff"]["before"]
    assert "w-1: 1.1 GiB in 4 images (1 new, 0 gone)" in result["diff"]["after"]
    assert bl.FileBaselineStore(str(path)).read()["captured_at"] == "2026-11-19T08:00:00Z"


def test_capturing_the_same_baseline_again_is_not_a_change(tmp_path):
    path = tmp_path / "baseline.json"
    for expected in (True, False):
        result = check_drift(StubClient(cluster()), Policy(), baseline_source="file", baseline_path=str(path),
                             update_baseline="true", want_diff=True, captured_at="2026-11-19T08:00:00Z")
        assert result["changed"] is expected
        assert ("diff" in result) is expected


@pytest.mark.parametrize("content, words", [
    (b"{not json", ["not valid JSON"]),
    (b"", ["is empty"]),
    (json.dumps({"format": "someone-else/state", "version": 1}).encode(), ["not a nodewatch.k8s baseline"]),
    (json.dumps({"format": bl.FORMAT, "version": 2, "captured_at": CAPTURED, "nodes": {}}).encode(),
     ["unsupported baseline version 2"]),
    (json.dumps({"format": bl.FORMAT, "version": 1, "captured_at": "yesterday", "nodes": {}}).encode(),
     ["captured_at"]),
])
def test_corrupt_or_foreign_file_is_an_error_and_never_overwritten(tmp_path, content, words):
    path = tmp_path / "baseline.json"
    path.write_bytes(content)
    client = StubClient(cluster())
    with pytest.raises(bl.BaselineError) as info:
        check_drift(client, Policy(), baseline_source="file", baseline_path=str(path), update_baseline="true")
    text = str(info.value)
    assert str(path) in text and "NOT overwritten" in text
    for word in words:
        assert word in text, text
    assert path.read_bytes() == content
    assert client.lists == [], "nodes were listed although the baseline is unusable"


def test_update_needs_a_store_and_a_valid_mode():
    with pytest.raises(ValidationError) as info:
        check_drift(StubClient([]), Policy(), update_baseline="true")
    assert "set baseline_source to configmap or file" in str(info.value)
    with pytest.raises(ValidationError) as info:
        check_drift(StubClient([]), Policy(), update_baseline="sometimes")
    assert "update_baseline must be one of false, true, on_success" in str(info.value)
    with pytest.raises(ValidationError):
        check_drift(StubClient([]), Policy(), max_images=-2)


def test_missing_baseline_note_says_where(tmp_path):
    path = tmp_path / "none.json"
    result = check_drift(StubClient(cluster()), build_policy({"max_growth_bytes": "1Gi"}), baseline_source="file",
                         baseline_path=str(path))
    assert result["notes"][-1] == ("no baseline was found in file %s: max_growth_bytes, max_growth_percent and "
                                   "fail_on_new_images were not checked; capture one with update_baseline: true" % path)
    assert not any(n.startswith("no baseline was given") for n in result["notes"])


def test_truncated_nodes_are_flagged_with_max_images():
    result = check_drift(StubClient(cluster()), build_policy({"max_image_count": 2}), max_images=3)
    by_node = dict((b["node"], b) for b in result["breaches"])
    assert by_node["w-1"]["lower_bound"] is True and by_node["gpu-1"]["lower_bound"] is True
    assert "at least 3 images" in by_node["w-1"]["message"]
    result = check_drift(StubClient(cluster()), build_policy({"max_image_count": 2}), max_images=-1)
    assert all(not b["lower_bound"] for b in result["breaches"])


def test_imagefs_percent_is_used_when_the_kubelet_answers():
    summaries = {
        "w-1": {"node": {"runtime": {"imageFs": {"capacityBytes": 100 * GI, "usedBytes": 90 * GI}}}},
        "gpu-1": ApiError(503, reason="ServiceUnavailable", message="dial tcp: connection refused"),
    }
    client = StubClient(cluster(), summaries)
    result = check_drift(client, build_policy({"max_percent": 80}), imagefs=True, imagefs_concurrency=2)
    assert [(b["node"], b["rule"], b["observed"]) for b in result["breaches"]] == [("w-1", "max_percent", 90.0)]
    assert "image filesystem" in result["breaches"][0]["message"]
    note = [n for n in result["notes"] if "could not be read from the kubelet" in n]
    assert note and "1 of 2 nodes" in note[0] and "gpu-1" in note[0]


def test_imagefs_options_are_checked():
    with pytest.raises(ValidationError):
        check_drift(StubClient([]), Policy(), imagefs=True, imagefs_concurrency=0)
    with pytest.raises(ValidationError):
        check_drift(StubClient([]), Policy(), imagefs=True, imagefs_timeout=0)


def test_baseline_file_directory_is_created(tmp_path):
    path = tmp_path / "a" / "b" / "baseline.json"
    check_drift(StubClient(cluster()), Policy(), baseline_source="file", baseline_path=str(path), update_baseline="true")
    assert path.exists()
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(bl.BaselineError) as info:
        check_drift(StubClient(cluster()), Policy(), baseline_source="file", baseline_path=str(blocker / "baseline.json"),
                    update_baseline="true")
    assert "cannot read the baseline file %s" % (blocker / "baseline.json") in str(info.value)


def test_baseline_directory_that_cannot_be_created(tmp_path, monkeypatch):
    from ansible_collections.nodewatch.k8s.plugins.module_utils.drift import check as drift_check

    def refuse(path, mode=0o777):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(drift_check.os, "makedirs", refuse)
    path = tmp_path / "locked" / "baseline.json"
    with pytest.raises(BaselineAccessError) as info:
        check_drift(StubClient(cluster()), Policy(), baseline_source="file", baseline_path=str(path),
                    update_baseline="true")
    assert str(info.value) == ("cannot create the directory %s for the baseline file: Permission denied"
                               % (tmp_path / "locked"))
