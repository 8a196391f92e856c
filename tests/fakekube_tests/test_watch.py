"""Watch streams: initial events, resourceVersion semantics, 410, bookmarks, timeouts,
selector transitions and abrupt disconnects."""
import socket
import threading
import time

import pytest
from kubernetes import client, config, watch as kwatch

from fakekube import FakeKube, make_cluster


def _take(events, n):
    out = []
    for ev in events:
        out.append(ev)
        if len(out) == n:
            break
    return out


def test_watch_from_resource_version(kube, api, watch):
    rv = api.get("/api/v1/nodes").json["metadata"]["resourceVersion"]
    r, events = watch(kube, "/api/v1/nodes?watch=1&resourceVersion=%s" % rv)
    assert r.status == 200 and r.getheader("Transfer-Encoding") == "chunked"
    api.patch("/api/v1/nodes/worker-a-1", {"metadata": {"labels": {"w": "1"}}})
    api.post("/api/v1/nodes", {"metadata": {"name": "new-1"}})
    api.delete("/api/v1/nodes/new-1")
    evs = _take(events, 3)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in evs] == [
        ("MODIFIED", "worker-a-1"), ("ADDED", "new-1"), ("DELETED", "new-1")]
    assert all(e["object"]["kind"] == "Node" and e["object"]["apiVersion"] == "v1" for e in evs)
    rvs = [int(e["object"]["metadata"]["resourceVersion"]) for e in evs]
    assert rvs == sorted(rvs) and rvs[0] > int(rv) and len(set(rvs)) == 3
    r.close()


@pytest.mark.parametrize("rv", ["", "0"])
def test_watch_without_rv_starts_with_current_state(kube, api, watch, rv):
    r, events = watch(kube, "/api/v1/nodes?watch=true&resourceVersion=%s" % rv)
    evs = _take(events, 12)
    assert {e["type"] for e in evs} == {"ADDED"}
    assert sorted(e["object"]["metadata"]["name"] for e in evs) == \
        sorted(i["metadata"]["name"] for i in api.get("/api/v1/nodes").json["items"])
    api.patch("/api/v1/nodes/cp-1", {"metadata": {"labels": {"x": "y"}}})
    assert next(events)["type"] == "MODIFIED"
    r.close()


def test_watch_too_old_is_410_error_event(kube, api, watch):
    rv = int(kube.resource_version)
    api.patch("/api/v1/nodes/cp-1", {"metadata": {"labels": {"x": "y"}}})
    kube.compact()
    r, events = watch(kube, "/api/v1/nodes?watch=1&resourceVersion=%d" % rv)
    assert r.status == 200
    evs = list(events)
    assert len(evs) == 1 and evs[0]["type"] == "ERROR"
    st = evs[0]["object"]
    assert st["kind"] == "Status" and st["code"] == 410 and st["reason"] == "Expired"
    assert st["status"] == "Failure"
    assert st["message"].startswith("too old resource version: %d (" % rv)
    # the current resourceVersion is still fine
    r2, events2 = watch(kube, "/api/v1/nodes?watch=1&resourceVersion=%s" % kube.resource_version)
    api.patch("/api/v1/nodes/cp-1", {"metadata": {"labels": {"x": "z"}}})
    assert next(events2)["type"] == "MODIFIED"
    r2.close()


def test_watch_window(watch):
    with FakeKube(watch_window=5) as kube:
        kube.seed_nodes(make_cluster(3, seed=1))
        rv = kube.resource_version
        for i in range(10):
            kube.patch("v1", "Node", "cp-1", {"metadata": {"labels": {"i": str(i)}}})
        r, events = watch(kube, "/api/v1/nodes?watch=1&resourceVersion=%s" % rv)
        assert next(events)["object"]["code"] == 410
        recent = int(kube.resource_version) - 3
        r, events = watch(kube, "/api/v1/nodes?watch=1&resourceVersion=%d" % recent)
        assert [e["type"] for e in _take(events, 3)] == ["MODIFIED"] * 3
        r.close()


