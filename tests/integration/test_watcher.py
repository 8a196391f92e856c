# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nodewatch-watcher against the fake API server.

The informer is tested in-process (exact handler calls through 410s, drops and resyncs); the
daemon as users run it: ``python -m ...watcher`` in a subprocess, alerts read from its stdout,
its webhook, the Events it creates, its /metrics, and its state across restarts and leaders.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import pytest
import yaml

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import KubeClient, RetryPolicy, node_path
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.informer import Informer
from fakekube import FakeKube
from unit.plugins.module_utils.watcher.helpers import Calls, Receiver, free_port, make_node, set_images

GI = 1024 ** 3
MODULE = "ansible_collections.nodewatch.k8s.plugins.module_utils.watcher"
# tests/conftest.py links the checkout under this root and exports it for subprocesses.
COLLECTIONS_ROOT = os.environ["ANSIBLE_COLLECTIONS_PATH"]


def wait_until(predicate, timeout=10.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for %s" % what)
        time.sleep(0.02)


@pytest.fixture
def kube():
    server = FakeKube(tls=True, bookmark_interval=0.5).start()
    server.add_nodes([make_node("node-a", [2 * GI, GI]), make_node("node-b", [GI]),
                      make_node("node-c", [3 * GI], labels={"pool": "gpu"})])
    yield server
    server.stop()


# -- the informer against a real server ---------------------------------------------------------

@pytest.fixture
def informer_for(kube, tmp_path):
    started = []

    def make(**kwargs):
        path = kube.write_kubeconfig(str(tmp_path / "kubeconfig"))
        client = KubeClient.from_options({"kubeconfig": path}, environ={},
                                         retry=RetryPolicy(attempts=4, base_delay=0.2))
        kwargs.setdefault("resync_period", 0)
        kwargs.setdefault("inactivity_timeout", 3)
        kwargs.setdefault("backoff_initial", 0.05)
        kwargs.setdefault("backoff_max", 0.2)
        informer = Informer(client, node_path(), page_size=2, **kwargs)
        calls = Calls()
        informer.add_handlers(
            lambda obj: calls.record("add", obj["metadata"]["name"]),
            lambda old, new: calls.record("resync" if old is new else "update", new["metadata"]["name"],
                                          len(new["status"].get("images") or ())),
            lambda obj: calls.record("delete", obj["metadata"]["name"]))
        informer.start()
        started.append(informer)
        return informer, calls

    yield make
    for informer in started:
        informer.stop()


def test_informer_lists_in_pages_then_delivers_watch_events(kube, informer_for):
    informer, calls = informer_for()
    calls.wait_for(lambda c: len(c) == 3)
    assert informer.wait_for_sync(5)
    kube.clear_requests()
    set_images(kube, "node-a", [GI, GI, GI])
    kube.add_nodes([make_node("node-d", [GI])])
    kube.delete("v1", "Node", "node-b")
    items = calls.wait_for(lambda c: len(c) == 6)
    assert items[3:] == [("update", "node-a", 3), ("add", "node-d"), ("delete", "node-b")]
    assert sorted(informer.store.keys()) == ["node-a", "node-c", "node-d"]
    assert informer.stats.lists == 1


def test_informer_uses_bookmarks_and_timeouts(kube, informer_for):
    informer, calls = informer_for(watch_timeout=1)
    calls.wait_for(lambda c: len(c) == 3)
    wait_until(lambda: informer.stats.events["BOOKMARK"] >= 1, what="a bookmark")
    wait_until(lambda: informer.stats.watch_restarts["timeout"] >= 1, timeout=5, what="a server-side timeout")
    watches = [r for r in kube.requests if r[2].get("watch")]
    assert all(r[2].get("allowWatchBookmarks") == "true" for r in watches)
    assert all(1 <= int(r[2]["timeoutSeconds"]) <= 2 for r in watches)
    # a normal end resumes from the last resourceVersion: never a relist
    assert informer.stats.lists == 1 and all(r[2].get("resourceVersion") for r in watches)


def test_resync_redelivers_every_node(kube, informer_for):
    informer, calls = informer_for(resync_period=0.2)
    items = calls.wait_for(lambda c: len([x for x in c if x[0] == "resync"]) >= 6)
    assert set(x[1] for x in items if x[0] == "resync") == {"node-a", "node-b", "node-c"}


def test_410_mid_watch_relists_without_missing_a_change_made_meanwhile(kube, informer_for):
    informer, calls = informer_for()
    calls.wait_for(lambda c: len(c) == 3)
    wait_until(kube.open_watches, what="the watch")
    # Keep the informer away while the cluster changes and its history is compacted.
    kube.fail_next(2, status=503, path_contains="/api/v1/nodes")
    kube.drop_watches()
    set_images(kube, "node-a", [5 * GI])
    kube.delete("v1", "Node", "node-b")
    kube.add_nodes([make_node("node-e", [GI])])
    kube.compact()
    items = calls.wait_for(lambda c: len(c) == 6)
    assert sorted(items[3:]) == [("add", "node-e"), ("delete", "node-b"), ("update", "node-a", 1)]
    assert informer.stats.watch_restarts["expired"] == 1 and informer.stats.relists == 1
    set_images(kube, "node-c", [GI, GI])  # and the watch goes on after the relist
    calls.wait_for(lambda c: ("update", "node-c", 2) in c)


def test_dropped_connection_reconnects_from_the_last_version(kube, informer_for):
    informer, calls = informer_for()
    calls.wait_for(lambda c: len(c) == 3)
    wait_until(kube.open_watches, what="the watch")
    kube.drop_watches()
    set_images(kube, "node-b", [GI, 2 * GI])
    calls.wait_for(lambda c: ("update", "node-b", 2) in c)
    assert informer.stats.watch_restarts["connection"] == 1 and informer.stats.watches == 2
    assert informer.stats.lists == 1


def test_a_silent_watch_is_declared_dead_and_resumed(tmp_path):
    """No event and no bookmark for inactivity_timeout: the socket read times out, the watch is
    replaced from the last resourceVersion (the server here sends bookmarks once a minute)."""
    with FakeKube(bookmark_interval=60.0) as server:
        server.add_nodes([make_node("node-a", [GI])])
        client = KubeClient.from_options({"kubeconfig": server.write_kubeconfig(str(tmp_path / "kc"))}, environ={})
        informer = Informer(client, node_path(), resync_period=0, inactivity_timeout=0.3, backoff_initial=0.01,
                            backoff_max=0.05)
        calls = Calls()
        informer.add_handlers(lambda obj: calls.record("add"),
                              lambda old, new: calls.record("update", len(new["status"]["images"])))
        informer.start()
        try:
            wait_until(lambda: informer.stats.watch_restarts["connection"] >= 2, what="silent watches replaced")
            set_images(server, "node-a", [GI, GI])
            calls.wait_for(lambda c: ("update", 2) in c)
            assert informer.stats.lists == 1
        finally:
            informer.stop()


# -- the daemon ----------------------------------------------------------------------------------

class Daemon:
    """``python -m ...watcher`` with a config file; stdout alerts and stderr logs collected."""

    def __init__(self, tmp_path, kube, name="d", config=None, args=()):
        self.name = name
        self.port = free_port()
        settings = {
            "kubeconfig": kube.write_kubeconfig(str(tmp_path / "kubeconfig")),
            "min_change_bytes": "1Gi",
            "resync_seconds": 30,
            "inactivity_timeout_seconds": 5,
            "shutdown_timeout_seconds": 3,
            "http": {"address": "127.0.0.1:%d" % self.port},
            "state": {"backend": "file", "path": str(tmp_path / "state.json"), "flush_seconds": 0.1},
            "thresholds": {"max_total_bytes": "6Gi"},
            "log_level": "debug",
        }
        for key, value in (config or {}).items():
            if isinstance(value, dict) and isinstance(settings.get(key), dict):
                settings[key] = dict(settings[key], **value)
            else:
                settings[key] = value
        self.config_path = tmp_path / ("%s.yml" % name)
        self.config_path.write_text(yaml.safe_dump(settings))
        env = dict(os.environ, PYTHONPATH=COLLECTIONS_ROOT)
        for key in list(env):
            if key.startswith(("K8S_AUTH_", "NODEWATCH_")):
                del env[key]
        self.alerts = []
        self.logs = []
        self.cond = threading.Condition()
        self.proc = subprocess.Popen([sys.executable, "-m", MODULE, "--config", str(self.config_path)] + list(args),
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
        self._readers = [threading.Thread(target=self._read, args=(self.proc.stdout, self.alerts)),
                         threading.Thread(target=self._read, args=(self.proc.stderr, self.logs))]
        for thread in self._readers:
            thread.daemon = True
            thread.start()

    def _read(self, stream, into):
        for line in stream:
            with self.cond:
                into.append(json.loads(line))
                self.cond.notify_all()

    def wait_alerts(self, count, timeout=10.0):
        deadline = time.monotonic() + timeout
        with self.cond:
            while len(self.alerts) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0 or self.proc.poll() is not None:
                    raise AssertionError("%s: %d of %d alerts: %r\nlogs: %s" % (
                        self.name, len(self.alerts), count, self.alerts, self.log_text()[-3000:]))
                self.cond.wait(min(remaining, 0.2))
            return list(self.alerts)

    def kinds(self, start=0):
        with self.cond:
            return [(a["kind"], a["node"]) for a in self.alerts[start:]]

    def log_text(self):
        with self.cond:
            return "\n".join(entry.get("message", "") for entry in self.logs)

    def get(self, path):
        try:
            with urllib.request.urlopen("http://127.0.0.1:%d%s" % (self.port, path), timeout=2) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()
        except (urllib.error.URLError, OSError):
            return None, ""

    def wait_ready(self, timeout=15.0):
        wait_until(lambda: self.get("/readyz")[0] == 200 or self.proc.poll() is not None, timeout,
                   "%s to be ready" % self.name)
        assert self.proc.poll() is None, self.log_text()

    def wait_log(self, text, timeout=10.0):
        wait_until(lambda: text in self.log_text(), timeout, "log line %r" % text)

    def stop(self, sig=signal.SIGTERM, timeout=10):
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        code = self.proc.wait(timeout)
        for thread in self._readers:
            thread.join(2)
        return code


@pytest.fixture
def daemons():
    started = []

    def start(*args, **kwargs):
        daemon = Daemon(*args, **kwargs)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.kill()
            daemon.proc.wait(5)


def node_events(kube):
    return [e for e in kube.list("v1", "Event", "default")
            if e["involvedObject"]["kind"] == "Node" and e["source"]["component"] == "nodewatch-watcher"]


def test_add_update_delete_events_raise_the_right_alerts(kube, daemons, tmp_path):
    daemon = daemons(tmp_path, kube)
    daemon.wait_ready()
    daemon.wait_log("first run: took the image storage of 3 nodes")
    assert daemon.alerts == []  # the first run takes the reference silently

    kube.add_nodes([make_node("node-d", [GI])])
    set_images(kube, "node-a", [2 * GI, GI, 2 * GI])         # +2 GiB: a change
    set_images(kube, "node-b", [GI + 100 * 1024 ** 2])       # +100 MiB: churn, no alert
    set_images(kube, "node-c", [3 * GI, 4 * GI])             # 7 GiB > 6 GiB: crossing (and a change)
    daemon.wait_alerts(4)
    set_images(kube, "node-c", [3 * GI, 4 * GI, 1024])        # still over: no second crossing
    set_images(kube, "node-c", [3 * GI])                     # back under: cleared (and a change)
    kube.delete("v1", "Node", "node-d")
    alerts = daemon.wait_alerts(7)
    time.sleep(0.3)  # nothing else may follow
    assert sorted(daemon.kinds()) == sorted([
        ("node_added", "node-d"), ("image_storage_changed", "node-a"),
        ("image_storage_changed", "node-c"), ("threshold_crossed", "node-c"),
        ("image_storage_changed", "node-c"), ("threshold_cleared", "node-c"), ("node_removed", "node-d")])
    change = [a for a in alerts if a["kind"] == "image_storage_changed" and a["node"] == "node-a"][0]
    assert change["old_bytes"] == 3 * GI and change["new_bytes"] == 5 * GI
    assert change["images_added"] == ["registry.example.com/node-a/app-2:v2@sha256:000000000000"]
    crossed = [a for a in alerts if a["kind"] == "threshold_crossed"][0]
    assert crossed["rule"] == "max_total_bytes" and crossed["observed"] == 7 * GI

    # Events on the Node, as the kubelet writes them: Warning for the crossing.
    events = wait_until(lambda: len(node_events(kube)) >= 4 and node_events(kube), what="Events")
    reasons = sorted((e["reason"], e["type"], e["involvedObject"]["name"]) for e in events)
    assert ("ImageStorageThreshold", "Warning", "node-c") in reasons
    assert ("ImageStorageThreshold", "Normal", "node-c") in reasons
    assert ("ImageStorageChanged", "Normal", "node-a") in reasons
    node_c_uid = kube.get("v1", "Node", "node-c")["metadata"]["uid"]
    assert all(e["involvedObject"]["uid"] == node_c_uid for e in events if e["involvedObject"]["name"] == "node-c")
    assert daemon.stop() == 0
    assert "stopped" in daemon.log_text()


def test_daemon_rides_out_dropped_watches_and_410_without_missing_changes(kube, daemons, tmp_path):
    daemon = daemons(tmp_path, kube)
    daemon.wait_ready()
    daemon.wait_log("first run")
    wait_until(kube.open_watches, what="the daemon's watch")
    kube.drop_watches()
    set_images(kube, "node-a", [2 * GI, GI, 2 * GI])
    daemon.wait_alerts(1)
    wait_until(kube.open_watches, what="the daemon's watch again")
    kube.fail_next(2, status=503, path_contains="/api/v1/nodes")
    kube.drop_watches()
    set_images(kube, "node-b", [3 * GI])  # made while the daemon is away...
    kube.compact()                        # ...and gone from the watch history: 410, relist
    daemon.wait_alerts(2)
    assert daemon.kinds() == [("image_storage_changed", "node-a"), ("image_storage_changed", "node-b")]
    metrics = daemon.get("/metrics")[1]
    assert 'nodewatch_watcher_watch_restarts_total{reason="expired"} 1.0' in metrics
    assert "nodewatch_watcher_relists_total 1.0" in metrics
    assert daemon.stop() == 0


def test_restart_alerts_once_for_what_changed_while_down_and_keeps_open_breaches(kube, daemons, tmp_path):
    first = daemons(tmp_path, kube, "first")
    first.wait_ready()
    first.wait_log("first run")
    set_images(kube, "node-c", [3 * GI, 4 * GI])
    first.wait_alerts(2)  # change + crossing on node-c
    assert first.stop() == 0
    state = json.loads((tmp_path / "state.json").read_text())
    assert set(state["breaches"]) == {"node-c"}

    set_images(kube, "node-a", [2 * GI, GI, 3 * GI])  # grew while nobody watched
    kube.delete("v1", "Node", "node-b")               # removed while down
    second = daemons(tmp_path, kube, "second")
    second.wait_ready()
    second.wait_alerts(2)
    time.sleep(0.5)
    assert sorted(second.kinds()) == [("image_storage_changed", "node-a"), ("node_removed", "node-b")]
    set_images(kube, "node-c", [GI])  # the breach opened before the restart clears now
    second.wait_alerts(4)
    assert sorted(second.kinds(2)) == [("image_storage_changed", "node-c"), ("threshold_cleared", "node-c")]
    assert second.stop() == 0


def test_webhook_down_then_up_gets_every_alert_exactly_once(kube, daemons, tmp_path):
    port = free_port()
    receiver = Receiver(port)
    daemon = daemons(tmp_path, kube, config={"sinks": {"webhook": {
        "url": receiver.url, "backoff_initial_seconds": 0.05, "backoff_max_seconds": 0.3, "timeout_seconds": 2}}})
    try:
        daemon.wait_ready()
        daemon.wait_log("first run")
        set_images(kube, "node-a", [2 * GI, GI, 2 * GI])
        set_images(kube, "node-b", [3 * GI])
        set_images(kube, "node-c", [8 * GI])
        alerts = daemon.wait_alerts(4)
        daemon.wait_log("retrying in")  # the receiver is down: connection refused, retried
        receiver.start()
        bodies = receiver.wait_for(4)
        wait_until(lambda: "nodewatch_watcher_alert_queue_length{sink=\"webhook\"} 0.0" in daemon.get("/metrics")[1],
                   what="an empty webhook queue")
        time.sleep(0.3)
        assert len(receiver.received) == 4
        assert [b["alert"]["id"] for b in bodies] == [a["id"] for a in alerts]
        assert all(b["text"].startswith("[nodewatch-watcher] ") for b in bodies)
        assert daemon.stop() == 0
    finally:
        receiver.stop()
    logs = daemon.log_text()
    assert "SECRETTOKEN" not in logs and "key=hidden" not in logs
    assert "http://127.0.0.1:%d/<redacted>" % port in logs


def test_undelivered_webhook_alerts_survive_a_restart(kube, daemons, tmp_path):
    port = free_port()
    receiver = Receiver(port)
    webhook = {"url": receiver.url, "backoff_initial_seconds": 0.05, "backoff_max_seconds": 0.2}
    first = daemons(tmp_path, kube, "first",
                    config={"shutdown_timeout_seconds": 0.5, "sinks": {"webhook": webhook}})
    first.wait_ready()
    first.wait_log("first run")
    set_images(kube, "node-b", [4 * GI])
    (alert,) = first.wait_alerts(1)
    assert first.stop() == 0
    assert "undelivered" in first.log_text()
    receiver.start()
    try:
        second = daemons(tmp_path, kube, "second", config={"sinks": {"webhook": webhook}})
        (body,) = receiver.wait_for(1)
        assert body["alert"]["id"] == alert["id"]
        second.wait_ready()
        time.sleep(0.3)
        assert second.alerts == [] and len(receiver.received) == 1
        assert second.stop() == 0
    finally:
        receiver.stop()


def test_metrics_endpoint_is_scraped_and_parsed(kube, daemons, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    daemon = daemons(tmp_path, kube, config={"thresholds": {"max_total_bytes": "2Gi"}})
    daemon.wait_ready()
    assert daemon.get("/healthz") == (200, "ok\n")
    daemon.wait_alerts(2)  # node-a (3 GiB) and node-c (3 GiB) are over 2 GiB
    status, text = daemon.get("/metrics")
    assert status == 200
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    assert samples[("nodewatch_node_image_bytes", (("node", "node-a"),))] == 3 * GI
    assert samples[("nodewatch_node_images", (("node", "node-a"),))] == 2
    assert samples[("nodewatch_node_image_storage_percent", (("node", "node-c"),))] == 3.0
    assert samples[("nodewatch_node_threshold_breaches", (("node", "node-c"),))] == 1
    assert samples[("nodewatch_node_threshold_breaches", (("node", "node-b"),))] == 0
    assert samples[("nodewatch_watcher_leader", ())] == 1
    assert samples[("nodewatch_watcher_synced", ())] == 1
    assert samples[("nodewatch_watcher_events_handled_total", (("kind", "add"),))] == 3
    assert samples[("nodewatch_watcher_alerts_total", (("kind", "threshold_crossed"),))] == 2
    assert ("nodewatch_watcher_watch_restarts_total", (("reason", "expired"),)) in samples
    assert ("nodewatch_watcher_alert_send_failures_total", (("sink", "event"),)) in samples
    assert not any(name.startswith("nodewatch_node") and "image" in dict(labels) for name, labels in samples)
    assert daemon.get("/nope")[0] == 404
    assert daemon.stop() == 0


def test_two_daemons_elect_one_leader_that_alerts_and_the_other_takes_over(kube, daemons, tmp_path):
    election = {"enabled": True, "lease_duration_seconds": 3, "renew_deadline_seconds": 2,
                "retry_period_seconds": 0.2, "namespace": "default"}
    common = {"leader_election": election, "sinks": {"events": {"enabled": False}},
              "state": {"backend": "configmap", "namespace": "default", "name": "watcher-state"}}
    one = daemons(tmp_path, kube, "one", config=dict(common, leader_election=dict(election, identity="one")))
    one.wait_ready()
    one.wait_log("became the leader")
    two = daemons(tmp_path, kube, "two", config=dict(common, leader_election=dict(election, identity="two")))
    two.wait_ready()
    lease = kube.get("coordination.k8s.io/v1", "Lease", "nodewatch-watcher", "default")
    assert lease["spec"]["holderIdentity"] == "one"

    set_images(kube, "node-a", [2 * GI, GI, 2 * GI])
    one.wait_alerts(1)
    time.sleep(0.5)
    assert two.alerts == []  # the follower keeps a warm cache but never alerts

    started = time.monotonic()
    assert one.stop() == 0  # releases the Lease
    two.wait_log("became the leader", timeout=5)
    takeover = time.monotonic() - started
    set_images(kube, "node-b", [4 * GI])
    two.wait_alerts(1)
    time.sleep(0.3)
    assert two.kinds() == [("image_storage_changed", "node-b")]  # node-a was alerted by one: not again
    lease = kube.get("coordination.k8s.io/v1", "Lease", "nodewatch-watcher", "default")
    assert lease["spec"]["holderIdentity"] == "two" and lease["spec"]["leaseTransitions"] >= 1
    assert takeover < 3, takeover

    # A leader that dies without releasing is replaced once its lease expires.
    three = daemons(tmp_path, kube, "three", config=dict(common, leader_election=dict(election, identity="three")))
    three.wait_ready()
    two.stop(sig=signal.SIGKILL)
    three.wait_log("became the leader", timeout=8)
    set_images(kube, "node-c", [9 * GI])
    three.wait_alerts(2)
    assert sorted(three.kinds()) == [("image_storage_changed", "node-c"), ("threshold_crossed", "node-c")]
    assert three.stop() == 0


def test_once_runs_one_pass_and_exits(kube, tmp_path):
    kubeconfig = kube.write_kubeconfig(str(tmp_path / "kubeconfig"))
    env = dict(os.environ, PYTHONPATH=COLLECTIONS_ROOT)
    command = [sys.executable, "-m", MODULE, "--once", "--kubeconfig", kubeconfig, "--no-events",
               "--state-file", str(tmp_path / "state.json"), "--label-selector", "pool=gpu",
               "--policy-file", str(tmp_path / "policy.yml")]
    (tmp_path / "policy.yml").write_text(yaml.safe_dump({"thresholds": {"max_total_bytes": "2Gi"}}))
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    alerts = [json.loads(line) for line in proc.stdout.splitlines()]
    assert [(a["kind"], a["node"]) for a in alerts] == [("threshold_crossed", "node-c")]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and proc.stdout == ""  # already alerted: the state remembers


def test_invalid_config_exits_2_before_anything_starts(kube, tmp_path):
    kube.clear_requests()
    env = dict(os.environ, PYTHONPATH=COLLECTIONS_ROOT)
    config = tmp_path / "bad.yml"
    config.write_text(yaml.safe_dump({"kubeconfig": kube.write_kubeconfig(str(tmp_path / "kc")),
                                      "thresholds": {"max_percent": "180%"}}))
    proc = subprocess.run([sys.executable, "-m", MODULE, "--config", str(config)], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2
    assert "thresholds.max_percent" in proc.stderr
    assert kube.requests == []


def test_metrics_say_when_the_baseline_cannot_be_read(kube, daemons, tmp_path):
    from prometheus_client.parser import text_string_to_metric_families

    damaged = tmp_path / "baseline.json"
    damaged.write_text('{"format": "nodewatch.k8s/baseline", "version": 1, "nodes": ')
    daemon = daemons(tmp_path, kube, config={"baseline": {"file": str(damaged)},
                                             "thresholds": {"max_growth_bytes": "1Gi"}})
    daemon.wait_ready()
    status, text = daemon.get("/metrics")
    assert status == 200
    samples = dict((sample.name, sample.value) for family in text_string_to_metric_families(text)
                   for sample in family.samples if sample.name.startswith("nodewatch_watcher_baseline"))
    assert samples["nodewatch_watcher_baseline_ok"] == 0
    assert samples["nodewatch_watcher_baseline_read_failures_total"] >= 1
    assert daemon.stop() == 0
