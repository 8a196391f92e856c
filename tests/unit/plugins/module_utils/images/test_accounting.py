# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests for images.py: per-node image facts and cluster-wide image accounting.

Nodes are shaped like what the API server returns for kubelets: ``status.images`` largest
first, digests before tags in ``names``, ``ephemeral-storage`` capacity in Ki.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
from collections import defaultdict

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import (
    ImageRef,
    MalformedImageEntry,
    cluster_image_report,
    compile_name_filter,
    node_image_facts,
    node_roles,
    parse_image_entry,
)

GI = 1 << 30
MI = 1 << 20


def digest(n):
    return "sha256:%064x" % n


ETCD = {
    "names": ["registry.k8s.io/etcd@" + digest(1), "registry.k8s.io/etcd:3.5.9-0"],
    "sizeBytes": 102814922,
}
PAUSE = {
    "names": ["registry.k8s.io/pause@" + digest(2), "registry.k8s.io/pause:3.9"],
    "sizeBytes": 321520,
}
NGINX_DIGEST_ONLY = {"names": ["docker.io/library/nginx@" + digest(3)], "sizeBytes": 70 * MI}
LOCAL_TAG_ONLY = {"names": ["localhost:5000/team/app:dev", "localhost:5000/team/app:latest"], "sizeBytes": 5 * MI}
CUDA = {
    "names": [
        "nvcr.io/nvidia/cuda@" + digest(4),
        "nvcr.io/nvidia/cuda:12.2.0-runtime",
        "nvcr.io/nvidia/cuda:latest",
    ],
    "sizeBytes": 3 * GI,
}


def make_node(name, images, capacity="102609848Ki", labels=None):
    node = {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {"name": name, "labels": dict(labels or {})},
        "status": {
            "capacity": {"cpu": "8", "memory": "32780112Ki", "pods": "110"},
            "allocatable": {"cpu": "7910m"},
            "images": copy.deepcopy(images),
        },
    }
    if capacity is not None:
        node["status"]["capacity"]["ephemeral-storage"] = capacity
    return node


def filler(count, start=100, size=MI):
    """``count`` distinct small images, each with a digest and a tag."""
    return [{"names": ["quay.io/fill/img%d@%s" % (i, digest(i)), "quay.io/fill/img%d:1" % i],
             "sizeBytes": size} for i in range(start, start + count)]


# --- parse_image_entry ----------------------------------------------------------------------

@pytest.mark.parametrize("entry, key, repo, image_digest, tags", [
    (ETCD, "registry.k8s.io/etcd@" + digest(1), "registry.k8s.io/etcd", digest(1),
     ("registry.k8s.io/etcd:3.5.9-0",)),
    (NGINX_DIGEST_ONLY, "docker.io/library/nginx@" + digest(3), "docker.io/library/nginx", digest(3), ()),
    # No digest: the first name is the key; a registry port is not a tag.
    (LOCAL_TAG_ONLY, "localhost:5000/team/app:dev", "localhost:5000/team/app", None,
     ("localhost:5000/team/app:dev", "localhost:5000/team/app:latest")),
    ({"names": ["localhost:5000/team/app"], "sizeBytes": 1}, "localhost:5000/team/app",
     "localhost:5000/team/app", None, ("localhost:5000/team/app",)),
    # The same content pushed to two repos: the lowest digest name is the key, whatever the order.
    ({"names": ["b.io/x@" + digest(9), "a.io/x@" + digest(9), "a.io/x:1"], "sizeBytes": 1},
     "a.io/x@" + digest(9), "a.io/x", digest(9), ("a.io/x:1",)),
    # A tag written into a digest name is dropped from the repo.
    ({"names": ["a.io/x:1@" + digest(5)], "sizeBytes": 1}, "a.io/x:1@" + digest(5), "a.io/x", digest(5), ()),
    # A bare image ID, as some runtimes report for untagged images, is not a tag.
    ({"names": [digest(6)], "sizeBytes": 1}, digest(6), digest(6), None, ()),
])
def test_parse_image_entry_names(entry, key, repo, image_digest, tags):
    ref = parse_image_entry(entry)
    assert (ref.key, ref.repo, ref.digest, ref.tags) == (key, repo, image_digest, tags)
    assert ref.size_bytes == entry["sizeBytes"]
    assert ref.problem is None


