# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import datetime
import json
import os
import random
import stat

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift import baseline as bl
from ansible_collections.nodewatch.k8s.plugins.module_utils.common import files
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.baseline import (
    BaselineError,
    ConfigMapBaselineStore,
    FileBaselineStore,
    build_baseline,
    configmap_data_size,
    diff_baselines,
    join_from_configmaps,
    load_baseline,
    split_for_configmaps,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError

CAPTURED = "2026-11-18T10:00:00Z"
CONFIGMAP_LIMIT = 1048576


def node_facts(name, images, truncated=False):
    return {"name": name, "image_count": len(images), "total_bytes": sum(s for dummy, s in images),
            "truncated": truncated, "images": [{"key": k, "size_bytes": s} for k, s in images]}


def small_doc(**kwargs):
    facts = [
        node_facts("worker-1", [("quay.io/a@sha256:01", 100), ("quay.io/b:1", 23)]),
        node_facts("worker-2", [("quay.io/a@sha256:01", 100)], truncated=True),
        node_facts("worker-3", []),
    ]
    return build_baseline(facts, captured_at=kwargs.pop("captured_at", CAPTURED), **kwargs)


def realistic_facts(nodes, images_per_node=50, pool_size=3000, seed=7):
    """Nodes sharing 20 DaemonSet images plus 30 drawn from a pool of workload images."""
    rng = random.Random(seed)

    def digest():
        return "%064x" % rng.getrandbits(256)

    daemon = [("registry.k8s.io/kube-proxy-%d@sha256:%s" % (i, digest()), rng.randint(20, 90) << 20)
              for i in range(20)]
    pool = [("registry.example.com/team-%02d/service-%04d@sha256:%s" % (i % 40, i, digest()),
             rng.randint(5, 2000) << 20) for i in range(pool_size)]
    for n in range(nodes):
        images = daemon + rng.sample(pool, images_per_node - len(daemon))
        yield node_facts("ip-10-%d-%d-%d.eu-west-1.compute.internal" % (n >> 16, (n >> 8) & 255, n & 255), images)


# ----------------------------------------------------------------------------------------------
# Document, build, load
# ----------------------------------------------------------------------------------------------

def test_build_baseline_shape():
    doc = small_doc(cluster="prod")
    assert doc == {
        "format": "nodewatch.k8s/baseline", "version": 1, "captured_at": CAPTURED, "cluster": "prod",
        "nodes": {
            "worker-1": {"total_bytes": 123, "image_count": 2, "images": {"quay.io/a@sha256:01": 100, "quay.io/b:1": 23}},
            "worker-2": {"total_bytes": 100, "image_count": 1, "images": {"quay.io/a@sha256:01": 100}, "truncated": True},
            "worker-3": {"total_bytes": 0, "image_count": 0, "images": {}},
        },
    }
    assert load_baseline(bl.dump_baseline(doc)) == doc
    assert load_baseline(bl.dump_baseline(doc).encode("utf-8")) == doc


def test_build_accepts_pairs_and_timestamps():
    pairs = [(node_facts("a", [("x", 1)]), {"pool": "b"})]
    assert build_baseline(pairs, captured_at=CAPTURED)["nodes"]["a"]["total_bytes"] == 1
    tz = datetime.timezone(datetime.timedelta(hours=2))
    doc = build_baseline([], captured_at=datetime.datetime(2026, 11, 18, 12, 0, 0, tzinfo=tz))
    assert doc["captured_at"] == CAPTURED
    now = build_baseline([])["captured_at"]
    assert now.endswith("Z") and bl._timestamp_problem(now) is None
    assert "cluster" not in doc


@pytest.mark.parametrize("facts,captured_at,words", [
    ([node_facts("a", []), node_facts("a", [])], CAPTURED, "appears twice"),
    ([{"images": []}], CAPTURED, "with a 'name'"),
    ([], "2026-11-18T10:00:00+02:00", "RFC 3339 UTC"),
    ([], "2026-02-30T10:00:00Z", "not a real date"),
])
def test_build_errors(facts, captured_at, words):
    with pytest.raises(BaselineError, match=words):
        build_baseline(facts, captured_at=captured_at)


def _mutated(change):
    doc = json.loads(bl.dump_baseline(small_doc()))
    change(doc)
    return json.dumps(doc)


LOAD_ERRORS = [
    # (id, text, words in the message)
    ("not json", "{nodes: 1", "not valid JSON"),
    ("empty", "   ", "is empty"),
    ("array", "[]", "must be a JSON object"),
    ("foreign format", json.dumps({"format": "someone/else", "version": 1}), "format is 'someone/else'"),
    ("no format", json.dumps({"version": 1, "nodes": {}}), "'format' field is missing"),
    ("split manifest", json.dumps({"format": "nodewatch.k8s/baseline-split"}), "split across ConfigMaps"),
    ("future version", _mutated(lambda d: d.update(version=2)), "unsupported baseline version 2"),
    ("bool version", _mutated(lambda d: d.update(version=True)), "unsupported baseline version True"),
    ("missing nodes", _mutated(lambda d: d.pop("nodes")), "required field 'nodes' is missing"),
    ("missing captured_at", _mutated(lambda d: d.pop("captured_at")), "required field 'captured_at'"),
    ("unknown top key", _mutated(lambda d: d.update(extra=1)), "unknown field(s) 'extra'"),
    ("local time", _mutated(lambda d: d.update(captured_at="2026-11-18 10:00:00")), "RFC 3339 UTC"),
    ("cluster int", _mutated(lambda d: d.update(cluster=5)), "cluster must be a string"),
    ("nodes list", _mutated(lambda d: d.update(nodes=[])), "nodes must be an object"),
    ("node not object", _mutated(lambda d: d["nodes"].update(x=1)), "nodes['x'] must be an object"),
    ("node missing field", _mutated(lambda d: d["nodes"]["worker-1"].pop("images")), "nodes['worker-1']: the required field 'images'"),
    ("node unknown field", _mutated(lambda d: d["nodes"]["worker-1"].update(labels={})), "unknown field(s) 'labels'"),
    ("total as string", _mutated(lambda d: d["nodes"]["worker-1"].update(total_bytes="123")), "total_bytes must be a non-negative integer, got '123' (str)"),
    ("total negative", _mutated(lambda d: d["nodes"]["worker-1"].update(total_bytes=-1)), "total_bytes must be a non-negative integer"),
    ("count bool", _mutated(lambda d: d["nodes"]["worker-1"].update(image_count=True)), "image_count must be a non-negative integer"),
    ("count float", _mutated(lambda d: d["nodes"]["worker-1"].update(image_count=2.0)), "image_count must be a non-negative integer"),
    ("truncated string", _mutated(lambda d: d["nodes"]["worker-2"].update(truncated="yes")), "truncated must be true or false"),
    ("images list", _mutated(lambda d: d["nodes"]["worker-1"].update(images=[])), "images must be an object"),
    ("image size null", _mutated(lambda d: d["nodes"]["worker-1"]["images"].update(x=None)), "images['x'] must be a non-negative integer"),
    ("duplicate key", '{"format": "nodewatch.k8s/baseline", "format": "x"}', "appears twice"),
    ("duplicate node", '{"format": "nodewatch.k8s/baseline", "version": 1, "captured_at": "2026-11-18T10:00:00Z", '
                       '"nodes": {"a": {}, "a": {}}}', "the key 'a' appears twice"),
    ("not utf-8", b"\xff\xfe{}", "not UTF-8"),
]


@pytest.mark.parametrize("text,words", [c[1:] for c in LOAD_ERRORS], ids=[c[0] for c in LOAD_ERRORS])
def test_load_errors(text, words):
    with pytest.raises(BaselineError) as info:
        load_baseline(text)
    message = str(info.value)
    assert words in message
    assert "NOT overwritten" in message
    assert isinstance(info.value, ValueError)


# ----------------------------------------------------------------------------------------------
# Splitting across ConfigMaps
# ----------------------------------------------------------------------------------------------

def assert_parts_fit(parts, max_bytes):
    for data in parts:
        assert configmap_data_size(data) <= max_bytes
        assert all(isinstance(v, str) for v in data.values())
        for key, value in data.items():
            assert ": " not in value[:200] and "\n" not in value  # compact JSON
            json.loads(value)
    assert bl.MANIFEST_KEY in parts[0]
    assert all(bl.MANIFEST_KEY not in p for p in parts[1:])


def test_split_small_round_trip():
    doc = small_doc(cluster="prod")
    parts = split_for_configmaps(doc)
    assert len(parts) == 1
    assert sorted(parts[0]) == ["baseline.json", "images-0000.json", "nodes-0000.json"]
    assert_parts_fit(parts, bl.DEFAULT_MAX_BYTES)
    assert join_from_configmaps(parts) == doc
    manifest = json.loads(parts[0]["baseline.json"])
    assert manifest["sha256"] == bl.baseline_checksum(doc)
    assert len(manifest["parts"]) == 1


def test_split_empty_and_per_node_sizes():
    empty = build_baseline([], captured_at=CAPTURED)
    assert join_from_configmaps(split_for_configmaps(empty)) == empty
    # the same image with a different size on one node is kept exactly
    doc = build_baseline([node_facts("a", [("img", 10)]), node_facts("b", [("img", 10)]),
                          node_facts("c", [("img", 11)])], captured_at=CAPTURED)
    assert join_from_configmaps(split_for_configmaps(doc)) == doc


def test_split_many_parts_with_unique_images():
    rng = random.Random(3)
    facts = [node_facts("node-%03d" % n, [("r/%d@sha256:%064x" % (n, rng.getrandbits(256)), rng.randint(1, 10 ** 9))
                                          for dummy in range(20)]) for n in range(150)]
    doc = build_baseline(facts, captured_at=CAPTURED)
    parts = split_for_configmaps(doc, max_bytes=20000)
    assert len(parts) > 10
    assert_parts_fit(parts, 20000)
    shuffled = list(parts)
    random.Random(1).shuffle(shuffled)
    assert join_from_configmaps(shuffled) == doc  # any order


def test_split_5000_nodes_x_50_images():
    doc = build_baseline(realistic_facts(5000), captured_at=CAPTURED, cluster="prod-eu")
    plain = len(bl.dump_baseline(doc))
    parts = split_for_configmaps(doc)
    sizes = [configmap_data_size(p) for p in parts]
    print("\n5000 nodes x 50 images: plain JSON %d bytes; split into %d ConfigMaps of %s bytes"
          % (plain, len(parts), sizes))
    assert plain > 30 * 10 ** 6  # why interning matters: 34+ ConfigMaps without it
    assert len(parts) == 2
    assert all(size <= bl.DEFAULT_MAX_BYTES < CONFIGMAP_LIMIT for size in sizes)
    assert_parts_fit(parts, bl.DEFAULT_MAX_BYTES)
    assert join_from_configmaps(parts) == doc


@pytest.fixture
def multi_part():
    rng = random.Random(5)
    facts = [node_facts("node-%03d" % n, [("r/%d@sha256:%064x" % (n, rng.getrandbits(256)), 5) for dummy in range(10)])
             for n in range(60)]
    doc = build_baseline(facts, captured_at=CAPTURED)
    parts = split_for_configmaps(doc, max_bytes=8000)
    assert len(parts) >= 4
    return doc, parts


def _corrupt(parts, index, key=None):
    parts = copy.deepcopy(parts)
    key = key or sorted(k for k in parts[index] if k != bl.MANIFEST_KEY)[0]
    value = parts[index][key]
    parts[index][key] = value.replace("5", "6", 1) if "5" in value else value + " "
    return parts


JOIN_ERRORS = [
    # (id, how to break the parts, words)
    ("missing configmap", lambda p: p[:-1], "lists %d ConfigMap(s) but %d were read"),
    ("missing key", lambda p: [dict((k, v) for k, v in d.items() if k != "images-0002.json") for d in p],
     "part 'images-0002.json' is missing"),
    ("corrupt part", lambda p: _corrupt(p, 2), "does not match its checksum"),
    ("no manifest", lambda p: [dict((k, v) for k, v in d.items() if k != "baseline.json") for d in p],
     "no ConfigMap holds the manifest"),
    ("two manifests", lambda p: p + [{"baseline.json": p[0]["baseline.json"]}], "more than one ConfigMap holds"),
    ("extra key", lambda p: p[:-1] + [dict(p[-1], **{"nodes-9999.json": "{}"})], "unexpected key(s) 'nodes-9999.json'"),
    ("duplicate key", lambda p: p[:-1] + [dict(p[-1], **p[1])], "appears in more than one"),
    ("foreign manifest", lambda p: [dict(p[0], **{"baseline.json": '{"format":"x"}'})] + p[1:], "not a nodewatch.k8s baseline manifest"),
    ("manifest not json", lambda p: [dict(p[0], **{"baseline.json": "{"})] + p[1:], "not valid JSON"),
    ("non-text value", lambda p: [dict(p[0], **{"nodes-0000.json": 5})] + p[1:], "not text"),
    ("empty list", lambda p: [], "no ConfigMap data"),
]


@pytest.mark.parametrize("breaker,words", [c[1:] for c in JOIN_ERRORS], ids=[c[0] for c in JOIN_ERRORS])
def test_join_errors(multi_part, breaker, words):
    doc, parts = multi_part
    if "%d" in words:
        words = words % (len(parts), len(parts) - 1)
    with pytest.raises(BaselineError) as info:
        join_from_configmaps(breaker(parts))
    assert words in str(info.value)


def test_join_rejects_parts_of_another_baseline(multi_part):
    doc, parts = multi_part
    other = copy.deepcopy(doc)
    other["nodes"]["node-000"]["total_bytes"] += 1
    other_parts = split_for_configmaps(other, max_bytes=8000)
    assert len(other_parts) == len(parts)
    mixed = [parts[0]] + other_parts[1:]
    with pytest.raises(BaselineError, match="checksum|sha256"):
        join_from_configmaps(mixed)


def test_join_detects_tampering_that_keeps_part_checksums(multi_part):
    doc, parts = multi_part
    manifest = json.loads(parts[0]["baseline.json"])
    manifest["sha256"] = "0" * 64
    tampered = [dict(parts[0], **{"baseline.json": json.dumps(manifest)})] + parts[1:]
    with pytest.raises(BaselineError, match="does not match the manifest's sha256"):
        join_from_configmaps(tampered)


def test_split_item_too_big():
    doc = build_baseline([node_facts("a", [("x" * 5000, 1)])], captured_at=CAPTURED)
    with pytest.raises(BaselineError, match="alone needs"):
        split_for_configmaps(doc, max_bytes=4096)


def test_split_refuses_invalid_doc_and_bad_max():
    with pytest.raises(BaselineError, match="refusing to store an invalid baseline"):
        split_for_configmaps({"format": "x"})
    with pytest.raises(BaselineError, match="max_bytes"):
        split_for_configmaps(small_doc(), max_bytes=100)


# ----------------------------------------------------------------------------------------------
# File store
# ----------------------------------------------------------------------------------------------

def test_file_store_round_trip(tmp_path):
    path = str(tmp_path / "baseline.json")
    store = FileBaselineStore(path)
    assert store.read() is None
    old_umask = os.umask(0)
    try:
        store.write(small_doc())
    finally:
        os.umask(old_umask)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert store.read() == small_doc()
    os.chmod(path, 0o644)
    store.write(small_doc(cluster="c"))
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert store.read()["cluster"] == "c"
    assert os.listdir(str(tmp_path)) == ["baseline.json"]


def test_file_store_corrupt_is_an_error_and_left_alone(tmp_path):
    path = tmp_path / "baseline.json"
    path.write_text('{"format": "nodewatch.k8s/baseline", "version": 1')
    with pytest.raises(BaselineError) as info:
        FileBaselineStore(str(path)).read()
    assert str(path) in str(info.value) and "NOT overwritten" in str(info.value)
    assert path.read_text() == '{"format": "nodewatch.k8s/baseline", "version": 1'


def test_file_store_unreadable_path(tmp_path):
    with pytest.raises(BaselineError, match="cannot read"):
        FileBaselineStore(str(tmp_path)).read()  # a directory


@pytest.mark.parametrize("failing", ["encode", "write", "fsync", "replace"])
def test_file_store_write_failure_keeps_old_file(tmp_path, monkeypatch, failing):
    path = str(tmp_path / "baseline.json")
    store = FileBaselineStore(path)
    store.write(small_doc())
    before = open(path, "rb").read()

    def boom(*args, **kwargs):
        raise OSError(28, "No space left on device")

    if failing == "encode":
        def fail_encode(doc):
            raise TypeError("Object of type X is not JSON serializable")
        monkeypatch.setattr(bl, "_encode_file", fail_encode)
    elif failing == "write":
        real_write = os.write

        def half_write(fd, data):  # writes some bytes, then the disk is full
            if len(data) > 10:
                real_write(fd, bytes(data[:10]))
            raise OSError(28, "No space left on device")
        monkeypatch.setattr(files.os, "write", half_write)
    else:
        monkeypatch.setattr(files.os, failing, boom)
    with pytest.raises((BaselineError, TypeError)) as info:
        store.write(small_doc(cluster="new"))
    if failing != "encode":
        assert "No space left on device" in str(info.value) and "left unchanged" in str(info.value)
    monkeypatch.undo()
    assert open(path, "rb").read() == before
    assert store.read() == small_doc()
    assert os.listdir(str(tmp_path)) == ["baseline.json"]  # no temp file left behind


def test_file_store_missing_directory(tmp_path):
    with pytest.raises(BaselineError, match="cannot write the baseline file"):
        FileBaselineStore(str(tmp_path / "nope" / "b.json")).write(small_doc())


def test_validate_rejects_non_string_keys():
    doc = small_doc()
    doc["nodes"]["worker-1"]["images"][5] = 1
    with pytest.raises(BaselineError, match="image keys must be non-empty strings"):
        bl.validate_baseline(doc)


def test_file_store_refuses_invalid_doc(tmp_path):
    path = str(tmp_path / "b.json")
    with pytest.raises(BaselineError, match="refusing to write an invalid baseline"):
        FileBaselineStore(path).write({"format": "nodewatch.k8s/baseline", "version": 1})
    assert not os.path.exists(path)


# ----------------------------------------------------------------------------------------------
# Diff
# ----------------------------------------------------------------------------------------------

def test_diff():
    old = small_doc()
    new_facts = [
        node_facts("worker-1", [("quay.io/a@sha256:01", 100), ("quay.io/c:1", 2048)]),
        node_facts("worker-2", [("quay.io/a@sha256:01", 100)], truncated=True),
        node_facts("worker-4", [("quay.io/a@sha256:01", 100)]),
    ]
    new = build_baseline(new_facts, captured_at="2026-11-19T10:00:00Z")
    diff = diff_baselines(old, new)
    assert diff["before_header"] == "baseline (2026-11-18T10:00:00Z)"
    assert diff["after_header"] == "baseline (2026-11-19T10:00:00Z)"
    assert diff["before"].splitlines() == [
        "captured_at: 2026-11-18T10:00:00Z",
        "nodes: 3, image storage: 223 B",
        "worker-1: 123 B in 2 images",
        "worker-3: 0 B in 0 images",
    ]
    assert diff["after"].splitlines() == [
        "captured_at: 2026-11-19T10:00:00Z",
        "nodes: 3, image storage: 2.3 KiB",
        "worker-1: 2.1 KiB in 2 images (1 new, 1 gone)",
        "worker-4: 100 B in 1 image",
    ]
    summary = diff["summary"]
    assert summary["nodes_added"] == ["worker-4"] and summary["nodes_removed"] == ["worker-3"]
    assert summary["nodes_changed"] == {"worker-1": {"before": {"total_bytes": 123, "image_count": 2},
                                                     "after": {"total_bytes": 2148, "image_count": 2}}}
    assert FileBaselineStore.diff(None, new)["before"] == ""
    assert diff_baselines(old, None)["after_header"] == "baseline (absent)"


def test_diff_is_compact_for_big_changes():
    old = build_baseline([node_facts("n%04d" % i, [("x", 1)]) for i in range(500)], captured_at=CAPTURED)
    new = build_baseline([node_facts("n%04d" % i, [("x", 2)]) for i in range(500)], captured_at=CAPTURED)
    diff = diff_baselines(old, new)
    assert len(diff["after"].splitlines()) == 2 + 100 + 1
    assert diff["after"].splitlines()[-1] == "... and 400 more changed nodes"
    assert diff["summary"]["counts"] == {"added": 0, "removed": 0, "changed": 500}


# ----------------------------------------------------------------------------------------------
# ConfigMap store against an in-memory fake API
# ----------------------------------------------------------------------------------------------

class FakeClient:
    """Just enough of the ConfigMap API: get/list by label, POST, PUT with resourceVersion, DELETE."""

    PREFIX = "/api/v1/namespaces/"

    def __init__(self, clock=None):
        self.objects = {}
        self.rv = 100
        self.calls = []
        self.hooks = []  # callables (method, name, body) run before each request; may raise
        self.clock = clock or (lambda: 1e9)

    def _split(self, path):
        assert path.startswith(self.PREFIX), path
        rest = path[len(self.PREFIX):].split("/")
        assert rest[1] == "configmaps", path
        return rest[0], (rest[2] if len(rest) > 2 else None)

    def _error(self, status, reason, name):
        return ApiError(status, reason=reason, message="configmaps %r %s" % (name, reason.lower()),
                        resource="configmaps", name=name)

    def _next_rv(self):
        self.rv += 1
        return str(self.rv)

    def get(self, path, query=None):
        return self.request("GET", path, query=query)

    def request(self, method, path, query=None, body=None, content_type=None):
        namespace, name = self._split(path)
        if method in ("POST",):
            name = body["metadata"]["name"]
        self.calls.append((method, name, copy.deepcopy(body)))
        for hook in list(self.hooks):
            hook(self, method, name, body)
        if method == "GET" and name is None:
            wanted = dict(pair.split("=", 1) for pair in (query or {}).get("labelSelector", "").split(",") if pair)
            items = [copy.deepcopy(o) for (ns, n), o in sorted(self.objects.items())
                     if ns == namespace and all(o["metadata"].get("labels", {}).get(k) == v for k, v in wanted.items())]
            return {"kind": "ConfigMapList", "items": items, "metadata": {"resourceVersion": str(self.rv)}}
        key = (namespace, name)
        if method == "GET":
            if key not in self.objects:
                raise self._error(404, "NotFound", name)
            return copy.deepcopy(self.objects[key])
        if method == "POST":
            if key in self.objects:
                raise self._error(409, "AlreadyExists", name)
            obj = copy.deepcopy(body)
            obj["metadata"]["resourceVersion"] = self._next_rv()
            stamp = datetime.datetime.fromtimestamp(self.clock(), datetime.timezone.utc)
            obj["metadata"]["creationTimestamp"] = stamp.strftime("%Y-%m-%dT%H:%M:%SZ")
            self.objects[key] = obj
            return copy.deepcopy(obj)
        if method == "PUT":
            if key not in self.objects:
                raise self._error(404, "NotFound", name)
            current = self.objects[key]
            if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
                raise self._error(409, "Conflict", name)
            obj = copy.deepcopy(body)
            obj["metadata"]["resourceVersion"] = self._next_rv()
            obj["metadata"]["creationTimestamp"] = current["metadata"]["creationTimestamp"]
            self.objects[key] = obj
            return copy.deepcopy(obj)
        if method == "DELETE":
            if key not in self.objects:
                raise self._error(404, "NotFound", name)
            del self.objects[key]
            return {"kind": "Status", "status": "Success"}
        raise AssertionError(method)

    def names(self):
        return sorted(n for dummy, n in self.objects)

    def bump(self, name):
        """Someone else updates the object (its resourceVersion changes)."""
        obj = self.objects[("ns", name)]
        obj["metadata"]["resourceVersion"] = self._next_rv()


def big_doc(nodes=60, seed=5, captured_at=CAPTURED):
    rng = random.Random(seed)
    facts = [node_facts("node-%03d" % n, [("r/%d@sha256:%064x" % (n, rng.getrandbits(256)), 5) for dummy in range(10)])
             for n in range(nodes)]
    return build_baseline(facts, captured_at=captured_at)


def store_for(client, **kwargs):
    kwargs.setdefault("max_bytes", 8000)
    return ConfigMapBaselineStore(client, "ns", "nodewatch-baseline", **kwargs)


def test_configmap_store_small_round_trip():
    client = FakeClient()
    store = store_for(client, max_bytes=bl.DEFAULT_MAX_BYTES)
    assert store.read() is None
    result = store.write(small_doc())
    assert result["changed"] is True and result["configmaps"] == ["nodewatch-baseline"]
    assert client.names() == ["nodewatch-baseline"]
    obj = client.objects[("ns", "nodewatch-baseline")]
    labels = obj["metadata"]["labels"]
    assert labels["app.kubernetes.io/managed-by"] == "nodewatch.k8s"
    assert labels["nodewatch.k8s/baseline-role"] == "manifest"
    assert obj["kind"] == "ConfigMap" and obj["apiVersion"] == "v1"
    assert store.read() == small_doc()
    # writing the same baseline again changes nothing
    calls = len(client.calls)
    assert store.write(small_doc())["changed"] is False
    assert all(method == "GET" for method, dummy, dummy2 in client.calls[calls:])


def test_configmap_store_multi_part_update_and_shrink():
    client = FakeClient()
    store = store_for(client)
    first = big_doc(60)
    result = store.write(first)
    assert len(result["configmaps"]) >= 4
    assert client.names() == sorted(result["configmaps"])
    for name in result["configmaps"]:
        data = client.objects[("ns", name)]["data"]
        assert configmap_data_size(data) <= 8000
    assert store.read() == first

    # the update is a PUT carrying the resourceVersion that was read
    rv = client.objects[("ns", "nodewatch-baseline")]["metadata"]["resourceVersion"]
    smaller = big_doc(25, seed=9)
    result2 = store.write(smaller)
    puts = [body for method, name, body in client.calls if method == "PUT" and name == "nodewatch-baseline"]
    assert puts[-1]["metadata"]["resourceVersion"] == rv
    # every part of the old generation is gone, only the new baseline's ConfigMaps remain
    assert client.names() == sorted(result2["configmaps"])
    assert len(result2["configmaps"]) < len(result["configmaps"])
    assert sorted(result2["deleted"]) == sorted(result["configmaps"][1:])
    assert store.read() == smaller


def test_configmap_store_parts_are_written_before_the_manifest():
    client = FakeClient()
    store_for(client).write(big_doc(60))
    writes = [(m, n) for m, n, dummy in client.calls if m in ("POST", "PUT")]
    assert writes[-1] == ("POST", "nodewatch-baseline")
    client.calls = []
    store_for(client).write(big_doc(60, seed=11))
    writes = [(m, n) for m, n, dummy in client.calls if m in ("POST", "PUT", "DELETE")]
    switch = writes.index(("PUT", "nodewatch-baseline"))
    assert all(m == "POST" for m, dummy in writes[:switch]) and switch >= 3
    assert all(m == "DELETE" for m, dummy in writes[switch + 1:]) and len(writes) > switch + 1


def test_configmap_store_retries_on_conflict():
    client = FakeClient()
    store = store_for(client)
    store.write(big_doc(60))
    conflicts = []

    def concurrent_update(fake, method, name, body):
        if method == "PUT" and name == "nodewatch-baseline" and len(conflicts) < 2:
            conflicts.append(1)
            fake.bump(name)
    client.hooks.append(concurrent_update)
    new = big_doc(30, seed=2)
    result = store.write(new)
    assert len(conflicts) == 2 and result["changed"]
    assert store.read() == new
    assert client.names() == sorted(result["configmaps"])


def test_configmap_store_gives_up_after_bounded_conflicts_and_keeps_old():
    client = FakeClient()
    store = store_for(client, conflict_retries=3)
    old = big_doc(60)
    store.write(old)
    before = client.names()
    attempts = []

    def always_conflict(fake, method, name, body):
        if method == "PUT" and name == "nodewatch-baseline":
            attempts.append(1)
            fake.bump(name)
    client.hooks.append(always_conflict)
    with pytest.raises(BaselineError) as info:
        store.write(big_doc(40, seed=3))
    assert len(attempts) == 4
    assert "409" in str(info.value) and "NOT overwritten" in str(info.value)
    client.hooks = []
    assert store.read() == old
    assert client.names() == before  # the new generation's parts were removed again


def test_configmap_store_interrupted_write_keeps_old_and_orphans_are_swept():
    now = [1e9]
    client = FakeClient(clock=lambda: now[0])
    store = store_for(client, clock=lambda: now[0], orphan_grace_seconds=600)
    old = big_doc(60)
    store.write(old)
    before = client.names()

    def crash(fake, method, name, body):
        if method == "PUT" and name == "nodewatch-baseline":
            raise ApiError(500, reason="InternalError", message="etcd timeout")
    client.hooks.append(crash)
    with pytest.raises(ApiError):
        store.write(big_doc(60, seed=4))
    client.hooks = []
    orphans = sorted(set(client.names()) - set(before))
    assert orphans  # new parts were stored, but never switched to
    assert store.read() == old  # readers still get the old, complete baseline

    # a write soon after leaves the orphans (they might be another writer's work in progress)
    newer = big_doc(20, seed=8)
    now[0] += 60
    result = store.write(newer)
    assert set(orphans) <= set(client.names())
    # once they are older than the grace period, the next write sweeps them
    now[0] += 3600
    newest = big_doc(21, seed=8)
    result = store.write(newest)
    assert set(orphans) <= set(result["deleted"])
    assert client.names() == sorted(result["configmaps"])
    assert store.read() == newest


def test_configmap_store_crash_while_writing_parts_keeps_old():
    client = FakeClient()
    store = store_for(client)
    old = big_doc(60)
    store.write(old)
    posts = []

    def crash_on_third_part(fake, method, name, body):
        if method == "POST":
            posts.append(name)
            if len(posts) == 3:
                raise ApiError(503, reason="ServiceUnavailable", message="down")
    client.hooks.append(crash_on_third_part)
    with pytest.raises(ApiError):
        store.write(big_doc(60, seed=6))
    client.hooks = []
    assert store.read() == old


def test_configmap_store_refuses_foreign_configmap():
    client = FakeClient()
    client.objects[("ns", "nodewatch-baseline")] = {
        "metadata": {"name": "nodewatch-baseline", "namespace": "ns", "resourceVersion": "1", "labels": {}},
        "data": {"something": "else"}}
    store = store_for(client)
    with pytest.raises(BaselineError, match="not managed by nodewatch.k8s"):
        store.write(small_doc())
    assert client.objects[("ns", "nodewatch-baseline")]["data"] == {"something": "else"}
    with pytest.raises(BaselineError, match="has no baseline.json key"):
        store.read()


def test_configmap_store_missing_or_corrupt_part_on_read():
    client = FakeClient()
    store = store_for(client)
    result = store.write(big_doc(60))
    part = result["configmaps"][2]
    saved = client.objects.pop(("ns", part))
    with pytest.raises(BaselineError, match="incomplete: its part ConfigMap ns/%s is missing" % part):
        store.read()
    client.objects[("ns", part)] = saved
    key = sorted(saved["data"])[0]
    saved["data"][key] = saved["data"][key][:-2] + "}}"
    with pytest.raises(BaselineError, match="checksum"):
        store.read()


def test_configmap_store_read_retries_when_replaced_meanwhile():
    client = FakeClient()
    store = store_for(client)
    store.write(big_doc(60))
    newer = big_doc(50, seed=12)
    other = store_for(client)
    state = {"done": False}

    def replace_during_read(fake, method, name, body):
        # the first part read finds that another writer switched the baseline and deleted it
        if method == "GET" and name.startswith("nodewatch-baseline-") and not state["done"]:
            state["done"] = True
            fake.hooks.remove(replace_during_read)
            other.write(newer)
    client.hooks.append(replace_during_read)
    assert store.read() == newer


def test_configmap_store_conflict_on_create():
    client = FakeClient()
    store = store_for(client, max_bytes=bl.DEFAULT_MAX_BYTES)
    other = store_for(client, max_bytes=bl.DEFAULT_MAX_BYTES)
    first = {"done": False}

    def someone_creates_first(fake, method, name, body):
        if method == "POST" and name == "nodewatch-baseline" and not first["done"]:
            first["done"] = True
            other.write(small_doc(cluster="other"))
    client.hooks.append(someone_creates_first)
    store.write(small_doc(cluster="mine"))
    assert store.read()["cluster"] == "mine"


def test_configmap_store_name_validation():
    with pytest.raises(BaselineError, match="DNS-1123"):
        ConfigMapBaselineStore(FakeClient(), "ns", "Bad_Name")
    with pytest.raises(BaselineError, match="namespace"):
        ConfigMapBaselineStore(FakeClient(), "", "ok")
