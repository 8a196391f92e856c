# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every user path under the fake API server's faults.

Modules, the inventory and the daemon meet 429/5xx, connections reset mid-body, answers slower
than a client waits, a server restart that loses its watch cache, nodes re-created under the
same name, expired continue tokens and Leases written with skewed clocks. Each must either
retry and succeed within its bounded retries, or fail with a sentence - never a traceback,
never a hang, never a partial result presented as complete - and what it stores (baselines,
state) must read back as exactly the old or exactly the new version.

Module cases run as tasks of a few playbooks (``ignore_errors``; results read through the
capture callback), several playbooks and inventories at once: faults are aimed at one task each
by a label selector, a node name or a ConfigMap name no other task uses.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import copy
import http.server
import json
import os
import subprocess
import sys
import threading
import time

import pytest
import yaml

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import KubeError
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift import baseline as bl
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import node_image_facts
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.queries import node_images_report
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import KubeClient, RetryPolicy
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.leader import LeaderElector
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.state import (
    ConfigMapStateStore,
    StateError,
    WatcherState,
)
from fakekube import FakeKube, make_cluster
from fakekube.faults import FaultPlan
from harness import local_play, run_playbook
import test_watcher
from test_inventory import inventory, plain
from test_watcher import COLLECTIONS_ROOT, MODULE, make_node, set_images, wait_until

pytestmark = pytest.mark.integration

# The daemon runner of test_watcher.py, as a fixture of this module too.
daemons = test_watcher.daemons

GI = 1 << 30
TRACEBACK = "Traceback (most recent call last)"


# ----------------------------------------------------------------------------------------------
# Shared cluster and helpers
# ----------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def cluster():
    """12 realistic nodes, 5 ``writes=yes`` ones the write cases change, and 520 small
    ``bulk=yes`` ones (lists of more than one page), over TLS."""
    kube = FakeKube(tls=True).start()
    kube.add_nodes(make_cluster(12, seed=3))
    writes = make_cluster(5, seed=6)
    for index, node in enumerate(writes, 1):
        node["metadata"]["name"] = node["metadata"]["labels"]["kubernetes.io/hostname"] = "w-%d" % index
        node["metadata"]["labels"]["writes"] = "yes"
    kube.add_nodes(writes)
    bulk = make_cluster(520, seed=4, name_prefix="bulk-", images_per_node=(1, 2))
    for node in bulk:
        node["metadata"]["labels"]["bulk"] = "yes"
    kube.add_nodes(bulk)
    for namespace in ("apps",):
        kube.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    yield kube
    kube.stop()


def selectors(case):
    """A label selector matching the 12 realistic nodes, unique to one task (faults aim at it)."""
    return ["!bulk", "!writes", "!case-%s" % case]


def selector_query(case):
    return {"labelSelector": ",".join(selectors(case))}


def requests_for(kube, case):
    return [r for r in kube.requests if r[2].get("labelSelector") == ",".join(selectors(case))]


def no_traceback(*texts):
    for text in texts:
        assert TRACEBACK not in (text or ""), text


def failed_cleanly(run, task, *words):
    """The task failed with a message holding ``words`` and no traceback anywhere."""
    result = run.result(task)
    assert run.status(task) == "failed", (task, result)
    # ansible-core 2.19 fills "exception" with a placeholder when a module fails on purpose
    assert "module_stderr" not in result and TRACEBACK not in str(result.get("exception", "")), (task, result)
    for word in words:
        assert word in result["msg"], (task, word, result["msg"])
    return result


def client_for(kube, tmp_path, name="kc", **kwargs):
    path = kube.write_kubeconfig(str(tmp_path / name))
    return KubeClient.from_options({"kubeconfig": path}, environ={}, **kwargs)


def baseline_of(kube, names):
    facts = [node_image_facts(kube.get("v1", "Node", n), include_images=True) for n in names]
    return bl.build_baseline(facts, captured_at="2026-11-01T00:00:00Z")


def realistic_names(kube):
    return sorted(n["metadata"]["name"] for n in kube.list("v1", "Node")
                  if not set(n["metadata"]["labels"]) & {"bulk", "writes"})


@contextlib.contextmanager
def background_requests(kube, tmp_path):
    """Another client reading all along, so that a random plan's cluster-wide faults (dropped
    watches, compaction, restarts) also strike while the client under test is quiet."""
    poller = client_for(kube, tmp_path, name="poller", timeout=(1.0, 3.0), retry=RetryPolicy(attempts=1))
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            try:
                poller.get("/api/v1/nodes", {"limit": "1"})
            except KubeError:
                pass
            stop.wait(0.03)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join(5)


