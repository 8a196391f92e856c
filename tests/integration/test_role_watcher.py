"""The nodewatch.k8s.watcher role, run as a user does (ansible-playbook nodewatch.k8s.deploy_watcher).

Cluster mode against the fake API server: what is created, that a second run changes nothing, that
absent removes all of it, that every object is valid for the Kubernetes schema of its kind, that the
RBAC it grants is enough for the daemon and the drift check, and that the CronJob's own command runs
the drift check. Host mode in check mode (nothing written), with the rendered systemd units checked
by systemd-analyze. Bad input fails before anything changes.
"""
import copy
import json
import os
import pwd
import re
import shutil
import subprocess
import sys
from datetime import datetime, timedelta, timezone

import pytest
import yaml

from fakekube import Rule
from fakekube import resources as fake_resources
from harness import run_playbook

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.rules import THRESHOLD_KEYS

kubernetes_validate = pytest.importorskip("kubernetes_validate", reason="pip install kubernetes-validate (requirements-dev.txt)")

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ROLE = os.path.join(ROOT, "roles", "watcher")
APPLY = "nodewatch.k8s.watcher : Apply the watcher's Kubernetes objects"
REMOVE = "nodewatch.k8s.watcher : Remove the watcher's Kubernetes objects"
NS = "nodewatch-system"
MANAGED = {"app.kubernetes.io/managed-by": "nodewatch.k8s"}
# Schemas checked: the fake's version (v1.31) and the newest kubernetes-validate ships.
SCHEMA_VERSIONS = ("1.31", kubernetes_validate.utils.latest_version())
DAEMON = "ansible_collections.nodewatch.k8s.plugins.module_utils.watcher"


def deploy(tmp_path, kubeconfig, check=False, diff=False, **role_vars):
    extra = {"kubeconfig": str(kubeconfig), "watcher_wait": False}
    extra.update(role_vars)
    return run_playbook(tmp_path, "nodewatch.k8s.deploy_watcher", extra_vars=extra, check=check, diff=diff)


def live(kube, entry):
    return kube.get(entry["api_version"], entry["kind"], entry["name"], entry.get("namespace"))


