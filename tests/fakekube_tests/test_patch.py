"""JSON patch, JSON merge patch and strategic merge patch, as unit tests and over HTTP."""
import json

import pytest

from fakekube import patch as P
from fakekube.resources import DEPLOYMENT_PM, NODE_PM

NODE = {
    "metadata": {"name": "n", "labels": {"a": "1", "b": "2"}, "finalizers": ["x/one"]},
    "spec": {"podCIDRs": ["10.0.0.0/24"],
             "taints": [{"key": "k1", "effect": "NoSchedule"}, {"key": "k2", "effect": "NoExecute"}]},
    "status": {
        "conditions": [{"type": "MemoryPressure", "status": "False"}, {"type": "DiskPressure", "status": "False"},
                       {"type": "Ready", "status": "True", "reason": "KubeletReady"}],
        "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}, {"type": "Hostname", "address": "n"}],
        "images": [{"names": ["a"], "sizeBytes": 3}, {"names": ["b"], "sizeBytes": 2}],
    },
}


def smp(doc, patch, meta=None):
    return P.strategic_merge_patch(doc, patch, NODE_PM if meta is None else meta)


def test_conditions_merge_by_type():
    out = smp(NODE, {"status": {"conditions": [{"type": "Ready", "status": "False"}]}})
    conds = out["status"]["conditions"]
    assert [c["type"] for c in conds] == ["MemoryPressure", "DiskPressure", "Ready"]
    assert conds[2] == {"type": "Ready", "status": "False", "reason": "KubeletReady"}
    # a new element goes in front (mergeSortedSlice puts patch-only items first)
    out = smp(NODE, {"status": {"conditions": [{"type": "PIDPressure", "status": "False"}]}})
    assert [c["type"] for c in out["status"]["conditions"]] == ["PIDPressure", "MemoryPressure",
                                                                "DiskPressure", "Ready"]


def test_taints_and_images_are_replaced():
    # core/v1 NodeSpec.Taints has no patchStrategy: the list is replaced
    out = smp(NODE, {"spec": {"taints": [{"key": "k3", "effect": "NoSchedule"}]}})
    assert out["spec"]["taints"] == [{"key": "k3", "effect": "NoSchedule"}]
    out = smp(NODE, {"status": {"images": [{"names": ["c"], "sizeBytes": 1}]}})
    assert out["status"]["images"] == [{"names": ["c"], "sizeBytes": 1}]


def test_addresses_merge_by_type_and_finalizers_as_set():
    out = smp(NODE, {"status": {"addresses": [{"type": "ExternalIP", "address": "1.2.3.4"}]}})
    assert [a["type"] for a in out["status"]["addresses"]] == ["ExternalIP", "InternalIP", "Hostname"]
    out = smp(NODE, {"metadata": {"finalizers": ["x/two", "x/one"]}})
    assert out["metadata"]["finalizers"] == ["x/two", "x/one"]
    out = smp(NODE, {"metadata": {"$deleteFromPrimitiveList/finalizers": ["x/one"]}})
    assert out["metadata"]["finalizers"] == []
    out = smp(NODE, {"spec": {"podCIDRs": ["10.0.1.0/24"]}})
    assert out["spec"]["podCIDRs"] == ["10.0.1.0/24", "10.0.0.0/24"]


def test_null_deletes_and_directives():
    out = smp(NODE, {"metadata": {"labels": {"a": None, "c": "3"}}})
    assert out["metadata"]["labels"] == {"b": "2", "c": "3"}
    out = smp(NODE, {"metadata": {"labels": {"$patch": "replace", "z": "9"}}})
    assert out["metadata"]["labels"] == {"z": "9"}
    out = smp(NODE, {"status": {"conditions": [{"type": "DiskPressure", "$patch": "delete"}]}})
    assert [c["type"] for c in out["status"]["conditions"]] == ["MemoryPressure", "Ready"]
    out = smp(NODE, {"status": {"conditions": [{"$patch": "replace"}, {"type": "Ready", "status": "Unknown"}]}})
    assert out["status"]["conditions"] == [{"type": "Ready", "status": "Unknown"}]
    out = smp(NODE, {"spec": {"$patch": "delete"}})
    assert out["spec"] == {}
    assert NODE["metadata"]["labels"] == {"a": "1", "b": "2"}     # input untouched


def test_set_element_order():
    out = smp(NODE, {"status": {"$setElementOrder/conditions": [{"type": "Ready"}, {"type": "DiskPressure"},
                                                                {"type": "MemoryPressure"}],
                                "conditions": [{"type": "Ready", "status": "False"}]}})
    assert [c["type"] for c in out["status"]["conditions"]] == ["Ready", "DiskPressure", "MemoryPressure"]


def test_patch_order_of_new_and_existing_items():
    doc = {"spec": {"template": {"spec": {"containers": [{"name": "a"}, {"name": "b"}]}}}}
    out = smp(doc, {"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x"}, {"name": "a", "image": "y"}]}}}},
              DEPLOYMENT_PM)
    assert [c["name"] for c in out["spec"]["template"]["spec"]["containers"]] == ["c", "a", "b"]