def in_parallel(jobs):
    """Run ``{name: callable}`` on threads; ``{name: result}``. ansible-playbook and
    ansible-inventory are subprocesses, and retries sleep: overlapping them keeps the suite short."""
    results = {}
    errors = []

    def run(name, job):
        try:
            results[name] = job()
        except BaseException as exc:  # re-raised below, in the test's thread
            errors.append(exc)

    threads = [threading.Thread(target=run, args=item) for item in jobs.items()]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(600)
    if errors:
        raise errors[0]
    return results


# ----------------------------------------------------------------------------------------------
# Modules and inventory: every case armed first, then three playbooks and two inventories at once
# ----------------------------------------------------------------------------------------------

INFO = "nodewatch.k8s.node_info"
IMAGES = "nodewatch.k8s.node_images_info"
NODE = "nodewatch.k8s.node"
DRIFT = "nodewatch.k8s.node_image_drift"
MANIFESTS = "nodewatch.k8s.manifests"


def reading_tasks(kube):
    kube.fail_next(1, status=429, retry_after=1, query=selector_query("throttled"))
    kube.fail_next(2, status=503, query=selector_query("throttled"))
    kube.reset_next(1, query=selector_query("reset"))
    kube.fail_next(10, status=500, query=selector_query("500"))
    kube.reset_next(10, how="fin", query=selector_query("broken"))
    # etcd compacts right after the first page: page two answers 410
    kube.after_next(kube.expire_continue_tokens, query={"labelSelector": "bulk=yes", "limit": "500"})
    kube.reset_next(1, query=selector_query("images-reset"))
    kube.reset_next(1, path_contains="/nodes/worker-a-1/proxy/stats/summary")
    kube.slow_next(1, seconds=60, stage="headers", path_contains="/nodes/worker-a-2/proxy/stats/summary")
    return [
        {"name": "throttled, then unavailable twice", INFO: {"label_selectors": selectors("throttled")}},
        {"name": "reset mid-body", INFO: {"label_selectors": selectors("reset")}},
        {"name": "always 500", INFO: {"label_selectors": selectors("500")}},
        {"name": "always broken", INFO: {"label_selectors": selectors("broken")}},
        {"name": "pages with an expired token", INFO: {"label_selectors": ["bulk=yes"]}},
        {"name": "images, reset", IMAGES: {"label_selectors": selectors("images-reset")}},
        {"name": "imagefs, kubelets failing", IMAGES: {"label_selectors": selectors("imagefs"), "imagefs": True,
                                                       "imagefs_timeout": 1}},
    ]


def writing_tasks(kube):
    kube.reset_next(1, method="PATCH", path_contains="/api/v1/nodes/w-1")
    kube.fail_next(1, status=503, method="PATCH", path_contains="/api/v1/nodes/w-2")
    kube.fail_next(1, status=409, reason="Conflict", method="PATCH", path_contains="/api/v1/nodes/w-2",
                   message='Operation cannot be fulfilled on nodes "w-2": the object has been modified')
    kube.reset_next(1, method="DELETE", path_contains="/api/v1/nodes/w-5")
    kube.reset_next(1, method="POST", path_contains="/api/v1/nodes")
    kube.reset_next(1, method="POST", path_contains="/namespaces/apps/configmaps")
    made = {"metadata": {"labels": {"writes": "yes"}}}
    settings = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings", "namespace": "apps"},
                "data": {"level": "info"}}
    return [
        {"name": "label, answer lost", NODE: {"name": "w-1", "labels": {"fault": "reset"}}},
        {"name": "label, answer lost, again", NODE: {"name": "w-1", "labels": {"fault": "reset"}}},
        {"name": "label, unavailable then conflict", NODE: {"name": "w-2", "labels": {"fault": "503-then-409"}}},
        {"name": "delete, answer lost", NODE: {"name": "w-5", "state": "absent"}},
        {"name": "create, answer lost", NODE: {"name": "w-made", "create": True, "definition": made}},
        {"name": "create, again", NODE: {"name": "w-made", "create": True, "definition": made}},
        {"name": "apply, answer lost", MANIFESTS: {"definitions": [settings]}},
        {"name": "apply, again", MANIFESTS: {"definitions": [settings]}},
    ]


REPLACEMENT_IMAGE = {"names": ["registry.example.com/replacement@sha256:%064x" % 99,
                               "registry.example.com/replacement:1"], "sizeBytes": 300 << 20}


