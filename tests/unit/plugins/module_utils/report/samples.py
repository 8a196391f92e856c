# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Audit reports shaped as nodewatch.k8s.audit writes them, small enough to read in a test,
and a tiny DOM over html.parser to look at the pages the renderers write."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from html.parser import HTMLParser

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.quantity import human_bytes

GiB = 1 << 30
MiB = 1 << 20
DIGEST = "sha256:%064x"


def node(name, total, capacity=100 * GiB, roles=(), zone="eu-west-1a", ready=True, schedulable=True, count=20,
         truncated=False, imagefs=None, imagefs_error=None, rule_set=None):
    entry = {
        "name": name, "roles": list(roles), "zone": zone, "ready": ready, "schedulable": schedulable,
        "image_count": count, "total_bytes": total, "total_human": human_bytes(total),
        "percent_of_capacity": round(total * 100.0 / capacity, 2) if capacity else None,
        "capacity_bytes": capacity, "truncated": truncated, "top_images": [],
    }
    if imagefs is not None:
        used, fs_capacity = imagefs
        entry["imagefs"] = {"used_bytes": used, "capacity_bytes": fs_capacity, "available_bytes": fs_capacity - used,
                            "percent": round(used * 100.0 / fs_capacity, 2), "used_human": human_bytes(used),
                            "capacity_human": human_bytes(fs_capacity)}
    if imagefs_error is not None:
        entry["imagefs_error"] = imagefs_error
    if rule_set is not None:
        entry["rule_set"] = rule_set
    return entry


def image(repo, tag, size, nodes, number=1):
    digest = DIGEST % number
    return {"key": "%s@%s" % (repo, digest), "name": repo, "digest": digest, "tags": ["%s:%s" % (repo, tag)],
            "size_bytes": size, "size_human": human_bytes(size), "node_count": len(nodes), "nodes": list(nodes)[:10]}


def breach(node_name, rule, observed, limit, rule_set="default", lower_bound=False):
    if rule in ("max_total_bytes", "max_growth_bytes"):
        shown = (human_bytes(observed), human_bytes(limit))
    elif rule in ("max_percent", "max_growth_percent"):
        shown = ("%.1f%%" % observed, "%g%%" % limit)
    else:
        shown = (str(observed), str(limit))
    message = "node %s: %s is %s (limit %s) [rule %s, rule set %s]" % (node_name, rule, shown[0], shown[1], rule, rule_set)
    return {"node": node_name, "rule": rule, "rule_set": rule_set, "observed": observed, "limit": limit,
            "observed_human": shown[0], "limit_human": shown[1], "message": message, "lower_bound": lower_bound}


def thresholds(**limits):
    base = {"max_total_bytes": None, "max_percent": None, "max_image_count": None, "max_growth_bytes": None,
            "max_growth_percent": None, "deny": [], "allow_new": [], "fail_on_new_images": False}
    base.update(limits)
    return base


def report(nodes, breaches=(), limits=None, rule_sets=(), images=(), notes=(), cluster=None, **top):
    """An audit report document; ``top`` adds or replaces top-level keys (format, cluster_name, ...)."""
    nodes = sorted(nodes, key=lambda n: -n["total_bytes"])
    breaches = list(breaches)
    total = sum(n["total_bytes"] for n in nodes)
    summary = {
        "node_count": len(nodes), "image_count_total": sum(n["image_count"] for n in nodes),
        "distinct_images": len(images), "total_bytes": total, "total_human": human_bytes(total),
        "shared_bytes": total, "unique_bytes": 0, "distinct_bytes": sum(i["size_bytes"] for i in images),
        "distinct_human": human_bytes(sum(i["size_bytes"] for i in images)),
        "nodes_truncated": sum(1 for n in nodes if n["truncated"]), "lower_bound": any(n["truncated"] for n in nodes),
        "largest_images": sorted(images, key=lambda i: -i["size_bytes"])[:5],
        "most_common_images": sorted(images, key=lambda i: -i["node_count"])[:5],
        "groups": {}, "notes": [],
    }
    summary.update(cluster or {})
    doc = {
        "generated_at": "2026-11-30T05:31:47Z", "ok": not breaches, "summary": "image drift: ...",
        "cluster": summary, "nodes": nodes, "breaches": breaches,
        "breaching_nodes": sorted(set(b["node"] for b in breaches)), "nodes_added": [], "nodes_removed": [],
        "notes": list(notes),
        "baseline": {"source": "none", "found": False, "captured_at": None, "nodes": 0, "updated": False,
                     "new_captured_at": None},
        "policy": {"thresholds": thresholds(**(limits if limits is not None else {"max_percent": 80.0})),
                   "rule_sets": [dict(rs, thresholds=thresholds(**rs["thresholds"])) for rs in rule_sets]},
    }
    doc.update(top)
    return doc


