#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: node_image_audit
short_description: Audit the image storage of a cluster's nodes and write the report, in one pass
version_added: 0.1.0
description:
  - Reads every selected node once and, on that one pass, checks it against the limits and the baseline
    (like M(nodewatch.k8s.node_image_drift)), accounts for the cluster's images (like
    M(nodewatch.k8s.node_images_info)) and keeps a row per node; then writes the report - Markdown, JSON
    and/or a self-contained HTML page with charts - on the host that runs the module.
  - Returns the verdict, the breaches and a console table of the largest nodes, not the rows of every
    node, which stay in the report file. This is what the C(nodewatch.k8s.audit) and
    C(nodewatch.k8s.fleet_audit) playbooks run.
  - The baseline is only read, never written; capture one with M(nodewatch.k8s.node_image_drift) or the
    C(nodewatch.k8s.capture_baseline) playbook.
options:
  cluster_name:
    description:
      - A name for the cluster in the report's title and in fleet summaries, for example the
        kubeconfig context.
    type: str
  top:
    description:
      - How many of the largest images to list per node in the report, and how many images in the
        cluster's rankings (largest, most common, taking most space).
    type: int
    default: 5
  table_rows:
    description:
      - How many nodes (largest first) RV(table) shows; the report files always hold every node.
    type: int
    default: 50
  fail_on_breach:
    description:
      - Fail the task, after writing the report, when a limit is crossed, with RV(summary) as the message.
    type: bool
    default: false
  fleet_entry:
    description:
      - Also return RV(fleet_entry), what M(nodewatch.k8s.node_image_fleet_report) needs of this cluster.
    type: bool
    default: false
extends_documentation_fragment:
  - nodewatch.k8s.auth
  - nodewatch.k8s.report
  - nodewatch.k8s.thresholds
  - nodewatch.k8s.node_selection
  - nodewatch.k8s.image_reading
  - nodewatch.k8s.baseline
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the report files.
    support: full
    details: Reads and checks as usual and says which report files would be written; writes none.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
notes:
  - A report file is rewritten by every run (it carries the time it was generated), so the task reports
    C(changed) when it writes one.
author:
  - nodewatch.k8s maintainers (@nodewatch)
seealso:
  - module: nodewatch.k8s.node_image_drift
  - module: nodewatch.k8s.node_images_info
  - module: nodewatch.k8s.node_image_fleet_report
"""

EXAMPLES = r"""
- name: Audit the cluster, write an HTML and a JSON report, fail when a limit is crossed
  nodewatch.k8s.node_image_audit:
    max_percent: 80
    max_growth_bytes: 10Gi
    baseline_source: configmap
    report_format: [html, json]
    report_path: reports/prod-eu
    cluster_name: prod-eu
    fail_on_breach: true

- name: Audit the GPU nodes only and show the ten largest
  nodewatch.k8s.node_image_audit:
    label_selectors: [node-role.kubernetes.io/gpu]
    max_total_bytes: 200Gi
    table_rows: 10
  register: audit

- name: Show them
  ansible.builtin.debug:
    msg: "{{ audit.table }}"
"""

RETURN = r"""
ok:
  description: True when no limit is crossed.
  returned: always
  type: bool
summary:
  description: A readable summary of the breaches and notes.
  returned: always
  type: str
breaches:
  description: Every limit crossed, as M(nodewatch.k8s.node_image_drift) returns them (node, rule, rule_set,
    observed, limit, their human forms, message, lower_bound).
  returned: always
  type: list
  elements: dict
breaching_nodes:
  description: The names of the nodes with a breach.
  returned: always
  type: list
  elements: str
nodes_checked:
  description: How many nodes were read.
  returned: always
  type: int
nodes_added:
  description: Nodes not in the baseline (informational).
  returned: always
  type: list
  elements: str
nodes_removed:
  description: Nodes in the baseline that are gone (informational).
  returned: always
  type: list
  elements: str
notes:
  description: Sentences on what limits the result (truncated lists, no baseline, unreadable kubelets).
  returned: always
  type: list
  elements: str
cluster:
  description: The cluster's image accounting - totals, shared and unique bytes, the largest, most common
    and heaviest images, bytes per zone and role; as RV(nodewatch.k8s.node_images_info#module:cluster).
  returned: always
  type: dict
baseline:
  description: Where the baseline was read from, whether it was found, when it was captured.
  returned: always
  type: dict
policy:
  description: The limits applied (default thresholds and rule sets).
  returned: always
  type: dict
table:
  description: The console view - one line per node, largest first, at most O(table_rows), then totals.
  returned: always
  type: list
  elements: str
reports:
  description: The report files written (or, in check mode, that would be), with their format and size.
  returned: always
  type: list
  elements: dict
  sample: [{format: html, path: /srv/reports/prod-eu.html, bytes: 812345}]
fleet_entry:
  description: The report document with only the nodes a fleet summary may rank among its worst.
  returned: when O(fleet_entry=true)
  type: dict
"""

from ansible_collections.nodewatch.k8s.plugins.module_utils.ansible_module import run_module
from ansible_collections.nodewatch.k8s.plugins.module_utils.argspecs import (
    BASELINE,
    BASELINE_REQUIRED_IF,
    IMAGE_READING,
    NODE_SELECTION,
    REPORT,
    check_options,
    merged,
    policy_from,
    pool_size,
    threshold_spec,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.audit import (
    console_table,
    fleet_entry,
    report_paths,
    run_audit,
    write_reports,
)

ARGUMENT_SPEC = merged(
    threshold_spec(), NODE_SELECTION, IMAGE_READING, BASELINE, REPORT,
    cluster_name=dict(type="str"),
    top=dict(type="int", default=5),
    table_rows=dict(type="int", default=50),
    fail_on_breach=dict(type="bool", default=False),
    fleet_entry=dict(type="bool", default=False),
)


def handle(module):
    params = module.params
    paths = report_paths(params["report_path"], params["report_format"])
    client = module.get_client(pool_maxsize=pool_size(params))
    report = run_audit(client, policy_from(params), top=params["top"], cluster_name=params["cluster_name"],
                       **check_options(params))
    written = write_reports(report, paths, check_mode=module.check_mode)
    result = dict((key, report[key]) for key in ("ok", "summary", "breaches", "breaching_nodes", "nodes_added",
                                                 "nodes_removed", "notes", "cluster", "baseline", "policy"))
    result.update(changed=bool(written), nodes_checked=len(report["nodes"]), reports=written,
                  table=console_table(report, params["table_rows"]))
    if params["fleet_entry"]:
        result["fleet_entry"] = fleet_entry(report)
    if params["fail_on_breach"] and not report["ok"]:
        module.fail_json(msg=report["summary"], **result)
    return result


def main():
    run_module(ARGUMENT_SPEC, handle, supports_check_mode=True, required_if=BASELINE_REQUIRED_IF)


if __name__ == "__main__":
    main()
