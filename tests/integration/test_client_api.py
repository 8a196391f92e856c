"""The shared client against the fake API server: pagination, retries, errors, watches, auth."""
import threading
import time

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import KubeClient, RetryPolicy, node_path
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError, ConnectionFailure
from fakekube import FakeKube, Rule, make_cluster


class Sleeps:
    """Records requested back-off delays instead of sleeping them."""

    def __init__(self):
        self.delays = []

    def __call__(self, seconds):
        self.delays.append(seconds)


@pytest.fixture
def kube():
    with FakeKube(tls=True) as server:
        server.add_nodes(make_cluster(30, seed=11))
        yield server


def client_for(kube, tmp_path, sleeps=None, **options):
    path = kube.write_kubeconfig(str(tmp_path / "kubeconfig"))
    options = dict({"kubeconfig": path}, **options)
    retry = RetryPolicy(attempts=4, base_delay=0.01, sleep=sleeps or Sleeps())
    return KubeClient.from_options(options, environ={}, retry=retry)


def node_names(kube):
    return sorted(n["metadata"]["name"] for n in kube.list("v1", "Node"))


def test_pages_are_followed_with_limit_and_continue(kube, tmp_path):
    client = client_for(kube, tmp_path)
    kube.clear_requests()
    names = [n["metadata"]["name"] for n in client.iter_items(node_path(), limit=7)]
    assert sorted(names) == node_names(kube)
    lists = [r for r in kube.requests if r[0] == "GET" and r[1] == "/api/v1/nodes"]
    assert len(lists) == 5  # 30 nodes, 7 per page
    assert all(r[2].get("limit") == "7" for r in lists)
    assert "continue" not in lists[0][2] and all("continue" in r[2] for r in lists[1:])


def test_expired_continue_token_restarts_without_duplicates(kube, tmp_path):
    client = client_for(kube, tmp_path)
    seen = []
    for item in client.iter_items(node_path(), limit=10):
        seen.append(item["metadata"]["name"])
        if len(seen) == 10:
            kube.expire_continue_tokens()
    assert sorted(seen) == node_names(kube)
    assert len(seen) == len(set(seen))
    items, resource_version = client.list_all(node_path(), limit=10)
    assert len(items) == 30 and int(resource_version) > 0


def test_throttling_is_retried_honouring_retry_after(kube, tmp_path):
    sleeps = Sleeps()
    client = client_for(kube, tmp_path, sleeps)
    kube.fail_next(2, status=429, retry_after=3)
    assert len(client.get(node_path())["items"]) == 30
    assert sleeps.delays == [3.0, 3.0]


def test_server_errors_are_retried_with_backoff_then_reported(kube, tmp_path):
    sleeps = Sleeps()
    client = client_for(kube, tmp_path, sleeps)
    kube.fail_next(1, status=503)
    assert client.get(node_path())["kind"] == "NodeList"
    kube.fail_next(10, status=500)
    with pytest.raises(ApiError) as err:
        client.get(node_path())
    assert err.value.status == 500
    assert len(sleeps.delays) == 1 + 3  # one retry for the 503, three for the 500s


def test_writes_are_not_repeated_after_an_ambiguous_500(kube, tmp_path):
    client = client_for(kube, tmp_path)
    name = node_names(kube)[0]
    kube.fail_next(1, status=500, path_contains="/api/v1/nodes/" + name)
    with pytest.raises(ApiError):
        client.patch(node_path(name), {"metadata": {"labels": {"x": "y"}}})
    patches = [r for r in kube.requests if r[0] == "PATCH"]
    assert len(patches) == 1


def test_conflict_on_stale_resource_version(kube, tmp_path):
    client = client_for(kube, tmp_path)
    name = node_names(kube)[0]
    node = client.get(node_path(name))
    client.patch(node_path(name), {"metadata": {"labels": {"a": "1"}}})
    stale = {"metadata": {"labels": {"a": "2"}, "resourceVersion": node["metadata"]["resourceVersion"]}}
    with pytest.raises(ApiError) as err:
        client.patch(node_path(name), stale)
    assert err.value.status == 409
    assert "conflict" in str(err.value) and name in str(err.value)


