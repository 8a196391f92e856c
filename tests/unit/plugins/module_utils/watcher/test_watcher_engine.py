# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The engine: activation (leader + state + synced), catch-up after a restart, events to alerts."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.rules import Policy
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.alerts import AlertSettings
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.engine import Engine, slim_node
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.sinks import Sinks, StdoutSink
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.state import WatcherState

GI = 1024 ** 3


def node(name, rv, sizes, labels=None, capacity="100Gi", uid=None):
    return {"metadata": {"name": name, "resourceVersion": str(rv), "uid": uid or "uid-" + name,
                         "labels": labels or {}, "managedFields": [{"manager": "kubelet"}]},
            "status": {"capacity": {"ephemeral-storage": capacity, "cpu": "4"},
                       "conditions": [{"type": "Ready", "status": "True"}],
                       "images": [{"names": ["registry.example.com/app-%d:1" % i], "sizeBytes": size}
                                  for i, size in enumerate(sizes)]}}


class Harness:
    def __init__(self, policy=None, **settings):
        settings.setdefault("min_change_bytes", GI)
        self.out = io.StringIO()
        self.engine = Engine(AlertSettings(**settings), Policy.from_dict(policy or {}),
                             Sinks([StdoutSink(self.out)]))

    def alerts(self):
        lines = self.out.getvalue().splitlines()
        self.out.seek(0)
        self.out.truncate()
        return [json.loads(line) for line in lines]

    def kinds(self):
        return [(a["kind"], a["node"]) for a in self.alerts()]

    def activate(self, state=None):
        self.engine.start_leading(state or WatcherState())
        self.engine.on_synced()


def test_slim_node_keeps_what_the_engine_reads():
    slim = slim_node(node("n1", 5, [GI]))
    assert slim == {"metadata": {"name": "n1", "uid": "uid-n1", "resourceVersion": "5", "labels": {}},
                    "status": {"images": [{"names": ["registry.example.com/app-0:1"], "sizeBytes": GI}],
                               "capacity": {"ephemeral-storage": "100Gi"}}}
    assert slim_node({"metadata": {"name": "x"}, "status": "garbage"})["status"] == {"images": None}


def test_nothing_is_alerted_until_leading_state_loaded_and_synced():
    h = Harness({"thresholds": {"max_total_bytes": "2Gi"}})
    h.engine.on_add(node("n1", 1, [3 * GI]))
    h.engine.on_synced()
    assert h.alerts() == [] and not h.engine.active
    assert h.engine.metrics_view()[0][2] == 1  # breach visible to metrics on a follower
    h.engine.start_leading(WatcherState())
    assert h.kinds() == [("threshold_crossed", "n1")]
    assert h.engine.active and h.engine.state.synced


def test_first_run_is_a_silent_reference_then_changes_alert():
    h = Harness()
    h.engine.on_add(node("n1", 1, [5 * GI]))
    h.activate()
    assert h.alerts() == []
    h.engine.on_update(None, node("n1", 2, [5 * GI, 2 * GI]))
    (alert,) = h.alerts()
    assert alert["kind"] == "image_storage_changed" and alert["delta_bytes"] == 2 * GI
    assert alert["images_added"] == ["registry.example.com/app-1:1"]
    h.engine.on_add(node("n2", 3, [GI]))
    assert h.kinds() == [("node_added", "n2")]
    h.engine.on_delete(node("n2", 4, [GI]))
    assert h.kinds() == [("node_removed", "n2")]


def test_restart_catches_up_once_with_what_changed_while_down():
    saved = WatcherState(
        nodes={"n1": {"total_bytes": 5 * GI, "image_count": 1, "percent": 5.0, "truncated": False, "top": []},
               "n2": {"total_bytes": GI, "image_count": 1, "percent": 1.0, "truncated": False, "top": []},
               "gone": {"total_bytes": GI, "image_count": 1, "percent": 1.0, "truncated": False, "top": []}},
        breaches={"n2": {"max_total_bytes": {"rule_set": "default", "since": "t0", "message": "m"}}},
        synced=True)
    h = Harness({"thresholds": {"max_total_bytes": "4Gi"}})
    h.engine.on_add(node("n1", 7, [8 * GI]))   # grew while down, and now over the limit
    h.engine.on_add(node("n2", 8, [GI]))       # its breach cleared while down
    h.engine.on_add(node("n3", 9, [GI]))       # joined while down
    h.activate(saved)
    assert sorted(h.kinds()) == sorted([("image_storage_changed", "n1"), ("threshold_crossed", "n1"),
                                        ("threshold_cleared", "n2"), ("node_added", "n3"),
                                        ("node_removed", "gone")])
    # Nothing more on the next deliveries: what was alerted is in the state now.
    for obj in (node("n1", 7, [8 * GI]), node("n2", 8, [GI]), node("n3", 9, [GI])):
        h.engine.on_update(obj, obj)
    assert h.alerts() == []
    assert set(h.engine.state.breaches) == {"n1"} and "gone" not in h.engine.state.nodes


