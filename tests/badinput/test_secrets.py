# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""No secret in any output: marker values as api_key, password, token, proxy credentials, client
key and webhook URL and header, through every path that could show them - module results at
-vvv (``invocation`` included, failures and diffs too), the daemon's debug log, its alerts,
Events, /metrics, /readyz and state file, the inventory's --list output and cache, an audit
report - and TLS verification turned off is said once per run, by each surface.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import glob
import json
import os
import subprocess
import time

import pytest
import yaml

from fakekube import Rule

from harness import BIN, ansible_env, run_playbook

from badinput.common import SECRETS, WEBHOOK_URL, Case, check, no_python_error, no_secret, run_module
from badinput.test_daemon import run_main
from badinput.test_modules import from_vars, secret_play

ADMIN = [("*", "*"), ("*", "/*")]


@pytest.fixture(scope="module")
def secret_kube(kube):
    """The suite's cluster, also accepting the token and api_key markers as credentials."""
    kube.add_token(SECRETS["api_key"], Rule("marker-api-key", allow=ADMIN))
    kube.add_token(SECRETS["token"], Rule("marker-token", allow=ADMIN))
    return kube


def token_kubeconfig(kube, path, insecure=False):
    return kube.write_kubeconfig(str(path), token=SECRETS["token"], use_ca=not insecure, insecure=insecure)


def inputs(tmp_path):
    """Where a test keeps what it gives (kubeconfigs with marker tokens, vars files): not output."""
    path = tmp_path / "in"
    path.mkdir(exist_ok=True)
    return path


def everything(root):
    """The text of every file under ``root`` but the test's inputs."""
    texts = []
    for path in glob.glob(os.path.join(str(root), "**", "*"), recursive=True):
        if os.path.isfile(path) and os.sep + "in" + os.sep not in path and not path.endswith("playbook.yml"):
            with open(path, "rb") as handle:
                texts.append(handle.read().decode("utf-8", "replace"))
    return "\n".join(texts)


def test_module_results_at_vvv_show_no_secret(secret_kube, kubeconfig, tmp_path):
    kube = secret_kube
    token_config = token_kubeconfig(kube, inputs(tmp_path) / "token-kubeconfig")
    mapping = yaml.safe_load(open(token_config).read())
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "marker-secret", "namespace": "default"},
              "stringData": {"webhook-url": WEBHOOK_URL, "token": SECRETS["token"]}}
    tasks = [
        {"name": "api_key that works", "nodewatch.k8s.node_info": {
            "kubeconfig": None, "host": kube.url, "ca_cert": kube.ca_file, "api_key": SECRETS["api_key"]}},
        {"name": "kubeconfig mapping with a token", "nodewatch.k8s.node_info": {"kubeconfig": mapping}},
        {"name": "kubeconfig file with a token", "nodewatch.k8s.node_images_info": {"kubeconfig": token_config}},
        {"name": "api_key refused", "nodewatch.k8s.node_info": {"host": "https://127.0.0.1:9", "api_key": SECRETS["api_key"]}},
        {"name": "password refused", "nodewatch.k8s.node_info": {
            "kubeconfig": None, "host": kube.url, "ca_cert": kube.ca_file, "username": "someone",
            "password": SECRETS["password"]}},
        {"name": "proxy credentials", "nodewatch.k8s.node_info": {
            "proxy": "http://127.0.0.1:9", "proxy_headers": {"proxy_basic_auth": "u:" + SECRETS["proxy_auth"],
                                                             "basic_auth": "u:" + SECRETS["password"]}}},
        {"name": "a Secret in check mode with diff", "nodewatch.k8s.manifests": {"definitions": [secret]},
         "check_mode": True, "diff": True},
        {"name": "a bad baseline with a token kubeconfig", "nodewatch.k8s.node_image_drift": {
            "kubeconfig": token_config, "baseline_source": "file", "baseline_path": str(tmp_path / "nope" / "b.json"),
            "update_baseline": "true"}, "check_mode": True, "diff": True},
    ]
    for task in tasks:
        task["ignore_errors"] = True
        args = next(v for k, v in task.items() if k.startswith("nodewatch.k8s."))
        args.setdefault("kubeconfig", kubeconfig)
        for key in [k for k, v in args.items() if v is None]:
            del args[key]
    secrets = {}
    tasks = [from_vars(task, secrets) for task in tasks]
    version = kube.resource_version
    run = run_playbook(tmp_path, secret_play(tasks, secrets, inputs(tmp_path)), args=["-vvv"])
    assert len(run.results) == len(tasks), run
    statuses = dict((r["task"], r["status"]) for r in run.results)
    assert statuses["api_key that works"] == "ok" and statuses["kubeconfig mapping with a token"] == "ok", statuses
    assert statuses["api_key refused"] == "failed" and statuses["password refused"] == "failed", statuses
    case = Case("module results at -vvv", [r"VALUE_SPECIFIED_IN_NO_LOG_PARAMETER|\*\*\*\*\*\*\*\*"])
    check(case, run.stdout, run.stderr, run.results)
    no_secret(case, everything(tmp_path))
    assert kube.resource_version == version, "check mode created the Secret"


