#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: node_images_info
short_description: Report the storage container images occupy on Kubernetes nodes
version_added: 0.1.0
description:
  - For each selected node, from the images its kubelet reports in C(status.images) - the image
    count, the bytes they add up to, the largest images, the percentage of the node's
    C(ephemeral-storage) capacity, and whether the list is truncated.
  - For the cluster - distinct images, bytes of images shared by several nodes versus images on one
    node only, the largest and the most common images and where they are, and totals per group of
    nodes.
  - Optionally the exact usage of each node's image filesystem from the kubelet Summary API
    (O(imagefs=true)).
  - Reads nodes page by page and keeps only their image facts, so memory stays small on clusters of
    thousands of nodes; O(summary_only=true) also leaves the per-node list out of the result.
  - Each node's entry is compact by default (O(detail=compact)) - three largest images, no fields that
    repeat what another field says. Ansible checks, encodes and copies every value a module returns, so
    on thousands of nodes that is most of the task's time; O(detail=complete) returns every field.
options:
  name:
    description:
      - Name of one node. Returns no nodes when it does not exist.
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
      - Field selectors, all of which must match, such as V(spec.unschedulable=false).
    type: list
    elements: str
    default: []
  image_filter:
    description:
      - Count, sum and list only the images whose name matches this pattern.
      - An image matches when its repository (V(docker.io/library/nginx)), any of its names (with tag
        or digest), or the short form after the last V(/) (V(nginx), V(nginx:1.27)) matches, so
        V(nginx*) works without spelling out the registry. Images without a name never match.
      - RV(nodes[].truncated) still describes the full list - images the kubelet left out may be ones
        that would match.
    type: str
  image_filter_type:
    description:
      - How O(image_filter) is read. V(glob) is shell-style and must match a whole name (V(*)
        crosses V(/)); V(regex) is a Python regular expression searched anywhere in a name.
    type: str
    choices: [glob, regex]
    default: glob
  top:
    description:
      - How many images to list in the cluster's RV(cluster.largest_images) and
        RV(cluster.most_common_images), and, with O(detail=complete), per node in RV(nodes[].top_images)
        (unless O(top_per_node) is set).
    type: int
    default: 10
  top_per_node:
    description:
      - How many of the largest images to list per node in RV(nodes[].top_images).
      - Defaults to V(3) with O(detail=compact) and to O(top) with O(detail=complete).
    type: int
    version_added: 0.1.0
  detail:
    description:
      - What each node's entry in RV(nodes) carries.
      - V(compact) leaves out what other fields already say - RV(nodes[].max_images) (the value of
        O(max_images)), the C(size_human) of each image in RV(nodes[].top_images), and the sentence
        explaining a truncated list (RV(nodes[].truncated) says it) - and returns RV(nodes[].malformed) and
        RV(nodes[].notes) only when they hold something. It lists O(top_per_node) (3) images per node.
      - V(complete) returns every field, as versions before 0.2.0 did, with O(top) images per node.
    type: str
    choices: [compact, complete]
    default: compact
    version_added: 0.1.0
  max_images:
    description:
      - The kubelet's C(nodeStatusMaxImages) setting in this cluster (the most images a node reports).
        A node reporting at least this many images is flagged RV(nodes[].truncated).
      - Use V(-1) when the kubelets are configured without a limit.
    type: int
    default: 50
  summary_only:
    description:
      - Return only the cluster summary (RV(cluster) and RV(count)); RV(nodes) is an empty list.
      - Use it on big clusters, where the per-node list is most of the result's size.
    type: bool
    default: false
  group_by:
    description:
      - Label keys to total the cluster's images by, in RV(cluster.groups), for example
        V(topology.kubernetes.io/zone).
      - The pseudo-key V(node-role) groups by the node's roles (from its
        C(node-role.kubernetes.io/<role>) labels, joined with V(,)); nodes without a value are
        grouped under V(<none>).
    type: list
    elements: str
    default: []
  imagefs:
    description:
      - Also read each node's image filesystem from the kubelet Summary API
        (C(/api/v1/nodes/NAME/proxy/stats/summary), C(node.runtime.imageFs)) - the bytes really used,
        with shared layers counted once.
      - Needs C(get) on the C(nodes/proxy) resource and a kubelet the API server can reach. A node
        whose kubelet cannot be read gets RV(nodes[].imagefs_error) instead; the task does not fail.
    type: bool
    default: false
  imagefs_concurrency:
    description:
      - How many kubelet Summaries to read at the same time with O(imagefs=true) (1 to 64).
    type: int
    default: 10
  imagefs_timeout:
    description:
      - Seconds to wait for one node's kubelet Summary. Each node is asked once, without retries.
    type: float
    default: 10
  query:
    description:
      - A JMESPath expression applied to the result (a mapping with RV(nodes), RV(cluster) and
        RV(count)); its result is returned as RV(query_result).
    type: str
