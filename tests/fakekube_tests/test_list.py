"""List responses, pagination (limit/continue), snapshot consistency and token expiry."""
import base64
import json
import time

from fakekube import FakeKube, make_cluster

EXPIRED_MSG = ("The provided continue parameter is too old to display a consistent list result. "
               "You can start a new list without the continue parameter, or use the continue token "
               "in this response to retrieve the remainder of the results. Continuing with the "
               "provided token results in an inconsistent list - objects that were created, "
               "modified, or deleted between the time the first chunk was returned and now may "
               "show up in the list.")


def test_list_shape_items_have_no_type_meta(api):
    r = api.get("/api/v1/nodes")
    body = r.json
    assert list(body) == ["kind", "apiVersion", "metadata", "items"]
    assert body["kind"] == "NodeList" and body["apiVersion"] == "v1"
    assert body["metadata"]["resourceVersion"].isdigit()
    assert "continue" not in body["metadata"]
    assert all("kind" not in i and "apiVersion" not in i for i in body["items"])
    names = [i["metadata"]["name"] for i in body["items"]]
    assert names == sorted(names)          # etcd key order


def test_empty_list_has_items_array(api):
    r = api.get("/apis/batch/v1/namespaces/default/jobs")
    assert r.json["items"] == [] and r.json["kind"] == "JobList"


def _pages(api, path, limit):
    out, cont, rvs = [], None, set()
    while True:
        q = {"limit": limit}
        if cont:
            q["continue"] = cont
        r = api.get(path, query=q)
        assert r.status == 200, r
        out.extend(i["metadata"]["name"] for i in r.json["items"])
        rvs.add(r.json["metadata"]["resourceVersion"])
        cont = r.json["metadata"].get("continue")
        if not cont:
            return out, rvs


def test_pagination_covers_everything_once(api):
    names, rvs = _pages(api, "/api/v1/nodes", 5)
    assert len(names) == 12 and len(set(names)) == 12 and len(rvs) == 1


def test_continue_token_format_and_remaining_count(api):
    r = api.get("/api/v1/nodes?limit=5")
    md = r.json["metadata"]
    assert md["remainingItemCount"] == 7
    tok = json.loads(base64.urlsafe_b64decode(md["continue"] + "=" * (-len(md["continue"]) % 4)))
    assert tok == {"v": "meta.k8s.io/v1", "rv": int(md["resourceVersion"]),
                   "start": r.json["items"][-1]["metadata"]["name"] + "\x00"}


def test_pages_come_from_one_snapshot(kube, api):
    first = api.get("/api/v1/nodes?limit=4").json
    rv = first["metadata"]["resourceVersion"]
    # changes after the first page must not show in the following pages
    kube.delete("v1", "Node", "worker-a-6")
    api.patch("/api/v1/nodes/worker-b-1", {"metadata": {"labels": {"changed": "yes"}}})
    kube.add_nodes(make_cluster(1, seed=9))  # replaces cp-1
    names, cont = [], first["metadata"]["continue"]
    while cont:
        r = api.get("/api/v1/nodes", query={"limit": 4, "continue": cont}).json
        assert r["metadata"]["resourceVersion"] == rv
        for i in r["items"]:
            names.append(i["metadata"]["name"])
            if i["metadata"]["name"] == "worker-b-1":
                assert "changed" not in i["metadata"]["labels"]
        cont = r["metadata"].get("continue")
    assert "worker-a-6" in names
    fresh = [i["metadata"]["name"] for i in api.get("/api/v1/nodes").json["items"]]
    assert "worker-a-6" not in fresh


def test_selectors_with_pagination_and_no_remaining_count(api):
    r = api.get("/api/v1/nodes?limit=2&labelSelector=node.example.com/pool%3Dworker-a")
    assert len(r.json["items"]) == 2
    assert "remainingItemCount" not in r.json["metadata"]
    names, dummy = _pages(api, "/api/v1/nodes?labelSelector=node.example.com/pool%3Dworker-a", 2)
    assert names == sorted(n for n in names) and all(n.startswith("worker-a-") for n in names)


