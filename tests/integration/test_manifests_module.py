"""nodewatch.k8s.manifests through ansible-playbook (AnsiballZ), against the fake API server.

Assertions read the cluster afterwards, not only what the module said.
"""
import threading
import time

import pytest
import yaml

from fakekube import Rule
from harness import local_play, run_playbook

pytestmark = pytest.mark.integration

NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}
CM = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "apps"},
      "data": {"level": "info"}}
SECRET = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "token", "namespace": "apps"},
          "stringData": {"token": "s3cr3t"}}
DEPLOYMENT = {
    "apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web", "namespace": "apps"},
    "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "web"}},
             "template": {"metadata": {"labels": {"app": "web"}},
                          "spec": {"containers": [{"name": "web", "image": "nginx:1.27",
                                                   "resources": {"requests": {"cpu": "0.1", "memory": "32Mi"}}}]}}},
}
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def writes(kube):
    return [r[:2] for r in kube.requests if r[0] in WRITES]


def test_create_check_diff_idempotence_patch_and_removal(fake_kube, kubeconfig, tmp_path):
    objects = [NS, CM, SECRET, DEPLOYMENT]
    preview = run_playbook(tmp_path, local_play([
        {"name": "would create", "nodewatch.k8s.manifests": {"definitions": objects}},
    ], kubeconfig=kubeconfig), check=True, diff=True)
    assert preview.rc == 0, preview
    would = preview.result("would create")
    assert would["changed"] and would["counts"] == {"created": 4}
    assert writes(fake_kube) == [] and fake_kube.get("v1", "Namespace", "apps") is None
    assert [d["after_header"] for d in would["diff"]] == ["Namespace apps", "ConfigMap apps/settings",
                                                          "Secret apps/token", "Deployment apps/web"]

    src = tmp_path / "changed.yml"
    changed_cm = dict(CM, data={"level": "debug", "extra": "1"})
    changed_deployment = yaml.safe_load(yaml.safe_dump(DEPLOYMENT))
    changed_deployment["spec"]["replicas"] = 2
    src.write_text(yaml.safe_dump_all([NS, changed_cm, SECRET, changed_deployment]))
    fake_kube.fail_next(1, status=409, reason="Conflict", method="PATCH", path_contains="/deployments/web",
                        message="Operation cannot be fulfilled on deployments.apps \"web\": the object has been modified")
    run = run_playbook(tmp_path, local_play([
        {"name": "create", "nodewatch.k8s.manifests": {"definitions": objects}},
        {"name": "again", "nodewatch.k8s.manifests": {"definitions": objects}},
        {"name": "change from a file", "nodewatch.k8s.manifests": {"src": str(src)}},
        {"name": "would remove", "nodewatch.k8s.manifests": {"src": str(src), "state": "absent"}, "check_mode": True},
    ], kubeconfig=kubeconfig), diff=True)
    assert run.rc == 0, run
    assert run.result("create")["counts"] == {"created": 4}
    again = run.result("again")
    assert again["changed"] is False and again["counts"] == {"unchanged": 4} and "diff" not in again or again["diff"] == []
    change = run.result("change from a file")
    assert change["counts"] == {"unchanged": 2, "patched": 2}
    patched = dict((r["kind"], sorted(r["changes"])) for r in change["results"] if r["action"] == "patched")
    assert patched == {"ConfigMap": ["data.extra", "data.level"], "Deployment": ["spec.replicas"]}
    assert change["diff"][0]["before"] == {"data": {"level": "info"}}
    assert change["diff"][0]["after"] == {"data": {"level": "debug", "extra": "1"}}
    assert run.result("would remove")["counts"] == {"deleted": 4}

    # The cluster holds what was asked, labelled; the 409 was read again and retried.
    assert fake_kube.get("v1", "ConfigMap", "settings", "apps")["data"] == {"level": "debug", "extra": "1"}
    deployment = fake_kube.get("apps/v1", "Deployment", "web", "apps")
    assert deployment["spec"]["replicas"] == 2
    assert deployment["metadata"]["labels"] == {"app.kubernetes.io/managed-by": "nodewatch.k8s"}
    assert fake_kube.get("v1", "Secret", "token", "apps")["data"] == {"token": "czNjcjN0"}
    assert writes(fake_kube).count(("PATCH", "/apis/apps/v1/namespaces/apps/deployments/web")) == 2
    for shown in (preview.stdout, run.stdout):
        assert "s3cr3t" not in shown and "czNjcjN0" not in shown, "diffs hide a Secret's values"
    assert would["diff"][2]["after"]["data"] == {"token": "<hidden>"}
    assert sum(1 for w in writes(fake_kube) if w[0] == "DELETE") == 0

    removal = run_playbook(tmp_path, local_play([
        {"name": "remove", "nodewatch.k8s.manifests": {"src": str(src), "state": "absent", "wait": True}},
        {"name": "remove again", "nodewatch.k8s.manifests": {"src": str(src), "state": "absent"}},
    ], kubeconfig=kubeconfig))
    assert removal.rc == 0, removal
    assert [r["action"] for r in removal.result("remove")["results"]] == ["deleted"] * 4
    assert [r["kind"] for r in removal.result("remove")["results"]] == ["Deployment", "Secret", "ConfigMap", "Namespace"]
    assert removal.result("remove again")["changed"] is False
    assert fake_kube.get("v1", "Namespace", "apps") is None