extends_documentation_fragment:
  - nodewatch.k8s.auth
attributes:
  check_mode:
    description: Can run in check mode and return the same result without changing anything.
    support: full
    details: Only reads.
  diff_mode:
    description: Would return details on what has changed when run in diff mode.
    support: none
notes:
  - B(Two measures of image storage.) RV(nodes[].total_bytes) is the sum of the C(sizeBytes) the
    kubelet reports per image. Images share layers (base images, runtimes), and the sum counts a
    shared layer once for every image that uses it, so it is larger than the disk really used.
    RV(nodes[].imagefs.used_bytes) (with O(imagefs=true)) is what the image filesystem really uses.
    Use the first to see which images weigh most and to compare nodes, the second to know how full a
    disk is.
  - B(Truncated lists.) The kubelet reports at most C(nodeStatusMaxImages) images (50 by default),
    the largest first. A node reporting exactly that many probably has more, smaller ones - its
    image count and byte total are then lower bounds, flagged with RV(nodes[].truncated), and
    RV(cluster.lower_bound) is true when any node is.
  - The kubelet starts image garbage collection when the image filesystem passes
    C(imageGCHighThresholdPercent) (85 by default) and frees space down to
    C(imageGCLowThresholdPercent) (80); warn below those values.
author:
  - nodewatch.k8s maintainers (@nodewatch)
requirements:
  - jmespath (only for O(query))
seealso:
  - module: nodewatch.k8s.node_info
  - plugin: nodewatch.k8s.nodes
    plugin_type: inventory
"""

EXAMPLES = r"""
- name: Image storage of every node, and of the cluster
  nodewatch.k8s.node_images_info:
  register: images

- name: Show the nodes whose images fill more than 80 % of their storage
  ansible.builtin.debug:
    msg: "{{ item.name }}: {{ item.total_human }} ({{ item.percent_of_capacity }} %)"
  loop: "{{ images.nodes | selectattr('percent_of_capacity', 'ne', None)
            | selectattr('percent_of_capacity', 'gt', 80) }}"
  loop_control:
    label: "{{ item.name }}"

- name: Where nginx images are, and how much they weigh (workers only)
  nodewatch.k8s.node_images_info:
    label_selectors:
      - node-role.kubernetes.io/worker
    image_filter: "nginx*"
    query: "nodes[?image_count > `0`].{node: name, bytes: total_bytes}"
  register: nginx

- name: Every field of every node, with the ten largest images of each
  nodewatch.k8s.node_images_info:
    detail: complete
  register: everything

- name: Summary of a big cluster, totalled per zone and per role
  nodewatch.k8s.node_images_info:
    summary_only: true
    group_by:
      - topology.kubernetes.io/zone
      - node-role
    top: 20
  register: summary

- name: Real image filesystem usage read from the kubelets
  nodewatch.k8s.node_images_info:
    imagefs: true
    imagefs_concurrency: 20
    field_selectors:
      - spec.unschedulable=false
  register: fs

- name: Fail when an image filesystem is past the kubelet's garbage collection threshold
  ansible.builtin.assert:
    that: item.imagefs.percent < 85
    fail_msg: "{{ item.name }}: image filesystem {{ item.imagefs.percent }} % full"
    quiet: true
  loop: "{{ fs.nodes | selectattr('imagefs', 'defined') }}"
  loop_control:
    label: "{{ item.name }}"
