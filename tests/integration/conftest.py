"""Shared fixtures for tests that talk to the fake API server."""
import pytest

from fakekube import FakeKube, make_cluster


@pytest.fixture
def fake_kube():
    """A fresh fake cluster over HTTPS (a CA made for this test), stopped afterwards."""
    kube = FakeKube(tls=True).start()
    try:
        yield kube
    finally:
        kube.stop()


@pytest.fixture
def seeded_kube(fake_kube):
    """The fake cluster with a small realistic set of nodes (deterministic)."""
    fake_kube.add_nodes(make_cluster(12, seed=3))
    return fake_kube


@pytest.fixture
def kubeconfig(fake_kube, tmp_path):
    return fake_kube.write_kubeconfig(str(tmp_path / "kubeconfig"))
