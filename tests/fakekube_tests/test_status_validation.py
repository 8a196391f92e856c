"""Status subresource strategies and server-side validation (422 bodies)."""


def test_main_resource_ignores_status_changes(api):
    node = api.get("/api/v1/nodes/worker-a-1").json
    node["status"]["images"] = []
    node["metadata"]["labels"]["x"] = "1"
    r = api.put("/api/v1/nodes/worker-a-1", node)
    assert r.status == 200 and r.json["metadata"]["labels"]["x"] == "1"
    assert r.json["status"]["images"] == api.get("/api/v1/nodes/worker-a-1").json["status"]["images"] != []
    r = api.patch("/api/v1/nodes/worker-a-1", {"status": {"phase": "Gone"}})
    assert "phase" not in r.json["status"]


def test_status_subresource_changes_only_status(api):
    node = api.get("/api/v1/nodes/worker-a-1").json
    rv = node["metadata"]["resourceVersion"]
    node["spec"]["unschedulable"] = True
    node["status"]["images"] = [{"names": ["busybox:1"], "sizeBytes": 10}]
    r = api.put("/api/v1/nodes/worker-a-1/status", node)
    assert r.status == 200
    assert r.json["status"]["images"] == [{"names": ["busybox:1"], "sizeBytes": 10}]
    assert "unschedulable" not in r.json["spec"]
    assert int(r.json["metadata"]["resourceVersion"]) > int(rv)
    r = api.patch("/api/v1/nodes/worker-a-1/status",
                  {"spec": {"unschedulable": True},
                   "status": {"conditions": [{"type": "Ready", "status": "False", "reason": "KubeletNotReady"}]}})
    assert "unschedulable" not in r.json["spec"]
    ready = [c for c in r.json["status"]["conditions"] if c["type"] == "Ready"][0]
    assert ready["status"] == "False" and ready["reason"] == "KubeletNotReady"
    assert api.get("/api/v1/nodes/worker-a-1/status").json["kind"] == "Node"


def test_deployment_status_keeps_labels(api):
    api.post("/apis/apps/v1/namespaces/default/deployments", {"metadata": {"name": "d", "labels": {"a": "1"}},
                                                              "spec": {"replicas": 1}})
    r = api.patch("/apis/apps/v1/namespaces/default/deployments/d/status",
                  {"metadata": {"labels": {"a": "2"}}, "status": {"replicas": 1}},
                  content_type="application/merge-patch+json")
    assert r.json["status"] == {"replicas": 1} and r.json["metadata"]["labels"] == {"a": "1"}


def test_subresource_404s(api):
    assert api.get("/api/v1/namespaces/default/configmaps/x/status").status == 404
    assert api.get("/api/v1/nodes/worker-a-1/bogus").status == 404


def test_label_validation(api):
    r = api.patch("/api/v1/nodes/worker-a-1", {"metadata": {"labels": {"bad key": "v", "ok": "x" * 64}}})
    assert r.status == 422
    body = r.json
    assert body["reason"] == "Invalid" and body["code"] == 422
    assert body["details"]["name"] == "worker-a-1" and body["details"]["kind"] == "Node"
    fields = {(c["field"], c["reason"]) for c in body["details"]["causes"]}
    assert fields == {("metadata.labels", "FieldValueInvalid")}
    msgs = [c["message"] for c in body["details"]["causes"]]
    assert any(m.startswith('Invalid value: "bad key": name part must consist of alphanumeric characters') for m in msgs)
    assert any(m.startswith('Invalid value: "%s": must be no more than 63 bytes' % ("x" * 64)) for m in msgs)
    assert body["message"].startswith('Node "worker-a-1" is invalid: [metadata.labels: Invalid value: ')
    r = api.patch("/api/v1/nodes/worker-a-1", {"metadata": {"labels": {"-.example.com/x": "v"}}})
    assert "prefix part a lowercase RFC 1123 subdomain" in r.json["message"]
    r = api.patch("/api/v1/nodes/worker-a-1", {"metadata": {"labels": {"example.com/" + "n" * 64: "v"}}})
    assert "name part must be no more than 63 bytes" in r.json["message"]


