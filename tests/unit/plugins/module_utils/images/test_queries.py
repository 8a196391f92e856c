# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""images/queries.py: node selection + image facts + kubelet Summaries, assembled into one answer.

A stub client stands in for the API: it serves pages of Nodes and kubelet Summaries and records
what was asked, so the tests see the requests as well as the answer.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
import time

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import (
    ApiError,
    ConnectionFailure,
    ValidationError,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.queries import (
    ImageFsReader,
    fetch_imagefs,
    imagefs_facts,
    node_images_report,
)

GI = 1 << 30
MI = 1 << 20


def digest(n):
    return "sha256:%064x" % n


def image(repo, n, size, tag="1.0", with_digest=True):
    names = []
    if with_digest:
        names.append("%s@%s" % (repo, digest(n)))
    if tag:
        names.append("%s:%s" % (repo, tag))
    return {"names": names, "sizeBytes": size}


PAUSE = image("registry.k8s.io/pause", 1, 321520, "3.9")
NGINX = image("docker.io/library/nginx", 2, 70 * MI, "1.27")
APP = image("registry.example.com/team/app", 3, 2 * GI, None)
TAG_ONLY = image("localhost:5000/dev/tool", 4, 5 * MI, "dev", with_digest=False)


def node(name, images, capacity="100Gi", roles=(), zone=None, ready=True, cordoned=False):
    labels = {"kubernetes.io/hostname": name}
    labels.update(("node-role.kubernetes.io/%s" % r, "") for r in roles)
    if zone:
        labels["topology.kubernetes.io/zone"] = zone
    status = {
        "conditions": [{"type": "Ready", "status": "True" if ready else "Unknown"}],
        "images": images,
        "capacity": {"ephemeral-storage": capacity} if capacity else {},
    }
    return {"metadata": {"name": name, "uid": "uid-" + name, "labels": labels},
            "spec": {"unschedulable": True} if cordoned else {}, "status": status}


def summary(capacity, used, available=None):
    fs = {"capacityBytes": capacity, "usedBytes": used}
    if available is not None:
        fs["availableBytes"] = available
    return {"node": {"nodeName": "x", "runtime": {"imageFs": fs}}}


class StubClient:
    """Just what images.queries needs of KubeClient: iter_items, get, retry."""

    def __init__(self, nodes, summaries=None, delay=0.0):
        self.nodes = nodes
        self.summaries = summaries or {}
        self.delay = delay
        self.retry = None
        self.lists = []
        self.gets = []
        # Shared by the shallow copy ImageFsReader makes, as a real client's pool would be.
        self.flight = {"now": 0, "max": 0}
        self._lock = threading.Lock()

    def iter_items(self, path, label_selector=None, field_selector=None, limit=500):
        self.lists.append((path, label_selector, field_selector, limit))
        if label_selector == "bad selector":
            raise ApiError(400, reason="BadRequest", message="unable to parse requirement")
        for item in self.nodes:
            if field_selector and field_selector.startswith("metadata.name="):
                if item["metadata"]["name"] != field_selector.split("=", 1)[1].split(",")[0]:
                    continue
            yield item

    def get(self, path, query=None, timeout=None, retry=None):
        with self._lock:
            self.gets.append((path, timeout))
            self.flight["now"] += 1
            self.flight["max"] = max(self.flight["max"], self.flight["now"])
        try:
            if self.delay:
                time.sleep(self.delay)
            name = path.split("/")[4]
            answer = self.summaries.get(name)
            if isinstance(answer, Exception):
                raise answer
            if answer is None:
                raise ApiError(404, reason="NotFound", message='nodes "%s" not found' % name)
            return answer
        finally:
            with self._lock:
                self.flight["now"] -= 1


CLUSTER = [
    node("cp-1", [APP, NGINX, PAUSE], roles=("control-plane",), zone="a"),
    node("w-1", [NGINX, TAG_ONLY, PAUSE], roles=("worker",), zone="a"),
    node("w-2", [NGINX, PAUSE], roles=("worker",), zone="b", ready=False, cordoned=True),
    node("w-3", [], capacity=None, roles=("worker",)),
]


def test_per_node_facts_carry_context_and_no_image_list():
    report = node_images_report(StubClient(CLUSTER))
    assert report["count"] == 4
    by_name = dict((n["name"], n) for n in report["nodes"])
    assert list(by_name) == ["cp-1", "w-1", "w-2", "w-3"]
    cp = by_name["cp-1"]
    assert cp["image_count"] == 3
    assert cp["total_bytes"] == 2 * GI + 70 * MI + 321520
    assert cp["roles"] == ["control-plane"] and cp["zone"] == "a" and cp["ready"] and cp["schedulable"]
    assert "images" not in cp and "group_values" not in cp
    assert cp["top_images"][0]["name"] == "registry.example.com/team/app"
    assert cp["top_images"][0]["digest"] == digest(3)
    w2 = by_name["w-2"]
    assert w2["ready"] is False and w2["schedulable"] is False
    w3 = by_name["w-3"]
    assert w3["image_count"] == 0 and w3["capacity_bytes"] is None and w3["percent_of_capacity"] is None
    assert w3["zone"] is None


COMPACT_KEYS = {"name", "image_count", "total_bytes", "total_human", "capacity_bytes", "percent_of_capacity",
                "truncated", "top_images", "roles", "zone", "ready", "schedulable"}


def test_compact_entries_leave_out_what_other_fields_say():
    full = [image("ghcr.io/acme/app%d" % i, 10 + i, (60 - i) * MI) for i in range(50)]  # a truncated list
    broken = [NGINX, {"names": ["x:1"]}, PAUSE]
    report = node_images_report(StubClient([node("big", full), node("odd", broken, capacity="lots")] + CLUSTER))
    by_name = dict((n["name"], n) for n in report["nodes"])
    cp = by_name["cp-1"]
    assert set(cp) == COMPACT_KEYS
    assert [set(i) for i in cp["top_images"]] == [{"name", "digest", "tags", "size_bytes"}] * 3
    big = by_name["big"]
    assert set(big) == COMPACT_KEYS and big["truncated"] is True  # no sentence repeating the flag
    assert len(big["top_images"]) == 3 and big["top_images"][0]["size_bytes"] == 60 * MI
    odd = by_name["odd"]  # what only a note or the malformed list can say is still said
    assert odd["malformed"] == [{"index": 1, "reason": "missing sizeBytes", "counted": False}]
    assert len(odd["notes"]) == 1 and "ephemeral-storage capacity cannot be read" in odd["notes"][0]


def test_complete_entries_are_every_field():
    full = [image("ghcr.io/acme/app%d" % i, 10 + i, (60 - i) * MI) for i in range(50)]
    report = node_images_report(StubClient([node("big", full)] + CLUSTER), detail="complete", top=5)
    by_name = dict((n["name"], n) for n in report["nodes"])
    assert set(by_name["cp-1"]) == COMPACT_KEYS | {"max_images", "malformed", "notes"}
    assert by_name["cp-1"]["malformed"] == [] and by_name["cp-1"]["notes"] == []
    assert by_name["cp-1"]["top_images"][0]["size_human"] == "2.0 GiB"
    assert len(by_name["big"]["top_images"]) == 5  # top, as before top_per_node existed
    assert "nodeStatusMaxImages" in by_name["big"]["notes"][0] and by_name["big"]["max_images"] == 50


@pytest.mark.parametrize("detail, top_per_node, listed", [("compact", 1, 1), ("complete", 2, 2), ("compact", 0, 0)])
def test_top_per_node_sizes_the_per_node_list_only(detail, top_per_node, listed):
    report = node_images_report(StubClient(CLUSTER), detail=detail, top=2, top_per_node=top_per_node)
    assert len(dict((n["name"], n) for n in report["nodes"])["cp-1"]["top_images"]) == listed
    assert len(report["cluster"]["largest_images"]) == 2


@pytest.mark.parametrize("kwargs, words", [
    ({"detail": "full"}, "detail must be one of compact, complete, got 'full'"),
    ({"top_per_node": -1}, "top_per_node must be at least 0"),
])
def test_bad_detail_options_name_the_option(kwargs, words):
    with pytest.raises(ValidationError) as caught:
        node_images_report(StubClient(CLUSTER), **kwargs)
    assert words in str(caught.value)


def test_cluster_report_counts_shared_and_unique_bytes():
    cluster = node_images_report(StubClient(CLUSTER))["cluster"]
    assert cluster["node_count"] == 4
    assert cluster["distinct_images"] == 4
    # nginx and pause are on three nodes, the app and the tag-only tool on one each.
    assert cluster["unique_bytes"] == 2 * GI + 5 * MI
    assert cluster["shared_bytes"] == 3 * (70 * MI + 321520)
    assert cluster["shared_bytes"] + cluster["unique_bytes"] == cluster["total_bytes"]
    assert cluster["most_common_images"][0]["node_count"] == 3
    assert "imagefs" not in cluster


def test_summary_only_keeps_no_nodes_but_counts_them():
    report = node_images_report(StubClient(CLUSTER), summary_only=True, group_by=["node-role"])
    assert report["nodes"] == [] and report["count"] == 4
    groups = report["cluster"]["groups"]["node-role"]
    assert groups["worker"]["node_count"] == 3
    assert groups["control-plane"]["node_count"] == 1


def test_group_by_label_adds_group_values_per_node():
    report = node_images_report(StubClient(CLUSTER), group_by=["topology.kubernetes.io/zone", "node-role"])
    assert report["nodes"][0]["group_values"] == {"topology.kubernetes.io/zone": "a", "node-role": "control-plane"}
    assert report["cluster"]["groups"]["topology.kubernetes.io/zone"]["<none>"]["node_count"] == 1


@pytest.mark.parametrize("pattern, kind, counts", [
    ("nginx*", "glob", {"cp-1": 1, "w-1": 1, "w-2": 1, "w-3": 0}),
    ("docker.io/library/nginx", "glob", {"cp-1": 1, "w-1": 1, "w-2": 1, "w-3": 0}),
    ("^registry\\.example\\.com/", "regex", {"cp-1": 1, "w-1": 0, "w-2": 0, "w-3": 0}),
    ("tool:dev", "glob", {"cp-1": 0, "w-1": 1, "w-2": 0, "w-3": 0}),
])
def test_image_filter(pattern, kind, counts):
    report = node_images_report(StubClient(CLUSTER), image_filter=pattern, image_filter_type=kind)
    assert dict((n["name"], n["image_count"]) for n in report["nodes"]) == counts
    assert report["cluster"]["image_count_total"] == sum(counts.values())


def test_bad_regex_names_the_option():
    with pytest.raises(ValidationError) as caught:
        node_images_report(StubClient(CLUSTER), image_filter="nginx(", image_filter_type="regex")
    assert "image_filter" in str(caught.value) and "regular expression" in str(caught.value)


@pytest.mark.parametrize("kwargs, words", [
    ({"top": -1}, "top must be at least 0"),
    ({"max_images": -2}, "max_images must be at least -1"),
    ({"imagefs_concurrency": 0}, "imagefs_concurrency must be from 1 to 64"),
    ({"imagefs_timeout": 0}, "imagefs_timeout must be a positive number"),
    ({"group_by": ["Not A Label!"]}, "group_by key"),
])
def test_option_validation(kwargs, words):
    client = StubClient(CLUSTER)
    with pytest.raises(ValidationError) as caught:
        node_images_report(client, **kwargs)
    assert words in str(caught.value)
    assert client.lists == []  # nothing was asked of the API


def test_selectors_and_name_reach_the_api():
    client = StubClient(CLUSTER)
    report = node_images_report(client, name="w-1", label_selectors=["a=b", "c"], field_selectors=["spec.unschedulable=false"],
                                page_size=100)
    assert [n["name"] for n in report["nodes"]] == ["w-1"]
    assert client.lists == [("/api/v1/nodes", "a=b,c", "metadata.name=w-1,spec.unschedulable=false", 100)]


def test_invalid_selector_is_a_validation_error():
    with pytest.raises(ValidationError) as caught:
        node_images_report(StubClient(CLUSTER), label_selectors=["bad selector"])
    assert "label_selectors" in str(caught.value)


def test_max_images_flags_truncation():
    images = [image("r/img%d" % i, 100 + i, (60 - i) * MI) for i in range(5)]
    report = node_images_report(StubClient([node("n", images)]), max_images=5)
    assert report["nodes"][0]["truncated"] is True
    assert report["cluster"]["lower_bound"] is True
    report = node_images_report(StubClient([node("n", images)]), max_images=-1)
    assert report["nodes"][0]["truncated"] is False


# -- imagefs -----------------------------------------------------------------------------------

def test_imagefs_facts_from_a_summary():
    facts = imagefs_facts(summary(100 * GI, 25 * GI, 70 * GI))
    assert facts == {"capacity_bytes": 100 * GI, "used_bytes": 25 * GI, "available_bytes": 70 * GI,
                     "percent": 25.0, "capacity_human": "100.0 GiB", "used_human": "25.0 GiB"}
    # Without availableBytes, what is not used is available.
    assert imagefs_facts(summary(10 * GI, 4 * GI))["available_bytes"] == 6 * GI


@pytest.mark.parametrize("bad, words", [
    ({}, "no node.runtime.imageFs"),
    ({"node": {"runtime": {}}}, "no node.runtime.imageFs"),
    ({"node": {"runtime": {"imageFs": {"usedBytes": 1}}}}, "capacityBytes is missing"),
    ({"node": {"runtime": {"imageFs": {"capacityBytes": 1, "usedBytes": "1"}}}}, "usedBytes is not a non-negative"),
])
def test_imagefs_facts_rejects_incomplete_summaries(bad, words):
    with pytest.raises(ValueError) as caught:
        imagefs_facts(bad)
    assert words in str(caught.value)


@pytest.mark.parametrize("answer, words", [
    (ApiError(403, reason="Forbidden", message='nodes "n" is forbidden: cannot get resource "nodes/proxy"'),
     "needs get on the nodes/proxy resource"),
    (ApiError(503, reason="ServiceUnavailable", message="error trying to reach service: dial tcp: connection refused"),
     "kubelet of node n is unreachable through the API server (HTTP 503"),
    (ApiError(502, reason="BadGateway"), "unreachable through the API server (HTTP 502"),
    (ApiError(404, reason="NotFound"), "no longer exists"),
    (ConnectionFailure("the API server at https://x did not answer GET /api/v1/nodes/n/proxy/stats/summary in time"),
     "did not answer within 2.5 seconds"),
    ({"node": {}}, "cannot be used: it has no node.runtime.imageFs"),
])
def test_fetch_imagefs_turns_failures_into_sentences(answer, words):
    result = fetch_imagefs(StubClient([], {"n": answer}), "n", timeout=2.5)
    assert list(result) == ["imagefs_error"]
    assert words in result["imagefs_error"]


def test_imagefs_per_node_with_failures_reported_not_raised():
    summaries = {
        "cp-1": summary(100 * GI, 10 * GI),
        "w-1": ApiError(403, reason="Forbidden", message="forbidden"),
        "w-2": ApiError(503, reason="ServiceUnavailable", message="no route to host"),
        "w-3": summary(50 * GI, 40 * GI, 10 * GI),
    }
    client = StubClient(CLUSTER, summaries)
    report = node_images_report(client, imagefs=True, imagefs_timeout=3)
    by_name = dict((n["name"], n) for n in report["nodes"])
    assert by_name["cp-1"]["imagefs"]["percent"] == 10.0
    assert "nodes/proxy" in by_name["w-1"]["imagefs_error"] and "imagefs" not in by_name["w-1"]
    assert "unreachable" in by_name["w-2"]["imagefs_error"]
    assert by_name["w-3"]["imagefs"]["used_bytes"] == 40 * GI
    fs = report["cluster"]["imagefs"]
    assert fs["nodes_measured"] == 2 and fs["nodes_failed"] == 2
    assert fs["capacity_bytes"] == 150 * GI and fs["used_bytes"] == 50 * GI
    assert [f["name"] for f in fs["failed_nodes"]] == ["w-1", "w-2"]
    # One request per node, to the proxy subresource, with the timeout asked for.
    assert sorted(client.gets) == sorted(("/api/v1/nodes/%s/proxy/stats/summary" % n, 3) for n in by_name)


def test_imagefs_with_summary_only_gives_cluster_totals():
    summaries = dict((n["metadata"]["name"], summary(10 * GI, 1 * GI)) for n in CLUSTER)
    report = node_images_report(StubClient(CLUSTER, summaries), imagefs=True, summary_only=True)
    assert report["nodes"] == []
    assert report["cluster"]["imagefs"]["nodes_measured"] == 4
    assert report["cluster"]["imagefs"]["percent"] == 10.0


def test_imagefs_concurrency_is_bounded_and_used():
    nodes = [node("n%02d" % i, [PAUSE]) for i in range(24)]
    summaries = dict((n["metadata"]["name"], summary(GI, MI)) for n in nodes)
    client = StubClient(nodes, summaries, delay=0.05)
    started = time.monotonic()
    report = node_images_report(client, imagefs=True, imagefs_concurrency=4)
    elapsed = time.monotonic() - started
    assert all("imagefs" in n for n in report["nodes"])
    assert client.flight["max"] == 4
    assert elapsed < 24 * 0.05  # faster than one at a time


def test_imagefs_reader_does_not_retry_and_keeps_the_callers_policy():
    client = StubClient([], {"n": ApiError(503, reason="ServiceUnavailable")})
    client.retry = "caller's policy"
    with ImageFsReader(client, concurrency=2, timeout=1) as reader:
        reader.submit("n")
        reader.submit("n")  # asked twice, fetched once
        assert "imagefs_error" in reader.result("n")
    assert len(client.gets) == 1
    assert client.retry == "caller's policy"


def test_listing_error_stops_the_imagefs_reader():
    class Failing(StubClient):
        def iter_items(self, *args, **kwargs):
            yield CLUSTER[0]
            raise ApiError(500, reason="InternalError", message="etcd timeout")

    with pytest.raises(ApiError):
        node_images_report(Failing(CLUSTER, {"cp-1": summary(GI, MI)}), imagefs=True)