def schema_errors(obj):
    """Problems of one object against the Kubernetes OpenAPI schema of its kind (strict: no unknown fields)."""
    found = []
    for version in SCHEMA_VERSIONS:
        try:
            kubernetes_validate.validate(obj, version, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = "/".join(str(p) for p in exc.path)
            found.append("%s %s (k8s %s): %s at %s" % (obj["kind"], obj["metadata"]["name"], version, exc.message, where))
    return found


@pytest.fixture
def prometheus_operator_crds():
    """Let the fake serve monitoring.coreos.com/v1 (as when the Prometheus Operator is installed)."""
    saved = (dict(fake_resources._BY_GVR), dict(fake_resources._BY_GVK), list(fake_resources._GROUP_ORDER))
    for kind, plural in (("ServiceMonitor", "servicemonitors"), ("PrometheusRule", "prometheusrules")):
        fake_resources.register(fake_resources.ResourceType("monitoring.coreos.com", "v1", kind, plural,
                                                            plural[:-1], True))
    try:
        yield
    finally:
        fake_resources._BY_GVR.clear()
        fake_resources._BY_GVR.update(saved[0])
        fake_resources._BY_GVK.clear()
        fake_resources._BY_GVK.update(saved[1])
        fake_resources._GROUP_ORDER[:] = saved[2]


# -- cluster mode -------------------------------------------------------------------------------

EXPECTED = [
    ("Namespace", None, NS), ("ServiceAccount", NS, "nodewatch-watcher"), ("ClusterRole", None, "nodewatch-watcher"),
    ("ClusterRoleBinding", None, "nodewatch-watcher"), ("Role", NS, "nodewatch-watcher"),
    ("RoleBinding", NS, "nodewatch-watcher"), ("Role", "default", "nodewatch-watcher-events"),
    ("RoleBinding", "default", "nodewatch-watcher-events"), ("ConfigMap", NS, "nodewatch-watcher-config"),
    ("Deployment", NS, "nodewatch-watcher"), ("Service", NS, "nodewatch-watcher"),
    ("CronJob", NS, "nodewatch-watcher-drift-check"),
]


def test_cluster_mode_deploys_is_idempotent_and_removes_everything(seeded_kube, kubeconfig, tmp_path):
    first = deploy(tmp_path, kubeconfig)
    assert first.rc == 0, first
    applied = first.result(APPLY)
    assert applied["changed"] is True
    created = [(r["kind"], r.get("namespace"), r["name"]) for r in applied["results"] if r["action"] == "created"]
    assert created == EXPECTED
    skipped = [r["kind"] for r in applied["results"] if r["action"] == "skipped"]
    assert skipped == ["ServiceMonitor", "PrometheusRule"], "no Prometheus Operator CRDs in this cluster"

    # What the cluster now holds: every object labelled, valid for its kind's schema, and hardened.
    problems = []
    for entry in applied["results"]:
        if entry["action"] != "created":
            continue
        obj = live(seeded_kube, entry)
        assert obj is not None, entry
        assert obj["metadata"]["labels"].items() >= MANAGED.items(), entry
        problems += schema_errors(obj)
    assert problems == []
    deployment = seeded_kube.get("apps/v1", "Deployment", "nodewatch-watcher", NS)
    pod = deployment["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                            "runAsNonRoot": True, "privileged": False, "capabilities": {"drop": ["ALL"]}}
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["resources"] == {"requests": {"cpu": "50m", "memory": "128Mi"}, "limits": {"memory": "512Mi"}}
    assert deployment["spec"]["replicas"] == 1 and deployment["spec"]["strategy"]["type"] == "Recreate"
    service = seeded_kube.get("v1", "Service", "nodewatch-watcher", NS)
    assert service["metadata"]["annotations"] == {"prometheus.io/scrape": "true", "prometheus.io/port": "8080",
                                                  "prometheus.io/path": "/metrics"}
    cluster_role = seeded_kube.get("rbac.authorization.k8s.io/v1", "ClusterRole", "nodewatch-watcher")
    assert cluster_role["rules"] == [{"apiGroups": [""], "resources": ["nodes"], "verbs": ["get", "list", "watch"]}]
    config = yaml.safe_load(seeded_kube.get("v1", "ConfigMap", "nodewatch-watcher-config", NS)["data"]["watcher.yml"])
    assert config["leader_election"]["enabled"] is False
    assert config["state"] == {"backend": "configmap", "namespace": NS, "name": "nodewatch-watcher-state"}

    second = deploy(tmp_path, kubeconfig)
    assert second.rc == 0, second
    again = second.result(APPLY)
    assert again["changed"] is False
    assert again["counts"] == {"unchanged": len(EXPECTED), "skipped": 2}
    writes = [r for r in seeded_kube.requests if r[0] in ("POST", "PUT", "PATCH", "DELETE")]

    gone = deploy(tmp_path, kubeconfig, watcher_state="absent")
    assert gone.rc == 0, gone
    removed = gone.result(REMOVE)
    assert removed["changed"] is True
    assert [(r["kind"], r.get("namespace"), r["name"]) for r in removed["results"] if r["action"] == "deleted"] == \
        list(reversed(EXPECTED))
    for kind, namespace, name in EXPECTED:
        entry = next(r for r in applied["results"] if (r["kind"], r.get("namespace"), r["name"]) == (kind, namespace, name))
        assert live(seeded_kube, entry) is None, "%s %s/%s is left behind" % (kind, namespace, name)
    assert [n["metadata"]["name"] for n in seeded_kube.list("v1", "Namespace")] == \
        ["default", "kube-node-lease", "kube-public", "kube-system"]
    for api_version, kind in (("rbac.authorization.k8s.io/v1", "Role"), ("rbac.authorization.k8s.io/v1", "RoleBinding"),
                              ("rbac.authorization.k8s.io/v1", "ClusterRole")):
        assert [o["metadata"]["name"] for o in seeded_kube.list(api_version, kind)
                if "nodewatch" in o["metadata"]["name"]] == []
    assert len(writes) == len(EXPECTED), "the second run wrote nothing"
    again_gone = deploy(tmp_path, kubeconfig, watcher_state="absent")
    assert again_gone.rc == 0 and again_gone.result(REMOVE)["changed"] is False


def test_every_option_renders_valid_objects_and_check_mode_writes_nothing(
        fake_kube, kubeconfig, tmp_path, prometheus_operator_crds):
    options = dict(watcher_replicas=3, watcher_imagefs=True, watcher_webhook_url="https://hooks.example.com/services/T0/B0/s3cr3t",
                   watcher_image_pull_secrets=["registry"], watcher_tolerations=[{"key": "dedicated", "operator": "Exists"}],
                   watcher_node_selector={"pool": "system"}, watcher_drift_refresh_baseline=True,
                   watcher_drift_schedule="*/30 6-18 * * mon-fri", watcher_label_selector="!node-role.kubernetes.io/control-plane",
                   watcher_rule_sets=[{"name": "gpu", "selector": "pool=gpu", "thresholds": {"max_percent": 90}}],
                   watcher_image="registry.example.com/nodewatch", watcher_image_tag="1.2.3")
    preview = deploy(tmp_path, kubeconfig, check=True, diff=True, **options)
    assert preview.rc == 0, preview
    would = preview.result(APPLY)
    assert would["changed"] is True and set(r["action"] for r in would["results"]) == {"created"}
    assert [r for r in fake_kube.requests if r[0] != "GET"] == [], "check mode wrote to the cluster"
    assert fake_kube.get("v1", "Namespace", NS) is None
    assert "s3cr3t" not in preview.stdout and "s3cr3t" not in json.dumps(would), "the webhook URL is masked"

    # What the role sends (the diff's "after" of each object) is valid for its kind's schema.
    sent = [d["after"] for d in would["diff"]]
    assert [o["kind"] for o in sent] == [
        "Namespace", "ServiceAccount", "ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "Role", "RoleBinding",
        "Secret", "ConfigMap", "Deployment", "Service", "ServiceMonitor", "PrometheusRule", "CronJob"]
    problems = []
    for obj in sent:
        if obj["apiVersion"].startswith("monitoring.coreos.com/"):
            continue  # CRD kinds: not in the Kubernetes schema (checked below against the rules file)
        problems += schema_errors(obj)
    assert problems == []
    # The check is real: the same validator rejects a misspelt field.
    broken = copy.deepcopy(next(o for o in sent if o["kind"] == "Deployment"))
    broken["spec"]["template"]["spec"]["containers"][0]["readOnlyRootFileSystem"] = True
    assert schema_errors(broken)

    applied = deploy(tmp_path, kubeconfig, **options)
    assert applied.rc == 0, applied
    assert applied.result(APPLY)["counts"] == {"created": 15}
    by_kind = dict(((o["kind"], o["metadata"]["name"]), o) for o in sent)
    deployment = fake_kube.get("apps/v1", "Deployment", "nodewatch-watcher", NS)
    assert deployment["spec"]["replicas"] == 3 and deployment["spec"]["strategy"]["type"] == "RollingUpdate"
    pod = deployment["spec"]["template"]["spec"]
    assert pod["containers"][0]["image"] == "registry.example.com/nodewatch:1.2.3"
    assert pod["imagePullSecrets"] == [{"name": "registry"}]
    assert pod["nodeSelector"] == {"kubernetes.io/os": "linux", "pool": "system"}
    assert {v["name"] for v in pod["volumes"]} == {"config", "tmp", "webhook"}
    config = yaml.safe_load(fake_kube.get("v1", "ConfigMap", "nodewatch-watcher-config", NS)["data"]["watcher.yml"])
    assert config["leader_election"] == {"enabled": True, "namespace": NS, "name": "nodewatch-watcher"}
    assert config["sinks"]["webhook"] == {"url_file": "/var/run/secrets/nodewatch/webhook-url"}
    assert "s3cr3t" not in json.dumps(config), "the webhook URL is a secret: only in the Secret"
    secret = fake_kube.get("v1", "Secret", "nodewatch-watcher-webhook", NS)
    assert secret["data"]["webhook-url"]
    rules = by_kind[("ClusterRole", "nodewatch-watcher")]["rules"]
    assert {"apiGroups": [""], "resources": ["nodes/proxy"], "verbs": ["get"]} in rules
    role_rules = by_kind[("Role", "nodewatch-watcher")]["rules"]
    assert {"apiGroups": ["coordination.k8s.io"], "resources": ["leases"], "resourceNames": ["nodewatch-watcher"],
            "verbs": ["get", "update"]} in role_rules
    cronjob = fake_kube.get("batch/v1", "CronJob", "nodewatch-watcher-drift-check", NS)
    assert cronjob["spec"]["schedule"] == "*/30 6-18 * * mon-fri"
    monitor = fake_kube.get("monitoring.coreos.com/v1", "ServiceMonitor", "nodewatch-watcher", NS)
    assert monitor["spec"]["endpoints"] == [{"port": "http-metrics", "path": "/metrics", "interval": "30s"}]
    with open(os.path.join(ROOT, "extras", "prometheus", "nodewatch-rules.yml")) as handle:
        rule_file = yaml.safe_load(handle)
    assert fake_kube.get("monitoring.coreos.com/v1", "PrometheusRule", "nodewatch-watcher", NS)["spec"]["groups"] == \
        rule_file["groups"]

    # Turning options off removes what they made.
    fewer = dict(options)
    fewer.update(watcher_webhook_url="", watcher_drift_enabled=False, watcher_prometheus_operator=False)
    reduced = deploy(tmp_path, kubeconfig, **fewer)
    assert reduced.rc == 0, reduced
    dropped = reduced.result("nodewatch.k8s.watcher : Remove the objects of options that are off")
    assert sorted(r["kind"] for r in dropped["results"] if r["action"] == "deleted") == \
        ["CronJob", "PrometheusRule", "Secret", "ServiceMonitor"]
    assert fake_kube.get("v1", "Secret", "nodewatch-watcher-webhook", NS) is None
    assert fake_kube.get("batch/v1", "CronJob", "nodewatch-watcher-drift-check", NS) is None
    assert fake_kube.get("apps/v1", "Deployment", "nodewatch-watcher", NS) is not None

    removed = deploy(tmp_path, kubeconfig, watcher_state="absent")
    assert removed.rc == 0, removed
    assert fake_kube.get("v1", "Namespace", NS) is None
    assert fake_kube.get("rbac.authorization.k8s.io/v1", "Role", "nodewatch-watcher-events", "default") is None


def test_a_shared_namespace_is_neither_created_nor_deleted(fake_kube, kubeconfig, tmp_path):
    fake_kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "monitoring"}})
    fake_kube.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "grafana", "namespace": "monitoring"}})
    shared = dict(watcher_namespace="monitoring", watcher_create_namespace=False)
    run = deploy(tmp_path, kubeconfig, **shared)
    assert run.rc == 0, run
    assert "Namespace" not in [r["kind"] for r in run.result(APPLY)["results"]]
    # What the daemon writes at run time: its state and its Lease.
    state = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "nodewatch-watcher-state", "namespace": "monitoring"}}
    fake_kube.create(state)
    fake_kube.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                      "metadata": {"name": "nodewatch-watcher", "namespace": "monitoring"}})
    gone = deploy(tmp_path, kubeconfig, watcher_state="absent", **shared)
    assert gone.rc == 0, gone
    assert fake_kube.get("v1", "Namespace", "monitoring") is not None
    assert [c["metadata"]["name"] for c in fake_kube.list("v1", "ConfigMap", "monitoring")] == ["grafana"]
    assert fake_kube.list("coordination.k8s.io/v1", "Lease", "monitoring") == []
    assert fake_kube.list("apps/v1", "Deployment", "monitoring") == []


