# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""The fleet summary: one document from the audit reports of several clusters.

``build_fleet_report(clusters)`` takes, per cluster, its audit report (the document
``nodewatch.k8s.audit`` writes) or why there is none, and returns the fleet document that
``html.render_fleet_html`` draws and that is written as JSON::

    format: nodewatch.k8s/fleet-report
    version: 1
    generated_at: "2026-11-30T05:31:00Z"
    ok: false                       # every cluster read, and no breach anywhere
    policy: {thresholds: {...}, rule_sets: [...]}       # the limits the clusters were audited with
    clusters:                       # in the order given
      - name: prod-eu
        status: ok | breach | unreachable | forbidden | error
        error: null | "what failed and what to do"
        report_path: prod-eu.html   # its own report, as given (relative to the fleet report)
        generated_at: ...
        node_count: 300
        image_count_total: 9610
        distinct_images: 134
        total_bytes: 3265654724177
        lower_bound: true           # some node's image list is truncated
        breach_count: 86
        breaching_nodes: 84
        imagefs: {used_bytes, capacity_bytes, percent, nodes_measured, nodes_failed} | null
    worst_nodes:                    # at most ``worst_nodes``: most breaches, then fullest, then largest
      - {cluster, name, total_bytes, percent_of_capacity, storage_percent, truncated, image_count,
         breach_count, breaches: [rule, ...]}
    heaviest_images:                # merged by digest over each cluster's ranking, largest first
      - {name, digest, tags, size_bytes, node_count, total_bytes, clusters: [name, ...]}
    heaviest_images_exact: true     # false when a cluster's report only listed its largest and commonest images
    breaches:                       # every breach, with its cluster
      - {cluster, node, rule, rule_set, observed, limit, observed_human, limit_human, message, lower_bound}
    totals: {clusters, clusters_ok, clusters_breach, clusters_unreadable, nodes, total_bytes, breaches, breaching_nodes}

``storage_percent`` is what ``max_percent`` reads: the image filesystem's use when it was measured,
else image bytes over ephemeral storage. Pure and standard-library only.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import heapq

from ansible_collections.nodewatch.k8s.plugins.module_utils.report.document import (
    FLEET_FORMAT,
    FORMAT_VERSION,
    UNREADABLE_STATUSES,
    AuditDocument,
    ReportInputError,
    storage_percent,
    text,
)

__all__ = ["build_fleet_report", "WORST_NODES", "HEAVIEST_IMAGES"]

WORST_NODES = 50
HEAVIEST_IMAGES = 30


def _entry_error(index, name, problem):
    label = "clusters[%d]" % index + (" (%s)" % name if name else "")
    return ReportInputError("the fleet's %s: %s" % (label, problem))


def worst_key(item):
    # heapq.nsmallest keeps the first N by this key: most breaches, fullest, largest; then by name.
    percent = item["storage_percent"]
    return (-item["breach_count"], -(percent if percent is not None else -1.0), -item["total_bytes"],
            item["cluster"], item["name"])


def _node_items(name, doc):
    counts = {}
    for breach in doc.breaches:
        counts[breach["node"]] = counts.get(breach["node"], 0) + 1
    for node in doc.nodes:
        yield {
            "cluster": name,
            "name": node["name"],
            "total_bytes": node["total_bytes"],
            "percent_of_capacity": node["percent_of_capacity"],
            "storage_percent": storage_percent(node)[0],
            "truncated": node["truncated"],
            "image_count": node["image_count"],
            "breach_count": counts.get(node["name"], 0),
            "breaches": sorted(doc.breaching.get(node["name"], ())),
        }


def _merge_images(merged, cluster_name, items):
    for item in items:
        key = item.get("digest") or item.get("key") or item.get("name")
        entry = merged.get(key)
        if entry is None:
            entry = merged[key] = {"name": text(item.get("name")), "digest": text(item.get("digest")) or None,
                                   "tags": list(item.get("tags") or ()), "size_bytes": 0, "node_count": 0,
                                   "total_bytes": 0, "clusters": []}
        size = item.get("size_bytes") or 0
        entry["size_bytes"] = max(entry["size_bytes"], size)
        entry["node_count"] += item.get("node_count") or 0
        entry["total_bytes"] += item.get("total_bytes") or 0
        for tag in item.get("tags") or ():
            if tag not in entry["tags"]:
                entry["tags"].append(tag)
        entry["clusters"].append(cluster_name)


