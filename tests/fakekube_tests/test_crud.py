"""GET/POST/PUT/DELETE semantics and error bodies."""
import re


def _status_shape(body, code, reason):
    assert body["kind"] == "Status" and body["apiVersion"] == "v1"
    assert body["metadata"] == {} and body["status"] == "Failure"
    assert body["code"] == code and body["reason"] == reason


def test_get_one_has_type_meta_and_server_fields(api):
    r = api.get("/api/v1/nodes/worker-a-1")
    assert r.status == 200 and r.headers["Content-Type"] == "application/json"
    n = r.json
    assert list(n)[:2] == ["kind", "apiVersion"] and n["kind"] == "Node"
    md = n["metadata"]
    assert re.fullmatch(r"[0-9a-f-]{36}", md["uid"])
    assert md["resourceVersion"].isdigit()
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", md["creationTimestamp"])
    assert "generation" not in md   # the node strategy does not set generation


def test_not_found_message(api):
    r = api.get("/api/v1/nodes/x")
    assert r.status == 404
    _status_shape(r.json, 404, "NotFound")
    assert r.json["message"] == 'nodes "x" not found'
    assert r.json["details"] == {"name": "x", "kind": "nodes"}
    r = api.get("/apis/apps/v1/namespaces/default/deployments/web")
    assert r.json["message"] == 'deployments.apps "web" not found'
    assert r.json["details"] == {"name": "web", "group": "apps", "kind": "deployments"}


def test_create_conflict_and_name_rules(api):
    cm = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"x": "1"}}
    r = api.post("/api/v1/namespaces/default/configmaps", cm)
    assert r.status == 201 and r.json["metadata"]["namespace"] == "default"
    r = api.post("/api/v1/namespaces/default/configmaps", cm)
    assert r.status == 409
    _status_shape(r.json, 409, "AlreadyExists")
    assert r.json["message"] == 'configmaps "a" already exists'
    r = api.post("/api/v1/namespaces/default/configmaps", {"metadata": {}})
    assert r.status == 422
    assert r.json["message"] == 'ConfigMap "" is invalid: metadata.name: Required value: name or generateName is required'
    assert r.json["details"]["causes"] == [{"reason": "FieldValueRequired",
                                           "message": "Required value: name or generateName is required",
                                            "field": "metadata.name"}]


def test_generate_name(api):
    r = api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"generateName": "rep-"}})
    assert r.status == 201
    assert re.fullmatch(r"rep-[bcdfghjklmnpqrstvwxz2456789]{5}", r.json["metadata"]["name"])
    assert r.json["metadata"]["generateName"] == "rep-"


def test_create_in_missing_namespace_is_404(api):
    r = api.post("/api/v1/namespaces/nope/configmaps", {"metadata": {"name": "a"}})
    assert r.status == 404 and r.json["message"] == 'namespaces "nope" not found'


def test_initial_namespaces(api):
    names = [n["metadata"]["name"] for n in api.get("/api/v1/namespaces").json["items"]]
    assert names == ["default", "kube-node-lease", "kube-public", "kube-system"]
    ns = api.get("/api/v1/namespaces/default").json
    assert ns["status"] == {"phase": "Active"}
    assert ns["metadata"]["labels"] == {"kubernetes.io/metadata.name": "default"}


def test_namespace_mismatch_and_url_name_mismatch(api):
    r = api.post("/api/v1/namespaces/default/configmaps",
                 {"metadata": {"name": "a", "namespace": "kube-system"}})
    assert r.status == 400
    node = api.get("/api/v1/nodes/worker-a-1").json
    r = api.put("/api/v1/nodes/worker-a-2", node)
    assert r.status == 400
    assert r.json["message"] == "the name of the object (worker-a-1) does not match the name on the URL (worker-a-2)"