"""

RETURN = r"""
nodes:
  description:
    - Image facts per node, in the order the API lists nodes. Empty with O(summary_only=true).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: Node name.
      type: str
    image_count:
      description: Images counted (those matching O(image_filter) when set).
      type: int
    total_bytes:
      description:
        - Sum of the counted images' C(sizeBytes). Shared layers are counted once per image, so this
          over-states the disk used; a lower bound when RV(nodes[].truncated).
      type: int
    total_human:
      description: RV(nodes[].total_bytes) for people (powers of 1024).
      type: str
    capacity_bytes:
      description: The node's C(ephemeral-storage) capacity in bytes; null when the node does not report it.
      type: int
    percent_of_capacity:
      description: RV(nodes[].total_bytes) as a percentage of RV(nodes[].capacity_bytes); null without a capacity.
      type: float
    truncated:
      description: The node reports at least O(max_images) images, so counts and totals are lower bounds.
      type: bool
    max_images:
      description: The O(max_images) the node was judged against.
      type: int
      returned: with O(detail=complete)
    top_images:
      description: The largest counted images, largest first (at most O(top_per_node)).
      type: list
      elements: dict
      contains:
        name:
          description: Repository, without tag or digest.
          type: str
        digest:
          description: C(sha256:...) digest; null when the kubelet reports no digest name.
          type: str
        tags:
          description: The C(repo:tag) names.
          type: list
          elements: str
        size_bytes:
          description: C(sizeBytes) as the kubelet reports it.
          type: int
        size_human:
          description: The size for people.
          type: str
          returned: with O(detail=complete)
    malformed:
      description: Image entries the kubelet should not have produced (C(index), C(reason), C(counted)).
      type: list
      elements: dict
      returned: with O(detail=complete), or when the node has such entries
    notes:
      description:
        - Sentences on what limits this node's numbers.
        - With O(detail=compact) the sentence on a truncated list is left out (RV(nodes[].truncated) says it).
      type: list
      elements: str
      returned: with O(detail=complete), or when there is something to say
    group_values:
      description: The node's value for each O(group_by) key.
      type: dict
      returned: when O(group_by) is set
    roles:
      description: Roles from the node's role labels.
      type: list
      elements: str
    zone:
      description: The C(topology.kubernetes.io/zone) label, or null.
      type: str
    ready:
      description: The node's Ready condition is True.
      type: bool
    schedulable:
      description: The node is not cordoned.
      type: bool
    imagefs:
      description:
        - The image filesystem as the kubelet measures it (C(node.runtime.imageFs)), shared layers
          counted once - the real disk usage.
      type: dict
      returned: with O(imagefs=true), for nodes whose kubelet answered
      contains:
        capacity_bytes:
          description: Size of the image filesystem.
          type: int
        used_bytes:
          description: Bytes used on it by images.
          type: int
        available_bytes:
          description: Bytes still free on it.
          type: int
        percent:
          description: RV(nodes[].imagefs.used_bytes) as a percentage of RV(nodes[].imagefs.capacity_bytes).
          type: float
        capacity_human:
          description: Capacity for people.
          type: str
        used_human:
          description: Usage for people.
          type: str
    imagefs_error:
      description: Why the kubelet Summary of this node could not be read (RBAC, kubelet unreachable, timeout).
      type: str
      returned: with O(imagefs=true), for nodes whose kubelet did not answer
  sample:
    - name: worker-1
      image_count: 31
      total_bytes: 9414135398
      total_human: 8.8 GiB
      capacity_bytes: 103865303040
      percent_of_capacity: 9.06
      truncated: false
      top_images:
        - name: registry.example.com/ml/trainer
          digest: sha256:6f1c1e0e3a4b9b2ad7e0c0d38b1b4fd3a5d0e0f6c6f8f2c3b9f5d9b1b2a4c6d8
          tags: [registry.example.com/ml/trainer:2.4.1]
          size_bytes: 4294967296
      roles: [worker]
      zone: eu-west-1a
      ready: true
      schedulable: true
      imagefs:
        capacity_bytes: 103865303040
        used_bytes: 6012954214
        available_bytes: 97852348826
        percent: 5.79
        capacity_human: 96.7 GiB
        used_human: 5.6 GiB