@pytest.mark.parametrize("names, problem", [
    (None, "no names"),
    ([], "no names"),
    (["", None, 5], "no usable names"),
    ("docker.io/library/nginx:1", "names is not a list"),
])
def test_parse_image_entry_without_usable_names_is_kept_with_a_placeholder(names, problem):
    entry = {"sizeBytes": 1234}
    if names is not None:
        entry["names"] = names
    ref = parse_image_entry(entry, index=7)
    assert ref.key == "<unnamed:7>"
    assert ref.size_bytes == 1234
    assert ref.problem == problem
    assert ref.names == () and ref.digest is None


def test_parse_image_entry_ignores_unusable_names_next_to_good_ones():
    ref = parse_image_entry({"names": [None, "", "docker.io/library/redis:7"], "sizeBytes": 1})
    assert ref.key == "docker.io/library/redis:7"
    assert ref.problem is None


@pytest.mark.parametrize("entry, reason", [
    ({"names": ["a.io/x:1"]}, "missing sizeBytes"),
    ({"names": ["a.io/x:1"], "sizeBytes": None}, "missing sizeBytes"),
    ({"names": ["a.io/x:1"], "sizeBytes": -1}, "negative sizeBytes"),
    ({"names": ["a.io/x:1"], "sizeBytes": "1024"}, "non-integer sizeBytes"),
    ({"names": ["a.io/x:1"], "sizeBytes": 10.5}, "non-integer sizeBytes"),
    ({"names": ["a.io/x:1"], "sizeBytes": True}, "non-integer sizeBytes"),
    ("a.io/x:1", "entry is not a mapping"),
    (None, "entry is not a mapping"),
])
def test_parse_image_entry_rejects_unknown_sizes(entry, reason):
    with pytest.raises(MalformedImageEntry) as caught:
        parse_image_entry(entry, index=3)
    assert caught.value.reason == reason
    assert caught.value.index == 3
    assert "status.images[3]" in str(caught.value)
    assert isinstance(caught.value, ValueError)


def test_image_ref_equality_and_repr():
    a = parse_image_entry(ETCD)
    assert a == parse_image_entry(copy.deepcopy(ETCD))
    assert a != parse_image_entry(PAUSE)
    assert "registry.k8s.io/etcd" in repr(a)


# --- node_image_facts -------------------------------------------------------------------------

def test_node_facts_for_a_typical_node():
    node = make_node("worker-1", [CUDA, ETCD, NGINX_DIGEST_ONLY, LOCAL_TAG_ONLY, PAUSE])
    facts = node_image_facts(node, top=3)
    total = 3 * GI + 102814922 + 70 * MI + 5 * MI + 321520
    capacity = 102609848 * 1024
    assert facts["name"] == "worker-1"
    assert facts["image_count"] == 5
    assert facts["total_bytes"] == total
    assert facts["total_human"] == "3.2 GiB"
    assert facts["capacity_bytes"] == capacity
    assert facts["percent_of_capacity"] == 3.24  # 3403005114 / 105072484352
    assert facts["truncated"] is False
    assert facts["max_images"] == 50
    assert facts["malformed"] == []
    assert facts["notes"] == []
    assert "images" not in facts
    assert facts["top_images"] == [
        {"name": "nvcr.io/nvidia/cuda", "digest": digest(4),
         "tags": ["nvcr.io/nvidia/cuda:12.2.0-runtime", "nvcr.io/nvidia/cuda:latest"],
         "size_bytes": 3 * GI, "size_human": "3.0 GiB"},
        {"name": "registry.k8s.io/etcd", "digest": digest(1), "tags": ["registry.k8s.io/etcd:3.5.9-0"],
         "size_bytes": 102814922, "size_human": "98.1 MiB"},
        {"name": "docker.io/library/nginx", "digest": digest(3), "tags": [],
         "size_bytes": 70 * MI, "size_human": "70.0 MiB"},
    ]
    json.dumps(facts)


def test_top_images_sorted_largest_first_even_if_listed_otherwise():
    node = make_node("n", [PAUSE, LOCAL_TAG_ONLY, CUDA, ETCD])
    facts = node_image_facts(node, top=None)
    sizes = [image["size_bytes"] for image in facts["top_images"]]
    assert sizes == sorted(sizes, reverse=True) and len(sizes) == 4


