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
    with pytest.raises(ConfigError, match="kubeconfig file .* is not valid YAML"):
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


def test_an_empty_k8s_auth_kubeconfig_falls_back_to_kubeconfig(tmp_path):
    """``K8S_AUTH_KUBECONFIG=`` (set but empty) is unset: KUBECONFIG is used, as in kubernetes.core.

    kubernetes.core reads ``os.getenv("K8S_AUTH_<OPTION>") or os.getenv("K8S_AUTH_<ALTERNATIVE>")``
    (``_create_auth_spec`` in plugins/module_utils/k8s/client.py, ansible-collections/kubernetes.core
    at 08a3d951d02c6371ed2d9b77408e639f064fbbe4, with the names of ``AUTH_ARG_MAP`` in
    plugins/module_utils/args_common.py at 04bcbf422f8a141070df0d134d43710c800feed9), then loads a
    kubeconfig only ``if kubeconfig:`` (``_load_config``) - an empty value falls back to
    ``load_kube_config(config_file=None)``, which is KUBECONFIG or ~/.kube/config.
    """
    path = tmp_path / "from-KUBECONFIG"
    path.write_text(yaml.safe_dump(kubeconfig_dict(server="https://127.0.0.1:7443")))
    env = {"K8S_AUTH_KUBECONFIG": "", "KUBECONFIG": str(path)}
    assert "kubeconfig" not in resolve_auth_options({}, env)
    assert build_configuration(resolve_auth_options({}, env), environ=env).host == "https://127.0.0.1:7443"


@pytest.mark.parametrize("name, alternative", [
    ("K8S_AUTH_VALIDATE_CERTS", "K8S_AUTH_VERIFY_SSL"),
    ("K8S_AUTH_CA_CERT", "K8S_AUTH_SSL_CA_CERT"),
    ("K8S_AUTH_CLIENT_CERT", "K8S_AUTH_CERT_FILE"),
    ("K8S_AUTH_CLIENT_KEY", "K8S_AUTH_KEY_FILE"),
])
def test_an_empty_k8s_auth_variable_gives_way_to_its_alternative_name(name, alternative):
    """kubernetes.core's ``os.getenv(name) or os.getenv(alternative)``: empty is not a value."""
    option = name[len("K8S_AUTH_"):].lower()
    resolved = resolve_auth_options({}, {name: "", alternative: "no" if option == "validate_certs" else "/x.pem"})
    assert resolved[option] == (False if option == "validate_certs" else "/x.pem")


@pytest.mark.parametrize("name", ["K8S_AUTH_" + option.upper() for option in config_mod.AUTH_OPTIONS
                                  if option != "proxy_headers"] + ["K8S_AUTH_PROXY_HEADERS_USER_AGENT"])
def test_every_empty_k8s_auth_variable_is_unset(name):
    """Above all, an empty K8S_AUTH_VERIFY_SSL must not turn TLS verification off."""
    assert resolve_auth_options({}, {name: "", "K8S_AUTH_VERIFY_SSL": "  "}) == {}


def test_tls_verification_off_is_one_sentence_and_on_is_silent():
    insecure = build_configuration({"kubeconfig": kubeconfig_dict()}, environ={})
    text = config_mod.tls_verification_warning(insecure)
    assert "TLS certificate verification is turned off for https://127.0.0.1:6443" in text
    verified = build_configuration({"kubeconfig": kubeconfig_dict(), "validate_certs": True}, environ={})
    assert config_mod.tls_verification_warning(verified) is None


def test_kubeconfig_secrets_are_the_credentials_only():
    from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.config import kubeconfig_secrets
    config = kubeconfig_dict(token="t0ken-marker")
    config["users"].append({"name": "oidc", "user": {
        "password": "pw-marker", "client-key-data": "key-marker", "client-certificate-data": "cert",
        "auth-provider": {"name": "oidc", "config": {"id-token": "id-marker", "refresh-token": "refresh-marker"}},
        "exec": {"command": "aws", "args": ["eks"], "env": [{"name": "AWS_SECRET", "value": "env-marker"}]}}})
    assert kubeconfig_secrets(config) == {"t0ken-marker", "pw-marker", "key-marker", "id-marker", "refresh-marker",
                                          "env-marker"}
    assert kubeconfig_secrets("/path/to/kubeconfig") == set() and kubeconfig_secrets({"users": "x"}) == set()