def recreate_with_a_new_image(kube):
    """Replace the realistic node with the fewest images by a new machine of the same name that
    holds one image more; returns its name."""
    names = set(realistic_names(kube))
    nodes = [kube.get("v1", "Node", name) for name in names]
    node = min(nodes, key=lambda n: (len(n["status"]["images"]), n["metadata"]["name"]))
    node["status"]["images"].append(REPLACEMENT_IMAGE)
    kube.recreate_node(node["metadata"]["name"], node)
    return node["metadata"]["name"]


def drift_tasks(kube, directory, old):
    client = client_for(kube, directory)
    for name in ("bl-read", "bl-put", "bl-500"):
        bl.ConfigMapBaselineStore(client, "default", name).write(old)
    bl.ConfigMapBaselineStore(client, "default", "bl-recreated").write(baseline_of(kube, realistic_names(kube)))
    recreate_with_a_new_image(kube)
    for name in ("file-fail.json", "file-reset.json"):
        (directory / name).write_text(bl.dump_baseline(old) + "\n")
    kube.reset_next(1, method="GET", path_contains="/configmaps/bl-read")
    kube.reset_next(1, method="PUT", path_contains="/configmaps/bl-put")
    kube.fail_next(1, status=500, method="PUT", path_contains="/configmaps/bl-500")
    kube.reset_next(1, method="POST", path_contains="/namespaces/default/configmaps")
    kube.fail_next(10, status=500, query=selector_query("drift-fail"))
    kube.reset_next(1, query=selector_query("drift-reset"))

    def cm(name, case, update="true"):
        return {DRIFT: {"label_selectors": selectors(case), "baseline_source": "configmap",
                        "baseline_configmap": {"namespace": "default", "name": name}, "update_baseline": update}}

    def file(name, case):
        return {DRIFT: {"label_selectors": selectors(case), "baseline_source": "file",
                        "baseline_path": str(directory / name), "update_baseline": "true"}}

    return [
        dict(cm("bl-read", "cm-read", "false"), name="read, reset"),
        dict(cm("bl-put", "cm-put"), name="switch, answer lost"),
        dict(cm("bl-500", "cm-500"), name="switch, 500 first"),
        dict(cm("bl-new", "cm-new"), name="create, answer lost"),
        dict(cm("bl-new", "cm-new-again"), name="create, again"),
        dict(file("file-fail.json", "drift-fail"), name="file, list fails"),
        dict(file("file-reset.json", "drift-reset"), name="file, list reset once"),
        {"name": "a node re-created since the baseline",
         DRIFT: dict(cm("bl-recreated", "recreated", "false")[DRIFT], max_growth_bytes=0, fail_on_new_images=True)},
    ]


def inventory_sources(kube, base):
    kubeconfig = kube.write_kubeconfig(str(base / "inventory-kc"))
    kube.reset_next(1, query=selector_query("inv-reset"))
    kube.fail_next(10, status=500, query=selector_query("inv-500"))
    sources = {}
    for case in ("inv-reset", "inv-500"):
        directory = base / case
        directory.mkdir()
        config = directory / "cluster.nodes.yml"
        config.write_text(yaml.safe_dump({"plugin": "nodewatch.k8s.nodes", "kubeconfig": kubeconfig,
                                          "label_selectors": selectors(case)}))
        sources[case] = (directory, config)
    return sources


@pytest.fixture(scope="module")
def runs(cluster, tmp_path_factory):
    kube = cluster
    base = tmp_path_factory.mktemp("faults")
    for name in ("reading", "writing", "drift"):
        (base / name).mkdir()
    old = baseline_of(kube, realistic_names(kube)[:6])     # an older baseline: fewer nodes
    plays = {"reading": reading_tasks(kube), "writing": writing_tasks(kube),
             "drift": drift_tasks(kube, base / "drift", old)}
    recreated = [n["metadata"]["name"] for n in kube.list("v1", "Node")
                 if REPLACEMENT_IMAGE in n["status"].get("images", [])]
    strict = {"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"}
    jobs = {}
    for name, tasks in plays.items():
        for task in tasks:
            task["ignore_errors"] = True
        kubeconfig = kube.write_kubeconfig(str(base / name / "kc"))
        jobs[name] = (lambda name=name, tasks=tasks, kubeconfig=kubeconfig:
                      run_playbook(base / name, local_play(tasks, kubeconfig=kubeconfig)))
    for case, (directory, config) in inventory_sources(kube, base).items():
        jobs[case] = lambda directory=directory, config=config: inventory(directory, [config], "--list", env=strict)
    results = in_parallel(jobs)
    kube.clear_faults()   # the kubelet stall is never reached when its node is skipped: disarm
    results.update(base=base, old=old, recreated=recreated[0])
    return results


