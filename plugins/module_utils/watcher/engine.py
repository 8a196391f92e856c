# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""The watcher's core: node events in, per-node image facts and alerts out.

Every replica computes facts and breaches for every node it sees (metrics, and a warm start
should it become the leader). Only an *active* engine decides and sends alerts: one that leads
(or runs alone), has loaded the saved state, and whose informer has delivered its first full
list. It becomes active on whichever of those comes last, and then makes one pass over every
known node: what changed while nobody was watching is alerted once, and nodes remembered in the
state but gone from the cluster are reported removed.

Informer handlers run on one dispatcher thread; the leader and state threads touch the engine
only under ``lock``.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import logging
import threading

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.rules import evaluate
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import node_image_facts
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.alerts import (
    KINDS,
    decide,
    decide_removed,
    decision_ids,
    node_record,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.state import WatcherState

_LOG = logging.getLogger("nodewatch.watcher.engine")

HANDLED = ("add", "update", "resync", "delete")


def slim_node(node):
    """What the engine reads of a Node; the informer caches only this (managedFields,
    conditions and annotations would otherwise dominate the memory of a big cluster)."""
    metadata = node["metadata"]
    status = node.get("status")
    status = status if isinstance(status, dict) else {}
    capacity = status.get("capacity")
    capacity = capacity if isinstance(capacity, dict) else {}
    slim_status = {"images": status.get("images")}
    if "ephemeral-storage" in capacity:
        slim_status["capacity"] = {"ephemeral-storage": capacity["ephemeral-storage"]}
    return {"metadata": {"name": metadata["name"], "uid": metadata.get("uid"),
                         "resourceVersion": metadata.get("resourceVersion"),
                         "labels": metadata.get("labels") or {}},
            "status": slim_status}


class NodeView:
    """The latest computed view of one node (by resourceVersion)."""

    __slots__ = ("rv", "uid", "record", "breaches")

    def __init__(self, rv, uid, record, breaches):
        self.rv = rv
        self.uid = uid
        self.record = record
        self.breaches = breaches


class Engine:
    def __init__(self, settings, policy, sinks, max_images=50, baseline=None, logger=None):
        self.settings = settings
        self.policy = policy
        self.sinks = sinks
        self.max_images = max_images
        self.log = logger or _LOG
        self.lock = threading.RLock()
        self.state = WatcherState()
        self.views = {}
        self.handled = dict((kind, 0) for kind in HANDLED)
        self.alerts_sent = dict((kind, 0) for kind in KINDS)
        self.malformed = 0
        self.dirty = False
        self.leading = False
        self.state_loaded = False
        self.synced = False
        self.active = False
        self._baseline = None
        self.include_images = False
        self.set_baseline(baseline)

    # -- configuration that may change at run time ---------------------------------------------

    def set_baseline(self, baseline):
        """Use a new drift baseline (growth and new-image rules); recomputes every view."""
        with self.lock:
            self._baseline = baseline
            thresholds = [self.policy.thresholds] + [rule_set.thresholds for rule_set in self.policy.rule_sets]
            # Deny patterns and baseline comparisons read the full image list; totals do not.
            self.include_images = any(t.deny for t in thresholds) or (
                baseline is not None and self.policy.uses_baseline)
            for view in self.views.values():
                view.rv = None  # forces a recomputation at the next delivery

    def _baseline_entry(self, name):
        baseline = self._baseline
        if baseline is None:
            return None
        entry = baseline["nodes"].get(name)
        if entry is not None and "captured_at" not in entry and baseline.get("captured_at"):
            entry = dict(entry, captured_at=baseline["captured_at"])
        return entry

    # -- informer handlers -------------------------------------------------------------------

    def on_add(self, node):
        self._observe(node, "add")

    def on_update(self, old, new):
        self._observe(new, "resync" if old is new else "update")

    def on_delete(self, node):
        self.handled["delete"] += 1
        name = node["metadata"]["name"]
        with self.lock:
            self.views.pop(name, None)
            if self.active:
                self._forget(name)

    def on_synced(self):
        with self.lock:
            self.synced = True
            self._maybe_activate()

    # -- leadership and state -----------------------------------------------------------------

    def start_leading(self, state):
        """Called once the state is loaded by the (new) leader or the only replica."""
        with self.lock:
            self.state = state if state is not None else WatcherState()
            self.leading = True
            self.state_loaded = True
            self._maybe_activate()

    def stop_leading(self):
        with self.lock:
            if self.active:
                self.log.warning("no longer the leader: alerts stop here and the new leader continues "
                                 "from the last saved state")
            self.leading = False
            self.state_loaded = False
            self.active = False

    def _maybe_activate(self):
        if self.active or not (self.leading and self.state_loaded and self.synced):
            return
        self.active = True
        # Catch up: everything seen so far against what the state says was already alerted.
        announce = self.state.synced
        for name, view in list(self.views.items()):
            self._decide(name, view, announce)
        for name in sorted((set(self.state.nodes) | set(self.state.breaches)) - set(self.views)):
            self._forget(name)
        if not self.state.synced:
            self.log.info("first run: took the image storage of %d nodes as the reference for change "
                          "alerts", len(self.state.nodes))
            self.state.synced = True
        self.dirty = True

    def state_snapshot(self):
        with self.lock:
            self.dirty = False
            return self.state.snapshot()

    # -- the per-node work -------------------------------------------------------------------

    def _observe(self, node, how):
        self.handled[how] += 1
        metadata = node["metadata"]
        name = metadata["name"]
        rv = metadata.get("resourceVersion")
        with self.lock:
            view = self.views.get(name)
            if view is None or view.rv != rv or rv is None:
                try:
                    view = self._compute(node, name, rv)
                except Exception as exc:
                    self.malformed += 1
                    self.log.warning("skipping node %s (resourceVersion %s): its status cannot be read: "
                                     "%s: %s", name, rv, type(exc).__name__, exc)
                    return
                self.views[name] = view
            if self.active:
                self._decide(name, view, True)

    def _compute(self, node, name, rv):
        facts = node_image_facts(node, top=self.settings.top_images, max_images=self.max_images,
                                 include_images=self.include_images)
        skipped = [entry for entry in facts["malformed"] if not entry["counted"]]
        if skipped:
            self.log.warning("node %s (resourceVersion %s): %d image entr%s not counted: %s", name, rv,
                             len(skipped), "y is" if len(skipped) == 1 else "ies are",
                             "; ".join("status.images[%d]: %s" % (e["index"], e["reason"]) for e in skipped[:3]))
        labels = node["metadata"].get("labels") or {}
        result = evaluate(facts, labels, self.policy, self._baseline_entry(name))
        return NodeView(rv, node["metadata"].get("uid"), node_record(facts, self.settings.top_images),
                        result.breaches)

    def _decide(self, name, view, announce):
        state = self.state
        before = state.nodes.get(name)
        open_before = state.breaches.get(name)
        decision = decide(name, before, view.record, open_before, view.breaches, self.settings,
                          announce_new=announce, new_id=decision_ids(name, view.uid, view.rv, before))
        if decision.record is not before:
            state.nodes[name] = decision.record
            self.dirty = True
        if decision.open != (open_before or {}):
            if decision.open:
                state.breaches[name] = decision.open
            else:
                state.breaches.pop(name, None)
            self.dirty = True
        self._emit(decision.alerts)

    def _forget(self, name):
        state = self.state
        before = state.nodes.pop(name, None)
        open_before = state.breaches.pop(name, None)
        if before is None and not open_before:
            return
        self.dirty = True
        # Keyed on what the saved state knows: a successor that finds the node gone decides the
        # same removal without ever having seen the node object.
        self._emit(decide_removed(name, before, open_before, self.settings,
                                  new_id=decision_ids(name, None, "gone", before)).alerts)

    def _emit(self, alerts):
        for alert in alerts:
            self.alerts_sent[alert["kind"]] += 1
            self.log.info("alert %s on %s: %s", alert["kind"], alert["node"], alert["message"])
            self.sinks.emit(alert)

    # -- readers ------------------------------------------------------------------------------

    def node_uid(self, name):
        view = self.views.get(name)
        return view.uid if view is not None else None

    def metrics_view(self):
        """``[(name, record, breach_count)]`` for /metrics, consistent at one instant."""
        with self.lock:
            return [(name, view.record, len(view.breaches)) for name, view in self.views.items()]

    def status(self):
        with self.lock:
            return {"nodes": len(self.views), "active": self.active, "leading": self.leading,
                    "synced": self.synced, "state_loaded": self.state_loaded,
                    "open_breaches": sum(len(v) for v in self.state.breaches.values())}