def test_open_breaches_survive_leadership_changes():
    h = Harness({"thresholds": {"max_total_bytes": "2Gi"}})
    h.engine.on_add(node("n1", 1, [3 * GI]))
    h.activate()
    assert h.kinds() == [("threshold_crossed", "n1")]
    saved = h.engine.state_snapshot()
    h.engine.stop_leading()
    h.engine.on_update(None, node("n1", 2, [3 * GI + 1]))
    assert h.alerts() == []
    h.engine.start_leading(saved)
    assert h.alerts() == []  # the crossing was alerted before: not again


def test_resync_reuses_the_computed_view():
    h = Harness()
    obj = node("n1", 1, [GI])
    h.engine.on_add(obj)
    view = h.engine.views["n1"]
    h.engine.on_update(obj, obj)
    assert h.engine.views["n1"] is view
    assert h.engine.handled == {"add": 1, "update": 0, "resync": 1, "delete": 0}


def test_a_malformed_node_is_skipped_and_counted(caplog):
    h = Harness()
    h.activate()
    bad = {"metadata": {"name": "bad", "resourceVersion": "1"}, "status": {"images": [{"sizeBytes": 1}]}}
    bad["status"]["capacity"] = {"ephemeral-storage": "lots"}
    h.engine.on_add(bad)  # unreadable capacity: noted by images, still counted
    assert "bad" in h.engine.views

    def unreadable(*args):
        raise TypeError("images is a string")

    h.engine._compute = unreadable
    h.engine.on_add(node("worse", 1, [GI]))
    assert h.engine.malformed == 1 and "worse" not in h.engine.views
    assert "skipping node worse" in caplog.text


def test_deny_rules_and_baseline_growth_read_full_image_lists():
    h = Harness({"thresholds": {"deny": ["registry.example.com/app-1*"], "max_growth_bytes": "1Gi"}})
    assert h.engine.include_images
    h.engine.set_baseline({"captured_at": "2026-01-01T00:00:00Z", "nodes": {
        "n1": {"total_bytes": GI, "image_count": 1, "images": {"registry.example.com/app-0:1": GI}}}})
    h.engine.on_add(node("n1", 1, [GI, 3 * GI]))
    h.activate()
    rules = sorted(a["rule"] for a in h.alerts())
    assert rules == ["deny", "max_growth_bytes"]


def test_rule_sets_select_by_node_labels():
    h = Harness({"thresholds": {"max_total_bytes": "100Gi"},
                 "rule_sets": [{"name": "small", "selector": "pool=small", "thresholds": {"max_total_bytes": "1Gi"}}]})
    h.engine.on_add(node("big", 1, [3 * GI]))
    h.engine.on_add(node("tiny", 1, [3 * GI], labels={"pool": "small"}))
    h.activate()
    (alert,) = h.alerts()
    assert alert["node"] == "tiny" and alert["rule_set"] == "small"


def test_unreadable_image_entries_are_logged_and_not_counted(caplog):
    h = Harness()
    obj = node("n1", 1, [GI, 2 * GI])
    obj["status"]["images"].append({"names": ["x:1"], "sizeBytes": "12Gi"})
    h.engine.on_add(obj)
    assert h.engine.views["n1"].record["total_bytes"] == 3 * GI
    assert "node n1 (resourceVersion 1): 1 image entry is not counted: status.images[2]: non-integer sizeBytes" \
        in caplog.text


def test_a_decision_made_again_after_a_failover_carries_the_first_ids():
    """The predecessor alerted after the last save and died: its successor decides the same thing
    from the same saved state and the same node object, and says so with the same ids, so a
    receiver can drop the repeat (docs/watcher.md)."""
    first = Harness({"thresholds": {"max_total_bytes": "6Gi"}})
    first.engine.on_add(node("n1", 1, [5 * GI]))
    first.engine.on_add(node("n2", 1, [GI]))
    first.activate()
    saved = first.engine.state_snapshot()
    first.engine.on_update(None, node("n1", 2, [5 * GI, 2 * GI]))
    first.engine.on_delete(node("n2", 3, [GI]))
    sent = first.alerts()
    assert sorted(a["kind"] for a in sent) == ["image_storage_changed", "node_removed", "threshold_crossed"]
    assert len(set(a["id"] for a in sent)) == 3

    successor = Harness({"thresholds": {"max_total_bytes": "6Gi"}})
    successor.engine.on_add(node("n1", 2, [5 * GI, 2 * GI]))
    successor.activate(saved)
    again = successor.alerts()
    assert sorted((a["kind"], a["id"]) for a in again) == sorted((a["kind"], a["id"]) for a in sent)

    # A later, different decision on the same node is a new alert with a new id.
    successor.engine.on_update(None, node("n1", 4, [5 * GI]))
    later = successor.alerts()
    assert sorted(a["kind"] for a in later) == ["image_storage_changed", "threshold_cleared"]
    assert not set(a["id"] for a in later) & set(a["id"] for a in sent)
    # ...and a crossing of the same limit again, once the node grows back, too.
    successor.engine.on_update(None, node("n1", 5, [5 * GI, 2 * GI]))
    crossed = [a for a in successor.alerts() if a["kind"] == "threshold_crossed"]
    assert crossed and crossed[0]["id"] not in set(a["id"] for a in sent)
