# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The informer under the fake API server's faults: resets mid-body, stalled watches, a server
restart that loses its watch cache, nodes re-created under the same name, expired continue
tokens and random fault plans.

Every handler call goes into a ``Mirror`` that refuses impossible sequences (an add for a node
it holds, an update or delete for one it does not, a delete of another uid); each test ends
with the mirror equal to the server's nodes - nothing missed, nothing twice, nothing stale.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import threading
import time

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import KubeError
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import KubeClient, RetryPolicy, node_path
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.informer import Informer, Store
from fakekube import FakeKube, make_cluster
from fakekube.faults import FaultPlan

GI = 1 << 30


class Mirror:
    """What the handlers were told, per node name: (uid, resourceVersion, image count)."""

    def __init__(self):
        self.nodes = {}
        self.log = []
        self.errors = []
        self.cond = threading.Condition()

    @staticmethod
    def _facts(obj):
        md = obj["metadata"]
        return md["name"], md.get("uid"), md.get("resourceVersion"), len((obj.get("status") or {}).get("images") or ())

    def add(self, obj):
        name, uid, rv, count = self._facts(obj)
        with self.cond:
            if name in self.nodes:
                self.errors.append(("add of a node already known", name))
            self.nodes[name] = (uid, rv, count)
            self.log.append(("add", name, uid))
            self.cond.notify_all()

    def update(self, old, new):
        name, uid, rv, count = self._facts(new)
        with self.cond:
            known = self.nodes.get(name)
            if known is None or known[0] != uid:
                self.errors.append(("update of an unknown node or uid", name))
            self.nodes[name] = (uid, rv, count)
            if old is not new:
                self.log.append(("update", name, uid))
            self.cond.notify_all()

    def delete(self, obj):
        name, uid, dummy, dummy = self._facts(obj)
        with self.cond:
            known = self.nodes.pop(name, None)
            if known is None or known[0] != uid:
                self.errors.append(("delete of an unknown node or uid", name))
            self.log.append(("delete", name, uid))
            self.cond.notify_all()

    def since(self, mark):
        with self.cond:
            return list(self.log[mark:])

    def mark(self):
        with self.cond:
            return len(self.log)

    def wait_equal(self, kube, timeout=15.0):
        """Until the mirror holds exactly the server's nodes (uid and resourceVersion)."""
        deadline = time.monotonic() + timeout
        while True:
            want = dict((n["metadata"]["name"], (n["metadata"]["uid"], n["metadata"]["resourceVersion"],
                                                 len(n["status"].get("images") or ())))
                        for n in kube.list("v1", "Node"))
            with self.cond:
                if self.nodes == want:
                    assert self.errors == []
                    return
                remaining = deadline - time.monotonic()
                assert remaining > 0, "the informer never caught up:\nmissing/stale %r\nextra %r" % (
                    sorted(set(want.items()) - set(self.nodes.items())),
                    sorted(set(self.nodes.items()) - set(want.items())))
                self.cond.wait(min(remaining, 0.1))


def images(count, size=GI):
    return [{"names": ["registry.example.com/app-%d@sha256:%064x" % (i, i + 1)], "sizeBytes": size}
            for i in range(count)]


def set_images(kube, name, count):
    kube.patch_status(name, {"images": images(count)})


def wait_until(predicate, timeout=10.0, what="the condition"):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for %s" % what
        time.sleep(0.01)


@pytest.fixture
def kube():
    server = FakeKube(tls=True, bookmark_interval=0.5).start()
    server.add_nodes(make_cluster(8, seed=2))
    yield server
    server.stop()


@pytest.fixture
def start(kube, tmp_path):
    started = []

    def make(**kwargs):
        client = KubeClient.from_options({"kubeconfig": kube.write_kubeconfig(str(tmp_path / "kubeconfig"))},
                                         environ={}, timeout=(2.0, 4.0),
                                         retry=RetryPolicy(attempts=4, base_delay=0.05, max_delay=0.2,
                                                           max_retry_after=1.5))
        kwargs.setdefault("resync_period", 0)
        kwargs.setdefault("inactivity_timeout", 2.0)
        kwargs.setdefault("backoff_initial", 0.05)
        kwargs.setdefault("backoff_max", 0.3)
        informer = Informer(client, node_path(), page_size=3, **kwargs)
        mirror = Mirror()
        informer.add_handlers(mirror.add, mirror.update, mirror.delete)
        informer.start()
        started.append(informer)
        assert informer.wait_for_sync(10)
        return informer, mirror

    yield make
    for informer in started:
        assert informer.stop(5)