def test_put_conflict_on_stale_resource_version(api):
    node = api.get("/api/v1/nodes/worker-a-1").json
    node["metadata"]["labels"]["a"] = "1"
    assert api.put("/api/v1/nodes/worker-a-1", node).status == 200
    node["metadata"]["labels"]["a"] = "2"   # still the old resourceVersion
    r = api.put("/api/v1/nodes/worker-a-1", node)
    assert r.status == 409
    _status_shape(r.json, 409, "Conflict")
    assert r.json["message"] == ('Operation cannot be fulfilled on nodes "worker-a-1": the object has been '
                                 'modified; please apply your changes to the latest version and try again')


def test_put_without_resource_version_is_unconditional(api):
    node = api.get("/api/v1/nodes/worker-a-1").json
    del node["metadata"]["resourceVersion"]
    node["metadata"]["labels"]["b"] = "x"
    r = api.put("/api/v1/nodes/worker-a-1", node)
    assert r.status == 200 and r.json["metadata"]["labels"]["b"] == "x"


def test_uid_and_creation_timestamp_immutable(api):
    node = api.get("/api/v1/nodes/worker-a-1").json
    created = node["metadata"]["creationTimestamp"]
    node["metadata"]["uid"] = "00000000-0000-0000-0000-000000000000"
    r = api.put("/api/v1/nodes/worker-a-1", node)
    assert r.status == 422
    assert r.json["details"]["causes"][0]["field"] == "metadata.uid"
    assert "field is immutable" in r.json["message"]
    node = api.get("/api/v1/nodes/worker-a-1").json
    node["metadata"]["creationTimestamp"] = "2001-01-01T00:00:00Z"
    r = api.put("/api/v1/nodes/worker-a-1", node)
    assert r.status == 200 and r.json["metadata"]["creationTimestamp"] == created


def test_noop_update_keeps_resource_version(api):
    node = api.get("/api/v1/nodes/worker-a-1").json
    r = api.put("/api/v1/nodes/worker-a-1", node)
    assert r.status == 200
    assert r.json["metadata"]["resourceVersion"] == node["metadata"]["resourceVersion"]
    r = api.patch("/api/v1/nodes/worker-a-1", {"metadata": {"labels": {"kubernetes.io/os": "linux"}}})
    assert r.json["metadata"]["resourceVersion"] == node["metadata"]["resourceVersion"]


def test_unknown_fields_dropped_with_warning_or_rejected_when_strict(api):
    node = api.get("/api/v1/nodes/worker-a-1").json
    node["spec"]["unschedulabel"] = True
    r = api.put("/api/v1/nodes/worker-a-1", node)
    assert r.status == 200 and "unschedulabel" not in r.json["spec"]
    assert r.headers["Warning"] == '299 - "unknown field \\"spec.unschedulabel\\""'
    r = api.put("/api/v1/nodes/worker-a-1?fieldValidation=Strict", node)
    assert r.status == 400
    assert r.json["message"] == 'strict decoding error: unknown field "spec.unschedulabel"'


def test_wrong_json_type_is_400(api):
    r = api.patch("/api/v1/nodes/worker-a-1", {"spec": {"unschedulable": "yes"}},
                  content_type="application/merge-patch+json")
    assert r.status == 400
    assert r.json["message"] == ('Node in version "v1" cannot be handled as a Node: json: cannot '
                                 'unmarshal string into Go struct field NodeSpec.spec.unschedulable of type bool')


def test_false_and_zero_values_are_omitted_like_go(api):
    r = api.patch("/api/v1/nodes/worker-a-1", {"spec": {"unschedulable": True}})
    assert r.json["spec"]["unschedulable"] is True
    r = api.patch("/api/v1/nodes/worker-a-1", {"spec": {"unschedulable": False}})
    assert "unschedulable" not in r.json["spec"]