def test_forbidden_names_the_user_verb_and_resource(kube, tmp_path):
    kube.add_token("reader", Rule(user="ci-reader", allow=[("get", "nodes"), ("list", "nodes")]))
    path = kube.write_kubeconfig(str(tmp_path / "reader"), token="reader", user="ci-reader")
    client = KubeClient.from_options({"kubeconfig": path}, environ={})
    assert client.get(node_path())["items"]
    name = node_names(kube)[0]
    with pytest.raises(ApiError) as err:
        client.patch(node_path(name), {"metadata": {"labels": {"a": "b"}}})
    message = str(err.value)
    assert err.value.status == 403
    assert "ci-reader" in message and "patch" in message and "nodes" in message and "RBAC" in message


def test_unknown_token_is_401_without_echoing_it(kube, tmp_path):
    path = kube.write_kubeconfig(str(tmp_path / "bad"), token="not-a-valid-token")
    client = KubeClient.from_options({"kubeconfig": path}, environ={})
    with pytest.raises(ApiError) as err:
        client.get(node_path())
    assert err.value.status == 401 and "not-a-valid-token" not in str(err.value)


def test_impersonation_headers_reach_the_server(kube, tmp_path):
    kube.add_token("auditor-token", Rule(user="auditor", allow=[("list", "nodes")]))
    client = client_for(kube, tmp_path, impersonate_user="auditor", impersonate_groups=["ops", "audit"])
    kube.clear_requests()
    client.get(node_path())
    assert kube.requests[-1][3] == "auditor"


def test_tls_without_the_ca_suggests_ca_cert(kube, tmp_path):
    path = kube.write_kubeconfig(str(tmp_path / "no-ca"), use_ca=False)
    client = KubeClient.from_options({"kubeconfig": path}, environ={},
                                     retry=RetryPolicy(attempts=1))
    with pytest.raises(ConnectionFailure) as err:
        client.get(node_path())
    assert "TLS verification" in str(err.value) and "ca_cert" in str(err.value)
    insecure = KubeClient.from_options({"kubeconfig": path, "validate_certs": False}, environ={})
    assert insecure.get(node_path())["items"]


def test_explicit_ca_cert_option(kube, tmp_path):
    path = kube.write_kubeconfig(str(tmp_path / "no-ca"), use_ca=False)
    client = KubeClient.from_options({"kubeconfig": path, "ca_cert": kube.ca_file}, environ={})
    assert client.get(node_path())["items"]


def test_connection_refused_names_the_host(tmp_path):
    client = KubeClient.from_options({"host": "https://127.0.0.1:9", "api_key": "x"}, environ={},
                                     retry=RetryPolicy(attempts=2, base_delay=0.01))
    with pytest.raises(ConnectionFailure) as err:
        client.get(node_path())
    assert "127.0.0.1:9" in str(err.value) and "connection refused" in str(err.value)


def test_watch_delivers_changes_and_bookmarks(tmp_path):
    with FakeKube(tls=False, bookmark_interval=0.2) as kube:
        kube.add_nodes(make_cluster(3, seed=1))
        client = KubeClient.from_options({"host": kube.url, "api_key": kube.admin_token}, environ={})
        items, resource_version = client.list_all(node_path())
        name = items[0]["metadata"]["name"]

        def change_later():
            time.sleep(0.3)
            kube.patch_status(name, {"status": {"images": []}})

        threading.Thread(target=change_later, daemon=True).start()
        events = []
        for event in client.watch(node_path(), resource_version, timeout_seconds=2):
            events.append(event)
            if event["type"] == "MODIFIED":
                break
        types = [e["type"] for e in events]
        assert "MODIFIED" in types
        modified = [e for e in events if e["type"] == "MODIFIED"][0]
        assert modified["object"]["metadata"]["name"] == name
        assert modified["object"]["status"].get("images", []) == []  # omitempty drops an empty list


def test_watch_from_a_compacted_version_raises_410(tmp_path):
    with FakeKube(tls=False) as kube:
        kube.add_nodes(make_cluster(2, seed=1))
        client = KubeClient.from_options({"host": kube.url, "api_key": kube.admin_token}, environ={})
        old = kube.resource_version
        kube.patch_status(kube.list("v1", "Node")[0]["metadata"]["name"], {"status": {"images": []}})
        kube.compact()
        with pytest.raises(ApiError) as err:
            list(client.watch(node_path(), old, timeout_seconds=2))
        assert err.value.status == 410