def test_a_watch_reset_mid_stream_resumes_from_the_last_version(kube, start):
    informer, mirror = start()
    wait_until(kube.open_watches, what="the watch")
    kube.reset_next(1, watch=True, after_events=1)
    mark = mirror.mark()
    kube.drop_watches()                 # the next watch is the one that breaks after one event
    for count in (1, 2, 3):
        set_images(kube, "worker-a-1", count)
    mirror.wait_equal(kube)
    assert mirror.since(mark) == [("update", "worker-a-1", kube.get("v1", "Node", "worker-a-1")["metadata"]["uid"])] * 3
    assert informer.stats.lists == 1 and informer.stats.watch_restarts["connection"] >= 2


def test_a_stalled_watch_is_declared_dead_and_replaced_without_a_relist(kube, start):
    informer, mirror = start(inactivity_timeout=0.8)
    wait_until(kube.open_watches, what="the watch")
    kube.slow_next(1, seconds=120, watch=True)   # longer than the wait below: no waiting it out
    kube.drop_watches()
    set_images(kube, "worker-b-1", 4)
    mirror.wait_equal(kube)
    assert informer.stats.lists == 1 and informer.stats.watch_restarts["connection"] >= 2


def test_an_error_answer_to_a_watch_cut_mid_body_is_retried(kube, start):
    informer, mirror = start()
    wait_until(kube.open_watches, what="the watch")
    kube.fail_next(1, status=500, watch=True)
    kube.reset_next(1, watch=True)        # the 500's own body breaks off
    kube.drop_watches()
    set_images(kube, "worker-a-3", 2)
    mirror.wait_equal(kube)
    assert informer.stats.lists == 1 and informer.alive() and informer.stats.handler_errors == 0


def test_list_pages_reset_mid_body_are_fetched_again_and_the_first_sync_is_whole(kube, start):
    kube.reset_next(2, path_contains="/api/v1/nodes", watch=False)
    informer, mirror = start()
    mirror.wait_equal(kube)
    assert sorted(e[1] for e in mirror.log) == sorted(n["metadata"]["name"] for n in kube.list("v1", "Node"))
    lists = [r for r in kube.requests if r[0] == "GET" and r[1] == "/api/v1/nodes" and not r[2].get("watch")]
    assert len(lists) == 3 + 2  # three pages of three, two of them sent twice
    assert informer.stats.lists == 1


def test_a_list_page_stalled_beyond_the_read_timeout_is_asked_again(kube, start):
    kube.slow_next(1, seconds=120, path_contains="/api/v1/nodes", watch=False)   # longer than any wait here
    informer, mirror = start()
    mirror.wait_equal(kube)
    lists = [r for r in kube.requests if r[1] == "/api/v1/nodes" and not r[2].get("watch")]
    assert len(lists) == 3 + 1 and informer.stats.lists == 1


def test_a_restart_with_changes_while_down_relists_and_delivers_exactly_the_difference(kube, start):
    informer, mirror = start()
    wait_until(kube.open_watches, what="the watch")
    old_c = kube.get("v1", "Node", "worker-a-2")["metadata"]["uid"]
    mark = mirror.mark()
    kube.crash()
    set_images(kube, "worker-a-1", 7)
    kube.delete("v1", "Node", "worker-b-1")
    kube.add_nodes(make_cluster(1, seed=9, name_prefix="late-"))
    new_c = kube.recreate_node("worker-a-2")["metadata"]["uid"]
    time.sleep(0.3)                      # connection refused meanwhile
    kube.recover(starting_seconds=1.0)   # the watch cache is new: the old version answers 410
    mirror.wait_equal(kube)
    late = [n["metadata"] for n in kube.list("v1", "Node") if n["metadata"]["name"].startswith("late-")][0]
    assert sorted(mirror.since(mark)) == sorted([
        ("update", "worker-a-1", kube.get("v1", "Node", "worker-a-1")["metadata"]["uid"]),
        ("delete", "worker-b-1", mirror.since(mark)[[e[1] for e in mirror.since(mark)].index("worker-b-1")][2]),
        ("add", late["name"], late["uid"]),
        ("delete", "worker-a-2", old_c), ("add", "worker-a-2", new_c)])
    assert informer.stats.relists == 1 and informer.stats.watch_restarts["expired"] == 1
    log = mirror.since(mark)
    assert log.index(("delete", "worker-a-2", old_c)) < log.index(("add", "worker-a-2", new_c))
    set_images(kube, "worker-a-1", 1)     # and the new watch goes on
    mirror.wait_equal(kube)


