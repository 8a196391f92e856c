"""Injected faults on the wire: resets mid-body, stalls, restarts that lose the watch cache,
nodes re-created under the same name, Leases written with a skewed clock, and random plans."""
import datetime
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from fakekube import FakeKube, make_cluster
from fakekube.faults import FaultPlan


def _port(kube):
    return int(kube.url.rsplit(":", 1)[1])


def exchange(kube, method, path, body=None, timeout=5.0, token=None):
    """One raw HTTP/1.1 request on a fresh socket; returns (bytes received, how it ended).

    ``how`` is "eof" (the server closed), "reset" (RST) or "timeout"."""
    sock = socket.create_connection(("127.0.0.1", _port(kube)), timeout=timeout)
    headers = "Host: x\r\nConnection: close\r\nAuthorization: Bearer %s\r\n" % (token or kube.admin_token)
    payload = b""
    if body is not None:
        payload = json.dumps(body).encode()
        headers += "Content-Type: application/json\r\nContent-Length: %d\r\n" % len(payload)
    sock.sendall(("%s %s HTTP/1.1\r\n%s\r\n" % (method, path, headers)).encode() + payload)
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return data, "eof"
            data += chunk
    except ConnectionResetError:
        return data, "reset"
    except socket.timeout:
        return data, "timeout"
    finally:
        sock.close()


def split_response(data):
    head, dummy, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:] if ": " in line)
    return lines[0], headers, body


def dechunk(body):
    """(decoded events of the complete chunks, the incomplete rest)."""
    events = []
    while True:
        size_line, sep, after = body.partition(b"\r\n")
        if not sep:
            return events, body
        size = int(size_line, 16)
        if size == 0 or len(after) < size + 2:
            return events, body
        events.append(json.loads(after[:size]))
        body = after[size + 2:]


