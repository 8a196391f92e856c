# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Configuration: precedence, validation messages that name the key, and secret redaction."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest
import yaml

from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher import config as cfg
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.daemon import main

SECRET_URL = "https://hooks.example.com/services/T000/B000/XXXXSECRET?token=abc"


def write(tmp_path, data, name="watcher.yml"):
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return str(path)


def load(tmp_path, data=None, argv=(), environ=None):
    args = list(argv)
    if data is not None:
        args = ["--config", write(tmp_path, data)] + args
    return cfg.load(args, environ or {})


def test_defaults(tmp_path):
    config, policy, check = load(tmp_path)
    assert config["resync_seconds"] == 30
    assert config["min_change_bytes"] == 1024 ** 3
    assert config["sinks"]["events"]["namespace"] == "default"
    assert config["state"]["backend"] == "none"
    assert config["leader_election"]["identity"]
    assert policy.thresholds.max_percent is None and check is False


def test_precedence_flag_over_env_over_file(tmp_path):
    data = {"label_selector": "from=file", "resync_seconds": 5, "min_change_bytes": "2Gi"}
    env = {"NODEWATCH_LABEL_SELECTOR": "from=env", "NODEWATCH_RESYNC_SECONDS": "7"}
    config = load(tmp_path, data, ["--label-selector", "from=flag"], env)[0]
    assert config["label_selector"] == "from=flag"
    assert config["resync_seconds"] == 7.0
    assert config["min_change_bytes"] == 2 * 1024 ** 3


def test_env_booleans_and_state_shortcuts(tmp_path):
    env = {"NODEWATCH_LEADER_ELECT": "true", "NODEWATCH_NO_EVENTS": "1",
           "NODEWATCH_STATE_CONFIGMAP": "ops/watcher-state"}
    config = load(tmp_path, None, [], env)[0]
    assert config["leader_election"]["enabled"] is True
    assert config["sinks"]["events"]["enabled"] is False
    assert config["state"] == dict(config["state"], backend="configmap", namespace="ops", name="watcher-state")
    config = load(tmp_path, None, ["--state-file", str(tmp_path / "s.json")])[0]
    assert config["state"]["backend"] == "file"
    env = {"NODEWATCH_LEADER_ELECT": "0"}
    assert load(tmp_path, None, [], env)[0]["leader_election"]["enabled"] is False


def test_thresholds_and_rule_sets_come_from_drift(tmp_path):
    data = {"thresholds": {"max_percent": "80%"},
            "rule_sets": [{"name": "gpu", "selector": "gpu=true", "thresholds": {"max_total_bytes": "200Gi"}}]}
    policy = load(tmp_path, data)[1]
    assert policy.thresholds.max_percent == 80.0
    assert policy.select({"gpu": "true"})[0] == "gpu"


def test_policy_file_is_shared_with_the_drift_check(tmp_path):
    path = write(tmp_path, {"thresholds": {"max_image_count": 40}}, "policy.yml")
    policy = load(tmp_path, {"policy_file": path})[1]
    assert policy.thresholds.max_image_count == 40
    with pytest.raises(cfg.WatcherConfigError, match="exclusive"):
        load(tmp_path, {"policy_file": path, "thresholds": {"max_percent": 1}})
    with pytest.raises(cfg.WatcherConfigError, match="policy_file .*policy-bad.yml: thresholds.max_percent"):
        load(tmp_path, {"policy_file": write(tmp_path, {"thresholds": {"max_percent": 101}}, "policy-bad.yml")})