def test_bookmarks(kube, api, watch):
    r, events = watch(kube, "/api/v1/nodes?watch=1&allowWatchBookmarks=true&resourceVersion=%s" % kube.resource_version)
    ev = next(events)
    assert ev == {"type": "BOOKMARK", "object": {"kind": "Node", "apiVersion": "v1",
                                                 "metadata": {"resourceVersion": kube.resource_version}}}
    r.close()
    # no bookmarks unless asked for (the fixture's bookmark_interval is 0.3s)
    r, events = watch(kube, "/api/v1/nodes?watch=1&resourceVersion=%s" % kube.resource_version)
    threading.Timer(0.7, lambda: kube.patch("v1", "Node", "cp-1", {"metadata": {"labels": {"b": "1"}}})).start()
    assert next(events)["type"] == "MODIFIED"
    r.close()


def test_send_initial_events_needs_the_watchlist_gate(api, watch):
    r = api.get("/api/v1/nodes?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
                "&resourceVersionMatch=NotOlderThan&resourceVersion=")
    assert r.status == 422
    assert r.json["message"] == ('ListOptions.meta.k8s.io "" is invalid: sendInitialEvents: Forbidden: '
                                 'sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled')
    with FakeKube(watch_list=True) as kube:
        kube.seed_nodes(make_cluster(12, seed=3))
        _initial_events_bookmark(kube, watch)


def _initial_events_bookmark(kube, watch):
    r, events = watch(kube, "/api/v1/nodes?watch=1&sendInitialEvents=true&allowWatchBookmarks=true"
                            "&resourceVersionMatch=NotOlderThan&resourceVersion=")
    evs = _take(events, 13)
    assert [e["type"] for e in evs[:12]] == ["ADDED"] * 12
    assert evs[12]["type"] == "BOOKMARK"
    assert evs[12]["object"]["metadata"]["annotations"] == {"k8s.io/initial-events-end": "true"}
    r.close()


def test_timeout_seconds_closes_stream_cleanly(kube, watch):
    t = time.monotonic()
    r, events = watch(kube, "/api/v1/nodes?watch=1&timeoutSeconds=1&resourceVersion=%s" % kube.resource_version)
    assert list(events) == []
    assert 0.9 < time.monotonic() - t < 30   # ended by timeoutSeconds, not the 1800 s default


def test_selector_transitions(kube, api, watch):
    r, events = watch(kube, "/api/v1/nodes?watch=1&labelSelector=team%%3Da&resourceVersion=%s" % kube.resource_version)
    api.patch("/api/v1/nodes/worker-a-2", {"metadata": {"labels": {"other": "1"}}})      # not matching
    api.patch("/api/v1/nodes/worker-a-1", {"metadata": {"labels": {"team": "a"}}})       # enters
    api.patch("/api/v1/nodes/worker-a-1", {"metadata": {"labels": {"x": "1"}}})          # stays
    last = api.patch("/api/v1/nodes/worker-a-1", {"metadata": {"labels": {"team": "b"}}}).json  # leaves
    evs = _take(events, 3)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in evs] == [
        ("ADDED", "worker-a-1"), ("MODIFIED", "worker-a-1"), ("DELETED", "worker-a-1")]
    gone = evs[2]["object"]
    # the DELETED object is the previous state at the new resourceVersion
    assert gone["metadata"]["labels"]["team"] == "a"
    assert gone["metadata"]["resourceVersion"] == last["metadata"]["resourceVersion"]
    r.close()


def test_field_selector_and_single_object_watch(kube, api, watch):
    r, events = watch(kube, "/api/v1/nodes?watch=1&fieldSelector=metadata.name%%3Dcp-2&resourceVersion=%s" % kube.resource_version)
    api.patch("/api/v1/nodes/cp-1", {"metadata": {"labels": {"x": "1"}}})
    api.patch("/api/v1/nodes/cp-2", {"metadata": {"labels": {"x": "1"}}})
    assert next(events)["object"]["metadata"]["name"] == "cp-2"
    r.close()
    r, events = watch(kube, "/api/v1/nodes?watch=1&fieldSelector=spec.unschedulable%%3Dtrue&resourceVersion=%s" % kube.resource_version)
    api.patch("/api/v1/nodes/worker-b-1", {"spec": {"unschedulable": True}})
    ev = next(events)
    assert ev["type"] == "ADDED" and ev["object"]["metadata"]["name"] == "worker-b-1"
    r.close()