def wait_for(predicate, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out")
        time.sleep(0.01)


# -- connection reset mid-body -----------------------------------------------------------------

def test_reset_mid_body_sends_headers_and_part_of_a_list_then_resets(kube, api):
    full = api.get("/api/v1/nodes").raw
    kube.reset_next(1, path_contains="/api/v1/nodes", method="GET")
    data, how = exchange(kube, "GET", "/api/v1/nodes")
    status, headers, body = split_response(data)
    assert how == "reset"
    assert status == "HTTP/1.1 200 OK" and int(headers["Content-Length"]) == len(full)
    assert 0 < len(body) < len(full) and full.startswith(body)
    assert api.get("/api/v1/nodes").raw == full  # the fault was used up; the server is fine


def test_reset_after_a_write_was_stored_loses_only_the_answer(kube, api):
    kube.reset_next(1, method="PATCH", path_contains="/nodes/cp-1", after_bytes=10)
    sock = socket.create_connection(("127.0.0.1", _port(kube)), timeout=5)
    payload = json.dumps({"metadata": {"labels": {"written": "yes"}}}).encode()
    sock.sendall(("PATCH /api/v1/nodes/cp-1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"
                  "Content-Type: application/merge-patch+json\r\nContent-Length: %d\r\n\r\n"
                  % (kube.admin_token, len(payload))).encode() + payload)
    data = b""
    with pytest.raises(ConnectionResetError):
        while True:
            chunk = sock.recv(65536)
            assert chunk, "expected a reset, got a clean close"
            data += chunk
    sock.close()
    assert len(split_response(data)[2]) == 10
    assert kube.get("v1", "Node", "cp-1")["metadata"]["labels"]["written"] == "yes"


def test_reset_with_fin_closes_without_completing_the_body(kube):
    kube.reset_next(1, path_contains="/nodes/cp-2", how="fin")
    data, how = exchange(kube, "GET", "/api/v1/nodes/cp-2")
    dummy, headers, body = split_response(data)
    assert how == "eof" and len(body) < int(headers["Content-Length"])


def test_reset_matches_query_and_watch_filters(kube, api):
    kube.reset_next(1, path_contains="/api/v1/nodes", query={"labelSelector": "pick=me"})
    assert api.get("/api/v1/nodes").status == 200
    assert api.get("/api/v1/nodes?labelSelector=other").status == 200
    data, how = exchange(kube, "GET", "/api/v1/nodes?labelSelector=pick%3Dme")
    assert how == "reset"
    kube.reset_next(1, path_contains="/api/v1/nodes", watch=True, after_events=0)
    assert api.get("/api/v1/nodes").status == 200   # a list is not a watch
    data, how = exchange(kube, "GET", "/api/v1/nodes?watch=1&resourceVersion=%s" % kube.resource_version)
    assert how == "reset" and split_response(data)[2] == b""


def test_watch_reset_after_some_events_has_no_final_chunk(kube):
    rv = kube.resource_version
    kube.patch("v1", "Node", "cp-1", {"metadata": {"labels": {"n": "1"}}})
    kube.patch("v1", "Node", "cp-1", {"metadata": {"labels": {"n": "2"}}})
    kube.patch("v1", "Node", "cp-1", {"metadata": {"labels": {"n": "3"}}})
    kube.reset_next(1, watch=True, after_events=2)
    data, how = exchange(kube, "GET", "/api/v1/nodes?watch=1&resourceVersion=%s" % rv)
    status, headers, body = split_response(data)
    assert how == "reset" and headers["Transfer-Encoding"] == "chunked"
    events, rest = dechunk(body)
    assert [e["object"]["metadata"]["labels"]["n"] for e in events] == ["1", "2"]
    assert rest and not rest.endswith(b"0\r\n\r\n")    # half of the third chunk, no final chunk
    wait_for(lambda: kube.open_watches() == 0)


def test_a_real_client_sees_a_broken_body_not_a_short_answer(kube):
    kube.reset_next(1, path_contains="/api/v1/nodes")
    conn = http.client.HTTPConnection("127.0.0.1", _port(kube), timeout=5)
    conn.request("GET", "/api/v1/nodes", headers={"Authorization": "Bearer " + kube.admin_token})
    response = conn.getresponse()
    assert response.status == 200
    with pytest.raises((http.client.IncompleteRead, ConnectionResetError)):
        response.read()
    conn.close()


# -- slow answers --------------------------------------------------------------------------------

def test_slow_headers_outlast_a_short_client_timeout(kube):
    kube.slow_next(1, seconds=1.0, stage="headers", path_contains="/nodes/cp-1")
    started = time.monotonic()
    data, how = exchange(kube, "GET", "/api/v1/nodes/cp-1", timeout=0.3)
    assert how == "timeout" and data == b""
    kube.slow_next(1, seconds=0.5, stage="headers", path_contains="/nodes/cp-1")
    conn = http.client.HTTPConnection("127.0.0.1", _port(kube), timeout=5)
    started = time.monotonic()
    conn.request("GET", "/api/v1/nodes/cp-1", headers={"Authorization": "Bearer " + kube.admin_token})
    response = conn.getresponse()
    assert time.monotonic() - started >= 0.45
    assert response.status == 200 and json.loads(response.read())["metadata"]["name"] == "cp-1"
    conn.close()


def test_slow_body_sends_headers_then_stalls_then_completes(kube, api):
    full = api.get("/api/v1/nodes").raw
    kube.slow_next(1, seconds=1.5, path_contains="/api/v1/nodes", after_bytes=100)
    sock = socket.create_connection(("127.0.0.1", _port(kube)), timeout=10)
    started = time.monotonic()
    sock.sendall(("GET /api/v1/nodes HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n"
                  % kube.admin_token).encode())
    data = b""
    while b"\r\n\r\n" not in data or len(split_response(data)[2]) < 100:
        data += sock.recv(65536)
    status, headers, body = split_response(data)
    assert status == "HTTP/1.1 200 OK" and body == full[:100]
    sock.settimeout(0.3)
    with pytest.raises(socket.timeout):      # the rest is held back...
        sock.recv(65536)
    sock.settimeout(10)
    while len(body) < int(headers["Content-Length"]):
        body += sock.recv(65536)             # ...then follows
    sock.close()
    assert body == full and time.monotonic() - started >= 1.45


def test_a_slow_watch_is_silent_then_delivers(kube, watch):
    kube.slow_next(1, seconds=0.8, watch=True)
    rv = kube.resource_version
    kube.patch("v1", "Node", "cp-2", {"metadata": {"labels": {"slow": "1"}}})
    started = time.monotonic()
    r, events = watch(kube, "/api/v1/nodes?watch=1&resourceVersion=%s" % rv)
    assert next(events)["type"] == "MODIFIED"
    assert time.monotonic() - started >= 0.75
    r.close()


# -- something happens right after an answer ----------------------------------------------------

def test_after_next_acts_between_two_pages_of_a_list(kube, api):
    kube.after_next(kube.expire_continue_tokens, query={"limit": "5"})
    first = api.get("/api/v1/nodes?limit=5").json
    r = api.get("/api/v1/nodes?limit=5&continue=%s" % first["metadata"]["continue"])
    assert r.status == 410 and r.json["reason"] == "Expired"
    first = api.get("/api/v1/nodes?limit=5").json        # used up: the next list pages normally
    assert api.get("/api/v1/nodes?limit=5&continue=%s" % first["metadata"]["continue"]).status == 200


# -- restart -------------------------------------------------------------------------------------

def test_restart_cuts_watches_keeps_data_and_port_and_forgets_the_watch_cache(kube, api):
    port = _port(kube)
    first = api.get("/api/v1/nodes?limit=5").json
    old_rv = first["metadata"]["resourceVersion"]
    sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    sock.sendall(("GET /api/v1/nodes?watch=1&resourceVersion=%s HTTP/1.1\r\nHost: x\r\n"
                  "Authorization: Bearer %s\r\n\r\n" % (old_rv, kube.admin_token)).encode())
    wait_for(lambda: kube.open_watches() == 1)
    kube.crash()
    data = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    except ConnectionResetError:
        pass
    sock.close()
    assert data.startswith(b"HTTP/1.1 200") and not data.endswith(b"0\r\n\r\n")
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", port), timeout=2)
    kube.patch("v1", "Node", "cp-1", {"metadata": {"labels": {"while": "down"}}})   # etcd lives on
    kube.recover()
    assert _port(kube) == port
    api.close()
    node = api.get("/api/v1/nodes/cp-1").json
    assert node["metadata"]["labels"]["while"] == "down"
    r = api.get("/api/v1/nodes?watch=1&resourceVersion=%s" % old_rv)
    (error,) = [json.loads(line) for line in r.raw.splitlines()]
    assert error["type"] == "ERROR" and error["object"]["code"] == 410
    assert error["object"]["message"] == "too old resource version: %s (%s)" % (old_rv, kube.resource_version)
    r = api.get("/api/v1/nodes?limit=5&continue=%s" % first["metadata"]["continue"])
    assert r.status == 410 and r.json["reason"] == "Expired"
    data, how = exchange(kube, "GET", "/api/v1/nodes?watch=1&timeoutSeconds=1&resourceVersion=%s"
                         % kube.resource_version)
    assert how == "eof" and data.endswith(b"0\r\n\r\n")  # from the current version: fine


def test_a_starting_server_fails_readyz_and_answers_429_for_cache_reads(kube, api):
    kube.restart(down_seconds=0.2, starting_seconds=1.0)
    assert kube.starting()
    api.close()
    r = api.get("/readyz")
    assert r.status == 500 and r.raw.endswith(b"readyz check failed\n")
    assert api.get("/livez").status == 200
    rv = kube.resource_version
    r = api.get("/api/v1/nodes?watch=1&resourceVersion=%s" % rv)
    assert r.status == 429 and r.headers["Retry-After"] == "1"
    assert r.json == {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                      "message": "storage is (re)initializing", "reason": "TooManyRequests",
                      "details": {"retryAfterSeconds": 1}, "code": 429}
    assert api.get("/api/v1/nodes?resourceVersion=0&labelSelector=a%3Db").status == 429
    assert api.get("/api/v1/nodes?resourceVersion=0&limit=500").status == 200   # delegated
    assert api.get("/api/v1/nodes?limit=5").status == 200                      # consistent: etcd
    assert api.get("/api/v1/nodes/cp-1").status == 200
    assert api.patch("/api/v1/nodes/cp-1", {"metadata": {"labels": {"w": "1"}}}).status == 200
    wait_for(lambda: not kube.starting(), timeout=3)
    assert api.get("/readyz").status == 200
    assert api.get("/api/v1/nodes?watch=1&timeoutSeconds=1&resourceVersion=%s" % kube.resource_version).status == 200


def test_restart_with_tls_keeps_the_certificates(tmp_path):
    from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import KubeClient
    with FakeKube(tls=True) as kube:
        kube.seed_nodes(make_cluster(2, seed=1))
        client = KubeClient.from_options({"kubeconfig": kube.write_kubeconfig(str(tmp_path / "kc"))}, environ={})
        assert len(client.list_all("/api/v1/nodes")[0]) == 2
        kube.restart()
        assert len(client.list_all("/api/v1/nodes")[0]) == 2


# -- a node re-created under the same name -------------------------------------------------------

def test_recreate_node_emits_deleted_then_added_with_a_new_uid(kube, watch):
    old = kube.get("v1", "Node", "worker-a-1")
    r, events = watch(kube, "/api/v1/nodes?watch=1&resourceVersion=%s" % kube.resource_version)
    new = kube.recreate_node("worker-a-1")
    (deleted, added) = [next(events) for dummy in range(2)]
    r.close()
    assert (deleted["type"], added["type"]) == ("DELETED", "ADDED")
    assert deleted["object"]["metadata"]["uid"] == old["metadata"]["uid"]
    assert added["object"]["metadata"]["uid"] == new["metadata"]["uid"] != old["metadata"]["uid"]
    assert int(added["object"]["metadata"]["resourceVersion"]) == int(deleted["object"]["metadata"]["resourceVersion"]) + 1
    assert new["metadata"]["creationTimestamp"] >= old["metadata"]["creationTimestamp"]
    assert new["metadata"]["labels"] == old["metadata"]["labels"]
    assert new["status"]["images"] == old["status"]["images"]


def test_recreate_node_with_new_content(kube):
    replacement = kube.get("v1", "Node", "worker-a-2")
    replacement["status"]["images"] = replacement["status"]["images"][:1]
    new = kube.recreate_node("worker-a-2", replacement)
    assert len(new["status"]["images"]) == 1
    assert new["metadata"]["uid"] != replacement["metadata"]["uid"]
    with pytest.raises(ValueError):
        kube.recreate_node("worker-a-2", dict(replacement, metadata={"name": "other"}))
    from fakekube.errors import ApiError
    with pytest.raises(ApiError):
        kube.recreate_node("no-such-node")


# -- Leases with skewed clocks -------------------------------------------------------------------

def test_write_lease_with_a_clock_an_hour_ahead_then_a_new_holder(kube, api):
    when = datetime.datetime(2026, 11, 30, 12, 0, 0, 250000, tzinfo=datetime.timezone.utc)
    lease = kube.write_lease("elect", "kube-system", holder="far-ahead", renew_time=when,
                             skew_seconds=3600, lease_duration_seconds=10)
    spec = lease["spec"]
    assert spec == {"holderIdentity": "far-ahead", "leaseDurationSeconds": 10,
                    "acquireTime": "2026-11-30T13:00:00.250000Z", "renewTime": "2026-11-30T13:00:00.250000Z",
                    "leaseTransitions": 0}
    served = api.get("/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/elect").json
    assert served["spec"] == spec
    renewed = kube.write_lease("elect", "kube-system", holder="far-ahead", renew_time=when, skew_seconds=3602)
    assert renewed["spec"]["acquireTime"] == spec["acquireTime"]
    assert renewed["spec"]["renewTime"] == "2026-11-30T13:00:02.250000Z"
    taken = kube.write_lease("elect", "kube-system", holder="behind", skew_seconds=-7200)
    assert taken["spec"]["leaseTransitions"] == 1 and taken["spec"]["holderIdentity"] == "behind"
    renew = datetime.datetime.strptime(taken["spec"]["renewTime"], "%Y-%m-%dT%H:%M:%S.%fZ")
    lag = datetime.datetime.utcnow() - renew
    assert 7190 < lag.total_seconds() < 7210


def test_lease_validation_is_the_apiservers(kube, api):
    path = "/apis/coordination.k8s.io/v1/namespaces/default/leases"
    r = api.post(path, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "bad"},
                        "spec": {"holderIdentity": "a", "leaseDurationSeconds": 0, "leaseTransitions": -1}})
    assert r.status == 422
    assert r.json["message"] == ('Lease.coordination.k8s.io "bad" is invalid: [spec.leaseDurationSeconds: '
                                 'Invalid value: 0: must be greater than 0, spec.leaseTransitions: Invalid value: '
                                 '-1: must be greater than or equal to 0]')
    r = api.post(path, {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": {"name": "ok"},
                        "spec": {"holderIdentity": "a", "renewTime": "2026-11-30T12:00:00Z"}})
    assert r.status == 201 and r.json["spec"]["renewTime"] == "2026-11-30T12:00:00.000000Z"


