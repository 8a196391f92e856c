#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: node_info
short_description: List Kubernetes nodes, as compact summaries or full objects
version_added: 0.1.0
description:
  - Lists all nodes of a cluster, one node by name, or the nodes matching label and field selectors.
  - Returns a compact summary per node by default (name, roles, readiness, schedulability, pressure
    conditions, taints, addresses, kubelet version, capacity, zone); O(detail=complete) adds allocatable
    resources, container runtime and creation time. Full Node objects can be large (a 5,000-node cluster
    returns about 70 MB), so ask for them only when needed with O(full=true).
  - Reads the API page by page, so memory stays proportional to one page plus the answer.
options:
  name:
    description:
      - Name of one node. Returns an empty list when it does not exist.
    type: str
  label_selectors:
    description:
      - Label selectors, all of which must match, in Kubernetes syntax (V(key=value), V(key!=value),
        V(key in (a,b\)), V(key notin (a,b\)), V(key), V(!key)).
    type: list
    elements: str
    default: []
  field_selectors:
    description:
      - Field selectors, all of which must match, such as V(spec.unschedulable=true) or
        V(metadata.name=worker-1).
    type: list
    elements: str
    default: []
  full:
    description:
      - Return the full Node objects instead of summaries.
    type: bool
    default: false
  detail:
    description:
      - What each summary carries (without O(full=true)).
      - V(compact) is what people ask about a node first; RV(nodes[].capacity) leaves out the resources
        the node has none of (such as C(hugepages-2Mi) of V(0)). Ansible checks, encodes and copies every
        value a module returns, so on thousands of nodes a smaller summary makes a faster task.
      - V(complete) adds RV(nodes[].allocatable), RV(nodes[].container_runtime) and RV(nodes[].created),
        and every capacity entry - the summary of versions before 0.2.0.
    type: str
    choices: [compact, complete]
    default: compact
    version_added: 0.1.0
  query:
    description:
      - A JMESPath expression applied to the list of nodes (summaries or full objects); its result
        is returned as RV(query_result).
    type: str
extends_documentation_fragment:
  - nodewatch.k8s.auth
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
  platform:
    platforms: posix
author:
  - nodewatch.k8s maintainers (@nodewatch)
requirements:
  - jmespath (only for O(query))
"""

EXAMPLES = r"""
- name: All nodes, summarized
  nodewatch.k8s.node_info:
  register: nodes

- name: Workers in one zone that are not cordoned
  nodewatch.k8s.node_info:
    label_selectors:
      - "!node-role.kubernetes.io/control-plane"
      - topology.kubernetes.io/zone=eu-west-1a
    field_selectors:
      - spec.unschedulable=false

- name: Names of nodes that are not Ready
  nodewatch.k8s.node_info:
    query: "[?!ready].name"
  register: not_ready

- name: Allocatable resources of every worker
  nodewatch.k8s.node_info:
    label_selectors:
      - node-role.kubernetes.io/worker
    detail: complete
    query: "[].{name: name, cpu: allocatable.cpu, memory: allocatable.memory}"

- name: One node, the whole object
  nodewatch.k8s.node_info:
    name: worker-1
    full: true
    context: prod
"""

RETURN = r"""
nodes:
  description: The nodes found, summaries unless O(full=true).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Node name.
      type: str
    roles:
      description: Roles from the node's C(node-role.kubernetes.io/<role>) and C(kubernetes.io/role) labels.
      type: list
      elements: str
    ready:
      description: The Ready condition is True.
      type: bool
    schedulable:
      description: The node is not cordoned.
      type: bool
    conditions_true:
      description: Condition types other than Ready whose status is True (C(DiskPressure), C(MemoryPressure)...).
      type: list
      elements: str
    taints:
      description: C(key), C(effect) and, when set, C(value) of each taint.
      type: list
      elements: dict
    addresses:
      description: Address type to the first address of that type.
      type: dict
    kubelet_version:
      description: C(status.nodeInfo.kubeletVersion).
      type: str
    capacity:
      description:
        - C(status.capacity) - resource to quantity as the API writes it.
        - With O(detail=compact), resources of quantity zero are left out.
      type: dict
    zone:
      description: The C(topology.kubernetes.io/zone) label, or null.
      type: str
    allocatable:
      description: C(status.allocatable) - resource to quantity.
      type: dict
      returned: with O(detail=complete)
    container_runtime:
      description: C(status.nodeInfo.containerRuntimeVersion).
      type: str
      returned: with O(detail=complete)
    created:
      description: C(metadata.creationTimestamp).
      type: str
      returned: with O(detail=complete)
  sample:
    - name: worker-1
      roles: [worker]
      ready: true
      schedulable: true
      conditions_true: []
      taints: []
      addresses: {InternalIP: 10.0.1.12, Hostname: worker-1}
      kubelet_version: v1.31.2
      capacity: {cpu: "8", memory: 32863436Ki, ephemeral-storage: 101430960Ki, pods: "110"}
      zone: eu-west-1a
count:
  description: Number of nodes found.
  returned: always
  type: int
  sample: 12
query_result:
  description: The result of O(query) over RV(nodes).
  returned: when O(query) is set
  type: raw
  sample: [worker-3, worker-7]
"""

from ansible_collections.nodewatch.k8s.plugins.module_utils.ansible_module import run_module
from ansible_collections.nodewatch.k8s.plugins.module_utils.nodes.ops import node_info
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.query import apply_query

ARGUMENT_SPEC = dict(
    name=dict(type="str"),
    label_selectors=dict(type="list", elements="str", default=[]),
    field_selectors=dict(type="list", elements="str", default=[]),
    full=dict(type="bool", default=False),
    detail=dict(type="str", choices=["compact", "complete"], default="compact"),
    query=dict(type="str"),
)


def handle(module):
    params = module.params
    nodes = node_info(module.client, params["name"], params["label_selectors"],
                      params["field_selectors"], params["full"], params["detail"])
    result = {"changed": False, "nodes": nodes, "count": len(nodes)}
    if params["query"]:
        result["query_result"] = apply_query(params["query"], nodes)
    return result


def main():
    run_module(ARGUMENT_SPEC, handle, supports_check_mode=True)


if __name__ == "__main__":
    main()