cluster:
  description:
    - Image accounting across the selected nodes.
    - RV(cluster.shared_bytes) plus RV(cluster.unique_bytes) equals RV(cluster.total_bytes).
  returned: always
  type: dict
  contains:
    node_count:
      description: Nodes counted.
      type: int
    nodes_truncated:
      description: Nodes whose image list is truncated.
      type: int
    lower_bound:
      description: True when any node is truncated, so counts and totals are lower bounds.
      type: bool
    image_count_total:
      description: Sum of the nodes' image counts.
      type: int
    distinct_images:
      description: Distinct images (by digest, else by name) across the nodes.
      type: int
    total_bytes:
      description: Sum of all nodes' RV(nodes[].total_bytes).
      type: int
    total_human:
      description: RV(cluster.total_bytes) for people.
      type: str
    shared_bytes:
      description: Bytes, summed over every node holding them, of images found on more than one node.
      type: int
    unique_bytes:
      description: Bytes of images found on exactly one node.
      type: int
    distinct_bytes:
      description: Each distinct image counted once - what a registry mirror holding them all would store, at most.
      type: int
    distinct_human:
      description: RV(cluster.distinct_bytes) for people.
      type: str
    largest_images:
      description: The O(top) largest images with how many nodes hold them and the first 10 of those nodes.
      type: list
      elements: dict
    most_common_images:
      description: The O(top) images found on the most nodes, same fields as RV(cluster.largest_images).
      type: list
      elements: dict
    groups:
      description: Per O(group_by) key and value - C(node_count), C(total_bytes), C(image_count), C(nodes_truncated).
      type: dict
    notes:
      description: Sentences on what limits the numbers.
      type: list
      elements: str
    imagefs:
      description:
        - Totals of the image filesystems read with O(imagefs=true) - C(nodes_measured), C(nodes_failed),
          C(capacity_bytes), C(used_bytes), C(available_bytes), C(percent), C(capacity_human), C(used_human),
          and C(failed_nodes) (the first 10, with C(name) and C(error)).
      type: dict
      returned: with O(imagefs=true)
  sample:
    node_count: 12
    nodes_truncated: 1
    lower_bound: true
    image_count_total: 311
    distinct_images: 58
    total_bytes: 93415521583
    total_human: 87.0 GiB
    shared_bytes: 80123456789
    unique_bytes: 13292064794
    distinct_bytes: 21474836480
    distinct_human: 20.0 GiB
    largest_images: []
    most_common_images: []
    groups: {}
    notes: []
count:
  description: Number of nodes selected (also with O(summary_only=true)).
  returned: always
  type: int
  sample: 12
query_result:
  description: The result of O(query).
  returned: when O(query) is set
  type: raw
  sample: [{node: worker-3, bytes: 733212342}]
"""

from ansible_collections.nodewatch.k8s.plugins.module_utils.ansible_module import run_module
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.queries import node_images_report
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.query import apply_query

ARGUMENT_SPEC = dict(
    name=dict(type="str"),
    label_selectors=dict(type="list", elements="str", default=[]),
    field_selectors=dict(type="list", elements="str", default=[]),
    image_filter=dict(type="str"),
    image_filter_type=dict(type="str", choices=["glob", "regex"], default="glob"),
    top=dict(type="int", default=10),
    max_images=dict(type="int", default=50),
    summary_only=dict(type="bool", default=False),
    group_by=dict(type="list", elements="str", default=[]),
    imagefs=dict(type="bool", default=False),
    imagefs_concurrency=dict(type="int", default=10),
    imagefs_timeout=dict(type="float", default=10.0),
    detail=dict(type="str", choices=["compact", "complete"], default="compact"),
    top_per_node=dict(type="int"),
    query=dict(type="str"),
)


def handle(module):
    params = module.params
    # One pooled connection per concurrent kubelet summary request.
    client = module.get_client(pool_maxsize=max(10, params["imagefs_concurrency"] or 0))
    report = node_images_report(
        client, name=params["name"], label_selectors=params["label_selectors"],
        field_selectors=params["field_selectors"], image_filter=params["image_filter"],
        image_filter_type=params["image_filter_type"], top=params["top"],
        max_images=params["max_images"], summary_only=params["summary_only"],
        group_by=params["group_by"], imagefs=params["imagefs"],
        imagefs_concurrency=params["imagefs_concurrency"], imagefs_timeout=params["imagefs_timeout"],
        detail=params["detail"], top_per_node=params["top_per_node"])
    result = dict(report, changed=False)
    if params["query"]:
        result["query_result"] = apply_query(params["query"], report)
    return result


def main():
    run_module(ARGUMENT_SPEC, handle, supports_check_mode=True)


if __name__ == "__main__":
    main()