# -- random fault plans ---------------------------------------------------------------------------

def _hammer(api, count):
    return [api.get("/api/v1/nodes/cp-1").status for dummy in range(count)]


def test_fault_plan_injects_at_its_rates_and_records_it(kube, api):
    plan = FaultPlan(seed=7, rates={"status_429": 0.1, "status_500": 0.1, "status_503": 0.05})
    kube.set_fault_plan(plan)
    statuses = _hammer(api, 400)
    counts = plan.counts()
    assert statuses.count(429) == counts["status_429"] and statuses.count(500) == counts["status_500"]
    assert statuses.count(503) == counts["status_503"]
    assert 20 <= counts["status_429"] <= 60 and 20 <= counts["status_500"] <= 60 and 5 <= counts["status_503"] <= 40
    assert statuses.count(200) == 400 - sum(counts.values())
    assert all(e["path"] == "/api/v1/nodes/cp-1" and e["method"] == "GET" for e in plan.injected)
    plan.enabled = False
    assert set(_hammer(api, 30)) == {200}
    kube.set_fault_plan(None)


def test_fault_plan_is_reproducible_from_its_seed(kube, api):
    runs = []
    for dummy in range(2):
        plan = FaultPlan(seed=42, rates={"status_500": 0.2, "status_504": 0.2})
        kube.set_fault_plan(plan)
        runs.append(_hammer(api, 60))
    kube.set_fault_plan(None)
    assert runs[0] == runs[1] and set(runs[0]) == {200, 500, 504}