def test_the_daemon_says_no_secret_anywhere(secret_kube, tmp_path, caplog):
    """Debug log, alerts, Events, /metrics, /readyz and the state file of a daemon whose webhook
    (URL and header are markers) is down and whose kubeconfig token is a marker."""
    from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher import config as watcher_config
    from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.daemon import Daemon, build_client, setup_logging
    import io
    import urllib.request
    kube = secret_kube
    log = io.StringIO()
    alerts = io.StringIO()
    settings = inputs(tmp_path) / "watcher.yml"
    settings.write_text(yaml.safe_dump({
        "kubeconfig": token_kubeconfig(kube, inputs(tmp_path) / "kubeconfig"), "min_change_bytes": "1",
        "thresholds": {"max_total_bytes": "1Ki"}, "http": {"address": "127.0.0.1:0"}, "log_level": "debug",
        "state": {"backend": "file", "path": str(tmp_path / "state.json"), "flush_seconds": 0.1},
        "sinks": {"webhook": {"url": "https://127.0.0.1:9/services/" + SECRETS["webhook"], "timeout_seconds": 1,
                              "headers": {"X-Token": SECRETS["header"]}, "backoff_initial_seconds": 0.05,
                              "backoff_max_seconds": 0.1},
                  "events": {"namespace": "default"}}}))
    config, policy, dummy = watcher_config.load(["--config", str(settings)], {})
    setup_logging("debug", "json", stream=log)
    events_before = set(e["metadata"]["name"] for e in kube.list("v1", "Event", "default"))
    daemon = Daemon(config, policy, build_client(config), stdout=alerts)
    daemon.start()
    try:
        deadline = time.monotonic() + 20
        while not (daemon.informer.has_synced and daemon.webhook.stats.failures >= 2 and daemon.state_saves):
            assert time.monotonic() < deadline, log.getvalue()[-3000:]
            time.sleep(0.05)
        base = "http://127.0.0.1:%d" % daemon.http.port
        pages = [urllib.request.urlopen(base + path, timeout=5).read().decode() for path in ("/metrics", "/readyz")]
    finally:
        daemon.stop_event.set()
        daemon.shutdown()
    events = [e for e in kube.list("v1", "Event", "default") if e["metadata"]["name"] not in events_before]
    assert events, "the daemon posted no Event"
    assert alerts.getvalue().strip(), "the daemon raised no alert"
    case = Case("daemon outputs", [r"hooks?|127.0.0.1:9/<redacted>"])
    check(case, log.getvalue(), alerts.getvalue(), events, pages, caplog.text)
    no_secret(case, everything(tmp_path))
    assert "127.0.0.1:9/<redacted>" in log.getvalue(), "the webhook failure was not logged (redacted)"


def test_check_config_prints_no_secret(tmp_path):
    code, out, err = run_main(["--check-config", "--webhook-url", WEBHOOK_URL], {"NODEWATCH_STATE_FILE": str(tmp_path / "s")})
    assert code == 0, err
    config = tmp_path / "c.yml"
    config.write_text(yaml.safe_dump({"auth": {"api_key": SECRETS["api_key"], "password": SECRETS["password"],
                                               "proxy_headers": {"proxy_basic_auth": SECRETS["proxy_auth"]}},
                                      "sinks": {"webhook": {"url": WEBHOOK_URL, "headers": {"X-Token": SECRETS["header"]}}}}))
    code2, out2, err2 = run_main(["--check-config", "--config", str(config)], {})
    assert code2 == 0, err2
    no_secret(Case("--check-config", []), out, err, out2, err2)
    assert "<redacted>" in out2


