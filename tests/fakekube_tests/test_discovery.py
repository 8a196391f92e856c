"""Discovery endpoints and the official Python client (typed and dynamic) against the fake."""
from kubernetes import client, config
from kubernetes.dynamic import DynamicClient


def test_version(api):
    r = api.get("/version")
    assert r.status == 200
    assert r.json["gitVersion"] == "v1.31.0"
    assert (r.json["major"], r.json["minor"]) == ("1", "31")


def test_core_and_group_discovery(api):
    r = api.get("/api")
    assert r.json["kind"] == "APIVersions" and r.json["versions"] == ["v1"]
    groups = api.get("/apis").json
    assert groups["kind"] == "APIGroupList"
    names = {g["name"]: g for g in groups["groups"]}
    for g in ("apps", "batch", "coordination.k8s.io", "events.k8s.io", "rbac.authorization.k8s.io"):
        assert names[g]["preferredVersion"] == {"groupVersion": g + "/v1", "version": "v1"}
    assert api.get("/apis/apps").json["kind"] == "APIGroup"


def test_resource_lists(api):
    core = api.get("/api/v1").json
    assert core["kind"] == "APIResourceList" and core["groupVersion"] == "v1"
    by = {r["name"]: r for r in core["resources"]}
    assert by["nodes"]["namespaced"] is False and by["nodes"]["kind"] == "Node"
    assert by["nodes"]["shortNames"] == ["no"] and by["nodes"]["singularName"] == "node"
    assert set(by["nodes"]["verbs"]) == {"create", "delete", "deletecollection", "get", "list",
                                         "patch", "update", "watch"}
    assert by["nodes/status"]["verbs"] == ["get", "patch", "update"]
    assert by["nodes/proxy"]["kind"] == "NodeProxyOptions"
    assert by["configmaps"]["shortNames"] == ["cm"] and by["configmaps"]["namespaced"] is True
    assert "deletecollection" not in by["namespaces"]["verbs"]
    apps = api.get("/apis/apps/v1").json
    dep = [r for r in apps["resources"] if r["name"] == "deployments"][0]
    assert dep["shortNames"] == ["deploy"] and dep["categories"] == ["all"]
    assert api.get("/apis/coordination.k8s.io/v1").json["resources"][0]["name"] == "leases"
    assert api.get("/apis/nope/v1").status == 404


def test_unknown_resource_is_404(api):
    r = api.get("/api/v1/widgets")
    assert r.status == 404 and r.json["message"] == "the server could not find the requested resource"


def _client(kube, tmp_path):
    path = kube.write_kubeconfig(str(tmp_path / "kubeconfig"))
    return config.new_client_from_config(config_file=path)


def test_official_client_typed(kube, tmp_path):
    v1 = client.CoreV1Api(_client(kube, tmp_path))
    nodes = v1.list_node()
    assert len(nodes.items) == 12
    assert nodes.items[0].metadata.name == "cp-1"
    assert nodes.items[0].status.node_info.kubelet_version.startswith("v1.3")
    page = v1.list_node(limit=5)
    assert len(page.items) == 5 and page.metadata._continue
    assert page.metadata.remaining_item_count == 7


def test_official_dynamic_client(kube, tmp_path):
    dyn = DynamicClient(_client(kube, tmp_path))
    nodes = dyn.resources.get(api_version="v1", kind="Node")
    assert len(nodes.get().items) == 12
    cm = dyn.resources.get(api_version="v1", kind="ConfigMap")
    cm.create(body={"metadata": {"name": "c1"}, "data": {"k": "v"}}, namespace="default")
    assert cm.get(name="c1", namespace="default").data.k == "v"
    leases = dyn.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")
    assert leases.get(namespace="kube-node-lease").items == []


def test_tls_kubeconfig_with_ca(tmp_path):
    from fakekube import FakeKube, make_cluster
    with FakeKube(tls=True) as kube:
        kube.seed_nodes(make_cluster(3, seed=0))
        assert kube.url.startswith("https://127.0.0.1:")
        v1 = client.CoreV1Api(_client(kube, tmp_path))
        assert [n.metadata.name for n in v1.list_node().items] == ["cp-1", "worker-a-1", "worker-a-2"]