def _rbac_as_fake_rule(kube, user):
    """The permissions the role granted its ServiceAccount, as a fake-server Rule (resourceNames widen)."""
    allow = []
    bindings = [("ClusterRoleBinding", None, "ClusterRole")] + [("RoleBinding", ns, "Role") for ns in (NS, "default")]
    for binding_kind, namespace, role_kind in bindings:
        for binding in kube.list("rbac.authorization.k8s.io/v1", binding_kind, namespace):
            if not any(s.get("name") == "nodewatch-watcher" for s in binding.get("subjects") or ()):
                continue
            role = kube.get("rbac.authorization.k8s.io/v1", role_kind, binding["roleRef"]["name"], namespace)
            for rule in role["rules"]:
                for group in rule["apiGroups"]:
                    for resource in rule["resources"]:
                        main, dummy, sub = resource.partition("/")
                        name = main + ("." + group if group else "") + ("/" + sub if sub else "")
                        allow += [(verb, name, namespace) for verb in rule["verbs"]]
    return Rule(user, allow=allow)


def _mounted(container, pod, kube, root):
    """Write the ConfigMap volumes of a container under root; returns a function mapping paths in the pod."""
    volumes = dict((v["name"], v) for v in pod["volumes"])
    mounts = []
    for mount in container["volumeMounts"]:
        target = os.path.join(str(root), mount["mountPath"].lstrip("/"))
        os.makedirs(target, exist_ok=True)
        source = volumes[mount["name"]].get("configMap")
        if source:
            data = kube.get("v1", "ConfigMap", source["name"], NS)["data"]
            for item in source["items"]:
                with open(os.path.join(target, item["path"]), "w") as handle:
                    handle.write(data[item["key"]])
        mounts.append((mount["mountPath"], target))

    def remap(text):
        prefix = "@" if text.startswith("@") else ""
        rest = text[len(prefix):]
        for path, target in sorted(mounts, key=lambda m: -len(m[0])):
            if rest == path or rest.startswith(path + "/"):
                return prefix + target + rest[len(path):]
        return text
    return remap