def test_fault_plan_cluster_faults_act(kube, api):
    rv = kube.resource_version
    kube.patch("v1", "Node", "cp-1", {"metadata": {"labels": {"x": "1"}}})
    plan = FaultPlan(seed=1, rates={"compact": 1.0}, path_contains="/nodes/cp-3")
    kube.set_fault_plan(plan)
    assert api.get("/api/v1/nodes/cp-2").status == 200 and plan.counts()["compact"] == 0
    assert api.get("/api/v1/nodes/cp-3").status == 200 and plan.counts()["compact"] == 1
    kube.set_fault_plan(None)
    r = api.get("/api/v1/nodes?watch=1&resourceVersion=%s" % rv)
    assert json.loads(r.raw.splitlines()[0])["object"]["code"] == 410


def test_fault_plan_resets_slows_and_restarts(kube, api):
    plan = FaultPlan(seed=3, rates={"reset": 1.0}, path_contains="/nodes/cp-1")
    kube.set_fault_plan(plan)
    assert exchange(kube, "GET", "/api/v1/nodes/cp-1")[1] == "reset"
    kube.set_fault_plan(FaultPlan(seed=3, rates={"slow": 1.0}, slow_seconds=0.5, path_contains="/nodes/cp-1"))
    started = time.monotonic()
    data, how = exchange(kube, "GET", "/api/v1/nodes/cp-1")
    assert time.monotonic() - started >= 0.45
    kube.set_fault_plan(None)
    restart = FaultPlan(seed=3, rates={"restart": 1.0}, restart_down_seconds=0.3, restart_starting_seconds=0.2,
                        path_contains="/nodes/cp-2")
    kube.set_fault_plan(restart)
    exchange(kube, "GET", "/api/v1/nodes/cp-2")
    kube.set_fault_plan(None)
    wait_for(lambda: not kube.running)
    wait_for(lambda: kube.running and not kube.starting())
    assert restart.counts()["restart"] == 1
    api.close()
    assert api.get("/api/v1/nodes/cp-2").status == 200