def test_inventory_list_and_cache_show_no_secret(secret_kube, tmp_path):
    kube = secret_kube
    source = inputs(tmp_path) / "secret.nodes.yml"
    source.write_text(yaml.safe_dump({
        "plugin": "nodewatch.k8s.nodes", "cache": True, "cache_plugin": "ansible.builtin.jsonfile",
        "cache_connection": str(tmp_path / "cache"),
        "connections": [{"name": "a", "host": kube.url, "ca_cert": kube.ca_file, "api_key": SECRETS["api_key"]},
                        {"name": "b", "host_prefix": "b-",
                         "kubeconfig": token_kubeconfig(kube, inputs(tmp_path) / "kc")}]}))
    listed = tmp_path / "listed.json"
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", str(source), "--list", "-vvv",
                           "--output", str(listed)],
                          env=ansible_env(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert len(json.loads(listed.read_text())["_meta"]["hostvars"]) == 2 * len(kube.list("v1", "Node"))
    case = Case("inventory --list -vvv", [])
    no_python_error(case, proc.stderr)
    no_secret(case, proc.stdout, proc.stderr, everything(tmp_path))


def test_an_audit_report_shows_no_secret(secret_kube, tmp_path):
    kube = secret_kube
    report = tmp_path / "report"
    run = run_playbook(tmp_path, "nodewatch.k8s.audit", extra_vars={
        "kubeconfig": token_kubeconfig(kube, inputs(tmp_path) / "kubeconfig"), "nodewatch_report_path": str(report),
        "nodewatch_report_format": ["markdown", "json"]})
    written = everything(tmp_path)
    assert "cp-1" in written or kube.list("v1", "Node")[0]["metadata"]["name"] in written, "no report was written"
    no_secret(Case("audit report", []), run.stdout, run.stderr, written)


# -- TLS verification off: said once per run ---------------------------------------------------------

TLS = r"TLS certificate verification is turned off for https://127\.0\.0\.1:\d+"


def test_a_module_warns_once_when_tls_is_not_verified(kube, tmp_path):
    kube.add_token(SECRETS["token"], Rule("marker-token", allow=ADMIN))
    insecure = token_kubeconfig(kube, tmp_path / "insecure", insecure=True)
    result, dummy = run_module("node_info", {"kubeconfig": insecure})
    assert not result.get("failed"), result
    # ansible-core 2.19 returns warnings as structured summaries, older versions as strings.
    warnings = [json.dumps(w) for w in result.get("warnings", [])]
    assert len([w for w in warnings if "TLS certificate verification" in w]) == 1, result
    check(Case("module TLS warning", [TLS]), warnings)
    result, dummy = run_module("node_info", {"kubeconfig": insecure, "validate_certs": True, "ca_cert": kube.ca_file})
    assert not result.get("failed"), result
    assert not [w for w in result.get("warnings", []) if "TLS" in json.dumps(w)], "validate_certs: true must not warn"


def test_the_daemon_and_the_inventory_warn_once(kube, tmp_path):
    kube.add_token(SECRETS["token"], Rule("marker-token", allow=ADMIN))
    insecure = token_kubeconfig(kube, tmp_path / "insecure", insecure=True)
    code, out, err = run_main(["--kubeconfig", insecure, "--once", "--no-events", "--no-stdout"], {})
    assert code == 0, err
    warned = [line for line in err.splitlines() if "TLS certificate verification is turned off" in line]
    assert len(warned) == 1 and json.loads(warned[0])["level"] == "warning", err
    assert "InsecureRequestWarning" not in err
    source = tmp_path / "insecure.nodes.yml"
    source.write_text(yaml.safe_dump({"plugin": "nodewatch.k8s.nodes", "connections": [
        {"name": "a", "kubeconfig": insecure}, {"name": "b", "host_prefix": "b-", "kubeconfig": insecure}]}))
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", str(source), "--list"],
                          env=ansible_env(tmp_path), capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr.count("TLS certificate verification is turned off") == 1, proc.stderr
    assert "InsecureRequestWarning" not in proc.stderr
    check(Case("inventory TLS warning", [r"cluster 'a' \(https://127.0.0.1:\d+\), 'b' \(https://127.0.0.1:\d+\)"]),
          proc.stderr)


def test_the_roles_check_mode_diff_shows_no_webhook_url(secret_kube, kubeconfig, tmp_path):
    """The role in check mode with --diff renders the webhook Secret and checks the URL with the
    daemon: the marker URL appears nowhere, -vvv included."""
    kube = secret_kube
    version = kube.resource_version
    vars_file = inputs(tmp_path) / "role-vars.yml"
    vars_file.write_text(yaml.safe_dump({"kubeconfig": kubeconfig, "watcher_wait": False,
                                         "watcher_webhook_url": WEBHOOK_URL}))
    run = run_playbook(tmp_path, "nodewatch.k8s.deploy_watcher", args=["-e", "@" + str(vars_file), "-vvv"],
                       check=True, diff=True)
    assert run.rc == 0, run
    case = Case("role check mode --diff -vvv", [r"webhook"])
    check(case, run.stdout, run.stderr, run.results)
    no_secret(case, everything(tmp_path))
    assert kube.resource_version == version, "check mode changed the cluster"
