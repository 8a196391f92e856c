"""Connection settings: kubernetes.core's option names, K8S_AUTH_* variables, kubeconfig rules."""
import os

import pytest
import yaml

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube import config as config_mod
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import parse_api_path
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.config import (
    build_configuration,
    resolve_auth_options,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError, ConfigError


def kubeconfig_dict(server="https://127.0.0.1:6443", token="t0ken", contexts=("one", "two")):
    return {
        "apiVersion": "v1", "kind": "Config",
        "clusters": [{"name": "c", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": {"token": token}}],
        "contexts": [{"name": name, "context": {"cluster": "c", "user": "u"}} for name in contexts],
        "current-context": contexts[0],
    }


def bearer(configuration):
    """The Authorization header the client will send (key names differ across client versions)."""
    return configuration.auth_settings()["BearerToken"]["value"]


def test_explicit_options_win_over_environment():
    env = {"K8S_AUTH_HOST": "https://env:6443", "K8S_AUTH_CONTEXT": "ctx", "K8S_AUTH_API_KEY": "k"}
    resolved = resolve_auth_options({"host": "https://explicit:6443"}, env)
    assert resolved == {"host": "https://explicit:6443", "context": "ctx", "api_key": "k"}


@pytest.mark.parametrize("name,env_name,raw,expected", [
    ("validate_certs", "K8S_AUTH_VERIFY_SSL", "no", False),
    ("validate_certs", "K8S_AUTH_VALIDATE_CERTS", "yes", True),
    ("ca_cert", "K8S_AUTH_SSL_CA_CERT", "/ca.pem", "/ca.pem"),
    ("client_cert", "K8S_AUTH_CERT_FILE", "/c.pem", "/c.pem"),
    ("client_key", "K8S_AUTH_KEY_FILE", "/k.pem", "/k.pem"),
    ("impersonate_groups", "K8S_AUTH_IMPERSONATE_GROUPS", "ops,,audit", ["ops", "audit"]),
    ("kubeconfig", "K8S_AUTH_KUBECONFIG", "/k/config", "/k/config"),
    ("persist_config", "K8S_AUTH_PERSIST_CONFIG", "false", False),
])
def test_kubernetes_core_environment_names(name, env_name, raw, expected):
    assert resolve_auth_options({}, {env_name: raw})[name] == expected


def test_proxy_headers_from_environment():
    resolved = resolve_auth_options({}, {"K8S_AUTH_PROXY_HEADERS_PROXY_BASIC_AUTH": "u:p"})
    assert resolved["proxy_headers"] == {"proxy_basic_auth": "u:p"}


def test_kubeconfig_as_dict_with_context():
    config = build_configuration({"kubeconfig": kubeconfig_dict(server="https://127.0.0.1:7000"),
                                  "context": "two"}, environ={})
    assert config.host == "https://127.0.0.1:7000"
    assert bearer(config) == "Bearer t0ken"


def test_kubeconfig_list_is_merged(tmp_path):
    first = tmp_path / "a"
    second = tmp_path / "b"
    cfg = kubeconfig_dict()
    cfg_b = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    first.write_text(yaml.safe_dump(cfg))
    second.write_text(yaml.safe_dump(cfg_b))
    config = build_configuration({"kubeconfig": [str(first), str(second)]}, environ={})
    assert config.host == "https://127.0.0.1:6443"


def test_unknown_context_names_the_context(tmp_path):
    path = tmp_path / "config"
    path.write_text(yaml.safe_dump(kubeconfig_dict()))
    with pytest.raises(ConfigError) as err:
        build_configuration({"kubeconfig": str(path), "context": "prod"}, environ={})
    assert "prod" in str(err.value) and "context" in str(err.value)


def test_missing_kubeconfig_file_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        build_configuration({"kubeconfig": str(tmp_path / "nope")}, environ={})


def test_malformed_kubeconfig(tmp_path):
    path = tmp_path / "config"
    path.write_text("clusters: [this is: not valid")
    with pytest.raises(ConfigError, match="cannot use"):
        build_configuration({"kubeconfig": str(path)}, environ={})


def test_nothing_configured_says_what_to_set(tmp_path):
    env = {"KUBECONFIG": str(tmp_path / "absent")}
    with pytest.raises(ConfigError, match="no cluster to talk to"):
        build_configuration({}, environ=env)


def test_in_cluster_service_account(tmp_path, monkeypatch):
    token = tmp_path / "token"
    token.write_text("sa-token")
    ca = tmp_path / "ca.crt"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    monkeypatch.setattr(config_mod, "SERVICE_ACCOUNT_TOKEN", str(token))
    from kubernetes.config import incluster_config
    monkeypatch.setattr(incluster_config, "SERVICE_TOKEN_FILENAME", str(token))
    monkeypatch.setattr(incluster_config, "SERVICE_CERT_FILENAME", str(ca))
    env = {"KUBECONFIG": str(tmp_path / "absent"), "KUBERNETES_SERVICE_HOST": "127.0.0.1",
           "KUBERNETES_SERVICE_PORT": "6443"}
    monkeypatch.setenv("KUBERNETES_SERVICE_HOST", "127.0.0.1")
    monkeypatch.setenv("KUBERNETES_SERVICE_PORT", "6443")
    config = build_configuration({}, environ=env)
    assert config.host == "https://127.0.0.1:6443"
    assert bearer(config).lower() == "bearer sa-token"  # the in-cluster loader writes "bearer"


def test_host_and_token_need_no_kubeconfig(tmp_path):
    config = build_configuration({"host": "https://127.0.0.1:9/", "api_key": "abc"},
                                 environ={"KUBECONFIG": str(tmp_path / "absent")})
    assert config.host == "https://127.0.0.1:9"
    assert bearer(config) == "Bearer abc"


def test_missing_ca_file_is_named(tmp_path):
    with pytest.raises(ConfigError, match="ca_cert file"):
        build_configuration({"host": "https://127.0.0.1:9", "api_key": "x", "ca_cert": str(tmp_path / "ca")},
                            environ={})


@pytest.mark.parametrize("path,expected", [
    ("/api/v1/nodes", ("nodes", None, None, None)),
    ("/api/v1/nodes/w1/status", ("nodes", "w1", None, "status")),
    ("/api/v1/namespaces/kube-system/configmaps/x", ("configmaps", "x", "kube-system", None)),
    ("/api/v1/namespaces/ns1", ("namespaces", "ns1", None, None)),
    ("/apis/coordination.k8s.io/v1/namespaces/n/leases/l", ("leases", "l", "n", None)),
    ("/api/v1/nodes/w1/proxy/stats/summary", ("nodes", "w1", None, "proxy/stats/summary")),
])
def test_parse_api_path(path, expected):
    parsed = parse_api_path(path)
    assert (parsed["resource"], parsed["name"], parsed["namespace"], parsed["subresource"]) == expected


def test_error_sentences_say_what_to_do():
    forbidden = ApiError(403, message='nodes "w1" is forbidden: User "ci" cannot patch resource "nodes"',
                         verb="patch", resource="nodes", name="w1")
    assert 'User "ci" cannot patch' in str(forbidden) and "RBAC" in str(forbidden)
    invalid = ApiError(422, message="Node is invalid", resource="nodes", name="w1",
                       causes=[{"field": "metadata.labels", "message": "bad value"}])
    assert "metadata.labels: bad value" in str(invalid)
    assert "credentials" in str(ApiError(401, host="https://127.0.0.1:1"))


def test_secrets_do_not_leak_into_errors(tmp_path):
    with pytest.raises(ConfigError) as err:
        build_configuration({"kubeconfig": str(tmp_path / "nope"), "api_key": "s3cr3t-token"}, environ={})
    assert "s3cr3t-token" not in str(err.value)
    assert os.path.basename(str(tmp_path / "nope")) in str(err.value)