@pytest.mark.parametrize("top, expected", [(0, 0), (2, 2), (10, 5), (None, 5), (-1, 0)])
def test_top_limits_the_list_not_the_totals(top, expected):
    facts = node_image_facts(make_node("n", [CUDA, ETCD, NGINX_DIGEST_ONLY, LOCAL_TAG_ONLY, PAUSE]), top=top)
    assert len(facts["top_images"]) == expected
    assert facts["image_count"] == 5


@pytest.mark.parametrize("count, max_images, truncated", [
    (50, 50, True),      # exactly the kubelet's default limit: probably more on disk
    (49, 50, False),
    (0, 50, False),
    (20, 20, True),      # a cluster with nodeStatusMaxImages=20
    (60, 50, True),
    (50, None, False),   # no limit known
    (50, -1, False),     # nodeStatusMaxImages=-1: the kubelet lists everything
])
def test_truncation_flag(count, max_images, truncated):
    facts = node_image_facts(make_node("n", filler(count)), max_images=max_images)
    assert facts["truncated"] is truncated
    assert facts["image_count"] == count
    assert facts["total_bytes"] == count * MI
    assert any("lower bound" in note for note in facts["notes"]) is truncated


@pytest.mark.parametrize("capacity, expected_bytes, expected_percent", [
    (None, None, None),
    ("100Gi", 100 * GI, 5.0),
    ("107374182400", 100 * GI, 5.0),
    ("0", 0, None),
])
def test_capacity_and_percent(capacity, expected_bytes, expected_percent):
    node = make_node("n", [{"names": ["a.io/big:1"], "sizeBytes": 5 * GI}], capacity=capacity)
    facts = node_image_facts(node)
    assert facts["capacity_bytes"] == expected_bytes
    assert facts["percent_of_capacity"] == expected_percent


def test_unreadable_capacity_gives_no_percentage_and_says_why():
    node = make_node("n", [ETCD], capacity="lots")
    facts = node_image_facts(node)
    assert facts["capacity_bytes"] is None and facts["percent_of_capacity"] is None
    assert facts["total_bytes"] == ETCD["sizeBytes"]
    assert len(facts["notes"]) == 1 and "ephemeral-storage" in facts["notes"][0]


def test_percent_has_two_decimals():
    node = make_node("n", [{"names": ["a.io/x:1"], "sizeBytes": 1}], capacity="3")
    assert node_image_facts(node)["percent_of_capacity"] == 33.33


@pytest.mark.parametrize("node", [
    {"metadata": {"name": "bare"}},
    {"metadata": {"name": "bare"}, "status": {}},
    {"metadata": {"name": "bare"}, "status": {"images": None}},
    {"metadata": {"name": "bare"}, "status": {"images": []}},
])
def test_node_without_images(node):
    facts = node_image_facts(node, include_images=True)
    assert facts["image_count"] == 0 and facts["total_bytes"] == 0 and facts["total_human"] == "0 B"
    assert facts["top_images"] == [] and facts["images"] == []
    assert facts["truncated"] is False and facts["percent_of_capacity"] is None


def test_images_that_are_not_a_list_are_reported():
    facts = node_image_facts({"metadata": {"name": "x"}, "status": {"images": {"oops": 1}}})
    assert facts["image_count"] == 0
    assert "not a list" in facts["notes"][0]


