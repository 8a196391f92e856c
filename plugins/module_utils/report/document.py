# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""The audit and fleet report documents: read and checked once, and the figures derived from them.

``AuditDocument(report)`` reads the JSON document ``nodewatch.k8s.audit`` writes for one cluster;
``FleetDocument(fleet)`` the fleet summary (``format: nodewatch.k8s/fleet-report``; its shape is
in ``fleet.py``, which builds it). Every key that is read is type-checked, and a wrong one raises
``ReportInputError`` naming it (``nodes[3].total_bytes must be a number ...``), never a traceback
from deep inside a renderer. Keys a report may lack (older audits, slim node entries) are
optional, and what can be worked out from the rest is (capacity from the percentage, totals
from the parts).

Pure and standard-library only (no Ansible import), like the rest of the engine.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import math

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ValidationError
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.rules import NUMERIC_THRESHOLD_KEYS

__all__ = [
    "AUDIT_FORMAT",
    "FLEET_FORMAT",
    "FORMAT_VERSION",
    "FLEET_STATUSES",
    "UNREADABLE_STATUSES",
    "DEFAULT_RULE_SET",
    "ReportInputError",
    "AuditDocument",
    "FleetDocument",
    "group_totals",
    "heaviest_images",
    "node_byte_limit",
    "storage_percent",
    "text",
    "flag",
]

AUDIT_FORMAT = "nodewatch.k8s/audit-report"
FLEET_FORMAT = "nodewatch.k8s/fleet-report"
FORMAT_VERSION = 1
FLEET_STATUSES = ("ok", "breach", "unreachable", "forbidden", "error")
UNREADABLE_STATUSES = ("unreachable", "forbidden", "error")
DEFAULT_RULE_SET = "default"


_KINDS = {AUDIT_FORMAT: "one cluster's audit report", FLEET_FORMAT: "a fleet summary"}


class ReportInputError(ValidationError):
    """The document is not an audit (or fleet) report; the message names the key to fix."""


def _type_name(value):
    return "null" if value is None else type(value).__name__


def text(value):
    return "" if value is None else (value if isinstance(value, str) else str(value))


def flag(value):
    """Booleans as they arrive from JSON or from templating ("True", "false")."""
    if isinstance(value, str):
        return value.strip().lower() in ("true", "yes", "1")
    return bool(value)


class _Reader:
    """Typed access to one document; errors say which key is wrong and what was expected."""

    def __init__(self, what):
        self.what = what

    def fail(self, where, expected, value):
        shown = repr(value)
        if len(shown) > 60:
            shown = shown[:57] + "..."
        raise ReportInputError("%s: %s must be %s, got %s (%s); pass the document nodewatch.k8s writes, "
                               "unchanged" % (self.what, where, expected, shown, _type_name(value)))

    def mapping(self, value, where):
        if value is None:
            return {}
        if not isinstance(value, dict):
            self.fail(where, "a mapping", value)
        return value

    def items(self, value, where):
        """A list of mappings (None = empty)."""
        if value is None:
            return []
        if not isinstance(value, (list, tuple)):
            self.fail(where, "a list", value)
        for index, item in enumerate(value):
            if not isinstance(item, dict):
                self.fail("%s[%d]" % (where, index), "a mapping", item)
        return list(value)

    def strings(self, value, where):
        if value is None:
            return []
        if not isinstance(value, (list, tuple)):
            self.fail(where, "a list of strings", value)
        return [text(item) for item in value]

    def number(self, value, where):
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, float)) or \
                (isinstance(value, float) and not math.isfinite(value)):
            self.fail(where, "a number", value)
        return value

    def count(self, value, where):
        """A number of things: an int, or a list whose length is meant (both shapes occur)."""
        if isinstance(value, (list, tuple)):
            return len(value)
        return self.number(value, where)

    def document(self, doc, expected, other):
        if not isinstance(doc, dict):
            raise ReportInputError("%s must be a mapping (the JSON document nodewatch.k8s writes), got %s"
                                   % (self.what, _type_name(doc)))
        fmt = doc.get("format")
        if fmt is not None and fmt != expected:
            if fmt == other:
                raise ReportInputError("%s: this document is %s (format %s), not %s"
                                       % (self.what, _KINDS[other], other, _KINDS[expected]))
            self.fail("format", repr(expected), fmt)
        version = self.number(doc.get("version"), "version")
        if version is not None and version > FORMAT_VERSION:
            raise ReportInputError("%s: version %s is newer than this collection reads (%d); upgrade the "
                                   "nodewatch.k8s collection that renders it" % (self.what, version, FORMAT_VERSION))
        return doc