def test_missing_merge_key_is_a_server_error():
    with pytest.raises(P.PatchError) as e:
        smp(NODE, {"status": {"conditions": [{"status": "False"}]}})
    assert e.value.api_error.code == 500
    assert "does not contain declared merge key: type" in e.value.api_error.status["message"]


def test_merge_patch_rfc7386():
    out = P.merge_patch({"a": {"b": 1, "c": [1, 2]}, "d": 1}, {"a": {"b": None, "c": [3]}, "e": {"f": None}})
    assert out == {"a": {"c": [3]}, "d": 1, "e": {}}


def test_json_patch_ops():
    doc = {"a": [1, 2], "b": {"c": "x"}}
    out = P.json_patch(doc, [{"op": "add", "path": "/a/-", "value": 3},
                             {"op": "add", "path": "/a/0", "value": 0},
                             {"op": "replace", "path": "/b/c", "value": "y"},
                             {"op": "copy", "from": "/b/c", "path": "/d"},
                             {"op": "move", "from": "/d", "path": "/e"},
                             {"op": "remove", "path": "/a/1"},
                             {"op": "test", "path": "/e", "value": "y"},
                             {"op": "add", "path": "/b/k~1s~0t", "value": 1}])
    assert out == {"a": [0, 2, 3], "b": {"c": "y", "k/s~t": 1}, "e": "y"}
    assert doc == {"a": [1, 2], "b": {"c": "x"}}
    for bad in ([{"op": "test", "path": "/b/c", "value": "nope"}],
                [{"op": "remove", "path": "/nope"}],
                [{"op": "replace", "path": "/nope", "value": 1}],
                [{"op": "add", "path": "/x/y", "value": 1}]):
        with pytest.raises(P.PatchError) as e:
            P.json_patch(doc, bad)
        assert e.value.api_error.code == 422
        assert e.value.api_error.status["message"] == "the server rejected our request due to an error in our request"


def test_http_patch_content_types(api):
    r = api.patch("/api/v1/nodes/worker-a-1", [{"op": "add", "path": "/metadata/labels/jp", "value": "1"}],
                  content_type="application/json-patch+json")
    assert r.status == 200 and r.json["metadata"]["labels"]["jp"] == "1"
    r = api.patch("/api/v1/nodes/worker-a-1", {"metadata": {"labels": {"jp": None, "mp": "1"}}},
                  content_type="application/merge-patch+json")
    assert "jp" not in r.json["metadata"]["labels"] and r.json["metadata"]["labels"]["mp"] == "1"
    # merge patch replaces lists wholesale, strategic merge patch merges conditions
    before = api.get("/api/v1/nodes/worker-a-1").json["spec"].get("taints", [])
    r = api.patch("/api/v1/nodes/worker-a-1", {"spec": {"taints": [{"key": "t", "effect": "NoSchedule"}]}})
    assert r.json["spec"]["taints"] == [{"key": "t", "effect": "NoSchedule"}]
    assert before != r.json["spec"]["taints"]
    r = api.patch("/api/v1/nodes/worker-a-1", [{"op": "test", "path": "/spec/unschedulable", "value": True}],
                  content_type="application/json-patch+json")
    assert r.status == 422 and r.json["reason"] == "Invalid"


def test_http_patch_resource_version_precondition(api):
    n = api.get("/api/v1/nodes/worker-a-1").json
    api.patch("/api/v1/nodes/worker-a-1", {"metadata": {"labels": {"x": "1"}}})
    r = api.patch("/api/v1/nodes/worker-a-1", {"metadata": {"resourceVersion": n["metadata"]["resourceVersion"],
                                                            "labels": {"x": "2"}}})
    assert r.status == 409 and r.json["reason"] == "Conflict"


def test_http_patch_missing_object(api):
    r = api.patch("/api/v1/nodes/nope", {"metadata": {"labels": {"x": "1"}}})
    assert r.status == 404 and r.json["message"] == 'nodes "nope" not found'


def test_taint_delete_directive_leaves_invalid_taint(api):
    # taints are atomic: a $patch directive inside is not interpreted, so the element
    # is kept without an effect and validation rejects it, as on a real server
    r = api.patch("/api/v1/nodes/cp-1", {"spec": {"taints": [{"key": "k", "$patch": "delete"}]}})
    assert r.status == 422
    assert r.json["details"]["causes"][0]["field"] == "spec.taints[0].effect"
    # on a node without taints the directive element is dropped (removeDirectives)
    r = api.patch("/api/v1/nodes/worker-a-1", {"spec": {"taints": [{"key": "k", "$patch": "delete"}]}})
    assert r.status == 200 and "taints" not in r.json["spec"]


def test_http_patch_body_errors(api):
    r = api.request("PATCH", "/api/v1/nodes/worker-a-1", body=b"{nope",
                    content_type="application/merge-patch+json")
    assert r.status == 400
    r = api.request("PATCH", "/api/v1/nodes/worker-a-1", body=json.dumps({"a": 1}).encode(),
                    content_type="application/json-patch+json")
    assert r.status == 400