def test_reading_modules_retry_what_is_transient_and_fail_clearly_on_the_rest(cluster, runs, tmp_path):
    kube, run = cluster, runs["reading"]
    no_traceback(run.stdout, run.stderr)
    realistic = realistic_names(kube)
    for task, case, attempts in (("throttled, then unavailable twice", "throttled", 4),
                                 ("reset mid-body", "reset", 2)):
        assert run.status(task) == "ok", (task, run.result(task))
        assert sorted(n["name"] for n in run.result(task)["nodes"]) == realistic, task
        assert len(requests_for(kube, case)) == attempts, task
    # bounded: five attempts, then a sentence naming the status and the request
    failed_cleanly(run, "always 500", "HTTP 500 InternalError", "list nodes", "injected failure")
    assert len(requests_for(kube, "500")) == 5
    failed_cleanly(run, "always broken", "broke during GET /api/v1/nodes", "the answer ended after")
    assert len(requests_for(kube, "broken")) == 5
    # a list restarted after 410 is whole and has each node once
    paged = [n["name"] for n in run.result("pages with an expired token")["nodes"]]
    assert len(paged) == len(set(paged)) == 520
    bulk_lists = [r for r in kube.requests if r[2].get("labelSelector") == "bulk=yes"]
    assert len(bulk_lists) == 4  # page 1, page 2 (410), page 1 again, page 2
    expected = node_images_report(client_for(kube, tmp_path), label_selectors=selectors("images-reset"))
    assert run.result("images, reset")["cluster"] == expected["cluster"]
    # one kubelet reset, one too slow: both said per node, the rest measured, nothing invented
    measured = dict((n["name"], n) for n in run.result("imagefs, kubelets failing")["nodes"])
    assert "broke" in measured["worker-a-1"]["imagefs_error"] and "imagefs" not in measured["worker-a-1"]
    assert "did not answer within 1 seconds" in measured["worker-a-2"]["imagefs_error"]
    assert all("imagefs" in n for name, n in measured.items() if name not in ("worker-a-1", "worker-a-2"))


def test_writing_modules_under_lost_answers_conflicts_and_throttling(cluster, runs):
    kube, run = cluster, runs["writing"]
    no_traceback(run.stdout, run.stderr)
    # A PATCH whose answer was lost is not sent blindly again: the node is read again, found as
    # wanted, and the task says the change was applied (with a warning saying how it knows)...
    lost = run.result("label, answer lost")
    assert run.status("label, answer lost") == "ok" and lost["changed"] is True, lost
    assert any("answer to the change of node w-1 was lost" in w for w in lost.get("warnings", [])), lost
    assert len([r for r in kube.requests if r[:2] == ("PATCH", "/api/v1/nodes/w-1")]) == 1
    assert kube.get("v1", "Node", "w-1")["metadata"]["labels"]["fault"] == "reset"
    # ...and running it again finds the work done.
    again = run.result("label, answer lost, again")
    assert run.status("label, answer lost, again") == "ok" and again["changed"] is False
    # 503: sent again; then 409: the node read again and the change planned again
    task = "label, unavailable then conflict"
    assert run.status(task) == "ok" and run.result(task)["changed"] is True, run.result(task)
    assert kube.get("v1", "Node", "w-2")["metadata"]["labels"]["fault"] == "503-then-409"
    patches = [r for r in kube.requests if r[:2] == ("PATCH", "/api/v1/nodes/w-2")]
    reads = [r for r in kube.requests if r[:2] == ("GET", "/api/v1/nodes/w-2")]
    assert len(patches) == 3 and len(reads) == 2
    # DELETE is repeated (idempotent); the repeat's 404 means done
    assert run.status("delete, answer lost") == "ok" and run.result("delete, answer lost")["changed"] is True
    assert kube.get("v1", "Node", "w-5") is None
    created = run.result("create, answer lost")
    assert run.status("create, answer lost") == "ok" and created["changed"] is True, created
    assert len([r for r in kube.requests if r[:2] == ("POST", "/api/v1/nodes")]) == 1
    assert kube.get("v1", "Node", "w-made")["metadata"]["labels"]["writes"] == "yes"
    assert run.status("create, again") == "ok" and run.result("create, again")["changed"] is False
    applied = run.result("apply, answer lost")
    assert run.status("apply, answer lost") == "ok" and applied["changed"] is True, applied
    (entry,) = [r for r in applied["results"] if r["kind"] == "ConfigMap"]
    assert entry["action"] == "created" and "answer to the write was lost" in entry["note"]
    assert kube.get("v1", "ConfigMap", "settings", "apps")["data"] == {"level": "info"}
    assert run.status("apply, again") == "ok" and run.result("apply, again")["changed"] is False


