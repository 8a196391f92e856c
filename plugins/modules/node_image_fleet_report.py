#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: node_image_fleet_report
short_description: Summarize the image audits of several clusters in one fleet report
version_added: 0.1.0
description:
  - Takes the registered results of M(nodewatch.k8s.node_image_audit) (run with O(nodewatch.k8s.node_image_audit#module:fleet_entry=true))
    for every cluster of a fleet, including those that failed, and writes the fleet summary - clusters,
    nodes, bytes and breaches per cluster, the worst nodes and the images taking most space across the
    fleet - as Markdown, JSON and/or a self-contained HTML page.
  - A cluster whose audit failed is reported as unreachable, forbidden or in error, with the reason; it does
    not stop the summary.
  - Each cluster is linked to its own report of the same format, when there is one.
  - This is the last step of the C(nodewatch.k8s.fleet_audit) playbook. It talks to no cluster.
options:
  clusters:
    description:
      - Each cluster's name mapped to its registered M(nodewatch.k8s.node_image_audit) result, for example
        C({{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'audit'\))\) }}).
    type: dict
    required: true
  worst_nodes:
    description:
      - How many of the fleet's worst nodes (most breaches, then fullest, then largest) the report lists
        (1 to 100).
    type: int
    default: 50
extends_documentation_fragment:
  - nodewatch.k8s.report
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Says which files would be written; writes none.
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - nodewatch.k8s maintainers (@nodewatch)
seealso:
  - module: nodewatch.k8s.node_image_audit
"""

EXAMPLES = r"""
- name: Audit every cluster of the inventory (each host is a cluster)
  nodewatch.k8s.node_image_audit:
    context: "{{ inventory_hostname }}"
    max_percent: 80
    report_format: html
    report_path: "reports/{{ inventory_hostname }}"
    fleet_entry: true
  register: audit
  ignore_errors: true

- name: Write the fleet summary and fail when any cluster breaches or could not be read
  nodewatch.k8s.node_image_fleet_report:
    clusters: "{{ dict(ansible_play_hosts_all | zip(ansible_play_hosts_all | map('extract', hostvars, 'audit'))) }}"
    report_format: [html, json]
    report_path: reports/fleet
  register: fleet
  run_once: true
  delegate_to: localhost
  failed_when: not fleet.ok
"""

RETURN = r"""
ok:
  description: True when every cluster was read and no limit is crossed anywhere.
  returned: always
  type: bool
summary:
  description: One line per unreadable cluster and per breach, each naming the cluster, then the node, rule,
    value and limit.
  returned: always
  type: str
totals:
  description: Clusters (ok, with breaches, unreadable), nodes, image bytes, breaches, breaching nodes.
  returned: always
  type: dict
clusters:
  description: Per cluster - name, status (V(ok), V(breach), V(unreachable), V(forbidden), V(error)), error,
    report_path, node_count, total_bytes, breach_count, breaching_nodes.
  returned: always
  type: list
  elements: dict
worst_nodes:
  description: The fleet's worst nodes, with their cluster.
  returned: always
  type: list
  elements: dict
table:
  description: One console line per cluster.
  returned: always
  type: list
  elements: str
reports:
  description: The fleet report files written (or that would be, in check mode).
  returned: always
  type: list
  elements: dict
"""

import json

from ansible_collections.nodewatch.k8s.plugins.module_utils.ansible_module import run_module
from ansible_collections.nodewatch.k8s.plugins.module_utils.argspecs import REPORT, merged
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ValidationError
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.baseline import format_timestamp
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.audit import (
    FLEET_NODES,
    fleet_clusters,
    fleet_summary_text,
    fleet_table,
    report_paths,
    write_reports,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.fleet import build_fleet_report
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.html import render_fleet_html
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.markdown import render_fleet_markdown

ARGUMENT_SPEC = merged(
    REPORT,
    clusters=dict(type="dict", required=True),
    worst_nodes=dict(type="int", default=50),
)

RENDERERS = {
    "markdown": render_fleet_markdown,
    "json": lambda fleet: json.dumps(fleet, indent=2) + "\n",
    "html": render_fleet_html,
}


def handle(module):
    params = module.params
    if not 1 <= params["worst_nodes"] <= FLEET_NODES:
        raise ValidationError("worst_nodes must be from 1 to %d, got %d" % (FLEET_NODES, params["worst_nodes"]))
    formats = params["report_format"]
    paths = report_paths(params["report_path"], formats)
    generated_at = format_timestamp()

    def fleet_linking(report_format):
        # Each summary links every cluster to that cluster's report of the same format, if any.
        entries = fleet_clusters(params["clusters"], params["report_path"], [report_format] + formats)
        return build_fleet_report(entries, generated_at=generated_at, worst_nodes=params["worst_nodes"])

    fleet = fleet_linking(formats[0])
    written = []
    for report_format, path in sorted(paths.items()):
        written += write_reports(fleet_linking(report_format), {report_format: path}, check_mode=module.check_mode,
                                 renderers=RENDERERS)
    return {
        "changed": bool(written),
        "ok": fleet["ok"],
        "summary": fleet_summary_text(fleet),
        "totals": fleet["totals"],
        "clusters": fleet["clusters"],
        "worst_nodes": fleet["worst_nodes"],
        "table": fleet_table(fleet),
        "reports": written,
    }


def main():
    run_module(ARGUMENT_SPEC, handle, kubernetes=False, supports_check_mode=True)


if __name__ == "__main__":
    main()