def _run_container(container, remap, kubeconfig, tmp_path, command=None):
    # An overriding command is this machine's interpreter, not a path inside the pod: not remapped
    # (the pod mounts an emptyDir on /tmp, where a CI checkout may live).
    argv = (list(command) if command else [remap(a) for a in container["command"]]) + \
        [remap(a) for a in container.get("args", [])]
    env = dict(os.environ)
    env.update((e["name"], remap(e["value"])) for e in container.get("env", ()) if "value" in e)
    # As in the image (extras/Dockerfile): ansible-playbook on PATH, the collection on PYTHONPATH.
    env.update(KUBECONFIG=str(kubeconfig), POD_NAME="nodewatch-watcher-test",
               PATH=os.path.dirname(sys.executable) + os.pathsep + env.get("PATH", ""),
               PYTHONPATH=os.environ["ANSIBLE_COLLECTIONS_PATH"])
    for name in list(env):
        if name.startswith("K8S_AUTH_"):
            del env[name]
    return subprocess.run(argv, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=300, check=False)


def test_the_cronjob_command_runs_the_drift_check_with_the_daemons_limits(seeded_kube, kubeconfig, tmp_path):
    """The CronJob's container command, run as is (paths mapped to its ConfigMap's content), with a
    token that has exactly the RBAC the role granted: fails on a breach, passes within limits."""
    token = "watcher-sa"
    run = deploy(tmp_path, kubeconfig, watcher_thresholds={"max_percent": 20})
    assert run.rc == 0, run
    seeded_kube.add_token(token, _rbac_as_fake_rule(seeded_kube, "system:serviceaccount:%s:nodewatch-watcher" % NS))
    sa_kubeconfig = seeded_kube.write_kubeconfig(str(tmp_path / "sa-kubeconfig"), token=token)

    cronjob = seeded_kube.get("batch/v1", "CronJob", "nodewatch-watcher-drift-check", NS)
    pod = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = pod["containers"][0]
    assert container["command"] == ["ansible-playbook"]
    assert container["args"][0] == "nodewatch.k8s.drift_check"
    remap = _mounted(container, pod, seeded_kube, tmp_path / "pod")
    breach = _run_container(container, remap, sa_kubeconfig, tmp_path)
    assert breach.returncode == 2, breach.stdout[-3000:] + breach.stderr[-2000:]
    assert re.search(r"image drift: \d+ breaches on \d+ of 12 nodes", breach.stdout), breach.stdout[-3000:]
    assert "(limit 20%) [rule max_percent, rule set default]" in breach.stdout
    assert "forbidden" not in breach.stdout.lower()

    # The daemon (the Deployment's container) accepts the same configuration and limits, and one pass
    # with the granted RBAC reads the nodes, alerts with Events and saves its state ConfigMap.
    deployment = seeded_kube.get("apps/v1", "Deployment", "nodewatch-watcher", NS)
    daemon = deployment["spec"]["template"]["spec"]["containers"][0]
    daemon_remap = _mounted(daemon, deployment["spec"]["template"]["spec"], seeded_kube, tmp_path / "daemon")
    entrypoint = [sys.executable, "-m", DAEMON]  # the image's ENTRYPOINT (extras/Dockerfile)
    checked = _run_container(daemon, daemon_remap, sa_kubeconfig, tmp_path, command=entrypoint + ["--check-config"])
    assert checked.returncode == 0, checked.stderr
    shown = json.loads(checked.stdout)
    drift_vars = yaml.safe_load(seeded_kube.get("v1", "ConfigMap", "nodewatch-watcher-config", NS)["data"]["drift-check.yml"])
    assert shown["thresholds"] == {"max_percent": 20}
    # exactly the daemon's limits, replacing the drift check's defaults (no growth limit here)
    assert drift_vars["nodewatch_thresholds"] == {"max_percent": 20}
    assert not set(drift_vars) & set("nodewatch_" + name for name in THRESHOLD_KEYS)
    once = _run_container(daemon, daemon_remap, sa_kubeconfig, tmp_path, command=entrypoint + ["--once"])
    assert once.returncode == 0, once.stderr[-3000:]
    assert "threshold_crossed" in once.stdout
    assert seeded_kube.get("v1", "ConfigMap", "nodewatch-watcher-state", NS) is not None
    assert any(e.get("source", {}).get("component") == "nodewatch-watcher" for e in seeded_kube.list("v1", "Event", "default"))

    # Within the limits: the same command passes.
    run = deploy(tmp_path, kubeconfig, watcher_thresholds={"max_percent": 95})
    assert run.rc == 0 and run.result(APPLY)["counts"]["patched"] == 2  # ConfigMap, Deployment (config hash)
    remap = _mounted(container, pod, seeded_kube, tmp_path / "pod")
    passed = _run_container(container, remap, sa_kubeconfig, tmp_path)
    assert passed.returncode == 0, passed.stdout[-3000:]


