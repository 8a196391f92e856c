# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The event source ``nodewatch.k8s.node_images``: ``main(queue, args)`` under asyncio against
the fake API server, loaded the way ansible-rulebook loads it (``runpy.run_path``)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import contextlib
import io
import json
import logging
import os
import runpy
import subprocess
import sys
import threading
import time

import pytest
import yaml

from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher import daemon as watcher_daemon
from fakekube import FakeKube, Rule
from unit.plugins.module_utils.watcher.helpers import make_node, set_images

GI = 1024 ** 3
COLLECTION = os.path.join(os.environ["ANSIBLE_COLLECTIONS_PATH"], "ansible_collections", "nodewatch", "k8s")
SOURCE_PATH = os.path.join(COLLECTION, "extensions", "eda", "plugins", "event_source", "node_images.py")
SOURCE = runpy.run_path(SOURCE_PATH)
main = SOURCE["main"]
SourceError = SOURCE["NodeImagesSourceError"]


@pytest.fixture
def kube():
    server = FakeKube(tls=True, bookmark_interval=0.5).start()
    server.add_nodes([make_node("node-a", [2 * GI, GI]), make_node("node-b", [6 * GI]),
                      make_node("node-c", [GI], labels={"pool": "gpu"})])
    yield server
    server.stop()


@pytest.fixture
def kubeconfig(kube, tmp_path):
    return kube.write_kubeconfig(str(tmp_path / "kubeconfig"))


def source_threads():
    return sorted(t.name for t in threading.enumerate()
                  if t.name.startswith(("informer-", "node_images", "sink ")))