def test_drift_baselines_are_old_or_new_never_partial(cluster, runs, tmp_path):
    kube, run, old, directory = cluster, runs["drift"], runs["old"], runs["base"] / "drift"
    no_traceback(run.stdout, run.stderr)
    client = client_for(kube, tmp_path)
    new_nodes = baseline_of(kube, realistic_names(kube))["nodes"]

    def stored(name):
        return bl.ConfigMapBaselineStore(client, "default", name).read()

    def is_new(doc):
        return doc["nodes"] == new_nodes and doc["captured_at"] != old["captured_at"]

    assert run.status("read, reset") == "ok" and run.result("read, reset")["baseline"]["found"] is True
    # The manifest PUT was stored and its answer lost: the ConfigMap is read again, holds the new
    # baseline, and the task says it was written.
    switched = run.result("switch, answer lost")
    assert run.status("switch, answer lost") == "ok" and switched["changed"] is True, switched
    assert switched["baseline"]["updated"] is True
    assert is_new(stored("bl-put"))
    assert run.status("switch, 500 first") == "ok" and run.result("switch, 500 first")["changed"] is True
    assert is_new(stored("bl-500")) and stored("bl-read") == old
    created = run.result("create, answer lost")
    assert run.status("create, answer lost") == "ok" and created["changed"] is True, created
    assert run.status("create, again") == "ok" and is_new(stored("bl-new"))
    failed_cleanly(run, "file, list fails", "HTTP 500")
    assert (directory / "file-fail.json").read_text() == bl.dump_baseline(old) + "\n"
    assert run.status("file, list reset once") == "ok"
    assert is_new(bl.FileBaselineStore(str(directory / "file-reset.json")).read())
    # A machine replaced under the same name is compared with the baseline of that name: its one
    # new image is growth and a new image, and it is neither added nor removed.
    recreated = run.result("a node re-created since the baseline")
    assert sorted((b["node"], b["rule"]) for b in recreated["breaches"]) == [
        (runs["recreated"], "max_growth_bytes"), (runs["recreated"], "new_image")]
    assert recreated["nodes_added"] == [] and recreated["nodes_removed"] == []
    growth = [b for b in recreated["breaches"] if b["rule"] == "max_growth_bytes"][0]
    assert growth["observed"] == REPLACEMENT_IMAGE["sizeBytes"]


def test_inventory_retries_transient_faults_and_fails_with_a_sentence(cluster, runs):
    reset, failing = runs["inv-reset"], runs["inv-500"]
    assert reset.returncode == 0, reset.stderr
    assert sorted(plain(json.loads(reset.stdout))["_meta"]["hostvars"]) == realistic_names(cluster)
    assert failing.returncode != 0 and failing.stdout == ""
    text = " ".join(failing.stderr.split())
    assert "nodewatch.k8s.nodes inventory" in text and "HTTP 500 InternalError" in text
    no_traceback(reset.stderr, failing.stderr)