def _read_node(reader, raw, where):
    name = text(raw.get("name"))
    if not name:
        reader.fail(where + ".name", "the node's name", raw.get("name"))
    imagefs = raw.get("imagefs")
    if imagefs is not None:
        imagefs = reader.mapping(imagefs, where + ".imagefs")
        imagefs = {
            "used_bytes": reader.number(imagefs.get("used_bytes"), where + ".imagefs.used_bytes"),
            "capacity_bytes": reader.number(imagefs.get("capacity_bytes"), where + ".imagefs.capacity_bytes"),
            "percent": reader.number(imagefs.get("percent"), where + ".imagefs.percent"),
        }
    total = reader.number(raw.get("total_bytes"), where + ".total_bytes") or 0
    percent = reader.number(raw.get("percent_of_capacity"), where + ".percent_of_capacity")
    capacity = reader.number(raw.get("capacity_bytes"), where + ".capacity_bytes")
    if capacity is None and percent:
        # Slim reports leave capacity out; the rounded percentage gives it to 1 part in 10,000.
        capacity = total * 100.0 / percent
    return {
        "name": name,
        "roles": sorted(reader.strings(raw.get("roles"), where + ".roles")),
        "zone": text(raw.get("zone")),
        "ready": None if raw.get("ready") is None else flag(raw.get("ready")),
        "schedulable": None if raw.get("schedulable") is None else flag(raw.get("schedulable")),
        "image_count": reader.number(raw.get("image_count"), where + ".image_count"),
        "total_bytes": total,
        "percent_of_capacity": percent,
        "capacity_bytes": capacity,
        "truncated": flag(raw.get("truncated")),
        "imagefs": imagefs,
        "imagefs_error": text(raw.get("imagefs_error")),
        "rule_set": text(raw.get("rule_set")) or None,
    }


def _read_breach(reader, raw, where):
    return {
        "cluster": text(raw.get("cluster")),
        "node": text(raw.get("node")),
        "rule": text(raw.get("rule")),
        "rule_set": text(raw.get("rule_set")) or DEFAULT_RULE_SET,
        "observed": reader.number(raw.get("observed"), where + ".observed"),
        "limit": reader.number(raw.get("limit"), where + ".limit"),
        "observed_human": text(raw.get("observed_human")),
        "limit_human": text(raw.get("limit_human")),
        "message": text(raw.get("message")),
        "lower_bound": flag(raw.get("lower_bound")),
    }


def _read_policy(reader, raw):
    """``{rule set name: thresholds}``, the defaults first under ``"default"``."""
    policy = reader.mapping(raw, "policy")
    by_set = {DEFAULT_RULE_SET: reader.mapping(policy.get("thresholds"), "policy.thresholds")}
    for index, rule_set in enumerate(reader.items(policy.get("rule_sets"), "policy.rule_sets")):
        where = "policy.rule_sets[%d]" % index
        by_set[text(rule_set.get("name"))] = reader.mapping(rule_set.get("thresholds"), where + ".thresholds")
    for name, thresholds in by_set.items():
        for key in NUMERIC_THRESHOLD_KEYS:
            # The audit writes numbers (sizes in bytes); "40Gi" here would draw a wrong limit line.
            reader.number(thresholds.get(key), "policy thresholds of rule set %s: %s" % (name, key))
    return by_set


def _read_images(reader, raw, where):
    items = reader.items(raw, where)
    for index, item in enumerate(items):
        for key in ("size_bytes", "node_count", "total_bytes"):
            reader.number(item.get(key), "%s[%d].%s" % (where, index, key))
        for key in ("tags", "nodes", "clusters"):
            reader.strings(item.get(key), "%s[%d].%s" % (where, index, key))
    return items


# ----------------------------------------------------------------------------------------------
# Figures derived from a report (pure; what the charts draw and the fleet ranks)
# ----------------------------------------------------------------------------------------------