def test_malformed_entries_are_listed_skipped_or_counted():
    entries = [
        CUDA,                                                   # 0 fine
        {"names": ["a.io/no-size:1"]},                          # 1 skipped
        {"names": ["a.io/neg:1"], "sizeBytes": -5},             # 2 skipped
        {"names": ["a.io/str:1"], "sizeBytes": "2048"},         # 3 skipped
        {"sizeBytes": 1000},                                    # 4 counted, unnamed
        {"names": [], "sizeBytes": 2000},                       # 5 counted, unnamed
        "garbage",                                              # 6 skipped
        PAUSE,                                                  # 7 fine
    ]
    facts = node_image_facts(make_node("n", entries), include_images=True, top=None)
    assert facts["malformed"] == [
        {"index": 1, "reason": "missing sizeBytes", "counted": False},
        {"index": 2, "reason": "negative sizeBytes", "counted": False},
        {"index": 3, "reason": "non-integer sizeBytes", "counted": False},
        {"index": 4, "reason": "no names", "counted": True},
        {"index": 5, "reason": "no names", "counted": True},
        {"index": 6, "reason": "entry is not a mapping", "counted": False},
    ]
    assert facts["image_count"] == 4
    assert facts["total_bytes"] == 3 * GI + 1000 + 2000 + PAUSE["sizeBytes"]
    keys = [image["key"] for image in facts["images"]]
    assert "<unnamed:4>" in keys and "<unnamed:5>" in keys
    assert len(set(keys)) == len(keys)
    unnamed_top = [image for image in facts["top_images"] if image["name"].startswith("<unnamed:")]
    assert sorted(image["name"] for image in unnamed_top) == ["<unnamed:4>", "<unnamed:5>"]


def test_truncation_counts_malformed_entries_too():
    # The kubelet's limit applies to the list it sends, whatever we can read of it.
    entries = filler(49) + [{"names": ["a.io/x:1"]}]
    assert node_image_facts(make_node("n", entries))["truncated"] is True


def test_include_images_is_compact_and_complete():
    facts = node_image_facts(make_node("n", [ETCD, LOCAL_TAG_ONLY]), include_images=True)
    assert facts["images"] == [
        {"key": "registry.k8s.io/etcd@" + digest(1), "size_bytes": ETCD["sizeBytes"],
         "tags": ("registry.k8s.io/etcd:3.5.9-0",)},
        {"key": "localhost:5000/team/app:dev", "size_bytes": 5 * MI,
         "tags": ("localhost:5000/team/app:dev", "localhost:5000/team/app:latest")},
    ]
    # Tags are tuples in memory and lists once serialized.
    assert json.loads(json.dumps(facts["images"]))[0]["tags"] == ["registry.k8s.io/etcd:3.5.9-0"]


def test_name_filter_limits_count_total_and_top_but_not_truncation():
    entries = [CUDA] + filler(49)
    node = make_node("n", entries)
    facts = node_image_facts(node, name_filter=compile_name_filter("cuda*"), include_images=True)
    assert facts["image_count"] == 1
    assert facts["total_bytes"] == 3 * GI
    assert [image["name"] for image in facts["top_images"]] == ["nvcr.io/nvidia/cuda"]
    assert [image["key"] for image in facts["images"]] == ["nvcr.io/nvidia/cuda@" + digest(4)]
    assert facts["truncated"] is True


def test_name_filter_matching_nothing():
    facts = node_image_facts(make_node("n", [ETCD, PAUSE]), name_filter=compile_name_filter("nothing*"))
    assert facts["image_count"] == 0 and facts["total_bytes"] == 0 and facts["top_images"] == []


def test_custom_name_filter_receives_image_refs():
    seen = []

    def only_big(ref):
        seen.append(ref)
        return ref.size_bytes > GI

    facts = node_image_facts(make_node("n", [CUDA, ETCD, {"sizeBytes": 2 * GI}]), name_filter=only_big)
    assert all(isinstance(ref, ImageRef) for ref in seen) and len(seen) == 3
    assert facts["image_count"] == 2
    assert facts["total_bytes"] == 5 * GI


def test_group_values():
    labels = {
        "topology.kubernetes.io/zone": "eu-west-1a",
        "node-role.kubernetes.io/worker": "",
        "node-role.kubernetes.io/gpu": "",
    }
    facts = node_image_facts(make_node("n", [ETCD], labels=labels),
                             group_by=["topology.kubernetes.io/zone", "node-role", "missing/label"])
    assert facts["group_values"] == {
        "topology.kubernetes.io/zone": "eu-west-1a",
        "node-role": "gpu,worker",
        "missing/label": "<none>",
    }
    assert node_image_facts(make_node("n", [ETCD]), group_by=["node-role"])["group_values"] == {"node-role": "<none>"}
    assert node_image_facts(make_node("n", [ETCD]))["group_values"] == {}