def test_split_baseline_writes_broken_at_every_step_read_back_whole(cluster, tmp_path):
    """A baseline over several ConfigMaps: a write cut at a part, at the switch or at the
    cleanup leaves a readable baseline that is exactly the old or exactly the new one."""
    kube = cluster
    client = client_for(kube, tmp_path, retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05))
    names = realistic_names(kube) + sorted(n["metadata"]["name"] for n in kube.list("v1", "Node"))[:40]
    store = bl.ConfigMapBaselineStore(client, "default", "split", max_bytes=4096)
    docs = [baseline_of(kube, names)]
    for step in range(1, 4):
        doc = copy.deepcopy(docs[0])
        doc["captured_at"] = "2026-11-0%dT00:00:00Z" % (step + 1)
        for entry in doc["nodes"].values():
            entry["images"]["registry.example.com/step-%d@sha256:%064x" % (step, step)] = step
            entry["total_bytes"] += step
            entry["image_count"] += 1
        docs.append(doc)
    assert len(store.write(docs[0])["configmaps"]) >= 3

    def attempt(doc, arm):
        arm()
        try:
            store.write(doc)
            return None
        except KubeError as exc:
            return str(exc)
        finally:
            kube.clear_faults()

    # a part's create loses its answer: the part is read again, found written, and the write
    # goes on to the switch
    assert attempt(docs[1], lambda: kube.reset_next(1, method="POST", path_contains="/configmaps")) is None
    assert store.read() == docs[1]
    # the switch (the manifest's PUT) loses its answer: read again, it holds the new one, whole
    assert attempt(docs[2], lambda: kube.reset_next(1, method="PUT", path_contains="/configmaps/split")) is None
    assert store.read() == docs[2]
    assert sorted(n["metadata"]["name"] for n in kube.list("v1", "ConfigMap", "default")
                  if n["metadata"]["name"].startswith("split")) == sorted(
        ["split"] + [store.part_name(store._generation(kube.get("v1", "ConfigMap", "split", "default")), i)
                     for i in range(1, len(bl.split_for_configmaps(docs[2], 4096)))])  # the old parts are gone
    # the cleanup's DELETE loses its answer: repeated, done
    assert attempt(docs[3], lambda: kube.reset_next(1, method="DELETE", path_contains="/configmaps/split-")) is None
    assert store.read() == docs[3]
    # random faults on every request: each read is one of the written documents or a sentence
    plan = FaultPlan(seed=11, rates={"reset": 0.15, "status_500": 0.1, "status_503": 0.05, "status_429": 0.05},
                     retry_after=0, path_contains="/configmaps")
    kube.set_fault_plan(plan)
    written = [bl.dump_baseline(d) for d in docs]
    outcomes = {"read": 0, "read_failed": 0, "written": 0, "write_failed": 0}
    try:
        for round_ in range(12):
            try:
                store.write(docs[round_ % 4])
                outcomes["written"] += 1
            except KubeError:
                outcomes["write_failed"] += 1
            try:
                assert bl.dump_baseline(store.read()) in written
                outcomes["read"] += 1
            except KubeError:
                outcomes["read_failed"] += 1
    finally:
        kube.set_fault_plan(None)
    assert outcomes["read"] and outcomes["written"] and sum(plan.counts().values()) >= 10, (outcomes, plan.counts())
    assert bl.dump_baseline(store.read()) in written


def test_watcher_state_in_a_configmap_is_old_or_new_under_faults(cluster, tmp_path):
    """The daemon's state ConfigMap written through lost answers and random faults: every load
    is exactly one of the saved states, and a failed save is retried by the next one."""
    kube = cluster
    client = client_for(kube, tmp_path, retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.05))
    store = ConfigMapStateStore(client, "default", "state-under-faults")

    def state(step):
        nodes = {}
        for i in range(5):
            nodes["node-%d" % i] = {"total_bytes": step * GI + i, "image_count": step, "percent": None,
                                    "truncated": False, "top": []}
        return WatcherState(nodes=nodes, synced=True)

    def key(loaded):
        return json.dumps(loaded.nodes, sort_keys=True)

    saved = [state(step) for step in range(12)]
    store.save(saved[0], writer="test")
    kube.reset_next(1, method="PUT", path_contains="/configmaps/state-under-faults")
    store.save(saved[1], writer="test")            # stored, its answer lost: read again, found saved
    assert key(store.load()) == key(saved[1])
    store.save(saved[2], writer="test")            # the next save goes over the current version
    assert key(store.load()) == key(saved[2])
    plan = FaultPlan(seed=3, rates={"reset": 0.2, "status_500": 0.1, "status_503": 0.1}, retry_after=0,
                     path_contains="/configmaps/state-under-faults")
    kube.set_fault_plan(plan)
    known = set(key(s) for s in saved)
    loads = 0
    try:
        for step in range(3, 12):
            try:
                store.save(saved[step], writer="test")
            except StateError:
                pass
            try:
                assert key(store.load()) in known
                loads += 1
            except StateError:
                pass
    finally:
        kube.set_fault_plan(None)
    store.save(saved[11], writer="test")
    assert loads and key(store.load()) == key(saved[11]) and sum(plan.counts().values()) >= 3, plan.counts()


def test_an_answer_that_is_not_json_is_a_sentence(tmp_path):
    """What a proxy or a load balancer in front of the API server may answer."""
    class Page(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = b"<html><body>502 Bad Gateway</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        client = KubeClient.from_options({"host": "http://127.0.0.1:%d" % server.server_address[1], "api_key": "x"},
                                         environ={})
        with pytest.raises(KubeError) as error:
            client.get("/api/v1/nodes")
    finally:
        server.shutdown()
        server.server_close()
    assert "is not JSON" in str(error.value) and "text/html" in str(error.value)


# ----------------------------------------------------------------------------------------------
# The daemon
# ----------------------------------------------------------------------------------------------