def group_totals(nodes, key, breaching=()):
    """Bytes per group of nodes, largest first.

    ``key(node)`` names the node's group. Returns ``[{"name", "node_count", "total_bytes",
    "breaching_nodes", "lower_bound"}]``; ``lower_bound`` when a node of the group has a truncated
    image list.
    """
    breaching = set(breaching)
    groups = {}
    for node in nodes:
        name = key(node)
        group = groups.get(name)
        if group is None:
            group = groups[name] = {"name": name, "node_count": 0, "total_bytes": 0, "breaching_nodes": 0,
                                    "lower_bound": False}
        group["node_count"] += 1
        group["total_bytes"] += node["total_bytes"] or 0
        group["breaching_nodes"] += node["name"] in breaching
        group["lower_bound"] = group["lower_bound"] or node["truncated"]
    return sorted(groups.values(), key=lambda g: (-g["total_bytes"], g["name"]))


def heaviest_images(cluster, limit=30):
    """The images that take most space across the cluster: size x nodes holding it, largest first.

    Returns ``(images, exact)``. ``cluster["heaviest_images"]`` is used when the report has it
    (``exact``). Otherwise the ranking is worked out from the images the report lists (the largest
    and the most common), which can miss a mid-sized image on many nodes: ``exact`` is False then.
    """
    given = cluster.get("heaviest_images")
    if given is not None:
        items = [dict(item) for item in given]
        for item in items:
            if item.get("total_bytes") is None:
                item["total_bytes"] = (item.get("size_bytes") or 0) * (item.get("node_count") or 0)
        items.sort(key=lambda item: (-(item["total_bytes"] or 0), text(item.get("name"))))
        return items[:limit], True
    seen = {}
    for item in list(cluster.get("largest_images") or ()) + list(cluster.get("most_common_images") or ()):
        key = item.get("key") or item.get("digest") or item.get("name")
        if key not in seen:
            entry = dict(item)
            entry["total_bytes"] = (item.get("size_bytes") or 0) * (item.get("node_count") or 0)
            seen[key] = entry
    items = sorted(seen.values(), key=lambda item: (-item["total_bytes"], text(item.get("name"))))
    return items[:limit], False


def storage_percent(node):
    """``(percent, source)`` as the max_percent rule reads it: the image filesystem when measured.

    ``source`` is "imagefs" or "ephemeral-storage"; ``(None, None)`` when neither is known.
    """
    imagefs = node.get("imagefs")
    if imagefs:
        used, capacity = imagefs.get("used_bytes"), imagefs.get("capacity_bytes")
        if used is not None and capacity:
            return used * 100.0 / capacity, "imagefs"
        if imagefs.get("percent") is not None:
            return imagefs["percent"], "imagefs"
    if node.get("percent_of_capacity") is not None:
        return node["percent_of_capacity"], "ephemeral-storage"
    return None, None


def node_byte_limit(node, thresholds):
    """``(bytes, rule)``: the limit to draw beside the node's image bytes, or ``(None, None)``.

    ``thresholds`` are the node's own (its rule set's). ``max_total_bytes`` caps the bytes
    directly; ``max_percent`` caps them at that share of the node's ephemeral storage, which is
    how the rule reads it unless the image filesystem was measured: then the rule compares the
    filesystem's use, not these bytes, and no percent limit is drawn here. With both, the lower
    one binds.
    """
    limits = []
    if thresholds.get("max_total_bytes") is not None:
        limits.append((thresholds["max_total_bytes"], "max_total_bytes"))
    measured = storage_percent(node)[1] == "imagefs"
    if thresholds.get("max_percent") is not None and node.get("capacity_bytes") and not measured:
        limits.append((thresholds["max_percent"] * node["capacity_bytes"] / 100.0, "max_percent"))
    if not limits:
        return None, None
    return min(limits)


# ----------------------------------------------------------------------------------------------
# The documents
# ----------------------------------------------------------------------------------------------