def wait_until(predicate, what, timeout=10.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for %s" % what
        time.sleep(0.02)


def run(scenario, timeout=30):
    """Run ``scenario()`` on a fresh event loop; fail (not hang) after ``timeout``."""
    async def bounded():
        return await asyncio.wait_for(scenario(), timeout)
    return asyncio.run(bounded())


async def next_event(queue, timeout=10):
    try:
        return await asyncio.wait_for(queue.get(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError("no event within %ss" % timeout)


async def cancel(task):
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    assert task.cancelled()


# -- events -------------------------------------------------------------------------------------

def test_alerts_become_events_carrying_the_daemons_alert(kube, kubeconfig, tmp_path):
    args = {"kubeconfig": kubeconfig, "thresholds": {"max_total_bytes": "5Gi"}, "min_change_bytes": "1Gi"}

    async def scenario():
        queue = asyncio.Queue()
        task = asyncio.create_task(main(queue, args))
        try:
            first = await next_event(queue)
            set_images(kube, "node-a", [4 * GI, 3 * GI])
            grown = [await next_event(queue), await next_event(queue)]
            set_images(kube, "node-b", [GI])
            shrunk = [await next_event(queue), await next_event(queue)]
            kube.delete("v1", "Node", "node-c")
            removed = await next_event(queue)
            return first, grown, shrunk, removed
        finally:
            await cancel(task)

    first, grown, shrunk, removed = run(scenario)
    # Already over the limit at start: announced once (the other nodes become the reference).
    assert (first["kind"], first["node"], first["rule"], first["limit"]) == (
        "threshold_crossed", "node-b", "max_total_bytes", 5 * GI)
    assert sorted((e["kind"], e["node"]) for e in grown) == [("image_storage_changed", "node-a"),
                                                             ("threshold_crossed", "node-a")]
    change = [e for e in grown if e["kind"] == "image_storage_changed"][0]
    assert (change["old_bytes"], change["new_bytes"], change["delta_bytes"]) == (3 * GI, 7 * GI, 4 * GI)
    assert sorted((e["kind"], e["node"]) for e in shrunk) == [("image_storage_changed", "node-b"),
                                                              ("threshold_cleared", "node-b")]
    assert (removed["kind"], removed["node"]) == ("node_removed", "node-c")

    # The very alert the daemon prints: run it once over the same cluster and compare.
    set_images(kube, "node-b", [6 * GI])
    policy = tmp_path / "policy.yml"
    policy.write_text(yaml.safe_dump({"thresholds": {"max_total_bytes": "5Gi"}}))
    stdout = io.StringIO()
    code = watcher_daemon.main(["--once", "--kubeconfig", kubeconfig, "--no-events", "--policy-file", str(policy),
                                "--log-level", "error"], environ={}, stdout=stdout)
    assert code == 0
    printed = [json.loads(line) for line in stdout.getvalue().splitlines()]
    crossed_b = [a for a in printed if a["node"] == "node-b"][0]

    def comparable(alert):
        return dict((k, v) for k, v in alert.items() if k not in ("id", "time"))
    assert comparable(first) == comparable(crossed_b)


def test_alert_on_and_label_selector_narrow_the_events(kube, kubeconfig):
    args = {"kubeconfig": kubeconfig, "label_selector": "pool=gpu", "alert_on": ["threshold_crossed"],
            "rule_sets": [{"name": "gpu", "selector": "pool=gpu", "thresholds": {"max_image_count": 2}}],
            "min_change_bytes": 1}

    async def scenario():
        queue = asyncio.Queue()
        task = asyncio.create_task(main(queue, args))
        try:
            await asyncio.sleep(0)
            set_images(kube, "node-a", [GI] * 5)   # not selected
            set_images(kube, "node-c", [GI] * 3)   # changed and crossed
            event = await next_event(queue)
            await asyncio.sleep(1.0)  # leave time for anything else that would (wrongly) come
            return event, queue.qsize()
        finally:
            await cancel(task)

    event, more = run(scenario)
    assert (event["kind"], event["node"], event["rule"], event["rule_set"]) == ("threshold_crossed", "node-c",
                                                                                "max_image_count", "gpu")
    assert more == 0


def test_state_file_keeps_a_restarted_source_from_repeating_itself(kube, kubeconfig, tmp_path):
    args = {"kubeconfig": kubeconfig, "thresholds": {"max_total_bytes": "5Gi"},
            "state": {"path": str(tmp_path / "state.json"), "flush_seconds": 0.05}}

    async def first_run():
        queue = asyncio.Queue()
        task = asyncio.create_task(main(queue, args))
        try:
            return await next_event(queue)
        finally:
            await cancel(task)

    async def second_run():
        queue = asyncio.Queue()
        task = asyncio.create_task(main(queue, args))
        try:
            set_images(kube, "node-a", [6 * GI])
            return [await next_event(queue), await next_event(queue)]
        finally:
            await cancel(task)

    assert run(first_run)["node"] == "node-b"
    assert json.loads((tmp_path / "state.json").read_text())["breaches"]["node-b"]
    # node-b's open breach is remembered: only what happened since comes out.
    assert sorted((e["kind"], e["node"]) for e in run(second_run)) == [
        ("image_storage_changed", "node-a"), ("threshold_crossed", "node-a")]


# -- backpressure and stopping -------------------------------------------------------------------

def many_nodes_over_the_limit(kube, count):
    kube.add_nodes([make_node("big-%02d" % i, [6 * GI]) for i in range(count)])


def test_a_slow_rulebook_slows_the_watcher_and_loses_nothing(kube, kubeconfig, caplog):
    many_nodes_over_the_limit(kube, 8)
    args = {"kubeconfig": kubeconfig, "thresholds": {"max_total_bytes": "5Gi"}, "queue_size": 1}

    async def scenario():
        queue = asyncio.Queue(maxsize=1)  # a rulebook that takes one event at a time, slowly
        task = asyncio.create_task(main(queue, args))
        try:
            events = []
            while len(events) < 9:
                events.append(await next_event(queue))
                await asyncio.sleep(0.05)
            return events
        finally:
            await cancel(task)

    with caplog.at_level(logging.WARNING, logger="nodewatch"):
        events = run(scenario)
    assert sorted(e["node"] for e in events) == ["big-%02d" % i for i in range(8)] + ["node-b"]
    assert "wait for the rulebook; the watcher waits" in caplog.text


def test_cancel_while_the_watcher_waits_for_room_stops_every_thread(kube, kubeconfig, caplog):
    many_nodes_over_the_limit(kube, 8)
    args = {"kubeconfig": kubeconfig, "thresholds": {"max_total_bytes": "5Gi"}, "queue_size": 1}
    before = source_threads()

    async def scenario():
        queue = asyncio.Queue(maxsize=1)  # full after one event, and nobody reads it
        task = asyncio.create_task(main(queue, args))
        while not queue.full():
            await asyncio.sleep(0.02)
        while "wait for the rulebook" not in caplog.text:  # the engine's thread is now blocked
            await asyncio.sleep(0.02)
        await cancel(task)
        return queue.qsize()

    with caplog.at_level(logging.WARNING, logger="nodewatch"):
        left = run(scenario, timeout=20)
    assert left == 1
    assert source_threads() == before
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]


def test_cancel_stops_cleanly_and_closes_the_watch(kube, kubeconfig, caplog):
    before = source_threads()

    async def scenario():
        queue = asyncio.Queue()
        task = asyncio.create_task(main(queue, {"kubeconfig": kubeconfig, "thresholds": {"max_total_bytes": "5Gi"}}))
        await next_event(queue)
        while not kube.open_watches():
            await asyncio.sleep(0.02)
        running = source_threads()
        await cancel(task)
        return running

    with caplog.at_level(logging.INFO, logger="nodewatch"):
        running = run(scenario)
    assert "informer-watch nodes" in running and "informer-dispatch nodes" in running
    assert source_threads() == before
    wait_until(lambda: kube.open_watches() == 0, "the server to see the watch closed")  # at its next bookmark
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert "stopped" in [r.getMessage() for r in caplog.records]


def test_a_slow_api_server_does_not_block_the_event_loop(kube, kubeconfig):
    kube.slow_next(1, seconds=1.5, path_contains="/api/v1/nodes", stage="headers")

    async def scenario():
        queue = asyncio.Queue()
        task = asyncio.create_task(main(queue, {"kubeconfig": kubeconfig, "thresholds": {"max_total_bytes": "5Gi"}}))
        ticks = 0
        while queue.empty():
            await asyncio.sleep(0.01)
            ticks += 1
        await cancel(task)
        return ticks

    # The loop went on turning while the first request hung (100 ticks need at least a second).
    assert run(scenario) > 100


def test_cancel_during_start_leaves_no_thread(kube, kubeconfig):
    kube.slow_next(1, seconds=1.0, path_contains="/api/v1/nodes", stage="headers")
    before = source_threads()

    async def scenario():
        task = asyncio.create_task(main(asyncio.Queue(), {"kubeconfig": kubeconfig}))
        await asyncio.sleep(0.3)
        await cancel(task)

    run(scenario)
    assert source_threads() == before


# -- bad arguments and a cluster that says no -----------------------------------------------------

BAD_ARGS = [
    ({"threshold": {"max_percent": 80}}, "unknown argument 'threshold'; accepted arguments are "),
    ({"min_change_bytes": "lots"}, "min_change_bytes is not a size"),
    ({"thresholds": {"max_percent": "180%"}}, "thresholds.max_percent"),
    ({"thresholds": {"max_procent": 80}}, "thresholds: unknown key 'max_procent'"),
    ({"rule_sets": [{"name": "gpu", "thresholds": {}}]}, "rule_sets[0] (gpu).selector is required"),
    ({"alert_on": ["threshold_crosed"]}, "alert_on has unknown alert kind(s) 'threshold_crosed'"),
    ({"label_selector": "pool in (a"}, "label_selector is invalid"),
    ({"resync_seconds": -1}, "resync_seconds must be at least 0"),
    ({"policy_file": "/nonexistent/policy.yml"}, "policy_file /nonexistent/policy.yml"),
    ({"policy_file": "p.yml", "thresholds": {"max_percent": 80}}, "policy_file and thresholds/rule_sets are exclusive"),
    ({"state": {"backend": "file"}}, "state.path is required with state.backend: file"),
    ({"state": {"backend": "etcd"}}, "state.backend must be one of none, file, configmap"),
    ({"baseline": {"configmap": "just-a-name"}}, "baseline.configmap must be NAMESPACE/NAME"),
    ({"validate_certs": "maybe"}, "validate_certs must be true or false"),
    ({"host": 8443}, "host must be a string, got int"),
    ({"impersonate_groups": [1, 2]}, "impersonate_groups must be a list of group names"),
    ({"queue_size": 0}, "queue_size must be a whole number from 1 to 1000000, got 0"),
    ({"kubeconfig": "/nonexistent/kubeconfig"}, "kubeconfig file /nonexistent/kubeconfig does not exist"),
]


@pytest.mark.parametrize("args, sentence", BAD_ARGS, ids=[next(iter(a)) + "-" + str(i) for i, (a, s) in enumerate(BAD_ARGS)])
def test_bad_arguments_fail_at_start_with_a_sentence_naming_them(args, sentence, kube):
    kube.clear_requests()
    before = source_threads()
    with pytest.raises(SourceError) as caught:
        run(lambda: main(asyncio.Queue(), args))
    message = str(caught.value)
    assert message.startswith("nodewatch.k8s.node_images: ")
    assert sentence in message
    assert "Traceback" not in message
    assert source_threads() == before
    assert kube.requests == []


def test_a_secret_in_a_bad_argument_is_never_shown():
    with pytest.raises(SourceError) as caught:
        run(lambda: main(asyncio.Queue(), {"host": "https://127.0.0.1:1", "api_key": 1234567890}))
    assert "api_key must be a string" in str(caught.value)
    assert "1234567890" not in str(caught.value)


def test_credentials_the_cluster_refuses_fail_at_start(kube, tmp_path, caplog):
    kube.add_token("events-only", Rule(user="ci-events", allow=[("create", "events")]))
    path = kube.write_kubeconfig(str(tmp_path / "kc"), token="events-only")
    with caplog.at_level(logging.DEBUG, logger="nodewatch"):
        with pytest.raises(SourceError) as caught:
            run(lambda: main(asyncio.Queue(), {"kubeconfig": path}))
    message = str(caught.value)
    assert message.startswith("nodewatch.k8s.node_images: cannot watch nodes: ")
    assert "forbidden" in message.lower() and "ci-events" in message
    kube.add_token("bad", Rule(user="x", allow=[]))
    with pytest.raises(SourceError) as caught:
        run(lambda: main(asyncio.Queue(), {"host": kube.url, "api_key": "wrong-token-0123", "validate_certs": False}))
    assert "401" in str(caught.value) or "unauthorized" in str(caught.value).lower()
    assert "wrong-token-0123" not in str(caught.value) + caplog.text


def test_an_unreachable_cluster_fails_at_start_with_a_sentence(tmp_path):
    with FakeKube() as server:
        path = server.write_kubeconfig(str(tmp_path / "kc"))
    with pytest.raises(SourceError) as caught:
        run(lambda: main(asyncio.Queue(), {"kubeconfig": path, "request_timeout_seconds": 2}))
    assert str(caught.value).startswith("nodewatch.k8s.node_images: cannot watch nodes: ")
    assert "127.0.0.1" in str(caught.value)


# -- loading -------------------------------------------------------------------------------------

def test_runs_from_an_installed_collection_tree_with_nothing_on_the_path(tmp_path):
    """ansible-rulebook runs the file with runpy and adds no collection path: the source finds
    the engine next to itself (here with -I: no PYTHONPATH, no user site, no current directory)."""
    script = ("import runpy, sys, asyncio; m = runpy.run_path(sys.argv[1]); "
              "print(asyncio.iscoroutinefunction(m['main'])); "
              "print(sys.modules[m['validate_settings'].__module__].__file__)")
    env = dict((k, v) for k, v in os.environ.items() if k not in ("PYTHONPATH", "ANSIBLE_COLLECTIONS_PATH"))
    proc = subprocess.run([sys.executable, "-I", "-c", script, SOURCE_PATH], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0] == "True"
    assert lines[1].startswith(COLLECTION + os.sep)
