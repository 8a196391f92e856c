# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""State documents and their stores: round trips, damage, ConfigMap CAS and size."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import gzip
import hashlib
import json
import os

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.state import (
    CONFIGMAP_KEY,
    ConfigMapStateStore,
    FileStateStore,
    StateError,
    WatcherState,
)
from unit.plugins.module_utils.watcher.helpers import MemoryApi

CM_PATH = "/api/v1/namespaces/ops/configmaps/nodewatch-watcher-state"


def sample_state(nodes=3):
    records = dict(("node-%d" % i, {"total_bytes": 1000 * i, "image_count": i, "percent": 1.5, "truncated": False,
                                    "top": ["nginx:1.25@sha256:aaaaaaaaaaaa", "app:%d" % i]})
                   for i in range(nodes))
    breaches = {"node-1": {"max_total_bytes": {"rule_set": "default", "since": "t0", "message": "m"}}}
    pending = [{"id": "x1", "kind": "threshold_crossed", "node": "node-1"}]
    return WatcherState(records, breaches, pending, synced=True)


def test_document_round_trip_interns_image_labels():
    state = sample_state()
    doc = state.to_document(writer="me", now=0)
    assert doc["labels"][0] == "nginx:1.25@sha256:aaaaaaaaaaaa"
    assert doc["labels"].count("nginx:1.25@sha256:aaaaaaaaaaaa") == 1
    assert doc["writer"] == "me" and doc["written_at"] == "1970-01-01T00:00:00.000000Z"
    back = WatcherState.from_json(json.dumps(doc), "test")
    assert back.nodes == state.nodes and back.breaches == state.breaches
    assert back.pending == state.pending and back.synced is True


@pytest.mark.parametrize("doc, message", [
    ({"format": "other"}, "does not hold nodewatch-watcher state"),
    ({"format": "nodewatch.k8s/watcher-state", "version": 99}, "version 99"),
    ({"format": "nodewatch.k8s/watcher-state", "version": 1, "labels": [], "nodes": {"n": {"top": [4]}}},
     "is damaged"),
    ({"format": "nodewatch.k8s/watcher-state", "version": 1, "nodes": {"n": {"total_bytes": "x"}}},
     "integer total_bytes"),
])
def test_damaged_documents_are_rejected(doc, message):
    with pytest.raises(StateError) as info:
        WatcherState.from_json(json.dumps(doc), "where")
    assert message in str(info.value) and info.value.damaged


def test_file_store_round_trip_and_permissions(tmp_path):
    path = str(tmp_path / "state.json")
    store = FileStateStore(path)
    assert store.load() is None
    store.save(sample_state(), writer="w")
    assert oct(os.stat(path).st_mode & 0o777) == "0o600"
    assert store.load().nodes == sample_state().nodes
    assert [p for p in os.listdir(str(tmp_path)) if p.endswith(".tmp")] == []


def test_file_store_damage_and_set_aside(tmp_path):
    path = tmp_path / "state.json"
    path.write_text("{not json")
    store = FileStateStore(str(path))
    with pytest.raises(StateError) as info:
        store.load()
    assert info.value.damaged
    moved = store.set_aside()
    assert moved and os.path.exists(moved) and not path.exists()


def test_file_store_unwritable_directory(tmp_path):
    store = FileStateStore(str(tmp_path / "missing" / "state.json"))
    with pytest.raises(StateError, match="cannot write the state file"):
        store.save(sample_state())


def test_configmap_store_creates_then_replaces_by_resource_version():
    api = MemoryApi()
    store = ConfigMapStateStore(api, "ops", "nodewatch-watcher-state")
    assert store.load() is None
    store.save(sample_state(), writer="w")
    cm = api.objects[CM_PATH]
    assert cm["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "nodewatch.k8s"
    doc = json.loads(gzip.decompress(base64.b64decode(cm["binaryData"][CONFIGMAP_KEY])))
    assert doc["writer"] == "w"
    store.save(sample_state(5))
    assert [c[0] for c in api.calls] == ["get", "create", "replace"]  # load learned the version
    assert len(ConfigMapStateStore(api, "ops", "nodewatch-watcher-state").load().nodes) == 5


def test_configmap_store_conflict_retries_once_on_the_current_version():
    api = MemoryApi()
    store = ConfigMapStateStore(api, "ops", "nodewatch-watcher-state")
    store.save(sample_state(1))
    other = ConfigMapStateStore(api, "ops", "nodewatch-watcher-state")
    other.save(sample_state(2))  # moves the resourceVersion under the first store
    store.save(sample_state(3))
    assert len(other.load().nodes) == 3


def test_configmap_store_refuses_a_foreign_configmap():
    api = MemoryApi()
    api.objects[CM_PATH] = {"metadata": {"name": "nodewatch-watcher-state", "resourceVersion": "1"}, "data": {}}
    with pytest.raises(StateError, match="not managed by nodewatch.k8s"):
        ConfigMapStateStore(api, "ops", "nodewatch-watcher-state").load()


def test_configmap_store_api_errors_are_state_errors_and_not_damage():
    api = MemoryApi()
    api.fail["get"].append(ApiError(403, reason="Forbidden", message="configmaps is forbidden"))
    with pytest.raises(StateError) as info:
        ConfigMapStateStore(api, "ops", "nodewatch-watcher-state").load()
    assert "forbidden" in str(info.value) and not info.value.damaged


def test_5000_nodes_fit_a_configmap():
    """Image labels repeat across nodes; interning plus gzip keeps the state far below 1 MiB."""
    shared = ["registry.example.com/team-%d/app:%d@sha256:%012x" % (i % 40, i, i * 7919) for i in range(300)]
    nodes = {}
    for i in range(5000):
        top = [shared[(i * 13 + k) % 300] for k in range(10)]
        nodes["ip-10-0-%d-%d.eu-west-1.compute.internal" % (i // 250, i % 250)] = {
            "total_bytes": 40 * 1024 ** 3 + i * 7777, "image_count": 50, "percent": 41.25, "truncated": True,
            "top": top}
    api = MemoryApi()
    store = ConfigMapStateStore(api, "ops", "nodewatch-watcher-state")
    size = store.save(WatcherState(nodes, synced=True))
    assert size < 400000, size
    assert len(store.load().nodes) == 5000


def test_oversized_state_drops_top_images_first():
    api = MemoryApi()
    store = ConfigMapStateStore(api, "ops", "nodewatch-watcher-state", max_bytes=2000)
    nodes = {}
    for i in range(40):
        nodes["n%d" % i] = {"total_bytes": i, "image_count": 1, "percent": None, "truncated": False,
                            "top": ["image-%s" % hashlib.sha256(b"%d" % i).hexdigest()]}
    store.save(WatcherState(nodes))
    loaded = store.load()
    assert len(loaded.nodes) == 40 and all(r["top"] == [] for r in loaded.nodes.values())
    with pytest.raises(StateError, match="use a state file"):
        ConfigMapStateStore(api, "ops", "other-state", max_bytes=50).save(WatcherState(nodes))
