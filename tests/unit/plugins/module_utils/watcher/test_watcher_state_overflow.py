# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A state that outgrows its ConfigMap (undelivered alerts piling up while the webhook is down)
is still saved: the oldest alerts that fit, and the nodes of the others as stored before, so a
leader that takes over after a crash alerts those nodes again instead of losing their alerts.

Found by the soak (tests/benchmarks/soak.py): during a 4-minute webhook outage at 5,000 nodes
the leader's saves failed ("more than a ConfigMap can hold") and every node's saved figures aged.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.configmaps import encode_text
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.state import (
    ConfigMapStateStore,
    StateError,
    WatcherState,
)
from unit.plugins.module_utils.watcher.helpers import MemoryApi

NODES = ["n%02d" % i for i in range(30)]


def records(total):
    return dict((name, {"total_bytes": total + i, "image_count": 5, "percent": None, "truncated": False, "top": []})
                for i, name in enumerate(NODES))


def change(name, i):
    # Random text: alerts compress badly, as real ones with their ids and figures do.
    return {"id": "a%03d" % i, "kind": "image_storage_changed", "node": name, "message": os.urandom(150).hex()}


def size_of(state):
    return len(encode_text(state.to_json("w"), compress=True, level=9)[1])


def test_an_overflowing_state_keeps_the_oldest_alerts_and_the_older_figures_of_the_others():
    before = WatcherState(records(1000), {"n01": {"max_total_bytes": {"since": "t0"}}}, [], synced=True)
    # Every node changed (new figures) and alerted; the webhook delivered none of it. n01's
    # breach cleared, n02 opened one.
    after = WatcherState(records(5000), {"n02": {"max_total_bytes": {"since": "t1"}}},
                         [change(name, i) for i, name in enumerate(NODES)], synced=True)
    budget = size_of(WatcherState(after.nodes, after.breaches, after.pending[:10], True))
    api = MemoryApi()
    store = ConfigMapStateStore(api, "ops", "state", max_bytes=budget)
    store.save(before, writer="w")
    store.save(after, writer="w")
    saved = ConfigMapStateStore(api, "ops", "state").load()
    kept = [alert["id"] for alert in saved.pending]
    assert 0 < len(kept) < len(NODES)
    assert kept == [alert["id"] for alert in after.pending[:len(kept)]]  # the oldest, in order
    alerted = set(alert["node"] for alert in saved.pending)
    for name in NODES:
        # Every node's change is either saved as undelivered or decided again after a crash.
        expected = after if name in alerted else before
        assert saved.nodes[name]["total_bytes"] == expected.nodes[name]["total_bytes"], name
        assert saved.breaches.get(name) == expected.breaches.get(name), name


def test_alerts_saved_before_are_never_left_out_and_a_later_save_builds_on_the_trimmed_one():
    api = MemoryApi()
    first = WatcherState(records(1000), {}, [change("n00", 0)], synced=True)
    budget = size_of(WatcherState(records(9000), {}, [change(n, i) for i, n in enumerate(NODES[:6])], True))
    store = ConfigMapStateStore(api, "ops", "state", max_bytes=budget)
    store.save(first, writer="w")
    second = WatcherState(records(5000), {}, first.pending + [change(n, i + 1) for i, n in enumerate(NODES[1:])], True)
    store.save(second, writer="w")
    saved = store.load()
    assert saved.pending[0]["id"] == "a000"
    assert saved.nodes["n00"]["total_bytes"] == 5000  # its alert is saved: its new figures are too
    left_out = [n for n in NODES[1:] if n not in set(a["node"] for a in saved.pending)]
    assert left_out and all(saved.nodes[n]["total_bytes"] == first.nodes[n]["total_bytes"] for n in left_out)
    # Delivery resumes: the queue empties and the whole state fits again.
    store.save(WatcherState(records(5000), {}, [], True), writer="w")
    assert store.load().nodes["n29"]["total_bytes"] == 5029


def test_with_nothing_stored_before_an_oversized_state_is_still_refused():
    state = WatcherState(records(1000), {}, [change(n, i) for i, n in enumerate(NODES)], True)
    store = ConfigMapStateStore(MemoryApi(), "ops", "state", max_bytes=size_of(WatcherState(records(1000))) + 10)
    with pytest.raises(StateError, match="use a state file"):
        store.save(state, writer="w")
