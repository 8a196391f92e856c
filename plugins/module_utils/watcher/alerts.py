# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""What deserves an alert: pure decisions over one node's remembered and current image facts.

Thresholds are not checked here: ``drift.evaluate`` finds the breaches (the same code the drift
check playbook runs) and ``drift.breach_transitions`` says which are new and which cleared. This
module turns that, and the change in bytes since the last alert, into alert records.

A node's *record* is what was last alerted about it (or first seen): comparing with it rather
than with the previous event means slow growth in many small steps still alerts once it adds
up to ``min_change_bytes``.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import json
import uuid

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.rules import breach_transitions
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.quantity import human_bytes

SOURCE = "nodewatch-watcher"

CHANGED = "image_storage_changed"
CROSSED = "threshold_crossed"
CLEARED = "threshold_cleared"
ADDED = "node_added"
REMOVED = "node_removed"
KINDS = (CHANGED, CROSSED, CLEARED, ADDED, REMOVED)

# Kubernetes Event reasons (CamelCase, as the kubelet's own) and types per alert kind.
REASONS = {
    CHANGED: "ImageStorageChanged",
    CROSSED: "ImageStorageThreshold",
    CLEARED: "ImageStorageThreshold",
    ADDED: "NodeWatched",
    REMOVED: "NodeGone",
}
EVENT_TYPES = {CROSSED: "Warning"}
SEVERITIES = {CROSSED: "warning", CLEARED: "resolved"}


class AlertSettings:
    """The knobs of the decisions; validated by ``config``."""

    __slots__ = ("min_change_bytes", "min_change_percent", "kinds", "top_images")

    def __init__(self, min_change_bytes=0, min_change_percent=0.0, kinds=KINDS, top_images=10):
        self.min_change_bytes = int(min_change_bytes)
        self.min_change_percent = float(min_change_percent)
        self.kinds = frozenset(kinds)
        self.top_images = int(top_images)


def utc_now_text(now=None):
    when = datetime.datetime.fromtimestamp(now, datetime.timezone.utc) if now is not None \
        else datetime.datetime.now(datetime.timezone.utc)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def image_label(top_image):
    """A readable identity for one of ``node_image_facts``' ``top_images``.

    The first tag reads best; the short digest keeps two builds of ``app:latest`` apart.
    """
    tags = top_image.get("tags") or ()
    label = tags[0] if tags else top_image.get("name") or "?"
    digest = top_image.get("digest")
    if digest:
        label += "@" + digest[:19]
    return label


def node_record(facts, top_images=10):
    """The part of a node's facts worth remembering between alerts (small: it is persisted)."""
    return {
        "total_bytes": facts["total_bytes"],
        "image_count": facts["image_count"],
        "percent": facts.get("percent_of_capacity"),
        "truncated": bool(facts.get("truncated")),
        "top": [image_label(image) for image in (facts.get("top_images") or ())[:top_images]],
    }


def significant_change(before, after, settings):
    """True when the total moved by at least both minimums (a zero minimum always holds)."""
    delta = abs(after["total_bytes"] - before["total_bytes"])
    if delta == 0 or delta < settings.min_change_bytes:
        return False
    if settings.min_change_percent > 0 and before["total_bytes"] > 0:
        return delta * 100.0 / before["total_bytes"] >= settings.min_change_percent
    return True


def decision_ids(node, uid, resource_version, before):
    """Ids for the alerts of one decision: made again, the same decision gives the same ids.

    A new leader continues from the last *saved* state, so what its predecessor decided after that
    save is decided again, on the same node object (uid, resourceVersion) from the same record.
    Those repeats carrying the first copy's id is what lets a receiver drop them (docs/watcher.md);
    a random id would make each look new. None (random ids) without a resourceVersion.
    """
    if not resource_version:
        return None
    base = [node, uid or "", resource_version,
            None if before is None else [before["total_bytes"], before["image_count"]]]

    def new_id(kind, details):
        # The rule, and the opening of the breach a clearing closes, keep apart the alerts of one
        # decision and the cycles of one breach.
        key = base + [kind, details.get("rule"), details.get("opened_at"), details.get("limit")]
        return hashlib.sha256(json.dumps(key, default=str).encode("utf-8")).hexdigest()[:32]
    return new_id


def make_alert(kind, node, message, now=None, new_id=None, **details):
    """``new_id(kind, details)`` names the alert (see ``decision_ids``); random when None."""
    alert = {
        "id": new_id(kind, details) if new_id is not None else uuid.uuid4().hex,
        "time": utc_now_text(now),
        "source": SOURCE,
        "kind": kind,
        "severity": SEVERITIES.get(kind, "info"),
        "reason": REASONS[kind],
        "node": node,
        "message": message,
    }
    alert.update(details)
    return alert


def _percent_text(record):
    percent = record.get("percent")
    return "" if percent is None else " (%.1f%% of ephemeral storage)" % percent


def _signed_bytes(delta):
    return ("+" if delta >= 0 else "-") + human_bytes(abs(delta))


