"""node_image_drift through ansible-playbook, and its engine over HTTP, against the fake API server.

Every rule is checked on both sides of its boundary (a value equal to the limit passes, one
byte / one image / a hair of a percent more breaches) in one playbook run: tasks run with
ignore_errors and the test reads each task's result. Baselines are read back from the fake's
store, not only from what the module said.
"""
import copy
import json
import time

import pytest

from fakekube import Rule, make_cluster
from harness import local_play, run_playbook

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift import baseline as bl
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.names import MANAGED_BY, MANAGED_BY_LABEL
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import KubeClient, RetryPolicy
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.check import (
    BaselineAccessError,
    build_policy,
    check_drift,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import node_image_facts

pytestmark = pytest.mark.integration

MI = 1 << 20
GI = 1 << 30
MODULE = "nodewatch.k8s.node_image_drift"


def image(repo, n, size, tag="1.0"):
    return {"names": ["%s@sha256:%064x" % (repo, n), "%s:%s" % (repo, tag)], "sizeBytes": size}


APP = image("registry.example.com/team/app", 1, 512 * MI)
BASE = image("registry.k8s.io/pause", 2, 256 * MI, "3.9")
TOOL = image("docker.io/library/tool", 3, 256 * MI, "latest")
NEW = image("registry.example.com/team/new", 4, 256 * MI)
CUDA = image("nvcr.io/nvidia/cuda", 5, GI, "12.4")


def boundary_nodes():
    """edge-1: 1.25 GiB in 4 images on a 5 GiB disk (25 %), grown by NEW (256 MiB = 25 %) since the
    baseline; gpu-1 (pool=gpu): 2 GiB in 4 images, unchanged."""
    edge, gpu = make_cluster(2, seed=1)[:2]
    for obj, name, images, capacity, labels in ((edge, "edge-1", [APP, BASE, TOOL, NEW], "5Gi", {}),
                                                (gpu, "gpu-1", [CUDA, APP, BASE, TOOL], "20Gi", {"pool": "gpu"})):
        obj["metadata"]["name"] = name
        obj["metadata"]["labels"]["kubernetes.io/hostname"] = name
        obj["metadata"]["labels"].update(labels)
        obj["metadata"]["labels"].pop("node-role.kubernetes.io/control-plane", None)
        obj["status"]["images"] = images
        obj["status"]["capacity"]["ephemeral-storage"] = capacity
        obj["spec"].pop("taints", None)
    return [edge, gpu]


def baseline_of(nodes, drop=()):
    """The baseline these nodes would have had, without the images in ``drop``."""
    facts = []
    for obj in nodes:
        obj = copy.deepcopy(obj)
        obj["status"]["images"] = [i for i in obj["status"]["images"] if i not in drop]
        facts.append(node_image_facts(obj, include_images=True))
    return bl.build_baseline(facts, captured_at="2026-11-18T10:00:00Z")


def client_for(kubeconfig, **kwargs):
    return KubeClient.from_options({"kubeconfig": kubeconfig}, **kwargs)


def configmap(kube, name, namespace="default"):
    return kube.get("v1", "ConfigMap", name, namespace=namespace)


def put_configmap(kube, name, data, managed=True, namespace="default"):
    labels = {MANAGED_BY_LABEL: MANAGED_BY} if managed else {}
    kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": name, "namespace": namespace, "labels": labels}, "data": data})


# ----------------------------------------------------------------------------------------------
# Through ansible-playbook: every rule at its boundary, and bad input
# ----------------------------------------------------------------------------------------------

EDGE = {"field_selectors": ["metadata.name=edge-1"]}

# Every limit exactly at edge-1's value: nothing breaches (a limit is an inclusive maximum).
AT_LIMITS = {"max_total_bytes": "1.25Gi", "max_percent": "25%", "max_image_count": 4, "max_growth_bytes": "256MiB",
             "max_growth_percent": 25, "deny": ["*:nightly", "quay.io/*"], "fail_on_new_images": True,
             "allow_new": ["registry.example.com/team/*"]}

# (task name, options, the one rule that breaches): each limit a hair below the value.
CROSSINGS = [
    ("total over", {"max_total_bytes": 1342177279}, "max_total_bytes"),
    ("percent over", {"max_percent": 24.99}, "max_percent"),
    ("count over", {"max_image_count": "3"}, "max_image_count"),
    ("growth over", {"max_growth_bytes": 268435455}, "max_growth_bytes"),
    ("growth percent over", {"max_growth_percent": "24.9%"}, "max_growth_percent"),
    ("deny hit", {"deny": ["docker.io/library/tool:*"]}, "deny"),
    ("new image denied", {"fail_on_new_images": True, "allow_new": ["quay.io/*"]}, "new_image"),
]

BAD_INPUT = [
    ("negative size", {"max_total_bytes": "-5Gi"}, ["max_total_bytes", "negative"]),
    ("percent over 100", {"max_percent": 120}, ["max_percent", "between 0 and 100"]),
    ("malformed count", {"max_image_count": "many"}, ["max_image_count", "whole number"]),
    ("bad rule set limit", {"rule_sets": [{"name": "gpu", "selector": "pool=gpu",
                                           "thresholds": {"max_total_bytes": "5 gigs"}}]},
     ["rule_sets[0] (gpu).thresholds.max_total_bytes", "unknown unit"]),
]


def test_every_rule_at_its_boundary_and_bad_input(fake_kube, kubeconfig, tmp_path):
    nodes = boundary_nodes()
    fake_kube.add_nodes(nodes)
    good = tmp_path / "baseline.json"
    bl.FileBaselineStore(str(good)).write(baseline_of(nodes, drop=[NEW]))
    corrupt = tmp_path / "corrupt.json"
    corrupt.write_text('{"format": "nodewatch.k8s/baseline", "version": 1, "nodes": {')
    foreign = tmp_path / "foreign.json"
    foreign.write_text(json.dumps({"format": "nodewatch.k8s/baseline", "version": 7, "captured_at": "x", "nodes": {}}))
    file_baseline = {"baseline_source": "file", "baseline_path": str(good)}

    tasks = [{"name": "at every limit", MODULE: dict(EDGE, **dict(file_baseline, **AT_LIMITS)), "ignore_errors": True}]
    for name, options, dummy in CROSSINGS:
        tasks.append({"name": name, MODULE: dict(EDGE, **dict(file_baseline, **options)), "ignore_errors": True})
    rule_sets = [{"name": "gpu", "selector": "pool=gpu", "thresholds": {"max_total_bytes": "2GiB"}}]
    tasks += [
        {"name": "rule set at limit", MODULE: {"max_total_bytes": "1Gi", "rule_sets": rule_sets},
         "ignore_errors": True},
        {"name": "rule set over", MODULE: {"max_total_bytes": "2Gi", "rule_sets": [
            {"name": "gpu", "selector": "pool=gpu", "thresholds": {"max_total_bytes": 2 * GI - 1}}]},
         "ignore_errors": True},
        {"name": "not failing", MODULE: dict(EDGE, max_image_count=0, fail_on_breach=False)},
        {"name": "corrupt file", MODULE: {"baseline_source": "file", "baseline_path": str(corrupt),
                                          "update_baseline": True}, "ignore_errors": True},
        {"name": "foreign file", MODULE: {"baseline_source": "file", "baseline_path": str(foreign),
                                          "update_baseline": "on_success"}, "ignore_errors": True},
    ]
    for name, options, dummy in BAD_INPUT:
        tasks.append({"name": name, MODULE: options, "ignore_errors": True})

    run = run_playbook(tmp_path, local_play(tasks, kubeconfig=kubeconfig))
    assert run.rc == 0, run

    at_limits = run.result("at every limit")
    assert run.status("at every limit") == "ok" and at_limits["ok"], at_limits.get("msg")
    assert at_limits["nodes_checked"] == 1 and at_limits["breaches"] == [] and at_limits["baseline"]["found"]
    assert at_limits["policy"]["thresholds"]["max_total_bytes"] == 1342177280
    for name, options, rule in CROSSINGS:
        result = run.result(name)
        assert run.status(name) == "failed", (name, result)
        assert result["nodes_checked"] == 1 and result["changed"] is False
        assert [b["rule"] for b in result["breaches"]] == [rule], (name, result["breaches"])
        breach = result["breaches"][0]
        assert breach["node"] == "edge-1" and breach["rule_set"] == "default"
        # the task's message names the node, the rule, the value and the limit
        for word in ("node edge-1", "rule " + rule, breach["observed_human"], breach["limit_human"]):
            assert word in result["msg"], (name, word, result["msg"])

    growth = run.result("growth over")["breaches"][0]
    assert growth["observed"] == 256 * MI and growth["limit"] == 256 * MI - 1
    assert "256.0 MiB (268435456 bytes)" in growth["message"]
    assert run.result("percent over")["breaches"][0]["observed"] == 25.0
    assert run.result("deny hit")["breaches"][0]["observed"] == "docker.io/library/tool:latest"
    assert run.result("new image denied")["breaches"][0]["observed"] == "registry.example.com/team/new:1.0"

    at_limit = run.result("rule set at limit")
    assert run.status("rule set at limit") == "failed"
    assert [(b["node"], b["rule_set"]) for b in at_limit["breaches"]] == [("edge-1", "default")]
    over = run.result("rule set over")
    assert [(b["node"], b["rule_set"], b["limit"]) for b in over["breaches"]] == [("gpu-1", "gpu", 2 * GI - 1)]
    assert "[rule max_total_bytes, rule set gpu]" in over["msg"]

    quiet = run.result("not failing")
    assert run.status("not failing") == "ok" and quiet["ok"] is False and len(quiet["breaches"]) == 1

    for name, path, words in (("corrupt file", corrupt, ["not valid JSON"]),
                              ("foreign file", foreign, ["unsupported baseline version 7"])):
        result = run.result(name)
        assert run.status(name) == "failed"
        for word in [str(path), "NOT overwritten"] + words:
            assert word in result["msg"], (name, result["msg"])
    assert corrupt.read_text().endswith('"nodes": {') and "\"version\": 7" in foreign.read_text()

    for name, dummy, words in BAD_INPUT:
        assert run.status(name) == "failed", name
        for word in words:
            assert word in run.result(name)["msg"], (name, run.result(name)["msg"])


# ----------------------------------------------------------------------------------------------
# Through ansible-playbook: baselines in ConfigMaps
# ----------------------------------------------------------------------------------------------

def test_configmap_baselines_check_mode_diff_conflicts_and_refusals(seeded_kube, kubeconfig, tmp_path):
    kube = seeded_kube
    put_configmap(kube, "corrupt", {"baseline.json": "{oops"})
    # a baseline written by a future release: its manifest says version 2
    v2 = bl.split_for_configmaps(baseline_of([]))[0]
    v2[bl.MANIFEST_KEY] = v2[bl.MANIFEST_KEY].replace('"version":1', '"version":2')
    put_configmap(kube, "v2", v2)
    # a readable baseline in a ConfigMap that nodewatch.k8s did not create
    put_configmap(kube, "foreign", bl.split_for_configmaps(baseline_of([]))[0], managed=False)
    kube.add_token("reader", Rule(user="ci-reader", allow=[("list", "nodes"), ("get", "nodes")]))
    reader = kube.write_kubeconfig(str(tmp_path / "reader-kubeconfig"), token="reader")
    # The refresh's first PUT of the manifest is answered 409, as when another writer got there first.
    kube.fail_next(1, 409, method="PUT", path_contains="/configmaps/nodewatch-baseline", reason="Conflict",
                   message="the object has been modified; please apply your changes to the latest version")

    def cm(name, **options):
        return dict({"baseline_source": "configmap", "baseline_configmap": {"namespace": "default", "name": name}},
                    **options)

    tasks = [
        {"name": "preview", MODULE: cm("preview-only", update_baseline=True), "check_mode": True},
        {"name": "capture", MODULE: cm("nodewatch-baseline", update_baseline=True, max_percent=80)},
        {"name": "compare", MODULE: cm("nodewatch-baseline", max_growth_bytes=0, fail_on_new_images=True)},
        # Capture times have one-second resolution: make the refresh a different baseline.
        {"name": "next second", "ansible.builtin.pause": {"seconds": 1}},
        {"name": "refresh", MODULE: cm("nodewatch-baseline", update_baseline=True)},
        {"name": "on success with a breach", MODULE: cm("nodewatch-baseline", update_baseline="on_success",
                                                        max_image_count=1), "ignore_errors": True},
        {"name": "corrupt", MODULE: cm("corrupt", update_baseline=True), "ignore_errors": True},
        {"name": "version 2", MODULE: cm("v2", update_baseline=True), "ignore_errors": True},
        {"name": "foreign", MODULE: cm("foreign", update_baseline=True), "ignore_errors": True},
        {"name": "forbidden", MODULE: cm("nodewatch-baseline", kubeconfig=reader), "ignore_errors": True},
        {"name": "no namespace", MODULE: {"baseline_source": "configmap", "update_baseline": True},
         "ignore_errors": True},
    ]
    run = run_playbook(tmp_path, local_play(tasks, kubeconfig=kubeconfig), diff=True)
    assert run.rc == 0, run

    preview = run.result("preview")
    assert preview["changed"] is True and preview["baseline"]["updated"] is False
    assert preview["diff"]["before_header"] == "baseline (absent)" and "nodes: 12" in preview["diff"]["after"]
    assert configmap(kube, "preview-only") is None, "check mode wrote a baseline"

    capture = run.result("capture")
    assert capture["changed"] is True and capture["baseline"]["updated"] is True
    assert capture["baseline"]["found"] is False and capture["baseline"]["configmaps"] == ["nodewatch-baseline"]

    compare = run.result("compare")
    assert compare["changed"] is False and compare["ok"] is True and compare["baseline"]["found"] is True
    assert compare["baseline"]["nodes"] == 12 and "diff" not in compare

    refresh = run.result("refresh")
    assert refresh["changed"] is True and refresh["baseline"]["updated"] is True
    puts = [r for r in kube.requests if r[0] == "PUT" and r[1].endswith("/configmaps/nodewatch-baseline")]
    assert len(puts) == 2, "the 409 was not retried: %s" % puts

    stored = bl.join_from_configmaps([configmap(kube, "nodewatch-baseline")["data"]])
    assert stored["captured_at"] == refresh["baseline"]["new_captured_at"]
    expected = baseline_of(kube.list("v1", "Node"))
    assert stored["nodes"] == expected["nodes"], "the stored baseline is not what the nodes hold"

    held = run.result("on success with a breach")
    assert run.status("on success with a breach") == "failed" and held["baseline"]["updated"] is False
    assert held["changed"] is False
    assert any("was not updated because the check found" in n for n in held["notes"])
    after = bl.join_from_configmaps([configmap(kube, "nodewatch-baseline")["data"]])
    assert after["captured_at"] == stored["captured_at"]

    expectations = {
        "corrupt": ["ConfigMap default/corrupt", "not valid JSON", "NOT overwritten"],
        "version 2": ["ConfigMap default/v2", "unsupported version 2", "NOT overwritten"],
        "foreign": ["ConfigMap default/foreign", "not managed by nodewatch.k8s", "refusing to overwrite"],
        "forbidden": ["cannot read the baseline in ConfigMap default/nodewatch-baseline", "forbidden (HTTP 403)",
                      "ci-reader", "grant get, create and update on configmaps"],
        "no namespace": ["ConfigMap nodewatch-system/nodewatch-baseline", "does namespace nodewatch-system exist"],
    }
    for name, words in expectations.items():
        assert run.status(name) == "failed", name
        for word in words:
            assert word in run.result(name)["msg"], (name, run.result(name)["msg"])
    assert configmap(kube, "corrupt")["data"] == {"baseline.json": "{oops"}
    assert configmap(kube, "v2")["data"] == v2
    assert MANAGED_BY_LABEL not in (configmap(kube, "foreign")["metadata"].get("labels") or {})
    assert run.result("forbidden")["status"] == 403


# ----------------------------------------------------------------------------------------------
# The engine over HTTP
# ----------------------------------------------------------------------------------------------

class RacingClient:
    """A real client whose first PUT of a ConfigMap is preceded by someone else's update of it."""

    def __init__(self, client, before_put):
        self._client = client
        self._before_put = before_put

    def request(self, method, path, **kwargs):
        if method == "PUT" and self._before_put is not None:
            hook, self._before_put = self._before_put, None
            hook(path)
        return self._client.request(method, path, **kwargs)

    def __getattr__(self, name):
        return getattr(self._client, name)


def test_concurrent_update_between_read_and_write(seeded_kube, kubeconfig):
    kube = seeded_kube
    where = {"namespace": "default", "name": "nodewatch-baseline"}
    client = client_for(kubeconfig)
    first = check_drift(client, build_policy({}), baseline_source="configmap", baseline_configmap=where,
                        update_baseline="true", captured_at="2026-11-18T10:00:00Z")
    assert first["baseline"]["updated"]

    def other_writer(path):
        obj = configmap(kube, "nodewatch-baseline")
        obj["metadata"].setdefault("annotations", {})["example.com/touched"] = "yes"
        kube.update(obj)

    racing = RacingClient(client, other_writer)
    second = check_drift(racing, build_policy({}), baseline_source="configmap", baseline_configmap=where,
                         update_baseline="true", captured_at="2026-11-18T11:00:00Z")
    assert second["baseline"]["updated"] and second["baseline"]["captured_at"] == "2026-11-18T10:00:00Z"
    obj = configmap(kube, "nodewatch-baseline")
    assert obj["metadata"]["annotations"]["example.com/touched"] == "yes", "the other writer's change was lost"
    assert bl.join_from_configmaps([obj["data"]])["captured_at"] == "2026-11-18T11:00:00Z"

    def hostile_writer(path):
        obj = configmap(kube, "nodewatch-baseline")
        obj["metadata"]["labels"] = {}
        obj["data"] = {"baseline.json": "taken over"}
        kube.update(obj)

    with pytest.raises(bl.BaselineError) as info:
        check_drift(RacingClient(client, hostile_writer), build_policy({}), baseline_source="configmap",
                    baseline_configmap=where, update_baseline="true")
    assert "not managed by nodewatch.k8s" in str(info.value)
    assert configmap(kube, "nodewatch-baseline")["data"] == {"baseline.json": "taken over"}


def test_unreachable_configmap_is_a_clear_error(seeded_kube, kubeconfig):
    where = {"namespace": "default", "name": "nodewatch-baseline"}
    client = client_for(kubeconfig, retry=RetryPolicy(attempts=2, base_delay=0.01))
    seeded_kube.fail_next(2, 503, path_contains="/configmaps/", message="etcd leader changed")
    with pytest.raises(BaselineAccessError) as info:
        check_drift(client, build_policy({}), baseline_source="configmap", baseline_configmap=where)
    assert "cannot read the baseline in ConfigMap default/nodewatch-baseline" in str(info.value)
    assert "503" in str(info.value) and info.value.status == 503
    assert not [r for r in seeded_kube.requests if r[1] == "/api/v1/nodes"], "nodes were listed anyway"

    seeded_kube.stop()
    with pytest.raises(BaselineAccessError) as info:
        check_drift(client, build_policy({}), baseline_source="configmap", baseline_configmap=where)
    assert "cannot read the baseline in ConfigMap default/nodewatch-baseline" in str(info.value)
    assert "connection refused" in str(info.value)


@pytest.mark.slow
def test_5000_node_baseline_is_split_across_configmaps(fake_kube, kubeconfig):
    fake_kube.add_nodes(make_cluster(5000, seed=11, images_per_node=(50, 50)))
    where = {"namespace": "default", "name": "nodewatch-baseline"}
    client = client_for(kubeconfig)
    started = time.monotonic()
    capture = check_drift(client, build_policy({"max_percent": 80}), baseline_source="configmap",
                          baseline_configmap=where, update_baseline="true")
    capture_seconds = time.monotonic() - started
    names = capture["baseline"]["configmaps"]
    assert capture["nodes_checked"] == 5000 and len(names) >= 2, names
    for name in names:
        data = configmap(fake_kube, name)["data"]
        assert bl.configmap_data_size(data) < 1024 * 1024
    assert max(len(v) for v in configmap(fake_kube, names[0])["data"].values()) < 1024 * 1024

    stored = bl.ConfigMapBaselineStore(client, "default", "nodewatch-baseline").read()
    assert len(stored["nodes"]) == 5000 and sum(bool(e.get("truncated")) for e in stored["nodes"].values()) > 4900
    assert stored["nodes"]["worker-a-17"]["image_count"] == 50

    grown = fake_kube.get("v1", "Node", "worker-a-17")
    fake_kube.patch_status("worker-a-17", {"images": grown["status"]["images"] + [NEW]})
    started = time.monotonic()
    check = check_drift(client, build_policy({"max_growth_bytes": "100Mi", "fail_on_new_images": True,
                                              "allow_new": ["registry.k8s.io/*"]}),
                        baseline_source="configmap", baseline_configmap=where)
    check_seconds = time.monotonic() - started
    assert check["nodes_checked"] == 5000 and check["baseline"]["nodes"] == 5000
    assert sorted(b["rule"] for b in check["breaches"]) == ["max_growth_bytes", "new_image"]
    assert check["breaching_nodes"] == ["worker-a-17"]
    # the notes stay short however many nodes are truncated
    assert len(check["notes"]) < 10 and any("the image list is truncated on" in n for n in check["notes"])
    assert capture_seconds < 60 and check_seconds < 60, (capture_seconds, check_seconds)