def test_wait_returns_once_the_deployment_is_rolled_out(fake_kube, kubeconfig, tmp_path):
    """The fake has no deployment controller: a thread plays it, marking the rollout done after a while."""
    stop = threading.Event()

    def controller():
        while not stop.wait(0.2):
            found = fake_kube.get("apps/v1", "Deployment", "web", "apps")
            if found is not None and not found.get("status"):
                time.sleep(1.0)
                fake_kube.patch("apps/v1", "Deployment", "web", {"status": {
                    "observedGeneration": found["metadata"].get("generation", 1), "replicas": 1, "updatedReplicas": 1,
                    "readyReplicas": 1, "availableReplicas": 1}}, namespace="apps",
                    content_type="application/merge-patch+json", subresource="status")
                return

    thread = threading.Thread(target=controller, daemon=True)
    thread.start()
    try:
        started = time.monotonic()
        run = run_playbook(tmp_path, local_play([
            {"name": "rollout", "nodewatch.k8s.manifests": {"definitions": [NS, DEPLOYMENT], "wait": True,
                                                            "wait_timeout": 30}},
        ], kubeconfig=kubeconfig))
        elapsed = time.monotonic() - started
    finally:
        stop.set()
        thread.join(5)
    assert run.rc == 0, run
    assert fake_kube.get("apps/v1", "Deployment", "web", "apps")["status"]["availableReplicas"] == 1
    assert elapsed < 25


def test_errors_are_sentences_and_nothing_is_applied_from_a_bad_list(fake_kube, kubeconfig, tmp_path):
    fake_kube.add_token("ci-token", Rule("ci", allow=[("get", "namespaces"), ("get", "configmaps")]))
    limited = fake_kube.write_kubeconfig(str(tmp_path / "ci-kubeconfig"), token="ci-token")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "apps"}}
    run = run_playbook(tmp_path, local_play([
        {"name": "unknown kind", "nodewatch.k8s.manifests": {"definitions": [NS, pod]}, "ignore_errors": True},
        {"name": "no namespace", "nodewatch.k8s.manifests": {"definitions": [{"apiVersion": "v1", "kind": "ConfigMap",
                                                                              "metadata": {"name": "x"}}]},
         "ignore_errors": True},
        {"name": "forbidden", "nodewatch.k8s.manifests": {"definitions": [NS], "kubeconfig": limited},
         "ignore_errors": True},
        {"name": "default namespace", "nodewatch.k8s.manifests": {
            "definitions": "---\napiVersion: v1\nkind: ConfigMap\nmetadata: {name: x}\ndata: {a: b}\n",
            "namespace": "default"}},
    ], kubeconfig=kubeconfig))
    assert run.rc == 0, run
    unknown = run.result("unknown kind")
    assert run.status("unknown kind") == "failed" and "Pod apps/p: apiVersion v1 kind Pod is not supported" in unknown["msg"]
    assert "supported kinds are v1/Namespace, v1/ServiceAccount" in unknown["msg"]
    assert "metadata.namespace is required" in run.result("no namespace")["msg"]
    forbidden = run.result("forbidden")
    assert run.status("forbidden") == "failed" and run.status("no namespace") == "failed"
    assert forbidden["status"] == 403
    assert forbidden["msg"].startswith("forbidden (HTTP 403): ")
    assert 'User "ci" cannot create resource "namespaces"' in forbidden["msg"]
    assert fake_kube.get("v1", "ConfigMap", "x", "default")["data"] == {"a": "b"}
    assert fake_kube.get("v1", "Namespace", "apps") is None, "a list with an unknown kind applies nothing"