def test_dropped_watch_is_reported_not_hung(tmp_path):
    with FakeKube(tls=False, bookmark_interval=60) as kube:
        kube.add_nodes(make_cluster(2, seed=1))
        client = KubeClient.from_options({"host": kube.url, "api_key": kube.admin_token}, environ={})
        resource_version = client.list_all(node_path())[1]
        threading.Timer(0.3, kube.drop_watches).start()
        started = time.monotonic()
        try:
            list(client.watch(node_path(), resource_version, timeout_seconds=30, inactivity_timeout=5))
        except ConnectionFailure:
            pass
        assert time.monotonic() - started < 5


def test_client_certificate_from_kubeconfig_and_from_options(kube, tmp_path):
    """mTLS users: the certificate's CN is the user the API server sees."""
    kube.add_token("unused", Rule(user="cert-user", allow=[("list", "nodes")]))
    cert_file, key_file = kube.issue_client_cert("cert-user", groups=("ops",))
    from_kubeconfig = kube.write_kubeconfig(str(tmp_path / "cert"), client_cert=(cert_file, key_file))
    client = KubeClient.from_options({"kubeconfig": from_kubeconfig}, environ={})
    kube.clear_requests()
    assert client.get(node_path())["items"]
    assert kube.requests[-1][3] == "cert-user"

    direct = KubeClient.from_options({"host": kube.url, "ca_cert": kube.ca_file, "client_cert": cert_file,
                                      "client_key": key_file}, environ={"KUBECONFIG": str(tmp_path / "none")})
    kube.clear_requests()
    assert direct.get(node_path())["items"]
    assert kube.requests[-1][3] == "cert-user"


EXEC_PLUGIN = r'''
import datetime, json, sys
counter, token, lifetime = sys.argv[1], sys.argv[2], float(sys.argv[3])
with open(counter, "a") as handle:
    handle.write("x")
expires = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(seconds=lifetime)
print(json.dumps({"apiVersion": "client.authentication.k8s.io/v1beta1", "kind": "ExecCredential",
                  "status": {"token": token, "expirationTimestamp": expires.strftime("%Y-%m-%dT%H:%M:%SZ")}}))
'''


def test_exec_plugin_tokens_are_used_and_refreshed(kube, tmp_path):
    """Exec credential plugins (EKS, GKE, OIDC helpers) work through the official loader, and an
    expired token is fetched again before the next request."""
    import sys
    import yaml

    kube.add_token("exec-token", Rule(user="exec-user", allow=[("list", "nodes")]))
    plugin = tmp_path / "plugin.py"
    plugin.write_text(EXEC_PLUGIN)
    counter = tmp_path / "calls"
    config = {
        "apiVersion": "v1", "kind": "Config", "current-context": "exec",
        "clusters": [{"name": "fake", "cluster": {"server": kube.url, "certificate-authority": kube.ca_file}}],
        "contexts": [{"name": "exec", "context": {"cluster": "fake", "user": "exec"}}],
        "users": [{"name": "exec", "user": {"exec": {
            "apiVersion": "client.authentication.k8s.io/v1beta1", "command": sys.executable,
            "args": [str(plugin), str(counter), "exec-token", "1"], "interactiveMode": "Never"}}}],
    }
    path = tmp_path / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    client = KubeClient.from_options({"kubeconfig": str(path)}, environ={})
    kube.clear_requests()
    assert client.get(node_path())["items"]
    assert kube.requests[-1][3] == "exec-user"
    calls_after_first = len(counter.read_text())
    time.sleep(2.2)  # the credential said it expires after 1 s
    assert client.get(node_path())["items"]
    assert len(counter.read_text()) > calls_after_first, "an expired exec token must be refreshed"


def test_a_blocked_watch_can_be_interrupted_from_another_thread(tmp_path):
    """An informer stopping must not wait for the inactivity watchdog (here 60 s)."""
    with FakeKube(tls=False, bookmark_interval=60) as kube:
        kube.add_nodes(make_cluster(2, seed=1))
        client = KubeClient.from_options({"host": kube.url, "api_key": kube.admin_token}, environ={})
        resource_version = client.list_all(node_path())[1]
        interrupts = []

        def interrupt_from_another_thread():
            interrupts[0]()

        threading.Timer(0.3, interrupt_from_another_thread).start()
        started = time.monotonic()
        with pytest.raises(ConnectionFailure):
            list(client.watch(node_path(), resource_version, timeout_seconds=120, inactivity_timeout=60,
                              on_open=interrupts.append))
        assert time.monotonic() - started < 5