def alert_chains(alerts, initial):
    """Per node, the change alerts must chain: each starts where the previous one ended. A lost
    alert or a repeated one breaks the chain. Returns {node: last new_bytes}."""
    last = dict(initial)
    for alert in alerts:
        if alert["kind"] == "image_storage_changed":
            node = alert["node"]
            assert alert["old_bytes"] == last.get(node), ("broken chain", alert, last.get(node))
            last[node] = alert["new_bytes"]
        elif alert["kind"] == "node_added":
            assert alert["node"] not in last, ("added twice", alert)
            last[alert["node"]] = alert["new_bytes"]
        elif alert["kind"] == "node_removed":
            assert last.pop(alert["node"], None) == alert["old_bytes"], ("removed unknown", alert)
    return last


def totals(kube):
    return dict((n["metadata"]["name"], sum(i["sizeBytes"] for i in n["status"].get("images") or ()))
                for n in kube.list("v1", "Node"))


@pytest.fixture
def watched():
    server = FakeKube(tls=True, bookmark_interval=0.5).start()
    server.add_nodes([make_node("node-%s" % c, [GI]) for c in "abcdef"])
    yield server
    server.stop()


def test_the_daemon_rides_out_resets_stalls_restarts_recreations_and_random_faults(watched, daemons, tmp_path):
    kube = watched
    daemon = daemons(tmp_path, kube, config={"inactivity_timeout_seconds": 1.5, "request_timeout_seconds": 3,
                                             "watch_timeout_seconds": 2, "min_change_bytes": "1Gi",
                                             "thresholds": {}})
    daemon.wait_ready()
    daemon.wait_log("first run")
    initial = totals(kube)

    # re-created while watched: removed, then added (the documented alerts for both)
    kube.recreate_node("node-f")
    daemon.wait_alerts(2)
    assert daemon.kinds() == [("node_removed", "node-f"), ("node_added", "node-f")]

    # a watch reset after one event: both changes arrive, once each
    kube.reset_next(1, watch=True, after_events=1)
    kube.drop_watches()
    set_images(kube, "node-a", [GI, GI])
    set_images(kube, "node-b", [GI, GI])
    daemon.wait_alerts(4)

    # a watch that stalls past the inactivity timeout is replaced (the stall would outlast the wait)
    kube.slow_next(1, seconds=120, watch=True)
    kube.drop_watches()
    set_images(kube, "node-c", [GI, GI])
    daemon.wait_alerts(5, timeout=30)

    # the API server restarts; meanwhile a node grows, one goes, one comes, one is re-created
    kube.crash()
    set_images(kube, "node-d", [GI, GI, GI])
    kube.delete("v1", "Node", "node-e")
    kube.add_nodes([make_node("node-g", [2 * GI])])
    kube.recreate_node("node-a", make_node("node-a", [GI, GI, GI, GI]))
    time.sleep(1.0)
    kube.recover(starting_seconds=1.0)
    daemon.wait_alerts(10, timeout=60)
    kinds_after_restart = sorted(daemon.kinds(5))
    assert kinds_after_restart == sorted([("image_storage_changed", "node-d"), ("node_removed", "node-e"),
                                          ("node_added", "node-g"), ("node_removed", "node-a"),
                                          ("node_added", "node-a")]), kinds_after_restart
    wait_until(lambda: 'nodewatch_watcher_relists_total 1.0' in daemon.get("/metrics")[1], what="one relist")

    # random faults while images change
    plan = FaultPlan(seed=5, rates={"status_429": 0.05, "status_500": 0.05, "status_503": 0.05, "reset": 0.1,
                                    "slow": 0.03, "drop_watches": 0.05, "compact": 0.05, "expire_continue": 0.05,
                                    "restart": 0.03},
                     slow_seconds=2.0, restart_down_seconds=0.3, restart_starting_seconds=0.5)
    with background_requests(kube, tmp_path):
        kube.set_fault_plan(plan)
        try:
            for step in range(25):
                name = "node-%s" % "abcdg"[step % 5]
                set_images(kube, name, [GI] * (1 + (step * 7) % 5))
                time.sleep(0.15)
        finally:
            kube.set_fault_plan(None)
    wait_until(lambda: kube.running and not kube.starting(), what="the server back")
    final = totals(kube)

    def caught_up():
        with daemon.cond:
            alerts = list(daemon.alerts)
        try:
            return alert_chains(alerts, initial) == final
        except AssertionError:
            raise
    wait_until(caught_up, timeout=90, what="the daemon to alert every change")
    time.sleep(1.0)
    assert alert_chains(daemon.alerts, initial) == final  # and nothing after: no late duplicates
    assert sum(plan.counts().values()) >= 5, plan.counts()
    assert daemon.stop() == 0
    entries = list(daemon.logs)
    assert not [e for e in entries if "exception" in e], [e for e in entries if "exception" in e][:2]
    no_traceback(daemon.log_text())


