# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""The Markdown reports: one cluster's audit and the fleet summary.

Rendered in Python from the report documents (``report/audit.py``, ``report/fleet.py``): a
5,000-row table costs milliseconds here, where a Jinja loop over Ansible's tagged data cost
seconds. Every value that comes from the API goes through ``_cell`` so that a node name or an
image tag with ``|`` or a newline cannot break a table.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.quantity import human_bytes
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.audit import status_marks


def _cell(value):
    text = "" if value is None else str(value)
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _plural(count, word, plural=None):
    return "%d %s" % (count, word if count == 1 else (plural or word + "s"))


def _limits_text(thresholds):
    shown = []
    for key, value in thresholds.items():
        if value in (None, [], False):
            continue
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        shown.append("%s = %s" % (key, value))
    return ", ".join(shown) or "none"


def _where(baseline):
    if baseline.get("source") == "configmap":
        configmap = baseline.get("configmap") or {}
        return "%s %s/%s" % (baseline["source"], configmap.get("namespace"), configmap.get("name"))
    return "%s %s" % (baseline.get("source"), baseline.get("path"))


def _baseline_line(report):
    baseline = report.get("baseline") or {}
    if baseline.get("source") in (None, "none"):
        return "Baseline: none (growth and new-image rules not checked)."
    if baseline.get("found"):
        return "Baseline: %s, captured %s, %s." % (_cell(_where(baseline)), baseline.get("captured_at"),
                                                   _plural(baseline.get("nodes") or 0, "node"))
    return "Baseline: none found in %s." % _cell(_where(baseline))


def _image_name(image):
    return image["tags"][0] if image.get("tags") else image.get("key") or image.get("name")


def render_audit_markdown(report):
    """One cluster's audit report (the document of ``report/audit.py``) as Markdown."""
    cluster = report["cluster"]
    imagefs = report.get("imagefs")
    out = []
    add = out.append
    title = "Node image storage audit"
    if report.get("cluster_name"):
        title += ": %s" % _cell(report["cluster_name"])
    add("# %s" % title)
    add("")
    add("Generated %s by `nodewatch.k8s.audit`." % report["generated_at"])
    if report["ok"]:
        add("**Result: PASSED - no limit crossed.**")
    else:
        add("**Result: FAILED - %d breach(es) on %d node(s).**" % (len(report["breaches"]),
                                                                   len(report["breaching_nodes"])))
    add("")
    add("## Cluster")
    add("")
    add("| | |")
    add("|---|---|")
    truncated = " (%d with a truncated image list)" % cluster["nodes_truncated"] if cluster["nodes_truncated"] else ""
    add("| Nodes | %d%s |" % (cluster["node_count"], truncated))
    add("| Images listed | %d (%d distinct) |" % (cluster["image_count_total"], cluster["distinct_images"]))
    add("| Image bytes, summed over nodes | %s%s |"
        % (cluster["total_human"], " (a lower bound)" if cluster["lower_bound"] else ""))
    add("| Shared by several nodes | %s |" % human_bytes(cluster["shared_bytes"]))
    add("| On one node only | %s |" % human_bytes(cluster["unique_bytes"]))
    add("| Each distinct image once | %s |" % cluster["distinct_human"])
    fs = cluster.get("imagefs")
    if fs:
        add("| Image filesystems (kubelet) | %s of %s (%s %%), %d nodes measured, %d failed |" % (
            fs["used_human"], fs["capacity_human"], fs["percent"], fs["nodes_measured"], fs["nodes_failed"]))
    add("")
    add("Sizes are the sums of what kubelets report per image: layers shared between images count once per "
        "image, so they over-state the disk used%s." % ("; the image filesystem figures are exact" if fs else ""))
    for note in cluster.get("notes") or ():
        add("- %s" % _cell(note))
    add("")
    add("## Limits")
    add("")
    if report["ok"]:
        add("No limit crossed on %s." % _plural(cluster["node_count"], "node"))
    else:
        add("| Node | Rule | Rule set | Value | Limit | |")
        add("|---|---|---|---|---|---|")
        for breach in report["breaches"]:
            add("| %s | %s | %s | %s | %s | %s |" % (
                _cell(breach["node"]), breach["rule"], _cell(breach["rule_set"]), _cell(breach["observed_human"]),
                _cell(breach["limit_human"]), "lower bound" if breach.get("lower_bound") else ""))
    add("")
    add(_baseline_line(report))
    if report.get("nodes_added"):
        add("Nodes added since the baseline: %s." % ", ".join(_cell(n) for n in report["nodes_added"]))
    if report.get("nodes_removed"):
        add("Nodes gone since the baseline: %s." % ", ".join(_cell(n) for n in report["nodes_removed"]))
    add("")
    policy = report.get("policy") or {}
    add("Limits applied (default rule set): %s." % _limits_text(policy.get("thresholds") or {}))
    for rule_set in policy.get("rule_sets") or ():
        add("Rule set `%s` (`%s`): %s." % (_cell(rule_set["name"]), _cell(rule_set["selector"]),
                                           _limits_text(rule_set.get("thresholds") or {})))
    if report.get("notes"):
        add("")
        add("Notes:")
        for note in report["notes"]:
            add("- %s" % _cell(note))
    add("")
    add("## Nodes")
    add("")
    add("| Node | Roles | Zone | Images | Total | %% of capacity | %sStatus |" % ("Image filesystem | " if imagefs else ""))
    add("|---|---|---|---:|---:|---:|%s---|" % ("---:|" if imagefs else ""))
    for node in report["nodes"]:
        marks = status_marks(node, "truncated list", "**breach: %s**", ", ")
        percent = node["percent_of_capacity"]
        fs_cell = ""
        if imagefs:
            node_fs = node.get("imagefs")
            fs_cell = "%s | " % (("%s of %s (%.1f %%)" % (node_fs["used_human"], node_fs["capacity_human"], node_fs["percent"]))
                                 if node_fs else _cell(node.get("imagefs_error") or "-"))
        add("| %s | %s | %s | %d%s | %s | %s | %s%s |" % (
            _cell(node["name"]), _cell(", ".join(node["roles"])) or "-", _cell(node.get("zone")) or "-",
            node["image_count"], "+" if node["truncated"] else "", node["total_human"],
            "%.2f" % percent if percent is not None else "-", fs_cell, ", ".join(marks) or "ok"))
    for heading, key in (("Largest images", "largest_images"), ("Most common images", "most_common_images")):
        add("")
        add("## %s" % heading)
        add("")
        add("| Image | Size | Nodes |")
        add("|---|---:|---:|")
        for image in cluster.get(key) or ():
            add("| %s | %s | %d |" % (_cell(_image_name(image)), image["size_human"], image["node_count"]))
    if cluster.get("heaviest_images"):
        add("")
        add("## Images taking most space (size x nodes)")
        add("")
        add("| Image | Size | Nodes | Total |")
        add("|---|---:|---:|---:|")
        for image in cluster["heaviest_images"]:
            add("| %s | %s | %d | %s |" % (_cell(_image_name(image)), image["size_human"], image["node_count"],
                                           image["total_human"]))
    add("")
    return "\n".join(out)


