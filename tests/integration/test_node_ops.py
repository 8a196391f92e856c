"""Node operations against the fake server, below Ansible: races and waits."""
import threading
import time

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import KubeClient, node_path
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError, WaitTimeout
from ansible_collections.nodewatch.k8s.plugins.module_utils.nodes.ops import ensure_node, remove_node
from fakekube import FakeKube, make_cluster


@pytest.fixture
def kube():
    with FakeKube(tls=False) as server:
        server.add_nodes(make_cluster(4, seed=5))
        yield server


@pytest.fixture
def client(kube):
    return KubeClient.from_options({"host": kube.url, "api_key": kube.admin_token}, environ={})


def first_node(kube):
    return kube.list("v1", "Node")[0]["metadata"]["name"]


def test_a_concurrent_change_is_kept_and_ours_applied_after_409(kube, client):
    name = first_node(kube)
    original_get = client.get_or_none
    calls = []

    def racing_get(path, query=None):
        node = original_get(path, query)
        if not calls:
            # Another writer changes the node between our read and our patch.
            kube.patch("v1", "Node", name, {"metadata": {"labels": {"other-writer": "yes"}}})
        calls.append(path)
        return node

    client.get_or_none = racing_get
    result = ensure_node(client, name, labels={"team": "ml"})
    assert result["changed"] is True
    assert len(calls) == 2, "the module must re-read after the 409"
    labels = kube.get("v1", "Node", name)["metadata"]["labels"]
    assert labels["team"] == "ml" and labels["other-writer"] == "yes"
    statuses = [r for r in kube.requests if r[0] == "PATCH"]
    assert len(statuses) == 2


def test_gives_up_after_repeated_conflicts(kube, client):
    name = first_node(kube)
    kube.fail_next(10, status=409, path_contains="/api/v1/nodes/" + name, method="PATCH")
    with pytest.raises(ApiError) as err:
        ensure_node(client, name, labels={"team": "ml"})
    assert err.value.status == 409 and "kept changing" in str(err.value)


def test_wait_until_the_node_is_gone(kube, client):
    name = first_node(kube)
    node = kube.get("v1", "Node", name)
    node["metadata"]["finalizers"] = ["example.com/hold"]
    kube.update(node)

    def release():
        time.sleep(0.5)
        held = kube.get("v1", "Node", name)
        held["metadata"]["finalizers"] = []
        kube.update(held)

    threading.Thread(target=release, daemon=True).start()
    started = time.monotonic()
    result = remove_node(client, name, grace_period=0, wait=True, wait_timeout=10)
    assert result["changed"] is True
    assert time.monotonic() - started >= 0.4
    assert client.get_or_none(node_path(name)) is None


def test_wait_timeout_names_what_holds_the_node(kube, client):
    name = first_node(kube)
    node = kube.get("v1", "Node", name)
    node["metadata"]["finalizers"] = ["example.com/hold"]
    kube.update(node)
    with pytest.raises(WaitTimeout) as err:
        remove_node(client, name, wait=True, wait_timeout=1)
    assert "example.com/hold" in str(err.value)