def test_quantities_are_canonicalized(api):
    r = api.post("/api/v1/nodes", {"metadata": {"name": "q"},
                                   "status": {"capacity": {"memory": "1024Mi", "cpu": "4000m",
                                                           "ephemeral-storage": "0.5Gi", "pods": 110}}})
    assert r.status == 201
    assert r.json["status"]["capacity"] == {"memory": "1Gi", "cpu": "4", "ephemeral-storage": "512Mi",
                                            "pods": "110"}
    r = api.post("/api/v1/nodes", {"metadata": {"name": "q2"}, "status": {"capacity": {"cpu": "lots"}}})
    assert r.status == 400 and "quantities must match the regular expression" in r.json["message"]


def test_delete_node_returns_status_and_records_options(kube, api):
    uid = api.get("/api/v1/nodes/worker-a-2").json["metadata"]["uid"]
    r = api.delete("/api/v1/nodes/worker-a-2?gracePeriodSeconds=0")
    assert r.status == 200
    assert r.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                      "details": {"name": "worker-a-2", "kind": "nodes", "uid": uid}}
    assert kube.last_delete_options["gracePeriodSeconds"] == 0
    assert api.get("/api/v1/nodes/worker-a-2").status == 404
    r = api.delete("/api/v1/nodes/worker-a-3",
                   body={"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 30,
                         "propagationPolicy": "Background"})
    assert r.status == 200 and kube.last_delete_options["gracePeriodSeconds"] == 30
    assert kube.last_delete_options["propagationPolicy"] == "Background"
    assert api.delete("/api/v1/nodes/worker-a-3").status == 404


def test_delete_preconditions(api):
    r = api.delete("/api/v1/nodes/worker-a-1", body={"preconditions": {"uid": "nope"}})
    assert r.status == 409 and "Precondition failed: UID in precondition: nope" in r.json["message"]


def test_delete_serviceaccount_returns_object(api):
    api.post("/api/v1/namespaces/default/serviceaccounts", {"metadata": {"name": "sa1"}})
    r = api.delete("/api/v1/namespaces/default/serviceaccounts/sa1")
    assert r.status == 200 and r.json["kind"] == "ServiceAccount"


def test_finalizers_keep_object_until_removed(api):
    api.post("/api/v1/namespaces/default/configmaps",
             {"metadata": {"name": "f", "finalizers": ["example.com/hold"]}})
    r = api.delete("/api/v1/namespaces/default/configmaps/f")
    assert r.status == 200 and r.json["metadata"]["deletionTimestamp"]
    assert api.get("/api/v1/namespaces/default/configmaps/f").status == 200
    r = api.patch("/api/v1/namespaces/default/configmaps/f", {"metadata": {"finalizers": None}},
                  content_type="application/merge-patch+json")
    assert r.status == 200
    assert api.get("/api/v1/namespaces/default/configmaps/f").status == 404


def test_delete_collection_with_selector(api):
    for i in range(3):
        api.post("/api/v1/namespaces/default/configmaps",
                 {"metadata": {"name": "c%d" % i, "labels": {"grp": "a" if i < 2 else "b"}}})
    r = api.delete("/api/v1/namespaces/default/configmaps?labelSelector=grp%3Da")
    assert r.status == 200 and r.json["kind"] == "ConfigMapList"
    assert sorted(i["metadata"]["name"] for i in r.json["items"]) == ["c0", "c1"]
    left = [i["metadata"]["name"] for i in api.get("/api/v1/namespaces/default/configmaps").json["items"]]
    assert left == ["c2"]


def test_namespace_delete_removes_content(api):
    api.post("/api/v1/namespaces", {"metadata": {"name": "team-a"}})
    api.post("/api/v1/namespaces/team-a/configmaps", {"metadata": {"name": "x"}})
    r = api.delete("/api/v1/namespaces/team-a")
    assert r.status == 200 and r.json["status"]["phase"] == "Terminating"
    assert api.get("/api/v1/namespaces/team-a/configmaps/x").status == 404
    assert api.get("/api/v1/namespaces/team-a").status == 404