def test_the_daemon_once_retries_then_exits_1_with_a_sentence(watched, tmp_path):
    kube = watched
    kubeconfig = kube.write_kubeconfig(str(tmp_path / "kubeconfig"))
    state = tmp_path / "state.json"
    env = dict(os.environ, PYTHONPATH=COLLECTIONS_ROOT)
    command = [sys.executable, "-m", MODULE, "--once", "--kubeconfig", kubeconfig, "--no-events",
               "--state-file", str(state), "--log-format", "text"]
    kube.reset_next(1, path_contains="/api/v1/nodes", watch=False)
    first = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert first.returncode == 0, first.stderr
    saved = state.read_bytes()
    kube.fail_next(10, status=500, path_contains="/api/v1/nodes")
    set_images(kube, "node-a", [5 * GI])
    second = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert second.returncode == 1 and second.stdout == ""
    assert "HTTP 500 InternalError" in second.stderr
    no_traceback(second.stderr)
    assert state.read_bytes() == saved   # the state is the old one, whole
    kube.clear_faults()


# ----------------------------------------------------------------------------------------------
# Leader election with skewed clocks
# ----------------------------------------------------------------------------------------------

LEASE = ("watcher-lease", "default")


@pytest.fixture
def electors(watched, tmp_path):
    made = []

    def make(identity, skew=0.0, **kwargs):
        client = client_for(watched, tmp_path, name="kc-" + identity,
                            retry=RetryPolicy(attempts=2, base_delay=0.01, max_delay=0.05), timeout=(1.0, 2.0))
        kwargs.setdefault("lease_duration", 1.0)
        kwargs.setdefault("renew_deadline", 0.6)
        kwargs.setdefault("retry_period", 0.1)
        elector = LeaderElector(client, LEASE[1], LEASE[0], identity, wall=lambda: time.time() + skew, **kwargs)
        made.append(elector)
        return elector

    yield make
    for elector in made:
        elector.stop(release=False, timeout=2)


def test_a_lease_renewed_an_hour_in_the_future_expires_by_the_followers_clock(watched, electors):
    watched.write_lease(*LEASE, holder="ghost", skew_seconds=3600, lease_duration_seconds=1)
    candidate = electors("candidate")
    assert not candidate.try_acquire_or_renew()   # held: the follower starts its own clock now
    # an expiry judged by the holder's renewTime would be an hour away; by ours, a second
    wait_until(candidate.try_acquire_or_renew, timeout=20, what="the takeover")
    spec = watched.get("coordination.k8s.io/v1", "Lease", *LEASE)["spec"]
    assert spec["holderIdentity"] == "candidate" and spec["leaseTransitions"] == 1


def test_a_holder_renewing_with_a_clock_an_hour_behind_keeps_its_lease(watched, electors):
    stop = threading.Event()

    def ghost():
        while not stop.is_set():
            watched.write_lease(*LEASE, holder="ghost", skew_seconds=-3600, lease_duration_seconds=1)
            stop.wait(0.2)

    thread = threading.Thread(target=ghost, daemon=True)
    thread.start()
    candidate = electors("candidate").start()
    time.sleep(2.5)
    assert not candidate.is_leader    # renewTime says "expired an hour ago"; the renewals say alive
    stop.set()
    thread.join(2)
    wait_until(lambda: candidate.is_leader, timeout=4, what="the takeover once the renewals stop")


def test_two_replicas_with_skewed_clocks_never_lead_together(watched, electors):
    ahead = electors("ahead", skew=3600).start()
    behind = electors("behind", skew=-3600).start()
    both = []
    deadline = time.monotonic() + 3.0
    while time.monotonic() < deadline:
        if ahead.is_leader and behind.is_leader:
            both.append(time.monotonic())
        time.sleep(0.005)
    assert both == [] and (ahead.is_leader != behind.is_leader)
    leader, follower = (ahead, behind) if ahead.is_leader else (behind, ahead)
    leader.stop(release=True)
    wait_until(lambda: follower.is_leader, timeout=3, what="the follower to take over")


def test_a_leader_that_finds_its_lease_taken_steps_down_at_once(watched, electors):
    lost = threading.Event()
    # a renew deadline of ten minutes: only seeing the new holder can end this leadership in time
    leader = electors("leader", lease_duration=900, renew_deadline=600, retry_period=0.1, on_stopped=lost.set).start()
    wait_until(lambda: leader.is_leader, what="the election")
    watched.write_lease(*LEASE, holder="intruder", skew_seconds=600, lease_duration_seconds=900)
    assert lost.wait(20) and not leader.is_leader
