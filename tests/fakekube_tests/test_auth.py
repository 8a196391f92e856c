"""Authentication (tokens, client certificates), rule-based authorization, impersonation and
the request log."""
import ssl
import urllib.request

import pytest

from fakekube import FakeKube, Rule, make_cluster

READER = Rule(user="ci-reader", allow=[("get", "nodes"), ("list", "nodes"), ("watch", "nodes")])
CM_WRITER = Rule(user="cm-writer", allow=[("*", "configmaps", "team-a"), ("get", "nodes/proxy"),
                                          ("patch", "nodes/status"), ("list", "events.events.k8s.io")])


@pytest.fixture
def authkube():
    k = FakeKube(tokens={"reader-token": READER, "writer-token": CM_WRITER}).start()
    k.seed_nodes(make_cluster(4, seed=0))
    k.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-a"}})
    yield k
    k.stop()


def test_unauthenticated_and_bad_token_are_401(authkube, make_api):
    for tok in ("", "wrong"):
        r = make_api(authkube, token=tok).get("/api/v1/nodes")
        assert r.status == 401
        assert r.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                          "message": "Unauthorized", "reason": "Unauthorized", "code": 401}


def test_forbidden_messages(authkube, make_api):
    api = make_api(authkube, token="reader-token")
    assert api.get("/api/v1/nodes").status == 200
    assert api.get("/api/v1/nodes/cp-1").status == 200
    r = api.patch("/api/v1/nodes/worker-a-1", {"metadata": {"labels": {"a": "b"}}})
    assert r.status == 403
    assert r.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": 'nodes "worker-a-1" is forbidden: User "ci-reader" cannot patch resource '
                                 '"nodes" in API group "" at the cluster scope',
                      "reason": "Forbidden", "details": {"name": "worker-a-1", "kind": "nodes"}, "code": 403}
    r = api.get("/api/v1/namespaces/kube-system/configmaps")
    assert r.json["message"] == ('configmaps is forbidden: User "ci-reader" cannot list resource "configmaps" '
                                 'in API group "" in the namespace "kube-system"')
    r = api.get("/api/v1/nodes/cp-1/status")
    assert r.json["message"] == ('nodes "cp-1" is forbidden: User "ci-reader" cannot get resource '
                                 '"nodes/status" in API group "" at the cluster scope')
    r = api.get("/apis/apps/v1/deployments")
    assert r.json["message"] == ('deployments.apps is forbidden: User "ci-reader" cannot list resource '
                                 '"deployments" in API group "apps" at the cluster scope')
    assert r.json["details"] == {"group": "apps", "kind": "deployments"}
    # discovery and /version are open to every authenticated user
    assert api.get("/api/v1").status == 200 and api.get("/version").status == 200


def test_namespaced_and_subresource_rules(authkube, make_api):
    api = make_api(authkube, token="writer-token")
    assert api.post("/api/v1/namespaces/team-a/configmaps", {"metadata": {"name": "x"}}).status == 201
    r = api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "x"}})
    assert r.status == 403 and r.json["message"].endswith('in the namespace "default"')
    assert api.get("/api/v1/configmaps").status == 403          # cluster-wide list needs a cluster rule
    assert api.get("/api/v1/nodes/cp-1/proxy/stats/summary").status == 200
    assert api.patch("/api/v1/nodes/cp-1/status", {"status": {"phase": "x"}}).status == 200
    assert api.patch("/api/v1/nodes/cp-1", {"metadata": {"labels": {"x": "y"}}}).status == 403
    assert api.get("/apis/events.k8s.io/v1/events").status == 200
    assert api.get("/api/v1/events").status == 403               # the group is part of the rule


def test_watch_verb_is_separate(authkube, make_api):
    k = FakeKube(tokens={"t": Rule(user="lister", allow=[("list", "nodes")])}).start()
    try:
        api = make_api(k, token="t")
        assert api.get("/api/v1/nodes").status == 200
        r = api.get("/api/v1/nodes?watch=1")
        assert r.status == 403 and "cannot watch resource" in r.json["message"]
    finally:
        k.stop()