# -- bad input ----------------------------------------------------------------------------------

@pytest.mark.parametrize("role_vars, message", [
    ({"watcher_drift_schedule": "61 * * * *"},
     "watcher_drift_schedule '61 * * * *' is not a valid cron schedule: minute '61' is outside 0-59"),
    ({"watcher_drift_schedule": "0 3 * *"}, "it has 4 fields; cron needs 5"),
    # Kubernetes' CronJob parser refuses 7 for Sunday, which cron and systemd accept.
    ({"watcher_drift_schedule": "0 3 * * 7"}, "day of week '7' is outside 0-6"),
    ({"watcher_mode": "k8s"}, "watcher_mode must be one of: cluster, host"),
    ({"watcher_thresholds": {"max_percent": 180}},
     "thresholds.max_percent: percentage 180 is out of range: it must be between 0 and 100"),
    ({"watcher_rule_sets": [{"name": "gpu", "selector": "pool in (a", "thresholds": {}}]}, "rule_sets[0] (gpu).selector"),
    ({"watcher_mode": "host"}, "watcher_mode 'host' needs watcher_kubeconfig"),
    ({"watcher_mode": "host", "watcher_kubeconfig": "/nonexistent/kubeconfig", "watcher_host_scheduler": "systemd"},
     "watcher_kubeconfig /nonexistent/kubeconfig does not exist or is not a file on the controller"),
])
def test_bad_input_fails_early_with_a_clear_message(fake_kube, kubeconfig, tmp_path, role_vars, message):
    run = deploy(tmp_path, kubeconfig, **role_vars)
    assert run.rc != 0
    failed = [r for r in run.results if r["status"] == "failed"]
    assert len(failed) == 1, run
    assert message in failed[0]["result"]["msg"], failed[0]["result"]["msg"]
    assert "manifests" not in failed[0]["task"] and "Install" not in failed[0]["task"]
    assert [r for r in fake_kube.requests if r[0] != "GET"] == [], "nothing may be written"