def test_namespaced_watch(kube, api, watch):
    r, events = watch(kube, "/api/v1/namespaces/kube-system/configmaps?watch=1&resourceVersion=%s" % kube.resource_version)
    api.post("/api/v1/namespaces/default/configmaps", {"metadata": {"name": "a"}})
    api.post("/api/v1/namespaces/kube-system/configmaps", {"metadata": {"name": "b"}})
    ev = next(events)
    assert (ev["type"], ev["object"]["metadata"]["namespace"]) == ("ADDED", "kube-system")
    r.close()


def test_drop_watches_closes_abruptly(kube, api):
    sock = socket.create_connection(("127.0.0.1", int(kube.url.rsplit(":", 1)[1])), timeout=5)
    sock.sendall(("GET /api/v1/nodes?watch=1&resourceVersion=%s HTTP/1.1\r\nHost: x\r\n"
                  "Authorization: Bearer %s\r\n\r\n" % (kube.resource_version, kube.admin_token)).encode())
    deadline = time.time() + 5
    while kube.open_watches() == 0 and time.time() < deadline:
        time.sleep(0.01)
    kube.patch("v1", "Node", "cp-1", {"metadata": {"labels": {"before": "drop"}}})
    time.sleep(0.1)
    kube.drop_watches()
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    sock.close()
    assert b"200 OK" in data and b'"type":"MODIFIED"' in data
    assert not data.endswith(b"0\r\n\r\n")    # no terminating chunk: an abrupt close
    deadline = time.time() + 5
    while kube.open_watches() and time.time() < deadline:
        time.sleep(0.01)
    assert kube.open_watches() == 0
    assert api.get("/api/v1/nodes/cp-1").status == 200   # the server is fine


def test_watch_bad_parameters(api):
    assert api.get("/api/v1/nodes?watch=1&resourceVersion=abc").status == 400
    assert api.get("/api/v1/nodes?watch=1&labelSelector=a%20b").status == 400
    r = api.get("/api/v1/nodes?watch=1&resourceVersion=1&resourceVersionMatch=NotOlderThan")
    assert r.status == 422


def test_official_client_watch(kube, tmp_path):
    api_client = config.new_client_from_config(config_file=kube.write_kubeconfig(str(tmp_path / "kc")))
    v1 = client.CoreV1Api(api_client)
    rv = v1.list_node().metadata.resource_version

    def later():
        time.sleep(0.2)
        kube.patch("v1", "Node", "cp-3", {"metadata": {"labels": {"seen": "yes"}}})
    threading.Thread(target=later, daemon=True).start()
    w = kwatch.Watch()
    got = []
    for ev in w.stream(v1.list_node, resource_version=rv, timeout_seconds=3):
        got.append((ev["type"], ev["object"].metadata.name, ev["object"].metadata.labels.get("seen")))
        w.stop()
    assert got == [("MODIFIED", "cp-3", "yes")]


def test_closed_client_releases_the_watch(kube, watch):
    r, events = watch(kube, "/api/v1/nodes?watch=1&resourceVersion=%s" % kube.resource_version)
    deadline = time.time() + 5
    while kube.open_watches() == 0 and time.time() < deadline:
        time.sleep(0.01)
    r.close()
    r.connection.close()
    deadline = time.time() + 5
    while kube.open_watches() and time.time() < deadline:
        time.sleep(0.05)
    assert kube.open_watches() == 0


def test_seed_and_add_nodes_emit_events(kube, watch):
    r, events = watch(kube, "/api/v1/nodes?watch=1&resourceVersion=%s" % kube.resource_version)
    kube.add_nodes(make_cluster(2, seed=5, name_prefix="b-"))
    kube.add_nodes(make_cluster(1, seed=5, name_prefix="b-"))       # b-cp-1 again: replaced
    evs = _take(events, 3)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in evs] == [
        ("ADDED", "b-cp-1"), ("ADDED", "b-worker-a-1"), ("MODIFIED", "b-cp-1")]
    kube.seed_nodes(make_cluster(1, seed=5))
    evs = _take(events, 15)
    assert [e["type"] for e in evs] == ["DELETED"] * 14 + ["ADDED"]
    r.close()
