"""Fault injection and the node proxy to the simulated kubelet."""
from kubernetes import client, config

from fakekube import FakeKube


def test_fail_next_counts_and_filters(kube, api):
    kube.fail_next(2, status=500, path_contains="/nodes/cp-1")
    assert api.get("/api/v1/nodes/cp-2").status == 200
    r = api.get("/api/v1/nodes/cp-1")
    assert r.status == 500 and r.json["reason"] == "InternalError" and r.json["kind"] == "Status"
    assert api.get("/api/v1/nodes/cp-1").status == 500
    assert api.get("/api/v1/nodes/cp-1").status == 200


def test_fail_next_429_with_retry_after(kube, api):
    kube.fail_next(1, status=429, retry_after=1)
    r = api.get("/api/v1/nodes")
    assert r.status == 429 and r.headers["Retry-After"] == "1"
    assert r.json["reason"] == "TooManyRequests"
    assert r.json["message"] == "Too many requests, please try again later."
    assert r.json["details"] == {"retryAfterSeconds": 1}
    assert api.get("/api/v1/nodes").status == 200


def test_fail_next_custom_reason_and_requests_still_recorded(kube, api):
    kube.clear_requests()
    kube.fail_next(1, status=503, reason="ServiceUnavailable", method="PATCH")
    assert api.get("/api/v1/nodes/cp-1").status == 200
    r = api.patch("/api/v1/nodes/cp-1", {"metadata": {"labels": {"a": "b"}}})
    assert r.status == 503 and r.json["reason"] == "ServiceUnavailable"
    assert [q[0] for q in kube.requests] == ["GET", "PATCH"]
    assert "a" not in kube.get("v1", "Node", "cp-1")["metadata"]["labels"]


def test_official_client_and_injected_errors(kube, tmp_path):
    v1 = client.CoreV1Api(config.new_client_from_config(config_file=kube.write_kubeconfig(str(tmp_path / "k"))))
    kube.clear_requests()
    # urllib3 (under the official client) retries a 429 that carries Retry-After by itself
    kube.fail_next(1, status=429, retry_after=1)
    assert len(v1.list_node().items) == 12
    assert [q[1] for q in kube.requests] == ["/api/v1/nodes", "/api/v1/nodes"]
    kube.fail_next(1, status=500)
    try:
        v1.list_node()
        raise AssertionError("expected 500")
    except client.ApiException as e:
        assert e.status == 500


def test_kubelet_summary_default(kube, api):
    node = api.get("/api/v1/nodes/worker-a-1").json
    r = api.get("/api/v1/nodes/worker-a-1/proxy/stats/summary")
    assert r.status == 200
    s = r.json
    assert s["node"]["nodeName"] == "worker-a-1" and s["pods"] == []
    image_fs = s["node"]["runtime"]["imageFs"]
    for k in ("time", "availableBytes", "capacityBytes", "usedBytes", "inodesFree"):
        assert k in image_fs
    images = sum(i["sizeBytes"] for i in node["status"].get("images", []))
    assert image_fs["usedBytes"] == int(images * 0.7)
    from fakekube.quantity import to_int
    eph = node["status"]["capacity"].get("ephemeral-storage")
    if eph:
        assert image_fs["capacityBytes"] == to_int(eph)
    assert s["node"]["fs"]["usedBytes"] >= image_fs["usedBytes"]
    assert api.get("/api/v1/nodes/worker-a-1:10250/proxy/stats/summary").status == 200
    assert api.get("/api/v1/nodes/nope/proxy/stats/summary").status == 404
    assert api.get("/api/v1/nodes/worker-a-1/proxy/healthz").raw == b"ok"


def test_kubelet_summary_configured_and_errors(kube, api):
    kube.set_kubelet_summary("cp-1", summary={"node": {"nodeName": "cp-1"}, "pods": []})
    assert api.get("/api/v1/nodes/cp-1/proxy/stats/summary").json == {"node": {"nodeName": "cp-1"}, "pods": []}
    kube.set_kubelet_summary("cp-1", status=503)
    r = api.get("/api/v1/nodes/cp-1/proxy/stats/summary")
    ip = [a["address"] for a in kube.get("v1", "Node", "cp-1")["status"]["addresses"] if a["type"] == "InternalIP"][0]
    assert r.status == 503
    assert r.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": "error trying to reach service: dial tcp %s:10250: connect: connection refused" % ip,
                      "reason": "ServiceUnavailable", "code": 503}
    kube.set_kubelet_summary("cp-1", status=502)
    r = api.get("/api/v1/nodes/cp-1/proxy/stats/summary")
    assert r.status == 502 and r.headers["Content-Type"].startswith("text/plain")
    kube.set_kubelet_summary("cp-1")
    assert api.get("/api/v1/nodes/cp-1/proxy/stats/summary").json["node"]["runtime"]["imageFs"]


def test_kubelet_proxy_needs_nodes_proxy(kube, make_api):
    from fakekube import Rule
    kube.add_token("r", Rule(user="reader", allow=[("get", "nodes")]))
    r = make_api(kube, token="r").get("/api/v1/nodes/cp-1/proxy/stats/summary")
    assert r.status == 403
    assert r.json["message"] == ('nodes "cp-1" is forbidden: User "reader" cannot get resource "nodes/proxy" '
                                 'in API group "" at the cluster scope')


def test_request_log_limit_keeps_the_latest_requests_or_none(make_api):
    for limit, expected in ((2, ["/api/v1/nodes/b", "/api/v1/nodes/c"]), (0, [])):
        with FakeKube(request_log_limit=limit) as kube:
            api = make_api(kube)
            for name in ("a", "b", "c"):
                assert api.get("/api/v1/nodes/" + name).status == 404
            assert [q[1] for q in kube.requests] == expected
            assert [entry["path"] for entry in kube.request_log] == expected
