#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: manifests
short_description: Apply or remove a set of Kubernetes objects, idempotently
version_added: 0.1.0
description:
  - Creates, updates or deletes the Kubernetes objects given in O(definitions) or in the file O(src),
    through the collection's own API client (the same connection options and error messages as every
    other nodewatch.k8s module; no dependency on kubernetes.core).
  - With O(state=present) each object, in the order given, is read; created when missing; left alone
    when every key and value of its definition is already in the live object (lists compared element by
    element; fields the server adds are ignored); otherwise sent the differing keys as a JSON merge patch
    that carries the live C(resourceVersion), so a concurrent change (HTTP 409) is read again and the
    patch recomputed, up to five times. A merge patch replaces whole lists.
  - With O(state=absent) the objects are deleted in reverse order; one that does not exist is fine.
  - Every object gets the label C(app.kubernetes.io/managed-by=nodewatch.k8s).
  - "Supported kinds (apiVersion/kind): v1 Namespace, ServiceAccount, ConfigMap, Secret, Service;
    rbac.authorization.k8s.io/v1 ClusterRole, ClusterRoleBinding, Role, RoleBinding; apps/v1 Deployment;
    batch/v1 CronJob, Job; coordination.k8s.io/v1 Lease; monitoring.coreos.com/v1 ServiceMonitor and
    PrometheusRule. Other kinds fail the task before anything is applied."
  - ServiceMonitor and PrometheusRule come from the Prometheus Operator's CRDs; when the cluster does not
    serve C(monitoring.coreos.com/v1) they are skipped with a note in RV(results) instead of failing.
options:
  definitions:
    description:
      - The objects - a list of objects, one object, or YAML text with one or more documents (for
        example from P(ansible.builtin.template#lookup)). A C(kind=List) contributes its C(items).
      - Keys set to V(null) must be absent from the live object (the merge patch removes them).
      - A Secret's C(stringData) is compared and sent as base64 C(data), as the server stores it.
    type: raw
  src:
    description:
      - Path to a YAML file with one or more objects, on the host that runs the module (usually the
        controller). Applied before O(definitions) when both are given.
    type: path
  state:
    description:
      - V(present) creates or updates the objects; V(absent) deletes them.
    type: str
    choices: [present, absent]
    default: present
  namespace:
    description:
      - Namespace of namespaced objects whose definition has no C(metadata.namespace).
    type: str
  wait:
    description:
      - With O(state=present), wait until every Deployment has finished its rollout (all replicas
        updated and available).
      - With O(state=absent), wait until every deleted object is gone (a Namespace takes a while).
    type: bool
    default: false
  wait_timeout:
    description:
      - Seconds to wait with O(wait=true), and for an object still being deleted before it can be created
        again.
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
requirements:
  - PyYAML (only for O(src) and YAML text in O(definitions))
notes:
  - Only the keys a definition gives are compared and updated; a key removed from a definition
    between two runs stays on the live object unless it is set to V(null).
  - Resource quantities are compared by value (V(0.5) equals V(500m)), other values exactly.
"""

EXAMPLES = r"""
- name: A namespace and a config map
  nodewatch.k8s.manifests:
    definitions:
      - apiVersion: v1
        kind: Namespace
        metadata:
          name: nodewatch-system
      - apiVersion: v1
        kind: ConfigMap
        metadata:
          name: settings
          namespace: nodewatch-system
        data:
          level: info

- name: Everything in a templated multi-document file, waiting for the deployments
  nodewatch.k8s.manifests:
    definitions: "{{ lookup('ansible.builtin.template', 'app.yml.j2') }}"
    wait: true
    context: prod

- name: Remove them again (reverse order)
  nodewatch.k8s.manifests:
    src: /srv/manifests/app.yml
    state: absent
    wait: true
"""

RETURN = r"""
results:
  description: What happened to each object, in the order processed (reverse order for O(state=absent)).
  returned: always
  type: list
  elements: dict
  contains:
    api_version:
      description: The object's apiVersion.
      type: str
      sample: apps/v1
    kind:
      description: The object's kind.
      type: str
      sample: Deployment
    name:
      description: The object's name.
      type: str
      sample: nodewatch-watcher
    namespace:
      description: The object's namespace (namespaced kinds only).
      type: str
      sample: nodewatch-system
    action:
      description:
        - V(created), V(patched), V(unchanged), V(deleted), V(absent) (nothing to delete) or V(skipped)
          (its API is not served). In check mode, what would be done.
      type: str
      sample: patched
    changes:
      description: The paths of the definition that differed from the live object (V(patched) only).
      type: list
      elements: str
      sample: [spec.replicas, spec.template.spec.containers]
    note:
      description: Why an object was skipped.
      type: str
      sample: the monitoring.coreos.com/v1 API is not served by this cluster (its CRD is not installed)
counts:
  description: Number of objects per action.
  returned: always
  type: dict
  sample: {created: 2, unchanged: 9, skipped: 2}
diff:
  description:
    - Per changed object, the compact C(before) and C(after) - the keys that change only, the whole
      definition for a created object (with C(--diff)).
  returned: when diff mode is on
  type: list
  elements: dict
"""

import os

from ansible_collections.nodewatch.k8s.plugins.module_utils.ansible_module import run_module
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.manifests import (
    ManifestError,
    apply_manifests,
    collect_definitions,
    read_source,
    secret_values,
)

ARGUMENT_SPEC = dict(
    definitions=dict(type="raw"),
    src=dict(type="path"),
    state=dict(type="str", choices=["present", "absent"], default="present"),
    namespace=dict(type="str"),
    wait=dict(type="bool", default=False),
    wait_timeout=dict(type="int", default=120),
)


def handle(module):
    p = module.params
    src_text = None
    if p["src"]:
        if not os.path.isfile(p["src"]):
            raise ManifestError("src %s does not exist or is not a file" % p["src"])
        src_text = read_source(p["src"])
    objects = collect_definitions(p["definitions"], src_text, p["src"])
    module.no_log_values.update(secret_values(objects))
    if not objects:
        return {"changed": False, "results": [], "counts": {}}
    result = apply_manifests(module.client, objects, state=p["state"], namespace=p["namespace"],
                             check_mode=module.check_mode, wait=p["wait"], wait_timeout=p["wait_timeout"])
    if not module._diff:
        result.pop("diff", None)
    return result


def main():
    run_module(ARGUMENT_SPEC, handle, supports_check_mode=True,
               required_one_of=[("definitions", "src")])


if __name__ == "__main__":
    main()