# -- a tiny DOM -------------------------------------------------------------------------------------

VOID = {"meta", "link", "br", "img", "input", "hr", "source", "col", "wbr", "area", "base", "embed", "param", "track"}


class Element:
    def __init__(self, tag, attrs, parent=None):
        self.tag = tag
        self.attrs = dict(attrs)
        self.parent = parent
        self.children = []

    @property
    def classes(self):
        return (self.attrs.get("class") or "").split()

    def text(self):
        return "".join(c if isinstance(c, str) else c.text() for c in self.children)

    def iter(self):
        for child in self.children:
            if isinstance(child, Element):
                yield child
                yield from child.iter()

    def find_all(self, tag=None, cls=None, **attrs):
        return [e for e in self.iter() if (tag is None or e.tag == tag) and (cls is None or cls in e.classes)
                and all(e.attrs.get(k) == v for k, v in attrs.items())]

    def find(self, tag=None, cls=None, **attrs):
        found = self.find_all(tag, cls, **attrs)
        return found[0] if found else None

    def by_id(self, element_id):
        return self.find(id=element_id)

    def __repr__(self):
        return "<%s %r>" % (self.tag, self.attrs)


class _Builder(HTMLParser):
    def __init__(self):
        HTMLParser.__init__(self, convert_charrefs=True)
        self.root = Element("#document", {})
        self.current = self.root
        self.mismatched = []

    def handle_starttag(self, tag, attrs):
        element = Element(tag, attrs, self.current)
        self.current.children.append(element)
        if tag not in VOID:
            self.current = element

    def handle_startendtag(self, tag, attrs):
        self.current.children.append(Element(tag, attrs, self.current))

    def handle_endtag(self, tag):
        if self.current.tag != tag:
            self.mismatched.append((tag, self.current.tag))
            return
        self.current = self.current.parent

    def handle_data(self, data):
        self.current.children.append(data)


def parse(page):
    """The page as a tree; raises when a tag is closed that is not open (the markup is broken)."""
    builder = _Builder()
    builder.feed(page)
    builder.close()
    assert builder.mismatched == [], builder.mismatched[:5]
    assert builder.current is builder.root, "unclosed element %r" % builder.current
    return builder.root


def table_rows(dom, table_id):
    table = dom.by_id(table_id)
    assert table is not None, table_id
    return [[cell.text() for cell in row.find_all("td")] for row in table.find("tbody").find_all("tr")]


def headers(dom, table_id):
    return [th.text() for th in dom.by_id(table_id).find("thead").find_all("th")]


# -- a report from the engine itself ------------------------------------------------------------------

def engine_report(client, thresholds_=None, rule_sets=(), imagefs=False, top=5, cluster_name=None):
    """The audit report of a live (fake) cluster, from the audit engine the playbook runs."""
    from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.check import build_policy
    from ansible_collections.nodewatch.k8s.plugins.module_utils.report.audit import run_audit

    policy = build_policy(thresholds_ if thresholds_ is not None else {"max_percent": 80}, list(rule_sets))
    return run_audit(client, policy, imagefs=imagefs, top=top, cluster_name=cluster_name,
                     generated_at="2026-11-30T05:31:47Z")