# -- host mode ----------------------------------------------------------------------------------

def _exists(path):
    return os.path.lexists(path)


def _user_exists(name):
    try:
        pwd.getpwnam(name)
        return True
    except KeyError:
        return False


def test_host_mode_in_check_mode_writes_nothing_and_renders_valid_units(tmp_path):
    install = tmp_path / "opt"
    config = tmp_path / "etc"
    # systemd-analyze verify checks that ExecStart exists: stand-ins where the role would install them.
    (install / "venv" / "bin").mkdir(parents=True)
    os.symlink(sys.executable, str(install / "venv" / "bin" / "python"))
    (install / "bin").mkdir()
    (install / "bin" / "nodewatch-drift-check").write_text("#!/bin/sh\n")
    os.chmod(str(install / "bin" / "nodewatch-drift-check"), 0o755)
    kubeconfig = tmp_path / "watcher.kubeconfig"
    kubeconfig.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    user = "nodewatch-check-%d" % os.getpid()
    before = dict((p, _exists(p)) for p in ("/var/lib/nodewatch", "/etc/systemd/system/%s.service" % user))

    run = run_playbook(tmp_path, "nodewatch.k8s.deploy_watcher", check=True, diff=True, extra_vars={
        "watcher_mode": "host", "watcher_kubeconfig": str(kubeconfig), "watcher_host_scheduler": "systemd",
        "watcher_install_dir": str(install), "watcher_config_dir": str(config), "watcher_host_user": user,
        "watcher_name": user, "watcher_webhook_url": "https://hooks.example.com/T/B/s3cr3t",
        "watcher_drift_schedule": "15 3 1 * sun"})
    assert run.rc == 0, run
    changed = [r["task"].split(" : ", 1)[1] for r in run.results if r["result"].get("changed")]
    for task in ("Create the system user", "Install the kubeconfig", "Install the Python packages into the virtualenv",
                 "Copy the collection's code", "Install the systemd units", "Install the drift check script"):
        assert task in changed, (task, changed)
    # Nothing was written.
    assert not _exists(str(config)) and not _user_exists(user)
    assert sorted(os.listdir(str(install))) == ["bin", "venv"]
    assert dict((p, _exists(p)) for p in before) == before
    assert "s3cr3t" not in run.stdout, "no_log on the webhook URL"

    units = run.result("nodewatch.k8s.watcher : Install the systemd units")["results"]
    rendered = dict((u["item"]["dest"], u["diff"][0]["after"] if isinstance(u["diff"], list) else u["diff"]["after"])
                    for u in units)
    assert sorted(rendered) == ["%s-drift-check.service" % user, "%s-drift-check.timer" % user, "%s.service" % user]
    service = rendered["%s.service" % user]
    for line in ("Restart=on-failure", "NoNewPrivileges=yes", "ProtectSystem=strict", "ProtectHome=yes",
                 "PrivateTmp=yes", "User=%s" % user, "StateDirectory=nodewatch",
                 "ExecStart=%s/venv/bin/python -m %s --config %s/watcher.yml" % (install, DAEMON, config)):
        assert line in service.splitlines(), line
    # Cron's day-of-month OR day-of-week: two calendar lines.
    timer = rendered["%s-drift-check.timer" % user]
    assert [l for l in timer.splitlines() if l.startswith("OnCalendar=")] == [
        "OnCalendar=Sun *-*-* 3:15:00", "OnCalendar=*-*-1 3:15:00"]
    script = run.result("nodewatch.k8s.watcher : Install the drift check script")["diff"]
    script = (script[0] if isinstance(script, list) else script)["after"]
    assert "ansible-playbook nodewatch.k8s.drift_check -e @%s/drift-check.yml" % config in script
    assert subprocess.run(["sh", "-n"], input=script, text=True, check=False).returncode == 0
    configs = run.result("nodewatch.k8s.watcher : Write the daemon configuration and the drift check's variables")
    daemon_config = yaml.safe_load(configs["results"][0]["diff"][0]["after"] if isinstance(configs["results"][0]["diff"], list)
                                   else configs["results"][0]["diff"]["after"])
    assert daemon_config["kubeconfig"] == "%s/kubeconfig" % config
    assert daemon_config["state"] == {"backend": "file", "path": "/var/lib/nodewatch/state.json"}

    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed: the units were rendered but not verified")
    unit_dir = tmp_path / "units"
    unit_dir.mkdir()
    for name, text in rendered.items():
        (unit_dir / name).write_text(text)
    verify = subprocess.run([analyze, "verify", "--man=no"] + sorted(str(unit_dir / n) for n in rendered),
                            capture_output=True, text=True, check=False, timeout=60)
    assert verify.returncode == 0 and verify.stderr.strip() == "", verify.stderr