@pytest.mark.parametrize("labels, roles", [
    (None, []),
    ({}, []),
    ({"kubernetes.io/hostname": "n1"}, []),
    ({"node-role.kubernetes.io/control-plane": ""}, ["control-plane"]),
    ({"node-role.kubernetes.io/worker": "true", "node-role.kubernetes.io/infra": ""}, ["infra", "worker"]),
    ({"kubernetes.io/role": "master"}, ["master"]),
    ({"kubernetes.io/role": "master", "node-role.kubernetes.io/master": ""}, ["master"]),
    ({"node-role.kubernetes.io/": ""}, []),
    ({"kubernetes.io/role": ""}, []),
])
def test_node_roles(labels, roles):
    assert node_roles(labels) == roles


# --- compile_name_filter --------------------------------------------------------------------

REFS = {
    "etcd": parse_image_entry(ETCD),
    "nginx": parse_image_entry(NGINX_DIGEST_ONLY),
    "local": parse_image_entry(LOCAL_TAG_ONLY),
    "cuda": parse_image_entry(CUDA),
    "unnamed": parse_image_entry({"sizeBytes": 1}, 0),
}


@pytest.mark.parametrize("pattern, kind, matching", [
    ("nginx", "glob", {"nginx"}),                                 # short repo name
    ("docker.io/library/nginx", "glob", {"nginx"}),               # full repo
    ("etcd:3.5*", "glob", {"etcd"}),                              # short tag
    ("registry.k8s.io/*", "glob", {"etcd"}),
    ("*@sha256:*", "glob", {"etcd", "nginx", "cuda"}),            # any digest name
    ("*", "glob", {"etcd", "nginx", "cuda", "local"}),            # never the unnamed one
    ("app:latest", "glob", {"local"}),
    ("CUDA*", "glob", set()),                                     # case-sensitive
    ("cuda", "regex", {"cuda"}),                                  # searched anywhere
    (r"^nvcr\.io/", "regex", {"cuda"}),
    (r":(dev|3\.5\.9-0)$", "regex", {"etcd", "local"}),
    ("^nginx$", "regex", {"nginx"}),
    (digest(3)[-10:], "regex", {"nginx"}),                         # part of a digest
])
def test_compile_name_filter(pattern, kind, matching):
    name_filter = compile_name_filter(pattern, kind=kind)
    assert {name for name, ref in REFS.items() if name_filter(ref)} == matching


@pytest.mark.parametrize("pattern, kind, message", [
    ("(unclosed", "regex", "invalid regular expression '(unclosed'"),
    ("*", "regex", "invalid regular expression '*'"),
    ("", "glob", "non-empty string"),
    (None, "glob", "non-empty string"),
    ("nginx", "sql", "use 'glob' or 'regex'"),
])
def test_compile_name_filter_errors(pattern, kind, message):
    with pytest.raises(ValueError) as caught:
        compile_name_filter(pattern, kind=kind)
    assert message in str(caught.value)


# --- cluster_image_report: a small cluster computed by hand --------------------------------

A = {"names": ["a.io/a@" + digest(0xA), "a.io/a:1"], "sizeBytes": 100}
B = {"names": ["b.io/b@" + digest(0xB), "b.io/b:1"], "sizeBytes": 50}
C = {"names": ["c.io/c@" + digest(0xC)], "sizeBytes": 30}
D = {"names": ["d.io/d:dev"], "sizeBytes": 20}


def small_cluster():
    zone = "topology.kubernetes.io/zone"
    return [
        make_node("node-a", [A, B, {"sizeBytes": 7}], capacity="1Ki",
                  labels={zone: "z1", "node-role.kubernetes.io/worker": ""}),
        make_node("node-b", [A, C, {"names": [], "sizeBytes": 9}], capacity="1Ki",
                  labels={zone: "z1", "node-role.kubernetes.io/control-plane": ""}),
        make_node("node-c", [A, B, D], capacity="1Ki", labels={zone: "z2", "node-role.kubernetes.io/worker": ""}),
    ]


def report_for(nodes, top=10, group_by=None, **facts_options):
    facts = (node_image_facts(node, include_images=True, group_by=group_by, **facts_options) for node in nodes)
    return cluster_image_report(facts, top=top, group_by=group_by)


