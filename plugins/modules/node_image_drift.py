#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: node_image_drift
short_description: Check the image storage of Kubernetes nodes against thresholds and a baseline
version_added: 0.1.0
description:
  - Checks every selected node's container images, as its kubelet reports them in C(status.images),
    against limits - total bytes, percentage of the node's storage, image count, denied images - and,
    with a baseline, against what the node held when the baseline was captured - growth in bytes or
    percent, and new images.
  - Different groups of nodes can have different limits with O(rule_sets).
  - The baseline is kept in a ConfigMap (split over several when it outgrows one) or a local JSON file,
    and can be captured or refreshed by the same task with O(update_baseline).
  - Returns every breach with the node, the rule, the value found and the limit, and by default fails
    the task when there is any (O(fail_on_breach)), with a readable summary as the message.
  - Reads nodes page by page and keeps only what the check needs, so it runs on clusters of
    thousands of nodes.
options:
  update_baseline:
    description:
      - Replace the stored baseline with what this check saw. V(false) never writes, V(true) always
        writes (after checking against the old baseline), V(on_success) writes only when the check
        found no breach.
      - Nothing is written in check mode; C(changed) then says whether it would have been.
      - A baseline that cannot be read (corrupt, from another tool or another format version) is never
        replaced - the task fails and says so; delete it to capture a new one.
    type: str
    choices: ['false', 'true', on_success]
    default: 'false'
  fail_on_breach:
    description:
      - Fail the task when any limit is crossed, with RV(summary) as the message. The result still holds
        RV(breaches) and the rest.
      - With V(false) the task succeeds and the caller decides from RV(ok) and RV(breaches).
    type: bool
    default: true
extends_documentation_fragment:
  - nodewatch.k8s.auth
  - nodewatch.k8s.thresholds
  - nodewatch.k8s.node_selection
  - nodewatch.k8s.image_reading
  - nodewatch.k8s.baseline
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying the baseline.
    support: full
    details: Reads and checks as usual; never writes the baseline.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Shows the baseline change - totals and one line per added, removed or changed node.
notes:
  - B(Truncated image lists.) The kubelet reports at most C(nodeStatusMaxImages) images per node. For a
    node listing that many, totals and counts are lower bounds - a value over its limit is still a
    breach, and new images may only have moved into the listed part.
  - B(What is summed.) Image sizes count layers shared between images once per image, so the total of
    a node is more than the disk it uses; O(imagefs=true) gives the exact percentage for O(max_percent).
  - The playbooks C(nodewatch.k8s.audit), C(nodewatch.k8s.drift_check) and C(nodewatch.k8s.capture_baseline)
    run this module; C(docs/drift.md) in the collection explains the rules, baselines and playbooks.
author:
  - nodewatch.k8s maintainers (@nodewatch)
seealso:
  - module: nodewatch.k8s.node_images_info
"""

EXAMPLES = r"""
- name: Fail when a node's images fill more than 80 % of its storage or exceed 40 GiB
  nodewatch.k8s.node_image_drift:
    max_percent: 80
    max_total_bytes: 40Gi

- name: Capture a baseline in a ConfigMap (nodewatch-system/nodewatch-baseline)
  nodewatch.k8s.node_image_drift:
    baseline_source: configmap
    update_baseline: true
    fail_on_breach: false

- name: Daily drift check - growth and new images since the baseline, GPU nodes with their own limits
  nodewatch.k8s.node_image_drift:
    baseline_source: configmap
    baseline_configmap:
      namespace: platform
      name: image-baseline
    max_percent: 80
    max_growth_bytes: 10Gi
    fail_on_new_images: true
    allow_new:
      - "registry.example.com/apps/*"
    deny:
      - "*:latest"
    rule_sets:
      - name: gpu
        selector: node-role.kubernetes.io/gpu
        thresholds:
          max_percent: 90
          max_total_bytes: 200Gi
    update_baseline: on_success
  register: drift

- name: Check without failing, against a baseline file, and decide later
  nodewatch.k8s.node_image_drift:
    baseline_source: file
    baseline_path: /var/lib/nodewatch/baseline.json
    max_growth_percent: 25
    fail_on_breach: false
  register: drift

- name: Show the breaches
  ansible.builtin.debug:
    msg: "{{ drift.breaches | map(attribute='message') | list }}"
  when: not drift.ok
"""

RETURN = r"""
ok:
  description: True when no limit was crossed.
  returned: always
  type: bool
  sample: false