def test_taint_validation(api):
    r = api.patch("/api/v1/nodes/worker-a-1", {"spec": {"taints": [{"key": "k", "effect": "NoWay"}]}})
    assert r.status == 422
    assert r.json["message"] == ('Node "worker-a-1" is invalid: spec.taints[0].effect: Unsupported value: '
                                 '"NoWay": supported values: "NoSchedule", "PreferNoSchedule", "NoExecute"')
    assert r.json["details"]["causes"] == [{"reason": "FieldValueNotSupported", "field": "spec.taints[0].effect",
                                           "message": 'Unsupported value: "NoWay": supported values: '
                                                      '"NoSchedule", "PreferNoSchedule", "NoExecute"'}]
    r = api.patch("/api/v1/nodes/worker-a-1", {"spec": {"taints": [{"key": "k", "effect": "NoSchedule"},
                                                                   {"key": "k", "effect": "NoSchedule"}]}})
    assert r.status == 422 and "taints must be unique by key and effect pair" in r.json["message"]
    r = api.patch("/api/v1/nodes/worker-a-1", {"spec": {"taints": [{"key": "k", "effect": "NoSchedule"},
                                                                   {"key": "k", "effect": "NoExecute"}]}})
    assert r.status == 200


def test_node_update_rules(api):
    r = api.patch("/api/v1/nodes/worker-a-1", {"spec": {"providerID": "aws:///other"}})
    assert r.status == 422
    assert 'spec.providerID: Forbidden: node updates may not change providerID except from "" to valid' in r.json["message"]
    r = api.post("/api/v1/nodes", {"metadata": {"name": "Bad_Name"}})
    assert r.status == 422 and r.json["details"]["causes"][0]["field"] == "metadata.name"


def test_configmap_validation_and_immutability(api):
    r = api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "c"}, "data": {"bad/key": "1"}})
    assert r.status == 422 and r.json["details"]["causes"][0]["field"] == "data"
    api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "imm"}, "data": {"k": "1"},
                                                       "immutable": True})
    r = api.patch("/api/v1/namespaces/default/configmaps/imm", {"data": {"k": "2"}})
    assert r.status == 422 and "field is immutable when `immutable` is set" in r.json["message"]


def test_core_event_namespace_rule_for_cluster_scoped_objects(api):
    ev = {"metadata": {"name": "e"}, "involvedObject": {"kind": "Node", "name": "worker-a-1"},
          "reason": "Cordon", "message": "cordoned", "type": "Normal"}
    r = api.post("/api/v1/namespaces/kube-system/events", ev)
    assert r.status == 422
    assert r.json["message"] == 'Event "e" is invalid: involvedObject.namespace: Invalid value: "": does not match event.namespace'
    r = api.post("/api/v1/namespaces/default/events", ev)
    assert r.status == 201
    assert r.json["reportingComponent"] == "" and r.json["reportingInstance"] == ""
    assert r.json["firstTimestamp"] is None and r.json["eventTime"] is None


def test_events_v1_shares_storage_and_validates_strictly(api):
    bad = {"metadata": {"name": "n1"}, "regarding": {"kind": "Node", "name": "worker-a-1"},
           "reason": "ImageGC", "note": "freed", "type": "Normal"}
    r = api.post("/apis/events.k8s.io/v1/namespaces/default/events", bad)
    assert r.status == 422
    assert {c["field"] for c in r.json["details"]["causes"]} == {"eventTime"}
    r = api.post("/apis/events.k8s.io/v1/namespaces/default/events", dict(bad, eventTime="2026-11-25T15:51:48.000000Z"))
    assert {c["field"] for c in r.json["details"]["causes"]} == {"reportingController", "reportingInstance", "action"}
    good = dict(bad, eventTime="2026-11-25T15:51:48.123456Z", reportingController="nodewatch.example.com/agent",
                reportingInstance="agent-1", action="GarbageCollect")
    r = api.post("/apis/events.k8s.io/v1/namespaces/default/events", good)
    assert r.status == 201, r
    assert r.json["apiVersion"] == "events.k8s.io/v1" and r.json["note"] == "freed"
    core = api.get("/api/v1/namespaces/default/events/n1").json
    assert core["message"] == "freed" and core["involvedObject"]["name"] == "worker-a-1"
    assert core["reportingComponent"] == "nodewatch.example.com/agent"
    assert core["eventTime"] == "2026-11-25T15:51:48.123456Z"