def test_fault_plan_refuses_unknown_kinds_and_bad_rates():
    with pytest.raises(ValueError, match="unknown fault kinds"):
        FaultPlan(1, {"meteor": 0.1})
    with pytest.raises(ValueError, match="between 0 and 1"):
        FaultPlan(1, {"reset": 1.5})
    with pytest.raises(ValueError, match="more than 1"):
        FaultPlan(1, {"reset": 0.6, "slow": 0.6})


def test_the_command_line_runs_a_fault_plan_and_reports_it(tmp_path):
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), ".."))
    report = tmp_path / "faults.json"
    plan = {"seed": 1, "rates": {"status_500": 1.0}, "path_contains": "/api/v1/nodes"}
    proc = subprocess.Popen([sys.executable, "-m", "fakekube", "--nodes", "3", "--kubeconfig", str(tmp_path / "kc"),
                             "--fault-plan", json.dumps(plan), "--fault-report", str(report)],
                            stdout=subprocess.PIPE, env=env, text=True)
    try:
        info = json.loads(proc.stdout.readline())
        port = int(info["url"].rsplit(":", 1)[1])
        for dummy in range(3):
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            conn.request("GET", "/api/v1/nodes", headers={"Authorization": "Bearer " + info["token"]})
            assert conn.getresponse().status == 500
            conn.close()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    written = json.loads(report.read_text())
    assert written["counts"]["status_500"] == 3 and len(written["injected"]) == 3
    bad = subprocess.run([sys.executable, "-m", "fakekube", "--kubeconfig", str(tmp_path / "kc2"),
                          "--fault-plan", '{"seed": 1, "rates": {"meteor": 1}}'],
                         env=env, capture_output=True, text=True, timeout=60, check=False)
    assert bad.returncode == 2 and "--fault-plan: unknown fault kinds" in bad.stderr


def test_faults_end_with_the_server(kube):
    """A stall in progress (ten minutes here) does not keep stop() waiting."""
    kube.slow_next(1, seconds=600, stage="headers", path_contains="/nodes/cp-1")
    thread = threading.Thread(target=exchange, args=(kube, "GET", "/api/v1/nodes/cp-1", None, 600), daemon=True)
    thread.start()
    wait_for(lambda: any(r[1] == "/api/v1/nodes/cp-1" for r in kube.requests))
    kube.stop()
    thread.join(60)
    assert not thread.is_alive()