breaches:
  description: Every limit crossed, node by node.
  returned: always
  type: list
  elements: dict
  contains:
    node:
      description: Node name.
      type: str
    rule:
      description:
        - The rule crossed, named after the limit option that set it (V(max_percent), V(deny)...), or
          V(new_image) for O(fail_on_new_images).
      type: str
    rule_set:
      description: The rule set whose limits applied, V(default) for the top-level options.
      type: str
    observed:
      description: The value found (bytes, percent, count, or the image name for V(deny) and V(new_image)).
      type: raw
    limit:
      description: The limit crossed (the pattern for V(deny), the O(allow_new) list for V(new_image)).
      type: raw
    observed_human:
      description: The value found, for people.
      type: str
    limit_human:
      description: The limit, for people.
      type: str
    message:
      description: One sentence naming the node, the value, the limit, the rule and the rule set.
      type: str
    lower_bound:
      description: The value is a lower bound (the node's image list is truncated); the true value is larger.
      type: bool
  sample:
    - node: worker-7
      rule: max_growth_bytes
      rule_set: default
      observed: 12884901888
      limit: 10737418240
      observed_human: 12.0 GiB
      limit_human: 10.0 GiB
      message: "node worker-7: image storage grew by 12.0 GiB since the baseline of 2026-11-18T10:00:00Z
        (limit 10.0 GiB) [rule max_growth_bytes, rule set default]"
      lower_bound: false
breaching_nodes:
  description: Names of the nodes with at least one breach, sorted.
  returned: always
  type: list
  elements: str
  sample: [worker-7]
nodes_checked:
  description: How many nodes were checked.
  returned: always
  type: int
  sample: 120
nodes_added:
  description: Checked nodes that are not in the baseline (not checked for growth or new images).
  returned: always
  type: list
  elements: str
  sample: [worker-121]
nodes_removed:
  description: Nodes in the baseline that were not found (deleted, or no longer selected).
  returned: always
  type: list
  elements: str
  sample: []
notes:
  description: Sentences on what limits the check (truncated lists, rules not checked, missing baseline).
  returned: always
  type: list
  elements: str
  sample: ["no baseline was given: max_growth_bytes, max_growth_percent and fail_on_new_images were not checked"]
summary:
  description: A readable summary of the check, one breach per line; the task's message when it fails.
  returned: always
  type: str
  sample: "image drift: 1 breach on 1 of 120 nodes\n- node worker-7: image storage grew by 12.0 GiB ..."
baseline:
  description: The baseline compared with, and whether it was replaced.
  returned: always
  type: dict
  contains:
    source:
      description: O(baseline_source).
      type: str
    configmap:
      description: Namespace and name of the ConfigMap.
      type: dict
      returned: with O(baseline_source=configmap)
    path:
      description: The baseline file.
      type: str
      returned: with O(baseline_source=file)
    found:
      description: A baseline existed and was compared with.
      type: bool
    captured_at:
      description: When the baseline compared with was captured (RFC 3339, UTC); null without one.
      type: str
    nodes:
      description: Nodes in the baseline compared with.
      type: int
    updated:
      description: The baseline was replaced by this task (never in check mode).
      type: bool
    new_captured_at:
      description: The capture time of the new baseline, when one was (or in check mode would have been) written.
      type: str
    configmaps:
      description: The ConfigMaps the new baseline occupies (one unless it was split).
      type: list
      elements: str
      returned: when a baseline was written to a ConfigMap
  sample:
    source: configmap
    configmap: {namespace: nodewatch-system, name: nodewatch-baseline}
    found: true
    captured_at: "2026-11-18T10:00:00Z"
    nodes: 120
    updated: false
    new_captured_at: null
policy:
  description: The limits applied, after validation (sizes in bytes, percentages as numbers).
  returned: always
  type: dict
  sample:
    thresholds: {max_total_bytes: null, max_percent: 80.0, max_image_count: null, max_growth_bytes: 10737418240,
                 max_growth_percent: null, deny: [], allow_new: [], fail_on_new_images: false}
    rule_sets: []
"""

from ansible_collections.nodewatch.k8s.plugins.module_utils.ansible_module import run_module
from ansible_collections.nodewatch.k8s.plugins.module_utils.argspecs import (
    BASELINE,
    BASELINE_REQUIRED_IF,
    IMAGE_READING,
    NODE_SELECTION,
    check_options,
    merged,
    policy_from,
    pool_size,
    threshold_spec,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.check import UPDATE_CHOICES, check_drift

ARGUMENT_SPEC = merged(
    threshold_spec(), NODE_SELECTION, IMAGE_READING, BASELINE,
    update_baseline=dict(type="str", choices=list(UPDATE_CHOICES), default="false"),
    fail_on_breach=dict(type="bool", default=True),
)


def handle(module):
    params = module.params
    client = module.get_client(pool_maxsize=pool_size(params))
    result = check_drift(client, policy_from(params), update_baseline=params["update_baseline"],
                         check_mode=module.check_mode, want_diff=module._diff, **check_options(params))
    if params["fail_on_breach"] and not result["ok"]:
        module.fail_json(msg=result["summary"], **result)
    return result


def main():
    run_module(ARGUMENT_SPEC, handle, supports_check_mode=True, required_if=BASELINE_REQUIRED_IF)


if __name__ == "__main__":
    main()