def change_alert(node, before, after, now=None, new_id=None):
    delta = after["total_bytes"] - before["total_bytes"]
    delta_percent = round(delta * 100.0 / before["total_bytes"], 2) if before["total_bytes"] else None
    added = [label for label in after["top"] if label not in before["top"]]
    removed = [label for label in before["top"] if label not in after["top"]]
    lower = "at least " if after["truncated"] else ""
    text = "node %s: image storage %s from %s to %s%s (%s%s)%s" % (
        node, "grew" if delta > 0 else "shrank", human_bytes(before["total_bytes"]), lower,
        human_bytes(after["total_bytes"]), _signed_bytes(delta),
        ", %+.1f%%" % delta_percent if delta_percent is not None else "", _percent_text(after))
    if added:
        text += "; new among the largest: %s" % ", ".join(added)
    if removed:
        text += "; no longer among the largest: %s" % ", ".join(removed)
    return make_alert(CHANGED, node, text, now, new_id,
                      old_bytes=before["total_bytes"], new_bytes=after["total_bytes"],
                      delta_bytes=delta, delta_percent=delta_percent,
                      old_image_count=before["image_count"], new_image_count=after["image_count"],
                      percent_of_capacity=after["percent"], truncated=after["truncated"],
                      images_added=added, images_removed=removed)


def _open_info(breach, now_text):
    """What is remembered of an open breach, to word its clearing later."""
    return {"rule_set": breach.get("rule_set"), "observed": breach.get("observed"),
            "limit": breach.get("limit"), "message": breach.get("message"), "since": now_text}


def crossed_alert(breach, now=None, new_id=None):
    return make_alert(CROSSED, breach["node"], breach["message"], now, new_id,
                      rule=breach["rule"], rule_set=breach.get("rule_set"),
                      observed=breach.get("observed"), limit=breach.get("limit"),
                      lower_bound=bool(breach.get("lower_bound")))


def cleared_alert(node, rule, info, why, now=None, new_id=None):
    info = info or {}
    text = "node %s: %s [rule %s, rule set %s]; it opened at %s: %s" % (
        node, why, rule, info.get("rule_set"), info.get("since"), info.get("message"))
    return make_alert(CLEARED, node, text, now, new_id, rule=rule, rule_set=info.get("rule_set"),
                      limit=info.get("limit"), opened_at=info.get("since"))


class Decision:
    """Alerts to send and the node's state afterwards (``record`` None: forget the node)."""

    __slots__ = ("alerts", "record", "open")

    def __init__(self, alerts, record, open_breaches):
        self.alerts = alerts
        self.record = record
        self.open = open_breaches

    def __repr__(self):
        return "Decision(%d alerts, record=%r, open=%r)" % (len(self.alerts), self.record, sorted(self.open))


def decide(node, before, current, open_before, breaches, settings, announce_new=True,
           now=None, new_id=None):
    """Alerts for one node seen with ``current`` (a ``node_record``) and drift ``breaches``.

    ``before``       the node's record, None when it was never seen
    ``open_before``  ``{rule: info}`` of the breaches already alerted and not cleared
    ``announce_new`` False on the first pass with no saved state, when every node is "new":
                     their records are taken silently (thresholds still alert)
    """
    alerts = []
    record = before
    if before is None:
        record = current
        if announce_new and ADDED in settings.kinds:
            lower = "at least " if current["truncated"] else ""
            alerts.append(make_alert(
                ADDED, node, "node %s is watched now: %s%d images use %s%s" % (
                    node, lower, current["image_count"], human_bytes(current["total_bytes"]),
                    _percent_text(current)),
                now, new_id, new_bytes=current["total_bytes"], new_image_count=current["image_count"],
                percent_of_capacity=current["percent"], truncated=current["truncated"]))
    elif significant_change(before, current, settings):
        record = current
        if CHANGED in settings.kinds:
            alerts.append(change_alert(node, before, current, now, new_id))

    open_before = open_before or {}
    transition = breach_transitions(((node, rule) for rule in open_before), breaches)
    open_after = dict(open_before)
    for breach in transition.opened:
        open_after[breach["rule"]] = _open_info(breach, utc_now_text(now))
        if CROSSED in settings.kinds:
            alerts.append(crossed_alert(breach, now, new_id))
    for _node, rule in transition.cleared:
        info = open_after.pop(rule)
        if CLEARED in settings.kinds:
            alerts.append(cleared_alert(node, rule, info, "back within limits", now, new_id))
    return Decision(alerts, record, open_after)


def decide_removed(node, before, open_before, settings, now=None, new_id=None):
    """The node is gone: resolve each open breach, then say so (if it was known at all)."""
    alerts = []
    for rule in sorted(open_before or {}):
        if CLEARED in settings.kinds:
            alerts.append(cleared_alert(node, rule, open_before[rule], "resolved because the node was removed",
                                        now, new_id))
    if before is not None and REMOVED in settings.kinds:
        text = ("node %s is gone (removed, or no longer matches the label selector); it last had %d images "
                "using %s" % (node, before["image_count"], human_bytes(before["total_bytes"])))
        alerts.append(make_alert(REMOVED, node, text, now, new_id, old_bytes=before["total_bytes"],
                                 old_image_count=before["image_count"]))
    return Decision(alerts, None, {})


def alert_text(alert):
    """One line for chat: Slack's ``text``."""
    marks = {"warning": "WARNING", "resolved": "RESOLVED", "info": "INFO"}
    return "[%s] %s %s" % (SOURCE, marks.get(alert.get("severity"), "INFO"), alert.get("message"))