# cron schedule -> systemd OnCalendar: the same run times, checked with systemd's own calendar parser
# against a plain reading of cron (a day matches when day-of-month OR day-of-week matches, if both
# are restricted).
SCHEDULES = ["7 * * * *", "*/15 2-4 * * *", "0 0 1,15 * *", "30 6 * * mon-fri", "0 12 1 jan,jul *",
             "@daily", "@weekly", "0 0 13 * 5", "5/20 1 * * 7", "0 22 * * 1-5/2"]


_MONTHS = dict((m, i + 1) for i, m in enumerate("jan feb mar apr may jun jul aug sep oct nov dec".split()))
_DAYS = dict((d, i) for i, d in enumerate("sun mon tue wed thu fri sat".split()))


def _cron_sets(fields):
    values = []
    for text, (lo, hi), names in zip(fields, [(0, 59), (0, 23), (1, 31), (1, 12), (0, 7)], [{}, {}, {}, _MONTHS, _DAYS]):
        chosen = set()
        for item in text.split(","):
            base, dummy, step = item.partition("/")
            if base == "*":
                first, last = lo, hi
            else:
                ends = [int(names.get(e, e)) for e in base.split("-")]
                first, last = ends[0], ends[-1] if len(ends) == 2 else (hi if step else ends[0])
            chosen.update(range(first, last + 1, int(step or 1)))
        values.append(chosen)
    if 7 in values[4]:
        values[4].add(0)
    return values


def _cron_next(schedule, after, count):
    """The next run times of a cron schedule, read plainly (day-of-month OR day-of-week when both are set)."""
    macros = {"@daily": "0 0 * * *", "@weekly": "0 0 * * 0", "@hourly": "0 * * * *"}
    fields = macros.get(schedule, schedule).split()
    minutes, hours, days, months, weekdays = _cron_sets(fields)
    either = fields[2] != "*" and fields[4] != "*"
    found = []
    when = after.replace(second=0) + timedelta(minutes=1)
    while len(found) < count:
        weekday = (when.weekday() + 1) % 7
        day_ok = (when.day in days or weekday in weekdays) if either else (when.day in days and weekday in weekdays)
        if when.month not in months or not day_ok:
            when = when.replace(hour=0, minute=0) + timedelta(days=1)
        elif when.hour not in hours:
            when = when.replace(minute=0) + timedelta(hours=1)
        else:
            if when.minute in minutes:
                found.append(when)
            when += timedelta(minutes=1)
    return found


def test_cron_schedules_become_systemd_calendars_with_the_same_run_times(tmp_path):
    analyze = shutil.which("systemd-analyze")
    if not analyze:
        pytest.skip("systemd-analyze is not installed")
    out = tmp_path / "rendered"
    play = [{"hosts": "localhost", "gather_facts": False, "tasks": [{
        "name": "render",
        "ansible.builtin.template": {"src": os.path.join(ROLE, "templates", "host", "drift-check.timer.j2"),
                                     "dest": str(out) + "-{{ idx }}.timer"},
        "loop": SCHEDULES, "loop_control": {"index_var": "idx"},
        "vars": {"watcher_drift_schedule": "{{ item }}", "__watcher_drift_unit": "nodewatch-watcher-drift-check"}}]}]
    run = run_playbook(tmp_path, play)
    assert run.rc == 0, run
    base = datetime(2026, 2, 25, 13, 37, tzinfo=timezone.utc)  # a Wednesday
    for idx, schedule in enumerate(SCHEDULES):
        with open(str(out) + "-%d.timer" % idx) as handle:
            calendars = [l.split("=", 1)[1] for l in handle.read().splitlines() if l.startswith("OnCalendar=")]
        elapses = set()
        for calendar in calendars:
            proc = subprocess.run([analyze, "calendar", "--iterations=6", "--base-time=%s UTC" % base.strftime("%Y-%m-%d %H:%M:%S"),
                                   calendar + " UTC"], capture_output=True, text=True, check=False, timeout=60,
                                  env=dict(os.environ, TZ="UTC"))
            assert proc.returncode == 0, (schedule, calendar, proc.stderr)
            for stamp in re.findall(r"(?:Next elapse|Iter\. #\d+): \w+ (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)", proc.stdout):
                elapses.add(datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc))
        assert sorted(elapses)[:6] == _cron_next(schedule, base, 6), (schedule, calendars)


# -- what ships beside the role ------------------------------------------------------------------

