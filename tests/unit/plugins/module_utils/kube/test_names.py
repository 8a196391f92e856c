"""DNS-1123 names as apimachinery's validation defines them."""
import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.names import (
    is_dns1123_label,
    is_dns1123_subdomain,
    is_managed,
)


@pytest.mark.parametrize("name, label, subdomain", [
    ("a", True, True), ("worker-1", True, True), ("a" * 63, True, True), ("a" * 64, False, True),
    ("worker.eu-west-1.internal", False, True), ("a." * 126 + "a", False, True), ("a" * 254, False, False),
    ("Worker", False, False), ("-a", False, False), ("a-", False, False), ("", False, False),
    ("a..b", False, False), ("a_b", False, False), (None, False, False), (7, False, False),
])
def test_names(name, label, subdomain):
    assert is_dns1123_label(name) is label
    assert is_dns1123_subdomain(name) is subdomain


def test_is_managed():
    assert is_managed({"metadata": {"labels": {"app.kubernetes.io/managed-by": "nodewatch.k8s"}}})
    assert not is_managed({"metadata": {"labels": {"app.kubernetes.io/managed-by": "helm"}}})
    assert not is_managed({"metadata": {}}) and not is_managed(None)