def test_expired_continue_token_is_410_with_new_token(kube, api):
    r = api.get("/api/v1/nodes?limit=5")
    kube.expire_continue_tokens()
    r2 = api.get("/api/v1/nodes", query={"limit": 5, "continue": r.json["metadata"]["continue"]})
    assert r2.status == 410
    body = r2.json
    assert body["reason"] == "Expired" and body["code"] == 410 and body["status"] == "Failure"
    assert body["message"] == EXPIRED_MSG
    # the Status carries a token that continues at the latest state
    r3 = api.get("/api/v1/nodes", query={"limit": 50, "continue": body["metadata"]["continue"]})
    assert r3.status == 200
    assert [i["metadata"]["name"] for i in r3.json["items"]] == \
        [i["metadata"]["name"] for i in api.get("/api/v1/nodes").json["items"]][5:]


def test_continue_token_ttl(make_api):
    with FakeKube(continue_ttl=0.2) as kube:
        kube.seed_nodes(make_cluster(6, seed=1))
        api = make_api(kube)
        tok = api.get("/api/v1/nodes?limit=2").json["metadata"]["continue"]
        kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bump"}})
        assert api.get("/api/v1/nodes", query={"limit": 2, "continue": tok}).status == 200
        time.sleep(0.3)
        assert api.get("/api/v1/nodes", query={"limit": 2, "continue": tok}).status == 410


def test_invalid_continue_token_is_400(api):
    r = api.get("/api/v1/nodes?limit=2&continue=bm9wZQ")
    assert r.status == 400 and r.json["message"].startswith("invalid continue token: continue key is not valid")
    r = api.get("/api/v1/nodes?limit=2&continue=%s&resourceVersion=5" %
                api.get("/api/v1/nodes?limit=2").json["metadata"]["continue"])
    assert r.status == 400
    assert r.json["message"] == "specifying resource version is not allowed when using continue"


def test_resource_version_semantics(kube, api):
    rv = kube.resource_version
    assert api.get("/api/v1/nodes?resourceVersion=0").json["metadata"]["resourceVersion"] == rv
    # resourceVersion=0 is served from the watch cache, which (v1.31) ignores limit
    r = api.get("/api/v1/nodes?resourceVersion=0&limit=2").json
    assert len(r["items"]) == 12 and "continue" not in r["metadata"]
    assert api.get("/api/v1/nodes?resourceVersion=%s" % (int(rv) - 5)).status == 200
    r = api.get("/api/v1/nodes?resourceVersionMatch=NotOlderThan")
    assert r.status == 422
    assert r.json["message"] == ('ListOptions.meta.k8s.io "" is invalid: resourceVersionMatch: Forbidden: '
                                 'resourceVersionMatch is forbidden unless resourceVersion is provided')
    r = api.get("/api/v1/nodes?resourceVersion=%d&resourceVersionMatch=Exact" % (int(rv) - 1))
    assert r.status == 410 and r.json["reason"] == "Expired"


def test_namespaced_and_all_namespaces_lists(kube, api):
    for ns in ("kube-system", "default"):
        for n in ("b", "a"):
            kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": n, "namespace": ns}})
    items = api.get("/api/v1/configmaps").json["items"]
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in items] == \
        [("default", "a"), ("default", "b"), ("kube-system", "a"), ("kube-system", "b")]
    items = api.get("/api/v1/namespaces/kube-system/configmaps?limit=1").json
    assert [i["metadata"]["name"] for i in items["items"]] == ["a"]
    nxt = api.get("/api/v1/namespaces/kube-system/configmaps",
                  query={"limit": 1, "continue": items["metadata"]["continue"]}).json
    assert [i["metadata"]["name"] for i in nxt["items"]] == ["b"] and "continue" not in nxt["metadata"]
    assert api.get("/api/v1/namespaces/missing/configmaps").json["items"] == []