def test_generation_for_types_with_spec(api):
    dep = {"metadata": {"name": "web"}, "spec": {"replicas": 1, "selector": {"matchLabels": {"a": "b"}},
                                                 "template": {"metadata": {"labels": {"a": "b"}},
                                                              "spec": {"containers": [{"name": "c", "image": "nginx"}]}}},
           "status": {"replicas": 5}}
    r = api.post("/apis/apps/v1/namespaces/default/deployments", dep)
    assert r.status == 201 and r.json["metadata"]["generation"] == 1
    assert r.json["status"] == {}       # status is dropped on create
    r = api.patch("/apis/apps/v1/namespaces/default/deployments/web", {"spec": {"replicas": 3}})
    assert r.json["metadata"]["generation"] == 2
    r = api.patch("/apis/apps/v1/namespaces/default/deployments/web", {"metadata": {"labels": {"x": "y"}}})
    assert r.json["metadata"]["generation"] == 2


def test_unsupported_media_types(api):
    r = api.request("PATCH", "/api/v1/nodes/worker-a-1", body=b"{}",
                    content_type="application/apply-patch+yaml")
    assert r.status == 415
    assert r.json["reason"] == "UnsupportedMediaType"
    assert r.json["message"].startswith("the body of the request was in an unknown format - accepted media types include: ")
    r = api.request("PATCH", "/api/v1/nodes/worker-a-1", body=b"{}", content_type="application/json")
    assert r.status == 415


def test_yaml_body_accepted(api):
    r = api.request("POST", "/api/v1/namespaces/default/configmaps",
                    body=b"metadata:\n  name: y\ndata:\n  k: v\n", content_type="application/yaml")
    assert r.status == 201 and r.json["data"] == {"k": "v"}


def test_dry_run_does_not_persist(api):
    rv = api.get("/api/v1/namespaces/default/configmaps").json["metadata"]["resourceVersion"]
    r = api.post("/api/v1/namespaces/default/configmaps?dryRun=All", {"metadata": {"name": "dry"}})
    assert r.status == 201 and "resourceVersion" not in r.json["metadata"]
    assert api.get("/api/v1/namespaces/default/configmaps/dry").status == 404
    assert api.get("/api/v1/namespaces/default/configmaps").json["metadata"]["resourceVersion"] == rv


def test_direct_state_api(kube):
    cm = kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "d", "namespace": "default"},
                      "data": {"a": "1"}})
    assert cm["metadata"]["uid"] and cm["metadata"]["resourceVersion"] == kube.resource_version
    got = kube.get("v1", "ConfigMap", "d", namespace="default")
    got["data"]["a"] = "mutated"          # copies: the store is not affected
    assert kube.get("v1", "ConfigMap", "d", "default")["data"]["a"] == "1"
    cm["data"]["a"] = "2"
    assert kube.update(cm)["data"]["a"] == "2"
    assert [c["metadata"]["name"] for c in kube.list("v1", "ConfigMap", namespace="default")] == ["d"]
    assert kube.delete("v1", "ConfigMap", "d", namespace="default")["status"] == "Success"
    assert kube.get("v1", "ConfigMap", "d", namespace="default") is None
    assert kube.delete("v1", "ConfigMap", "d", namespace="default") is None
    n = kube.patch_status("worker-a-1", {"conditions": [{"type": "Ready", "status": "False",
                                                         "reason": "KubeletNotReady"}]})
    ready = [c for c in n["status"]["conditions"] if c["type"] == "Ready"][0]
    assert ready["status"] == "False" and len(n["status"]["conditions"]) == 4


def test_accept_negotiation(api):
    assert api.get("/api/v1/nodes/cp-1", headers={"Accept": "application/json, */*"}).status == 200
    r = api.get("/api/v1/nodes", headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io,application/json"})
    assert r.status == 200 and r.json["kind"] == "NodeList"
    r = api.get("/api/v1/nodes", headers={"Accept": "application/vnd.kubernetes.protobuf"})
    assert r.status == 406 and r.json["reason"] == "NotAcceptable"