def test_a_node_recreated_while_watched_is_removed_then_added(kube, start):
    informer, mirror = start()
    old = kube.get("v1", "Node", "cp-1")["metadata"]["uid"]
    mark = mirror.mark()
    new = kube.recreate_node("cp-1")["metadata"]["uid"]
    mirror.wait_equal(kube)
    assert mirror.since(mark) == [("delete", "cp-1", old), ("add", "cp-1", new)]


def test_the_store_treats_a_new_uid_under_a_known_name_as_delete_plus_add():
    store = Store()
    a1 = {"metadata": {"name": "a", "uid": "1", "resourceVersion": "5"}}
    b1 = {"metadata": {"name": "b", "uid": "2", "resourceVersion": "6"}}
    store._replace({"a": a1, "b": b1})
    a2 = {"metadata": {"name": "a", "uid": "3", "resourceVersion": "9"}}
    b2 = {"metadata": {"name": "b", "uid": "2", "resourceVersion": "8"}}
    added, updated, deleted = store._replace({"a": a2, "b": b2})
    assert added == [a2] and deleted == [a1] and updated == [(b1, b2)]
    # objects without a uid (scripted tests, old servers) are compared by resourceVersion alone
    store._replace({"c": {"metadata": {"name": "c", "resourceVersion": "1"}}})
    added, updated, deleted = store._replace({"c": {"metadata": {"name": "c", "uid": "x", "resourceVersion": "2"}}})
    assert (added, deleted, len(updated)) == ([], [], 1)


def test_a_list_restarted_after_expired_tokens_yields_each_node_once(kube, tmp_path):
    client = KubeClient.from_options({"kubeconfig": kube.write_kubeconfig(str(tmp_path / "kc"))}, environ={})
    seen = []
    for item in client.iter_items(node_path(), limit=3):
        seen.append((item["metadata"]["name"], item["metadata"]["uid"]))
        if len(seen) == 3:
            # between two pages: one node of the first page is replaced and the snapshot expires
            kube.recreate_node(seen[0][0])
            kube.expire_continue_tokens()
    names = [name for name, dummy in seen]
    assert sorted(names) == sorted(n["metadata"]["name"] for n in kube.list("v1", "Node"))
    assert len(names) == len(set(names))


def test_random_faults_end_with_the_mirror_equal_to_the_server(kube, start, tmp_path):
    informer, mirror = start(watch_timeout=1)
    plan = FaultPlan(seed=2026, rates={"status_429": 0.08, "status_500": 0.08, "status_503": 0.05,
                                       "status_504": 0.03, "reset": 0.12, "slow": 0.05, "drop_watches": 0.05,
                                       "compact": 0.04, "expire_continue": 0.05, "restart": 0.03},
                     slow_seconds=2.5, restart_down_seconds=0.3, restart_starting_seconds=0.5)
    # A second client keeps requests flowing, so cluster-wide faults also strike mid-watch.
    poller = KubeClient.from_options({"kubeconfig": kube.write_kubeconfig(str(tmp_path / "poller"))}, environ={},
                                     timeout=(1.0, 3.0), retry=RetryPolicy(attempts=1))
    stop = threading.Event()

    def poll():
        while not stop.is_set():
            try:
                poller.get(node_path("cp-1"))
            except KubeError:
                pass
            stop.wait(0.03)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    kube.set_fault_plan(plan)
    rand = random.Random(7)
    deadline = time.monotonic() + 5.0
    extra = 0
    try:
        while time.monotonic() < deadline:
            names = [n["metadata"]["name"] for n in kube.list("v1", "Node")]
            action = rand.random()
            if action < 0.7:
                set_images(kube, rand.choice(names), rand.randint(0, 6))
            elif action < 0.8:
                extra += 1
                kube.add_nodes(make_cluster(1, seed=extra, name_prefix="extra-%d-" % extra))
            elif action < 0.9 and len(names) > 4:
                kube.delete("v1", "Node", rand.choice(names))
            else:
                kube.recreate_node(rand.choice(names))
            time.sleep(0.02)
    finally:
        kube.set_fault_plan(None)
        stop.set()
        thread.join(5)
    wait_until(lambda: kube.running and not kube.starting(), what="the server back")
    mirror.wait_equal(kube, timeout=20)
    counts = plan.counts()
    assert sum(counts.values()) >= 10 and sum(1 for v in counts.values() if v) >= 5, counts
    assert informer.alive() and informer.stats.handler_errors == 0 and mirror.errors == []