def _load_yaml(*parts):
    with open(os.path.join(ROOT, *parts)) as handle:
        return yaml.safe_load(handle)


def test_every_role_variable_is_documented_with_its_default():
    defaults = _load_yaml("roles", "watcher", "defaults", "main.yml")
    options = _load_yaml("roles", "watcher", "meta", "argument_specs.yml")["argument_specs"]["main"]["options"]
    assert sorted(defaults) == sorted(options)
    for name, spec in options.items():
        assert spec.get("description"), name
        assert spec.get("default") == defaults[name], name


def _exposed_metric_names():
    """Every series name the daemon's collector exposes, read from prometheus_client's own output."""
    prometheus_client = pytest.importorskip("prometheus_client")
    from types import SimpleNamespace

    from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.metrics import WatcherCollector

    stats = SimpleNamespace(failures=1, dropped=0)
    sink = SimpleNamespace(name="webhook", stats=stats, pending=lambda: [1])
    engine = SimpleNamespace(
        metrics_view=lambda: [("worker-1", {"total_bytes": 5, "image_count": 2, "percent": 1.5, "truncated": True}, 1)],
        status=lambda: {"nodes": 1, "open_breaches": 1, "active": True},
        handled={"update": 1}, malformed=0, alerts_sent={"threshold_crossed": 1})
    informer = SimpleNamespace(has_synced=True, stats=SimpleNamespace(
        watch_restarts={"timeout": 1}, relists=0, events={"MODIFIED": 1}, malformed=0, handler_errors=0))
    daemon = SimpleNamespace(engine=engine, informer=informer, sinks=SimpleNamespace(sinks=[sink]), state_saves=1,
                             state_save_failures=0)
    registry = prometheus_client.CollectorRegistry(auto_describe=False)
    registry.register(WatcherCollector(daemon))
    text = prometheus_client.generate_latest(registry).decode()
    return set(re.findall(r"^(nodewatch_\w+?)(?:\{| )", text, re.M))


def test_alert_rules_and_dashboard_use_only_metrics_the_daemon_exposes():
    exposed = _exposed_metric_names()
    assert {"nodewatch_node_image_bytes", "nodewatch_watcher_alerts_total", "nodewatch_watcher_synced"} <= exposed
    rules = _load_yaml("extras", "prometheus", "nodewatch-rules.yml")
    used = set()
    for group in rules["groups"]:
        for rule in group["rules"]:
            if "record" in rule:
                assert set(rule) <= {"record", "expr", "labels"}, rule
                assert re.match(r"(node|cluster):nodewatch_\w+:\w+$", rule["record"]), rule
            else:
                assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
                assert rule["labels"]["severity"] in ("info", "warning", "critical")
                assert rule["annotations"]["summary"] and rule["annotations"]["description"]
            expr = rule["expr"]
            assert expr.count("(") == expr.count(")") and expr.count("{") == expr.count("}"), rule
            used |= set(re.findall(r"\bnodewatch_\w+", expr))
    assert used and used <= exposed, used - exposed
    with open(os.path.join(ROOT, "extras", "grafana", "nodewatch-dashboard.json")) as handle:
        dashboard = json.load(handle)
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    exprs = [t["expr"] for p in dashboard["panels"] for t in p.get("targets", ())]
    assert exprs and all(e.count("(") == e.count(")") for e in exprs)
    used = set(re.findall(r"\bnodewatch_\w+", " ".join(exprs)))
    assert used <= exposed, used - exposed
    assert [v["name"] for v in dashboard["templating"]["list"]] == ["datasource", "node"]


def test_the_dockerfile_pins_what_the_role_installs_and_runs_the_daemon_as_non_root():
    with open(os.path.join(ROOT, "extras", "Dockerfile")) as handle:
        dockerfile = handle.read()
    defaults = _load_yaml("roles", "watcher", "defaults", "main.yml")
    role_vars = _load_yaml("roles", "watcher", "vars", "main.yml")
    pins = re.findall(r"^\s+([A-Za-z_.-]+==[\w.]+)", dockerfile, re.M)
    assert sorted(pins) == sorted(defaults["watcher_pip_packages"] + defaults["watcher_drift_pip_packages"])
    with open(os.path.join(ROOT, "requirements-dev.txt")) as handle:
        dev = dict(line.strip().lower().split("==") for line in handle if "==" in line and not line.startswith("#"))
    for pin in pins:
        name, version = pin.lower().split("==")
        assert dev.get(name) == version, "%s: the image and the tested tool chain differ" % pin
    assert re.search(r"^USER %d:%d$" % (role_vars["__watcher_uid"], role_vars["__watcher_uid"]), dockerfile, re.M)
    assert 'ENTRYPOINT ["python", "-m", "%s"]' % DAEMON in dockerfile
    assert "ARG PYTHON_IMAGE=python:3.11-slim" in dockerfile