def test_cluster_report_hand_computed():
    report = report_for(small_cluster(), top=3, group_by=["topology.kubernetes.io/zone", "node-role"])
    # node-a 100+50+7, node-b 100+30+9, node-c 100+50+20
    assert report["total_bytes"] == 157 + 139 + 170 == 466
    # A on three nodes, B on two.
    assert report["shared_bytes"] == 3 * 100 + 2 * 50 == 400
    # C, D and the two unnamed images, which never match across nodes.
    assert report["unique_bytes"] == 30 + 20 + 7 + 9 == 66
    assert report["distinct_bytes"] == 100 + 50 + 30 + 20 + 7 + 9 == 216
    assert report["distinct_images"] == 6
    assert report["node_count"] == 3
    assert report["image_count_total"] == 9
    assert report["nodes_truncated"] == 0 and report["lower_bound"] is False
    assert [(i["name"], i["size_bytes"], i["node_count"]) for i in report["largest_images"]] == [
        ("a.io/a", 100, 3), ("b.io/b", 50, 2), ("c.io/c", 30, 1)]
    assert [(i["name"], i["node_count"]) for i in report["most_common_images"]] == [
        ("a.io/a", 3), ("b.io/b", 2), ("c.io/c", 1)]
    first = report["largest_images"][0]
    assert first == {
        "key": "a.io/a@" + digest(0xA), "name": "a.io/a", "digest": digest(0xA), "tags": ["a.io/a:1"],
        "size_bytes": 100, "size_human": "100 B", "node_count": 3, "nodes": ["node-a", "node-b", "node-c"],
    }
    assert report["groups"] == {
        "topology.kubernetes.io/zone": {
            "z1": {"node_count": 2, "total_bytes": 157 + 139, "image_count": 6, "nodes_truncated": 0},
            "z2": {"node_count": 1, "total_bytes": 170, "image_count": 3, "nodes_truncated": 0},
        },
        "node-role": {
            "worker": {"node_count": 2, "total_bytes": 157 + 170, "image_count": 6, "nodes_truncated": 0},
            "control-plane": {"node_count": 1, "total_bytes": 139, "image_count": 3, "nodes_truncated": 0},
        },
    }
    assert any("no name" in note for note in report["notes"])
    json.dumps(report)


def test_cluster_report_lists_every_image_with_top_none_and_tag_keyed_names():
    report = report_for(small_cluster(), top=None)
    images = report["largest_images"]
    assert len(images) == 6
    [local] = [image for image in images if image["key"] == "d.io/d:dev"]
    assert local["name"] == "d.io/d" and local["digest"] is None and local["tags"] == ["d.io/d:dev"]
    # Both nodes have an unnamed image at index 2; they stay two images.
    unnamed = [image for image in images if image["key"] == "<unnamed:2>"]
    assert sorted((image["nodes"], image["size_bytes"]) for image in unnamed) == [(["node-a"], 7), (["node-b"], 9)]


def test_cluster_report_flags_truncated_nodes_as_lower_bounds():
    nodes = [make_node("full", filler(50)), make_node("light", filler(3))]
    report = report_for(nodes)
    assert report["nodes_truncated"] == 1
    assert report["lower_bound"] is True
    assert any("1 of 2 nodes" in note and "lower bounds" in note for note in report["notes"])


def test_cluster_report_lists_at_most_ten_nodes_per_image():
    report = report_for([make_node("node-%02d" % i, [A]) for i in range(25)])
    image = report["largest_images"][0]
    assert image["node_count"] == 25
    assert image["nodes"] == ["node-%02d" % i for i in range(10)]


def test_cluster_report_differing_sizes_use_the_largest_for_distinct_bytes():
    bigger_a = dict(A, sizeBytes=120)
    report = report_for([make_node("x", [A]), make_node("y", [bigger_a])])
    assert report["total_bytes"] == report["shared_bytes"] == 220
    assert report["distinct_bytes"] == 120
    assert report["largest_images"][0]["size_bytes"] == 120
    assert any("different sizes" in note for note in report["notes"])


def test_cluster_report_counts_an_image_listed_twice_on_a_node_once_per_node():
    report = report_for([make_node("x", [D, D]), make_node("y", [B])])
    d = [image for image in report["largest_images"] if image["key"] == "d.io/d:dev"][0]
    assert d["node_count"] == 1 and d["nodes"] == ["x"]
    assert report["unique_bytes"] == 40 + 50
    assert report["shared_bytes"] == 0


