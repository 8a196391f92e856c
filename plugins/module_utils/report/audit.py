# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""The audit of one cluster in one pass: limits, image accounting and the report document.

One read of the nodes (and, with imagefs, one read per kubelet) feeds three things as it streams
by: the drift check (``drift.check.check_drift``, the same engine as ``node_image_drift``), the
cluster's image accounting (``images.accounting.ImageAccounting``, the same as
``node_images_info``) and one small row per node. The report document is built from them once;
every format (``markdown``, ``json``, ``html``) is rendered from that document, in Python, and
written atomically. The module result carries the verdict and a console table of the largest
nodes, never the 5,000 rows: Ansible pays for every value a module returns.

Document (``format: nodewatch.k8s/audit-report``, ``version: 1``)::

    generated_at, cluster_name, ok, summary,
    cluster:   the image accounting (node_count, total_bytes, shared/unique/distinct bytes,
               largest_images, most_common_images, heaviest_images, groups, notes, imagefs?)
    nodes:     one row per node, largest first: name, roles, zone, ready, schedulable,
               image_count, total_bytes, total_human, capacity_bytes, percent_of_capacity,
               truncated, top_images, rule_set, breaches (rules), imagefs? / imagefs_error?
    breaches, breaching_nodes, nodes_added, nodes_removed, notes, baseline, policy
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import heapq
import json
import os

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ValidationError
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.files import atomic_write
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.baseline import format_timestamp
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.check import check_drift
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import ImageAccounting
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.queries import imagefs_totals
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.quantity import human_bytes
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.document import (
    AUDIT_FORMAT,
    FORMAT_VERSION,
    storage_percent,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.fleet import worst_key

FORMATS = ("markdown", "json", "html")
EXTENSIONS = {"markdown": ".md", "json": ".json", "html": ".html"}
# Group the accounting by zone and by role: the HTML report charts bytes per zone and per role.
GROUP_BY = ("topology.kubernetes.io/zone", "node-role")
# The nodes a fleet summary keeps of each cluster: the fleet lists at most this many worst nodes,
# so its list (most breaches, fullest, largest) is exactly the worst of all the clusters' nodes.
FLEET_NODES = 100


class _Rows:
    """One row per node, kept while the nodes stream by."""

    def __init__(self, rule_sets):
        self.rows = []
        self.imagefs_results = []
        self.rule_sets = rule_sets

    def add(self, facts, labels):
        brief = facts.get("node") or {}
        row = {
            "name": facts["name"],
            "roles": brief.get("roles") or [],
            "zone": brief.get("zone"),
            "ready": brief.get("ready"),
            "schedulable": brief.get("schedulable"),
            "image_count": facts["image_count"],
            "total_bytes": facts["total_bytes"],
            "total_human": facts["total_human"],
            "capacity_bytes": facts["capacity_bytes"],
            "percent_of_capacity": facts["percent_of_capacity"],
            "truncated": facts["truncated"],
            "top_images": facts["top_images"],
            "rule_set": self.rule_sets(labels),
            "breaches": [],
        }
        if "imagefs" in facts or "imagefs_error" in facts:
            if facts.get("imagefs") is not None:
                row["imagefs"] = facts["imagefs"]
            else:
                row["imagefs_error"] = facts.get("imagefs_error") or "the kubelet could not be read"
            self.imagefs_results.append((facts["name"], row))
        for note in facts.get("notes") or ():
            row.setdefault("notes", []).append(note)
        self.rows.append(row)


def run_audit(client, policy, label_selectors=None, field_selectors=None, baseline_source="none",
              baseline_configmap=None, baseline_path=None, max_images=50, imagefs=False,
              imagefs_concurrency=10, imagefs_timeout=10.0, top=5, cluster_name=None, generated_at=None):
    """Audit one cluster; returns the report document (see the module docstring).

    ``policy`` is a ``drift.rules.Policy``; the baseline is read, never written. Errors are the
    drift check's (``BaselineError``, ``ApiError``, ``ValidationError``...), raised before any
    report exists.
    """
    if isinstance(top, bool) or not isinstance(top, int) or top < 0:
        raise ValidationError("top must be a whole number of 0 or more, got %r" % (top,))
    accounting = ImageAccounting(GROUP_BY)
    rows = _Rows(lambda labels: policy.select(labels)[0])

    def observe(facts, labels):
        accounting.add(facts)
        rows.add(facts, labels)

    drift = check_drift(
        client, policy, label_selectors=label_selectors, field_selectors=field_selectors,
        baseline_source=baseline_source, baseline_configmap=baseline_configmap, baseline_path=baseline_path,
        update_baseline="false", check_mode=True, max_images=max_images, imagefs=imagefs,
        imagefs_concurrency=imagefs_concurrency, imagefs_timeout=imagefs_timeout,
        observe=observe, report_options={"top": top, "group_by": list(GROUP_BY)})

    by_node = {}
    for breach in drift["breaches"]:
        rules = by_node.setdefault(breach["node"], [])
        if breach["rule"] not in rules:
            rules.append(breach["rule"])
    for row in rows.rows:
        row["breaches"] = by_node.get(row["name"], [])
    nodes = sorted(rows.rows, key=lambda r: (-r["total_bytes"], r["name"]))

    cluster = accounting.report(top)
    if imagefs:
        cluster["imagefs"] = imagefs_totals(rows.imagefs_results)
    return {
        "format": AUDIT_FORMAT,
        "version": FORMAT_VERSION,
        "generated_at": generated_at or format_timestamp(),
        "cluster_name": cluster_name,
        "ok": drift["ok"],
        "summary": drift["summary"],
        "cluster": cluster,
        "nodes": nodes,
        "breaches": drift["breaches"],
        "breaching_nodes": drift["breaching_nodes"],
        "nodes_added": drift["nodes_added"],
        "nodes_removed": drift["nodes_removed"],
        "notes": drift["notes"],
        "baseline": drift["baseline"],
        "policy": drift["policy"],
        "imagefs": bool(imagefs),
    }


# ----------------------------------------------------------------------------------------------
# Files
# ----------------------------------------------------------------------------------------------

def report_paths(path, formats):
    """``{format: file}`` for the formats asked: one format writes ``path`` as given; several (or
    a path without an extension) write ``path`` with each format's extension."""
    if not path:
        return {}
    if isinstance(formats, str):
        formats = [formats]
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ValidationError("report_format must be one or more of %s, got %r" % (", ".join(FORMATS), formats))
    path = os.path.abspath(os.path.expanduser(path))
    root, extension = os.path.splitext(path)
    if len(formats) == 1 and extension:
        return {formats[0]: path}
    return dict((f, (root if extension in EXTENSIONS.values() else path) + EXTENSIONS[f]) for f in formats)


def render(report, report_format):
    """The report as text in one format."""
    if report_format == "json":
        return json.dumps(report, indent=2, sort_keys=False) + "\n"
    if report_format == "markdown":
        from ansible_collections.nodewatch.k8s.plugins.module_utils.report.markdown import render_audit_markdown
        return render_audit_markdown(report)
    from ansible_collections.nodewatch.k8s.plugins.module_utils.report.html import render_audit_html
    return render_audit_html(report)


def write_reports(report, paths, check_mode=False, renderers=None):
    """Write ``report`` to every ``{format: file}``; returns what was (or would be) written.

    Each file is replaced atomically (mode 0644: a report is for people to read); its directory
    is created when missing. ``renderers`` maps a format to a function of the report (the fleet
    summary brings its own).
    """
    written = []
    for report_format, path in sorted(paths.items()):
        text = (renderers[report_format] if renderers else (lambda doc, f=report_format: render(doc, f)))(report)
        payload = text.encode("utf-8")
        if not check_mode:
            directory = os.path.dirname(path)
            try:
                if not os.path.isdir(directory):
                    os.makedirs(directory)
                atomic_write(path, payload, mode=0o644)
            except OSError as exc:
                raise ValidationError("cannot write the %s report %s: %s; check report_path and that its "
                                      "directory is writable" % (report_format, path, exc.strerror or exc))
        written.append({"format": report_format, "path": path, "bytes": len(payload)})
    return written


# ----------------------------------------------------------------------------------------------
# What the module returns
# ----------------------------------------------------------------------------------------------

def fleet_entry(report, keep=FLEET_NODES):
    """The part of a report a fleet summary needs: everything but the rows of unremarkable nodes.

    Keeps this cluster's ``keep`` worst nodes in the fleet's own order (``fleet.worst_key``:
    most breaches, fullest, largest), so the fleet's worst nodes, taken from every cluster's
    worst, are exactly the worst of all the clusters' nodes.
    """
    counts = {}
    for breach in report["breaches"]:
        counts[breach["node"]] = counts.get(breach["node"], 0) + 1

    def order(row):
        return worst_key({"cluster": "", "name": row["name"], "total_bytes": row["total_bytes"],
                          "storage_percent": storage_percent(row)[0], "breach_count": counts.get(row["name"], 0)})

    entry = dict(report)
    entry["nodes"] = [dict((k, v) for k, v in row.items() if k != "top_images")
                      for row in heapq.nsmallest(keep, report["nodes"], key=order)]
    return entry


def fleet_clusters(results, fleet_report_path, fleet_formats):
    """``build_fleet_report`` entries from ``{cluster name: registered node_image_audit result}``.

    A failed audit becomes an unreadable cluster (unreachable, forbidden or error, from the
    module's ``error_kind``) with its message; a cluster's report link is the one of its files
    in the fleet summary's first format, relative to the fleet summary.
    """
    if not isinstance(results, dict):
        raise ValidationError("clusters must map each cluster's name to its registered node_image_audit "
                              "result, got %s" % type(results).__name__)
    base = os.path.dirname(os.path.abspath(os.path.expanduser(fleet_report_path or ".")))
    wanted = [f for f in (fleet_formats or ()) if f in FORMATS]
    entries = []
    for name, result in results.items():
        if not isinstance(result, dict):
            raise ValidationError("clusters.%s must be the registered result of nodewatch.k8s.node_image_audit, "
                                  "got %s" % (name, type(result).__name__))
        if result.get("failed") or result.get("fleet_entry") is None:
            kind = result.get("error_kind")
            status = kind if kind in ("unreachable", "forbidden") else "error"
            error = result.get("msg") or ("the audit returned no fleet_entry: run nodewatch.k8s.node_image_audit "
                                          "with fleet_entry: true")
            entries.append({"name": name, "report": None, "status": status, "error": error})
            continue
        files = dict((item["format"], item["path"]) for item in result.get("reports") or ())
        link = next((files[f] for f in wanted if f in files), None) or next(iter(files.values()), None)
        entries.append({"name": name, "report": result["fleet_entry"],
                        "report_path": os.path.relpath(link, base) if link else None})
    return entries


def fleet_summary_text(fleet, max_lines=30):
    """Why the fleet fails (or that it passes): every line names the cluster, then the node, the
    rule, the value and the limit (the breach's own sentence)."""
    totals = fleet["totals"]
    lines = []
    for cluster in fleet["clusters"]:
        if cluster["status"] in ("unreachable", "forbidden", "error"):
            lines.append("cluster %s could not be read (%s): %s" % (cluster["name"], cluster["status"], cluster["error"]))
    for breach in fleet["breaches"]:
        lines.append("cluster %s: %s" % (breach["cluster"], breach["message"]))
    head = "fleet image audit: %d cluster%s, %d node%s: " % (
        totals["clusters"], "" if totals["clusters"] == 1 else "s", totals["nodes"], "" if totals["nodes"] == 1 else "s")
    if fleet["ok"]:
        return head + "no breaches"
    head += "%d breach%s on %d node%s, %d cluster%s not read" % (
        totals["breaches"], "" if totals["breaches"] == 1 else "es", totals["breaching_nodes"],
        "" if totals["breaching_nodes"] == 1 else "s", totals["clusters_unreadable"],
        "" if totals["clusters_unreadable"] == 1 else "s")
    shown = lines[:max_lines]
    if len(lines) > max_lines:
        shown.append("... and %d more" % (len(lines) - max_lines))
    return "\n".join([head] + shown)


def fleet_table(fleet):
    """The console view of the fleet: one line per cluster."""
    clusters = fleet["clusters"]
    width = max([len(c["name"]) for c in clusters] + [7])
    lines = ["%-*s %-11s %7s %11s %8s" % (width, "CLUSTER", "STATUS", "NODES", "TOTAL", "BREACHES")]
    for cluster in clusters:
        readable = cluster["status"] not in ("unreachable", "forbidden", "error")
        lines.append("%-*s %-11s %7s %11s %8s" % (
            width, cluster["name"], cluster["status"], cluster["node_count"] if readable else "-",
            human_bytes(cluster["total_bytes"]) if readable and cluster["total_bytes"] is not None else "-",
            cluster["breach_count"] if readable else "-"))
    return lines


def status_marks(row, truncated, breach, separator):
    """What the status column of a node's row says: ``truncated`` (wording), not ready, cordoned,
    and its breached rules through ``breach`` ("BREACH %s"), joined with ``separator``."""
    marks = []
    if row["truncated"]:
        marks.append(truncated)
    if row.get("ready") is False:
        marks.append("not ready")
    if row.get("schedulable") is False:
        marks.append("cordoned")
    if row["breaches"]:
        marks.append(breach % separator.join(row["breaches"]))
    return marks


def console_table(report, rows=50):
    """The console view: one aligned line per node (largest first, at most ``rows``), then totals."""
    nodes = report["nodes"]
    shown = nodes[:max(int(rows), 0)]
    imagefs = report.get("imagefs")
    width = max([len(n["name"]) for n in shown] + [4])
    lines = ["%-*s %7s %11s %7s%s  %s" % (width, "NODE", "IMAGES", "TOTAL", "% CAP",
                                          "  IMAGEFS" if imagefs else "", "STATUS")]
    for node in shown:
        marks = status_marks(node, "truncated", "BREACH %s", ",")
        fs = ""
        if imagefs:
            percent = (node.get("imagefs") or {}).get("percent")
            fs = "  %7s" % ("%.1f" % percent if percent is not None else "-")
        percent = node["percent_of_capacity"]
        lines.append("%-*s %7s %11s %7s%s  %s" % (
            width, node["name"], "%d%s" % (node["image_count"], "+" if node["truncated"] else ""),
            node["total_human"], "%.1f" % percent if percent is not None else "-", fs, ", ".join(marks) or "ok"))
    if len(nodes) > len(shown):
        lines.append("... and %d more nodes (all are in the report file)" % (len(nodes) - len(shown)))
    cluster = report["cluster"]
    lines.append("-" * (width + 30))
    lines.append("%d nodes, %d images (%d distinct), %s%s" % (
        cluster["node_count"], cluster["image_count_total"], cluster["distinct_images"], cluster["total_human"],
        " (at least: %d truncated lists)" % cluster["nodes_truncated"] if cluster["lower_bound"] else ""))
    lines.append("shared by several nodes: %s, on one node only: %s, each image once: %s" % (
        human_bytes(cluster["shared_bytes"]), human_bytes(cluster["unique_bytes"]), cluster["distinct_human"]))
    if report["ok"]:
        lines.append("limits: no breaches")
    else:
        breaching = report["breaching_nodes"]
        lines.append("limits: %d breach(es) on %d node(s): %s%s" % (
            len(report["breaches"]), len(breaching), ", ".join(breaching[:10]),
            " ..." if len(breaching) > 10 else ""))
    return lines
