#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: node
short_description: Manage a Kubernetes node's labels, annotations, taints, cordon state, or remove it
version_added: 0.1.0
description:
  - Brings one Node to the wanted state; reports C(changed) only when something changed.
  - Labels and annotations are merged into what the node has, or replace it (O(labels_mode=replace)).
    A value of V(null) removes a key in either mode.
  - Taints are merged (added or updated by key and effect; an entry with O(taints[].state=absent) removes
    it) or replace the node's list exactly (O(taints_mode=replace)).
  - "Keys in Kubernetes' own namespaces (C(kubernetes.io/) and C(k8s.io/) and their subdomains, except
    C(node-role.kubernetes.io/)) are kept by O(labels_mode=replace) and O(annotations_mode=replace), and
    taints whose key starts with C(node.kubernetes.io/) are kept by O(taints_mode=replace), because the
    kubelet and the node controller own them."
  - Updates are JSON merge patches that carry the node's C(resourceVersion); when the node changed
    meanwhile (HTTP 409) the module reads it again and recomputes, up to five times.
  - Kubelets register their own Node objects, so a missing node is an error unless O(create=true).
options:
  name:
    description: Name of the node.
    type: str
    required: true
  state:
    description:
      - V(present) updates the node (and creates it with O(create=true)); V(absent) deletes it.
    type: str
    choices: [present, absent]
    default: present
  labels:
    description:
      - Labels to set. A V(null) value removes the label. Values must be strings (quote V("true")).
    type: dict
  labels_mode:
    description: Whether O(labels) are merged into the node's labels or replace them.
    type: str
    choices: [merge, replace]
    default: merge
  annotations:
    description: Annotations to set. A V(null) value removes the annotation.
    type: dict
  annotations_mode:
    description: Whether O(annotations) are merged into the node's annotations or replace them.
    type: str
    choices: [merge, replace]
    default: merge
  taints:
    description: Taints to ensure.
    type: list
    elements: dict
    suboptions:
      key:
        description: Taint key, a qualified name like C(dedicated) or C(example.com/gpu).
        type: str
        required: true
      value:
        description: Taint value (may be empty).
        type: str
      effect:
        description:
          - Taint effect. Required for present taints; for absent ones, omitting it removes every
            effect of the key.
        type: str
        choices: [NoSchedule, PreferNoSchedule, NoExecute]
      state:
        description: Whether the taint should be on the node (only V(present) with O(taints_mode=replace)).
        type: str
        choices: [present, absent]
        default: present
  taints_mode:
    description: Whether O(taints) are merged into the node's taints or are the exact list.
    type: str
    choices: [merge, replace]
    default: merge
  cordoned:
    description:
      - V(true) marks the node unschedulable (cordon), V(false) schedulable again (uncordon).
        Unset leaves it as it is. Cordoning does not evict pods.
    type: bool
  create:
    description:
      - Create the Node object when it does not exist, from O(definition).
    type: bool
    default: false
  definition:
    description:
      - The Node to create with O(create=true) (C(metadata), C(spec)); C(metadata.name) defaults to O(name).
    type: dict
  grace_period:
    description:
      - With O(state=absent), the C(gracePeriodSeconds) of the delete request.
    type: int
  wait:
    description: With O(state=absent), wait until the API no longer returns the node.
    type: bool
    default: false
  wait_timeout:
    description: Seconds to wait with O(wait=true).
    type: int
    default: 120
extends_documentation_fragment:
  - nodewatch.k8s.auth
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: full
  platform:
    platforms: posix
author:
  - nodewatch.k8s maintainers (@nodewatch)
"""

EXAMPLES = r"""
- name: Label a node and mark it for GPU work
  nodewatch.k8s.node:
    name: worker-7
    labels:
      node-role.kubernetes.io/gpu: ""
      example.com/team: ml
    taints:
      - key: nvidia.com/gpu
        value: present
        effect: NoSchedule

- name: Remove a label and a taint
  nodewatch.k8s.node:
    name: worker-7
    labels:
      example.com/team: null
    taints:
      - key: nvidia.com/gpu
        state: absent

- name: Cordon a node before maintenance
  nodewatch.k8s.node:
    name: worker-7
    cordoned: true

- name: Exactly these user labels (Kubernetes' own labels are kept)
  nodewatch.k8s.node:
    name: worker-7
    labels:
      example.com/team: platform
    labels_mode: replace

- name: Delete a decommissioned node and wait until it is gone
  nodewatch.k8s.node:
    name: worker-7
    state: absent
    grace_period: 30
    wait: true
"""

RETURN = r"""
node:
  description: Summary of the node after the change (or as it would be, in check mode).
  returned: when O(state=present)
  type: dict
  sample:
    name: worker-7
    roles: [gpu]
    ready: true
    schedulable: false
    taints: [{key: nvidia.com/gpu, value: present, effect: NoSchedule}]
created:
  description: Whether the Node object was created.
  returned: when O(state=present)
  type: bool
diff:
  description: Labels, annotations, taints and unschedulable before and after (with C(--diff)).
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.nodewatch.k8s.plugins.module_utils.ansible_module import run_module
from ansible_collections.nodewatch.k8s.plugins.module_utils.nodes.ops import ensure_node, remove_node

ARGUMENT_SPEC = dict(
    name=dict(type="str", required=True),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    labels=dict(type="dict"),
    labels_mode=dict(type="str", choices=["merge", "replace"], default="merge"),
    annotations=dict(type="dict"),
    annotations_mode=dict(type="str", choices=["merge", "replace"], default="merge"),
    taints=dict(type="list", elements="dict", options=dict(
        key=dict(type="str", required=True, no_log=False),
        value=dict(type="str"),
        effect=dict(type="str", choices=["NoSchedule", "PreferNoSchedule", "NoExecute"]),
        state=dict(type="str", choices=["present", "absent"], default="present"),
    )),
    taints_mode=dict(type="str", choices=["merge", "replace"], default="merge"),
    cordoned=dict(type="bool"),
    create=dict(type="bool", default=False),
    definition=dict(type="dict"),
    grace_period=dict(type="int"),
    wait=dict(type="bool", default=False),
    wait_timeout=dict(type="int", default=120),
)


def handle(module):
    p = module.params
    if p["state"] == "absent":
        result = remove_node(module.client, p["name"], p["grace_period"], p["wait"], p["wait_timeout"],
                             check_mode=module.check_mode)
    else:
        taints = None
        if p["taints"] is not None:
            # Ansible fills unset suboptions with None; the engine wants only what the user said.
            taints = [dict((k, v) for k, v in t.items() if v is not None) for t in p["taints"]]
        result = ensure_node(
            module.client, p["name"], labels=p["labels"], labels_mode=p["labels_mode"],
            annotations=p["annotations"], annotations_mode=p["annotations_mode"], taints=taints,
            taints_mode=p["taints_mode"], cordoned=p["cordoned"], create=p["create"],
            definition=p["definition"], check_mode=module.check_mode)
    if not module._diff:
        result.pop("diff", None)
    return result


def main():
    run_module(ARGUMENT_SPEC, handle, supports_check_mode=True)


if __name__ == "__main__":
    main()