def build_fleet_report(clusters, generated_at=None, policy=None, worst_nodes=WORST_NODES,
                       heaviest_images=HEAVIEST_IMAGES):
    """The fleet document (shape in the module docstring) from one entry per cluster.

    Each entry is ``{"name", "report", "report_path", "status", "error"}``: ``report`` is the
    cluster's audit report (its status is then "ok" or "breach", from the report), or None with
    ``status`` one of unreachable, forbidden, error and ``error`` the sentence saying why.
    ``policy`` defaults to the first report's (a fleet audit uses one set of limits).
    """
    if not isinstance(clusters, (list, tuple)):
        raise ReportInputError("the fleet's clusters must be a list of {name, report, status, error, report_path}, "
                               "got %s" % type(clusters).__name__)
    entries = []
    docs = []
    seen = set()
    for index, entry in enumerate(clusters):
        if not isinstance(entry, dict):
            raise _entry_error(index, None, "must be a mapping {name, report, status, error, report_path}")
        name = text(entry.get("name"))
        if not name:
            raise _entry_error(index, None, "needs a name (the inventory host of the cluster)")
        if name in seen:
            raise _entry_error(index, name, "the name is used twice; give every cluster its own name")
        seen.add(name)
        report = entry.get("report")
        out = {"name": name, "status": None, "error": text(entry.get("error")) or None,
               "report_path": text(entry.get("report_path")) or None, "generated_at": None, "node_count": None,
               "image_count_total": None, "distinct_images": None, "total_bytes": None, "lower_bound": False,
               "breach_count": 0, "breaching_nodes": 0, "imagefs": None}
        if report is None:
            status = text(entry.get("status"))
            if status not in UNREADABLE_STATUSES:
                raise _entry_error(index, name, "without a report, status must be %s (why the cluster was not read), "
                                   "got %r" % (", ".join(UNREADABLE_STATUSES), entry.get("status")))
            if not out["error"]:
                raise _entry_error(index, name, "without a report, error must say what failed")
            out["status"] = status
        else:
            doc = AuditDocument(report, what="the audit report of cluster %s" % name)
            docs.append((name, doc))
            out.update({
                "status": "ok" if doc.ok else "breach",
                "generated_at": doc.generated_at or None,
                "node_count": doc.node_count,
                "image_count_total": doc.image_count_total,
                "distinct_images": doc.distinct_images,
                "total_bytes": doc.total_bytes,
                "lower_bound": doc.lower_bound,
                "breach_count": len(doc.breaches),
                "breaching_nodes": len(doc.breaching),
                "imagefs": doc.imagefs,
            })
        entries.append(out)

    items = (item for name, doc in docs for item in _node_items(name, doc))
    worst = heapq.nsmallest(worst_nodes, items, key=worst_key)
    merged = {}
    exact = True
    for name, doc in docs:
        images, complete = doc.heaviest_images(heaviest_images)
        exact = exact and complete
        _merge_images(merged, name, images)
    heaviest = sorted(merged.values(), key=lambda item: (-item["total_bytes"], item["name"]))[:heaviest_images]
    breaches = []
    for name, doc in docs:
        for breach in doc.breaches:
            breach = dict(breach)
            breach["cluster"] = name
            breaches.append(breach)
    if policy is None:
        policy = next((doc.raw.get("policy") for _name, doc in docs if doc.raw.get("policy")), None)
    readable = [e for e in entries if e["status"] not in UNREADABLE_STATUSES]
    return {
        "format": FLEET_FORMAT,
        "version": FORMAT_VERSION,
        "generated_at": generated_at,
        "ok": all(e["status"] == "ok" for e in entries),
        "policy": policy,
        "clusters": entries,
        "worst_nodes": worst,
        "heaviest_images": heaviest,
        "heaviest_images_exact": exact,
        "breaches": breaches,
        "totals": {
            "clusters": len(entries),
            "clusters_ok": sum(1 for e in entries if e["status"] == "ok"),
            "clusters_breach": sum(1 for e in entries if e["status"] == "breach"),
            "clusters_unreadable": len(entries) - len(readable),
            "nodes": sum(e["node_count"] or 0 for e in readable),
            "total_bytes": sum(e["total_bytes"] or 0 for e in readable),
            "breaches": len(breaches),
            "breaching_nodes": sum(e["breaching_nodes"] for e in readable),
        },
    }
