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
  max_total_bytes:
    description:
      - Most bytes of images a node may hold (the sum of the C(sizeBytes) its kubelet reports).
      - A number of bytes or a size with a unit - V(5368709120), V(5Gi), V(5GiB), V(500MB).
      - Not checked when unset, null or empty. Every limit of this module is an inclusive maximum - a
        value equal to the limit passes.
    type: raw
  max_percent:
    description:
      - Most percent (0 to 100, V(80) or V(80%)) of a node's storage its images may fill - of the image
        filesystem when O(imagefs=true) and the kubelet answers, else of the node's
        C(ephemeral-storage) capacity.
      - The kubelet starts garbage-collecting images at 85 % of the image filesystem
        (C(imageGCHighThresholdPercent)); a limit of V(80) warns before that.
    type: raw
  max_image_count:
    description:
      - Most images a node may hold, a whole number such as V(300).
    type: raw
  max_growth_bytes:
    description:
      - Most bytes a node's images may have grown since the baseline (a size like O(max_total_bytes)).
      - Needs a baseline (O(baseline_source)); nodes added since the baseline are not checked.
    type: raw
  max_growth_percent:
    description:
      - Most percent (0 or more; V(150) allows growth to 2.5 times) a node's image bytes may have grown since the baseline.
    type: raw
  deny:
    description:
      - Glob patterns of images that must not be on any node, matched against each image's tags, digest
        name and repository (V(*) also matches V(/)), for example V(docker.io/library/*:latest).
    type: list
    elements: str
    default: []
  allow_new:
    description:
      - Glob patterns of images that may appear since the baseline without a breach when
        O(fail_on_new_images=true).
    type: list
    elements: str
    default: []
  fail_on_new_images:
    description:
      - Treat every image that is not in a node's baseline entry (and matches no O(allow_new) pattern)
        as a breach.
    type: bool
    default: false
  rule_sets:
    description:
      - Limits for groups of nodes. A node gets the limits of the first rule set whose O(rule_sets[].selector)
        matches its labels, and the limits given at the top level otherwise.
      - A rule set's limits replace the top-level ones (they are not merged); a limit it leaves out is
        not checked for its nodes.
    type: list
    elements: dict
    default: []
    suboptions:
      name:
        description:
          - Name of the rule set, shown in breaches. V(default) is reserved for the top-level limits.
        type: str
        required: true
      selector:
        description:
          - A Kubernetes label selector, for example V(node-role.kubernetes.io/gpu) or
            V(pool in (batch,ml\),!spot).
        type: str
        required: true
      thresholds:
        description:
          - The limits of these nodes; same meaning as the top-level options of the same names.
        type: dict
        suboptions:
          max_total_bytes:
            description: See O(max_total_bytes).
            type: raw
          max_percent:
            description: See O(max_percent).
            type: raw
          max_image_count:
            description: See O(max_image_count).
            type: raw
          max_growth_bytes:
            description: See O(max_growth_bytes).
            type: raw
          max_growth_percent:
            description: See O(max_growth_percent).
            type: raw
          deny:
            description: See O(deny).
            type: list
            elements: str
          allow_new:
            description: See O(allow_new).
            type: list
            elements: str
          fail_on_new_images:
            description: See O(fail_on_new_images).
            type: bool
  label_selectors:
    description:
      - Check only the nodes matching all these label selectors (Kubernetes syntax).
      - A baseline holds the nodes selected when it was captured; check it with the same selectors.
    type: list
    elements: str
    default: []
  field_selectors:
    description:
      - Check only the nodes matching all these field selectors, such as V(spec.unschedulable=false).
    type: list
    elements: str
    default: []
  baseline_source:
    description:
      - Where the baseline is kept. V(none) checks the limits only; growth and new-image rules are then
        skipped with a note.
    type: str
    choices: [none, configmap, file]
    default: none
  baseline_configmap:
    description:
      - The ConfigMap that holds the baseline with O(baseline_source=configmap). It is created when
        missing (the namespace must exist); a baseline too big for one ConfigMap is split over several
        named after it.
      - Reading needs C(get) on ConfigMaps; writing also C(create), C(update) and C(delete) (and C(list)
        to sweep parts left by interrupted writes).
      - An existing ConfigMap without the label C(app.kubernetes.io/managed-by=nodewatch.k8s) is read but
        never written.
    type: dict
    suboptions:
      namespace:
        description: Namespace of the ConfigMap.
        type: str
        default: nodewatch-system
      name:
        description: Name of the ConfigMap.
        type: str
        default: nodewatch-baseline
  baseline_path:
    description:
      - The JSON file that holds the baseline with O(baseline_source=file), on the host that runs the
        module. It is replaced atomically and created with mode C(0600).
    type: path
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
  max_images:
    description:
      - The kubelet's C(nodeStatusMaxImages) setting in this cluster (50 by default). A node reporting at
        least this many images probably has more - its totals are lower bounds and the breaches and notes
        say so. Use V(-1) when the kubelets report every image.
    type: int
    default: 50
  imagefs:
    description:
      - Read each node's image filesystem from the kubelet Summary API so that O(max_percent) uses the
        exact disk usage. Needs C(get) on C(nodes/proxy); a node whose kubelet does not answer falls back
        to its C(ephemeral-storage) percentage, with a note.
    type: bool
    default: false
  imagefs_concurrency:
    description:
      - How many kubelet Summaries to read at the same time with O(imagefs=true) (1 to 64).
    type: int
    default: 10
  imagefs_timeout:
    description:
      - Seconds to wait for one node's kubelet Summary.
    type: float
    default: 10
extends_documentation_fragment:
  - nodewatch.k8s.auth
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
        - The rule crossed - V(max_total_bytes), V(max_percent), V(max_image_count), V(max_growth_bytes),
          V(max_growth_percent), V(deny) or V(new_image).
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
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.check import (
    THRESHOLD_OPTIONS,
    build_policy,
    check_drift,
)

THRESHOLD_SPEC = dict(
    max_total_bytes=dict(type="raw"),
    max_percent=dict(type="raw"),
    max_image_count=dict(type="raw"),
    max_growth_bytes=dict(type="raw"),
    max_growth_percent=dict(type="raw"),
    deny=dict(type="list", elements="str"),
    allow_new=dict(type="list", elements="str"),
    fail_on_new_images=dict(type="bool"),
)

ARGUMENT_SPEC = dict(
    max_total_bytes=dict(type="raw"),
    max_percent=dict(type="raw"),
    max_image_count=dict(type="raw"),
    max_growth_bytes=dict(type="raw"),
    max_growth_percent=dict(type="raw"),
    deny=dict(type="list", elements="str", default=[]),
    allow_new=dict(type="list", elements="str", default=[]),
    fail_on_new_images=dict(type="bool", default=False),
    rule_sets=dict(type="list", elements="dict", default=[], options=dict(
        name=dict(type="str", required=True),
        selector=dict(type="str", required=True),
        thresholds=dict(type="dict", options=THRESHOLD_SPEC),
    )),
    label_selectors=dict(type="list", elements="str", default=[]),
    field_selectors=dict(type="list", elements="str", default=[]),
    baseline_source=dict(type="str", choices=["none", "configmap", "file"], default="none"),
    baseline_configmap=dict(type="dict", apply_defaults=True, options=dict(
        namespace=dict(type="str", default="nodewatch-system"),
        name=dict(type="str", default="nodewatch-baseline"),
    )),
    baseline_path=dict(type="path"),
    update_baseline=dict(type="str", choices=["false", "true", "on_success"], default="false"),
    fail_on_breach=dict(type="bool", default=True),
    max_images=dict(type="int", default=50),
    imagefs=dict(type="bool", default=False),
    imagefs_concurrency=dict(type="int", default=10),
    imagefs_timeout=dict(type="float", default=10.0),
)


def handle(module):
    params = module.params
    policy = build_policy(dict((k, params[k]) for k in THRESHOLD_OPTIONS), params["rule_sets"])
    client = module.get_client(pool_maxsize=max(10, params["imagefs_concurrency"] or 0))
    result = check_drift(
        client, policy, label_selectors=params["label_selectors"],
        field_selectors=params["field_selectors"], baseline_source=params["baseline_source"],
        baseline_configmap=params["baseline_configmap"], baseline_path=params["baseline_path"],
        update_baseline=params["update_baseline"], check_mode=module.check_mode,
        max_images=params["max_images"], imagefs=params["imagefs"],
        imagefs_concurrency=params["imagefs_concurrency"], imagefs_timeout=params["imagefs_timeout"],
        want_diff=module._diff)
    if params["fail_on_breach"] and not result["ok"]:
        module.fail_json(msg=result["summary"], **result)
    return result


def main():
    run_module(ARGUMENT_SPEC, handle, supports_check_mode=True,
               required_if=[("baseline_source", "file", ["baseline_path"])])


if __name__ == "__main__":
    main()