def test_cluster_report_with_a_filter():
    nodes = small_cluster()
    facts = [node_image_facts(n, include_images=True, name_filter=compile_name_filter("b*")) for n in nodes]
    report = cluster_image_report(facts)
    assert report["total_bytes"] == 100 and report["shared_bytes"] == 100
    assert report["distinct_images"] == 1 and report["image_count_total"] == 2


def test_cluster_report_of_no_nodes():
    report = cluster_image_report(iter([]))
    assert report["node_count"] == 0 and report["total_bytes"] == 0
    assert report["largest_images"] == [] and report["groups"] == {} and report["notes"] == []


def test_cluster_report_consumes_a_generator_once():
    consumed = []

    def facts():
        for node in small_cluster():
            consumed.append(node["metadata"]["name"])
            yield node_image_facts(node, include_images=True)

    report = cluster_image_report(facts())
    assert consumed == ["node-a", "node-b", "node-c"] and report["node_count"] == 3


def test_cluster_report_accepts_facts_read_back_from_json():
    facts = [node_image_facts(n, include_images=True, group_by=["node-role"]) for n in small_cluster()]
    direct = cluster_image_report(facts)
    assert cluster_image_report(json.loads(json.dumps(facts))) == direct


def test_cluster_report_requires_images():
    facts = [node_image_facts(small_cluster()[0])]
    with pytest.raises(ValueError) as caught:
        cluster_image_report(facts)
    assert "include_images=True" in str(caught.value) and "node-a" in str(caught.value)


def test_cluster_report_requires_requested_group_values():
    facts = [node_image_facts(small_cluster()[0], include_images=True)]
    with pytest.raises(ValueError) as caught:
        cluster_image_report(facts, group_by=["topology.kubernetes.io/zone"])
    assert "topology.kubernetes.io/zone" in str(caught.value)


# --- properties -------------------------------------------------------------------------------

POOL = [{"names": ["r.io/img%d@%s" % (i, digest(i)), "r.io/img%d:v%d" % (i, i % 3)], "sizeBytes": (i + 1) * 1000}
        for i in range(12)]
# Images without a digest key on their tag; two images share one tag-keyed name space.
POOL += [{"names": ["r.io/local%d:dev" % i], "sizeBytes": 77 + i} for i in range(3)]

pool_indices = st.lists(st.integers(min_value=0, max_value=len(POOL) - 1), unique=True, max_size=8)
cluster_shapes = st.lists(st.tuples(pool_indices, st.integers(min_value=0, max_value=2),
                                    st.sampled_from(["z1", "z2", "z3"])), max_size=12)


def build_cluster(shape):
    nodes = []
    for number, (indices, unnamed, zone) in enumerate(shape):
        entries = [POOL[i] for i in indices] + [{"sizeBytes": 5 + k} for k in range(unnamed)]
        nodes.append(make_node("node-%d" % number, entries, labels={"topology.kubernetes.io/zone": zone}))
    return nodes


def naive_report(nodes):
    """Brute force over explicit (node, image) placements, to compare the streaming counters with."""
    placements = []
    for node in nodes:
        for index, entry in enumerate(node["status"]["images"]):
            key = entry["names"][0] if entry.get("names") else (node["metadata"]["name"], index)
            if entry.get("names") and any("@" in n for n in entry["names"]):
                key = min(n for n in entry["names"] if "@" in n)
            placements.append((node["metadata"]["name"], key, entry["sizeBytes"]))
    nodes_of = defaultdict(set)
    size_of = {}
    for node_name, key, size in placements:
        nodes_of[key].add(node_name)
        size_of[key] = max(size, size_of.get(key, 0))
    total = sum(size for dummy, dummy, size in placements)
    shared = sum(size for dummy, key, size in placements if len(nodes_of[key]) > 1)
    return {"total_bytes": total, "shared_bytes": shared, "unique_bytes": total - shared,
            "distinct_bytes": sum(size_of.values()), "distinct_images": len(size_of),
            "image_count_total": len(placements)}