class AuditDocument:
    """One cluster's audit report (``nodewatch.k8s.audit``, JSON), read and checked once."""

    def __init__(self, report, what="the audit report"):
        reader = _Reader(what)
        reader.document(report, AUDIT_FORMAT, FLEET_FORMAT)
        cluster = reader.mapping(report.get("cluster"), "cluster")
        self.raw = report
        self.cluster = cluster
        self.name = text(report.get("cluster_name"))
        self.generated_at = text(report.get("generated_at"))
        self.nodes = [_read_node(reader, raw, "nodes[%d]" % i)
                      for i, raw in enumerate(reader.items(report.get("nodes"), "nodes"))]
        self.breaches = [_read_breach(reader, raw, "breaches[%d]" % i)
                         for i, raw in enumerate(reader.items(report.get("breaches"), "breaches"))]
        self.thresholds_by_set = _read_policy(reader, report.get("policy"))
        self.largest_images = _read_images(reader, cluster.get("largest_images"), "cluster.largest_images")
        self.most_common_images = _read_images(reader, cluster.get("most_common_images"), "cluster.most_common_images")
        if cluster.get("heaviest_images") is not None:
            _read_images(reader, cluster.get("heaviest_images"), "cluster.heaviest_images")
        self.notes = reader.strings(report.get("notes"), "notes") + reader.strings(cluster.get("notes"), "cluster.notes")
        baseline = reader.mapping(report.get("baseline"), "baseline")
        self.baseline = baseline and {
            "found": flag(baseline.get("found")),
            "source": text(baseline.get("source")),
            "captured_at": text(baseline.get("captured_at")),
            "nodes": reader.number(baseline.get("nodes"), "baseline.nodes"),
        }
        self.nodes_added = reader.strings(report.get("nodes_added"), "nodes_added")
        self.nodes_removed = reader.strings(report.get("nodes_removed"), "nodes_removed")

        numbers = {}
        for key in ("node_count", "image_count_total", "distinct_images", "total_bytes", "shared_bytes",
                    "unique_bytes", "distinct_bytes", "nodes_truncated"):
            numbers[key] = reader.number(cluster.get(key), "cluster." + key)
        self.node_count = len(self.nodes) if numbers["node_count"] is None else numbers["node_count"]
        self.total_bytes = numbers["total_bytes"]
        if self.total_bytes is None:
            self.total_bytes = sum(node["total_bytes"] for node in self.nodes)
        self.image_count_total = numbers["image_count_total"]
        self.distinct_images = numbers["distinct_images"]
        self.shared_bytes = numbers["shared_bytes"]
        self.unique_bytes = numbers["unique_bytes"]
        self.distinct_bytes = numbers["distinct_bytes"]
        self.nodes_truncated = numbers["nodes_truncated"] or sum(1 for node in self.nodes if node["truncated"])
        self.lower_bound = flag(cluster.get("lower_bound")) or any(node["truncated"] for node in self.nodes)
        imagefs = reader.mapping(cluster.get("imagefs"), "cluster.imagefs")
        self.imagefs = None
        if imagefs.get("used_bytes") is not None:
            self.imagefs = dict((key, reader.number(imagefs.get(key), "cluster.imagefs." + key))
                                for key in ("used_bytes", "capacity_bytes", "percent", "nodes_measured", "nodes_failed"))

        self.breaching = {}
        self.breach_sets = {}
        for breach in self.breaches:
            self.breaching.setdefault(breach["node"], set()).add(breach["rule"])
            self.breach_sets.setdefault(breach["node"], breach["rule_set"])
        self.ok = flag(report.get("ok", True)) and not self.breaches

    def rule_set_of(self, node):
        """The node's rule set: from the node when the report says, else from its breaches."""
        name = node["rule_set"] or self.breach_sets.get(node["name"]) or DEFAULT_RULE_SET
        return name if name in self.thresholds_by_set else DEFAULT_RULE_SET

    def thresholds_of(self, node):
        return self.thresholds_by_set[self.rule_set_of(node)]

    def heaviest_images(self, limit=30):
        return heaviest_images({"heaviest_images": self.cluster.get("heaviest_images"),
                                "largest_images": self.largest_images,
                                "most_common_images": self.most_common_images}, limit)