def render_fleet_markdown(fleet):
    """The fleet summary (the document of ``report/fleet.py``) as Markdown."""
    totals = fleet["totals"]
    out = []
    add = out.append
    add("# Fleet image storage audit")
    add("")
    add("Generated %s by `nodewatch.k8s.fleet_audit`." % fleet["generated_at"])
    if fleet["ok"]:
        add("**Result: PASSED - %s read, no limit crossed.**" % _plural(totals["clusters"], "cluster"))
    else:
        problems = []
        if totals["breaches"]:
            problems.append("%d breach(es) on %d node(s)" % (totals["breaches"], totals["breaching_nodes"]))
        if totals["clusters_unreadable"]:
            problems.append("%s could not be read" % _plural(totals["clusters_unreadable"], "cluster"))
        add("**Result: FAILED - %s.**" % "; ".join(problems))
    add("")
    add("%s, %s, %s of images summed over nodes." % (
        _plural(totals["clusters"], "cluster"), _plural(totals["nodes"], "node"), human_bytes(totals["total_bytes"])))
    add("")
    add("## Clusters")
    add("")
    add("| Cluster | Status | Nodes | Image bytes | Breaches | Breaching nodes | Report |")
    add("|---|---|---:|---:|---:|---:|---|")
    for cluster in fleet["clusters"]:
        readable = cluster["status"] not in ("unreachable", "forbidden", "error")
        add("| %s | %s | %s | %s | %s | %s | %s |" % (
            _cell(cluster["name"]), cluster["status"] if readable else "**%s**" % cluster["status"],
            cluster.get("node_count") if readable else "-",
            human_bytes(cluster["total_bytes"]) + (" (lower bound)" if cluster.get("lower_bound") else "")
            if readable and cluster.get("total_bytes") is not None else "-",
            cluster.get("breach_count") if readable else "-", cluster.get("breaching_nodes") if readable else "-",
            _cell(cluster.get("report_path")) or "-"))
    unreadable = [c for c in fleet["clusters"] if c["status"] in ("unreachable", "forbidden", "error")]
    if unreadable:
        add("")
        add("Clusters that could not be read:")
        for cluster in unreadable:
            add("- **%s** (%s): %s" % (_cell(cluster["name"]), cluster["status"], _cell(cluster.get("error"))))
    if fleet.get("breaches"):
        add("")
        add("## Breaches")
        add("")
        add("| Cluster | Node | Rule | Rule set | Value | Limit |")
        add("|---|---|---|---|---|---|")
        for breach in fleet["breaches"]:
            add("| %s | %s | %s | %s | %s | %s |" % (
                _cell(breach["cluster"]), _cell(breach["node"]), breach["rule"], _cell(breach.get("rule_set")),
                _cell(breach["observed_human"]), _cell(breach["limit_human"])))
    if fleet.get("worst_nodes"):
        add("")
        add("## Worst nodes of the fleet")
        add("")
        add("| Cluster | Node | Image bytes | % of storage | Breaches |")
        add("|---|---|---:|---:|---|")
        for node in fleet["worst_nodes"]:
            percent = node.get("storage_percent")
            add("| %s | %s | %s | %s | %s |" % (
                _cell(node["cluster"]), _cell(node["name"]), human_bytes(node["total_bytes"]),
                "%.1f" % percent if percent is not None else "-", ", ".join(node.get("breaches") or ()) or "-"))
    if fleet.get("heaviest_images"):
        add("")
        add("## Images taking most space across the fleet (size x nodes)")
        add("")
        add("| Image | Size | Nodes | Total | Clusters |")
        add("|---|---:|---:|---:|---|")
        for image in fleet["heaviest_images"]:
            add("| %s | %s | %d | %s | %s |" % (
                _cell(_image_name(image)), human_bytes(image["size_bytes"]), image["node_count"],
                human_bytes(image["total_bytes"]), _cell(", ".join(image.get("clusters") or ()))))
    add("")
    return "\n".join(out)