def test_impersonation(authkube, make_api):
    admin = make_api(authkube)
    r = admin.get("/api/v1/nodes", headers={"Impersonate-User": "ci-reader"})
    assert r.status == 200
    r = admin.delete("/api/v1/nodes/cp-1", headers={"Impersonate-User": "ci-reader"})
    assert r.status == 403 and 'User "ci-reader" cannot delete resource "nodes"' in r.json["message"]
    r = admin.get("/api/v1/nodes", headers={"Impersonate-User": "nobody"})
    assert r.status == 403
    reqs = [q for q in authkube.requests if q[1] == "/api/v1/nodes"]
    assert reqs[-1] == ("GET", "/api/v1/nodes", {}, "nobody")
    assert authkube.request_log[-1]["impersonator"] == "fake-admin"
    # a reader may not impersonate
    r = make_api(authkube, token="reader-token").get("/api/v1/nodes", headers={"Impersonate-User": "fake-admin"})
    assert r.status == 403
    assert r.json["message"] == ('users "fake-admin" is forbidden: User "ci-reader" cannot impersonate resource '
                                 '"users" in API group "" at the cluster scope')
    # rules can be given to a user that only ever appears through impersonation
    authkube.set_rule(Rule(user="auditor", allow=[("list", "*")]))
    assert admin.get("/apis/apps/v1/deployments", headers={"Impersonate-User": "auditor"}).status == 200


def test_requests_are_recorded(authkube, make_api):
    authkube.clear_requests()
    api = make_api(authkube, token="reader-token")
    api.get("/api/v1/nodes?limit=2&labelSelector=a%3Db")
    api.patch("/api/v1/nodes/cp-1", {"metadata": {}})
    assert authkube.requests == [("GET", "/api/v1/nodes", {"limit": "2", "labelSelector": "a=b"}, "ci-reader"),
                                 ("PATCH", "/api/v1/nodes/cp-1", {}, "ci-reader")]
    log = authkube.request_log[-1]
    assert log["content_type"] == "application/strategic-merge-patch+json" and log["body"] == b'{"metadata": {}}'


def test_client_certificate_auth(tmp_path):
    with FakeKube(tls=True) as kube:
        kube.seed_nodes(make_cluster(2, seed=0))
        kube.set_rule(Rule(user="node-agent", allow=[("get", "nodes")]))
        cert, key = kube.issue_client_cert("node-agent", groups=["system:nodes"])
        ctx = ssl.create_default_context(cafile=kube.ca_file)
        ctx.load_cert_chain(cert, key)
        body = urllib.request.urlopen(kube.url + "/api/v1/nodes/cp-1", context=ctx).read()
        assert b'"name":"cp-1"' in body
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(kube.url + "/api/v1/nodes", context=ctx)
        assert e.value.code == 403
        assert kube.requests[-1][3] == "node-agent"
        # without a client certificate and token: 401
        plain = ssl.create_default_context(cafile=kube.ca_file)
        with pytest.raises(urllib.error.HTTPError) as e:
            urllib.request.urlopen(kube.url + "/api/v1/nodes", context=plain)
        assert e.value.code == 401
        # and the kubeconfig can carry it
        from kubernetes import client, config
        path = kube.write_kubeconfig(str(tmp_path / "kc"), client_cert=(cert, key), user="node-agent")
        v1 = client.CoreV1Api(config.new_client_from_config(config_file=path))
        assert v1.read_node("cp-1").metadata.name == "cp-1"


def test_kubeconfig_variants(tmp_path):
    import yaml
    with FakeKube(tls=True, tokens={"r": READER}) as kube:
        p = kube.write_kubeconfig(str(tmp_path / "a"), token="r", context="ctx", user="u")
        cfg = yaml.safe_load(open(p))
        assert cfg["current-context"] == "ctx"
        assert cfg["users"] == [{"name": "u", "user": {"token": "r"}}]
        assert cfg["clusters"][0]["cluster"] == {"server": kube.url, "certificate-authority": kube.ca_file}
        cfg = yaml.safe_load(open(kube.write_kubeconfig(str(tmp_path / "b"), insecure=True)))
        assert cfg["clusters"][0]["cluster"]["insecure-skip-tls-verify"] is True
        assert cfg["users"][0]["user"]["token"] == kube.admin_token