@pytest.mark.parametrize("data, message", [
    ({"resync_secnds": 3}, "unknown key 'resync_secnds'"),
    ({"sinks": {"webhok": {}}}, "unknown key 'sinks.webhok'; accepted keys in sinks are events, stdout, webhook"),
    ({"thresholds": {"max_percent": 120}}, "thresholds.max_percent"),
    ({"thresholds": {"max_totl_bytes": 1}}, "unknown key 'max_totl_bytes'"),
    ({"rule_sets": [{"name": "x", "selector": "a in (", "thresholds": {}}]}, "rule_sets[0] (x).selector"),
    ({"min_change_bytes": "12 parsecs"}, "min_change_bytes is not a size"),
    ({"min_change_percent": "lots"}, "min_change_percent is not a percentage"),
    ({"resync_seconds": -1}, "resync_seconds must be at least 0"),
    ({"page_size": "many"}, "page_size must be a whole number"),
    ({"label_selector": "a in ("}, "label_selector is invalid"),
    ({"sinks": {"webhook": {"url": "ftp://x.example/y"}}}, "sinks.webhook.url must be an http:// or https:// URL"),
    ({"sinks": {"webhook": {"url": "not a url"}}}, "sinks.webhook.url must be an http"),
    ({"sinks": {"events": {"namespace": "Bad_NS"}}}, "sinks.events.namespace must be a DNS-1123 label"),
    ({"sinks": {"stdout": {"kinds": ["everything"]}}}, "sinks.stdout.kinds has unknown alert kind(s) 'everything'"),
    ({"http": {"address": "8080"}}, "http.address must be HOST:PORT"),
    ({"state": {"backend": "s3"}}, "state.backend must be one of none, file, configmap"),
    ({"state": {"backend": "file"}}, "state.path is required"),
    ({"auth": {"token": "x"}}, "auth has unknown option(s) 'token'"),
    ({"leader_election": {"enabled": True, "lease_duration_seconds": 5, "renew_deadline_seconds": 10}},
     "lease_duration_seconds > renew_deadline_seconds"),
    ([1, 2], "must hold a mapping"),
])
def test_invalid_settings_name_the_key(tmp_path, data, message):
    with pytest.raises(cfg.WatcherConfigError) as info:
        load(tmp_path, data)
    assert message in str(info.value)


def test_bad_webhook_url_is_never_echoed(tmp_path):
    with pytest.raises(cfg.WatcherConfigError) as info:
        load(tmp_path, {"sinks": {"webhook": {"url": "htps://hooks.example.com/T0/B0/SECRET"}}})
    assert "SECRET" not in str(info.value)


def test_webhook_url_from_a_file_and_redacted_output(tmp_path, capsys):
    secret = tmp_path / "url"
    secret.write_text(SECRET_URL + "\n")
    config = load(tmp_path, {"sinks": {"webhook": {"url_file": str(secret), "headers": {"X-Token": "t"}}}})[0]
    assert config["sinks"]["webhook"]["url"] == SECRET_URL
    shown = json.dumps(cfg.redacted(config))
    assert "SECRET" not in shown and "token=abc" not in shown and '"t"' not in shown
    assert main(["--check-config", "--webhook-url", SECRET_URL], {}) == 0
    out = capsys.readouterr().out
    assert "https://hooks.example.com/<redacted>" in out and "SECRET" not in out


def test_main_exits_2_with_a_message_naming_the_key(tmp_path, capsys):
    path = write(tmp_path, {"sinks": {"webhook": {"url": "nope"}}})
    assert main(["--config", path], {}) == 2
    err = capsys.readouterr().err
    assert "configuration error" in err and "sinks.webhook.url" in err
    assert main(["--config", str(tmp_path / "missing.yml")], {}) == 2
    assert "cannot read the config file" in capsys.readouterr().err
    path = write(tmp_path, "a: [unclosed", "broken.yml")
    assert main(["--config", path], {}) == 2
    assert "not valid YAML" in capsys.readouterr().err


def test_missing_kubeconfig_is_a_configuration_error(tmp_path, capsys):
    code = main(["--once", "--kubeconfig", str(tmp_path / "none")], {})
    assert code == 2
    assert "does not exist" in capsys.readouterr().err


def test_unknown_flag_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        cfg.load(["--frobnicate"], {})
    assert info.value.code == 2


def test_once_and_leader_election_exclude_each_other(tmp_path):
    with pytest.raises(cfg.WatcherConfigError, match="--once"):
        load(tmp_path, None, ["--once", "--leader-elect"])


def test_url_redaction():
    from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.sinks import redact_url
    assert redact_url(SECRET_URL) == "https://hooks.example.com/<redacted>"
    assert redact_url("http://user:pw@127.0.0.1:9000/x") == "http://127.0.0.1:9000/<redacted>"
    assert redact_url("http://127.0.0.1:9000") == "http://127.0.0.1:9000"
    assert redact_url("http://[::1]:80/a") == "http://[::1]:80/<redacted>"
    assert redact_url("garbage") == "<redacted>"