def _read_cluster(reader, raw, where):
    status = text(raw.get("status"))
    if status not in FLEET_STATUSES:
        reader.fail(where + ".status", "one of " + ", ".join(FLEET_STATUSES), raw.get("status"))
    name = text(raw.get("name"))
    if not name:
        reader.fail(where + ".name", "the cluster's name", raw.get("name"))
    imagefs = reader.mapping(raw.get("imagefs"), where + ".imagefs")
    return {
        "name": name,
        "status": status,
        "error": text(raw.get("error")),
        "report_path": text(raw.get("report_path")),
        "generated_at": text(raw.get("generated_at")),
        "node_count": reader.number(raw.get("node_count"), where + ".node_count"),
        "image_count_total": reader.number(raw.get("image_count_total"), where + ".image_count_total"),
        "distinct_images": reader.number(raw.get("distinct_images"), where + ".distinct_images"),
        "total_bytes": reader.number(raw.get("total_bytes"), where + ".total_bytes"),
        "lower_bound": flag(raw.get("lower_bound")),
        "breach_count": reader.count(raw.get("breach_count"), where + ".breach_count") or 0,
        "breaching_nodes": reader.count(raw.get("breaching_nodes"), where + ".breaching_nodes") or 0,
        "imagefs_percent": reader.number(imagefs.get("percent"), where + ".imagefs.percent"),
    }


def _read_worst(reader, raw, where):
    return {
        "cluster": text(raw.get("cluster")),
        "name": text(raw.get("name")),
        "total_bytes": reader.number(raw.get("total_bytes"), where + ".total_bytes") or 0,
        "percent_of_capacity": reader.number(raw.get("percent_of_capacity"), where + ".percent_of_capacity"),
        "storage_percent": reader.number(raw.get("storage_percent"), where + ".storage_percent"),
        "truncated": flag(raw.get("truncated")),
        "image_count": reader.number(raw.get("image_count"), where + ".image_count"),
        "breaches": sorted(set(reader.strings(raw.get("breaches"), where + ".breaches"))),
    }


class FleetDocument:
    """The fleet summary (``format: nodewatch.k8s/fleet-report``), read and checked once."""

    def __init__(self, fleet, what="the fleet report"):
        reader = _Reader(what)
        reader.document(fleet, FLEET_FORMAT, AUDIT_FORMAT)
        self.raw = fleet
        self.generated_at = text(fleet.get("generated_at"))
        self.clusters = [_read_cluster(reader, raw, "clusters[%d]" % i)
                         for i, raw in enumerate(reader.items(fleet.get("clusters"), "clusters"))]
        self.worst_nodes = [_read_worst(reader, raw, "worst_nodes[%d]" % i)
                            for i, raw in enumerate(reader.items(fleet.get("worst_nodes"), "worst_nodes"))]
        self.breaches = [_read_breach(reader, raw, "breaches[%d]" % i)
                         for i, raw in enumerate(reader.items(fleet.get("breaches"), "breaches"))]
        self.heaviest = _read_images(reader, fleet.get("heaviest_images"), "heaviest_images")
        self.heaviest_exact = flag(fleet.get("heaviest_images_exact", True))
        self.thresholds_by_set = _read_policy(reader, fleet.get("policy"))
        self.unreadable = [c for c in self.clusters if c["status"] in UNREADABLE_STATUSES]
        readable = [c for c in self.clusters if c["status"] not in UNREADABLE_STATUSES]

        totals = reader.mapping(fleet.get("totals"), "totals")
        # Totals are the document's when given, else the sum of the clusters read.
        self.node_count = _given_or(reader.number(totals.get("nodes"), "totals.nodes"),
                                    sum(c["node_count"] or 0 for c in readable))
        self.total_bytes = _given_or(reader.number(totals.get("total_bytes"), "totals.total_bytes"),
                                     sum(c["total_bytes"] or 0 for c in readable))
        self.breach_count = _given_or(reader.number(totals.get("breaches"), "totals.breaches"),
                                      sum(c["breach_count"] for c in readable))
        self.breaching_nodes = _given_or(reader.count(totals.get("breaching_nodes"), "totals.breaching_nodes"),
                                         sum(c["breaching_nodes"] for c in readable))
        self.lower_bound = any(c["lower_bound"] for c in readable)
        self.ok = flag(fleet.get("ok", True)) and not self.unreadable and not self.breach_count


def _given_or(value, computed):
    return computed if value is None else value