@settings(max_examples=150, deadline=None)
@given(cluster_shapes)
def test_cluster_report_agrees_with_brute_force(shape):
    nodes = build_cluster(shape)
    report = report_for(nodes, group_by=["topology.kubernetes.io/zone"])
    expected = naive_report(nodes)
    for field, value in expected.items():
        assert report[field] == value, field
    assert report["shared_bytes"] + report["unique_bytes"] == report["total_bytes"]
    assert report["distinct_bytes"] <= report["total_bytes"]
    assert report["node_count"] == len(nodes)
    zones = report["groups"].get("topology.kubernetes.io/zone", {})
    assert sum(group["node_count"] for group in zones.values()) == len(nodes)
    assert sum(group["total_bytes"] for group in zones.values()) == report["total_bytes"]
    largest = [image["size_bytes"] for image in report["largest_images"]]
    assert largest == sorted(largest, reverse=True)
    common = [image["node_count"] for image in report["most_common_images"]]
    assert common == sorted(common, reverse=True)


@settings(max_examples=150, deadline=None)
@given(pool_indices, st.sampled_from(["img1*", "*:v0", "local*", "r.io/img1?", "*", "nothing"]))
def test_filtered_facts_are_a_subset(indices, pattern):
    node = make_node("n", [POOL[i] for i in indices])
    everything = node_image_facts(node, include_images=True, top=None)
    name_filter = compile_name_filter(pattern)
    subset = node_image_facts(node, include_images=True, top=None, name_filter=name_filter)
    all_keys = [image["key"] for image in everything["images"]]
    kept_keys = [image["key"] for image in subset["images"]]
    assert set(kept_keys) <= set(all_keys)
    assert subset["image_count"] <= everything["image_count"]
    assert subset["total_bytes"] == sum(image["size_bytes"] for image in subset["images"])
    assert subset["total_bytes"] <= everything["total_bytes"]
    assert subset["truncated"] == everything["truncated"]
    expected = [POOL[i] for i in indices if name_filter(parse_image_entry(POOL[i]))]
    assert subset["image_count"] == len(expected)
    if pattern == "*":
        assert subset["total_bytes"] == everything["total_bytes"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.one_of(
    st.sampled_from(POOL),
    st.fixed_dictionaries({"sizeBytes": st.one_of(st.none(), st.integers(-5, 5), st.text(max_size=3),
                                                  st.floats(allow_nan=True))},
                          optional={"names": st.one_of(st.none(), st.lists(st.one_of(st.text(max_size=6),
                                                                                     st.none(), st.integers())))}),
    st.none(), st.integers(), st.text(max_size=3)), max_size=20))
def test_any_image_list_is_accounted_for(entries):
    facts = node_image_facts(make_node("n", entries), include_images=True, top=None)
    skipped = [m for m in facts["malformed"] if not m["counted"]]
    # Every entry is either counted or reported as skipped, and only valid sizes are summed.
    assert facts["image_count"] + len(skipped) == len(entries)
    valid = [e["sizeBytes"] for e in entries
             if isinstance(e, dict) and isinstance(e.get("sizeBytes"), int)
             and not isinstance(e["sizeBytes"], bool) and e["sizeBytes"] >= 0]
    assert facts["total_bytes"] == sum(valid)
    assert len(set(image["key"] for image in facts["images"] if image["key"].startswith("<unnamed:"))) == \
        len([m for m in facts["malformed"] if m["counted"]])
    json.dumps(facts)


def test_heaviest_images_weigh_size_times_nodes():
    report = report_for(small_cluster(), top=3)
    assert [(i["name"], i["total_bytes"], i["node_count"]) for i in report["heaviest_images"]] == [
        ("a.io/a", 300, 3), ("b.io/b", 100, 2), ("c.io/c", 30, 1)]
    assert report["heaviest_images"][0]["total_human"] == "300 B"


def test_accounting_one_node_at_a_time_equals_the_whole_report():
    from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import ImageAccounting
    group_by = ["topology.kubernetes.io/zone"]
    accounting = ImageAccounting(group_by)
    for node in small_cluster():
        accounting.add(node_image_facts(node, include_images=True, group_by=group_by))
    assert accounting.report(5) == report_for(small_cluster(), top=5, group_by=group_by)
