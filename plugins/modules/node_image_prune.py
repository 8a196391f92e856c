#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: node_image_prune
short_description: Remove the container images no container uses from a node's containerd
version_added: 0.1.0
description:
  - Runs B(on a node) (a host of the P(nodewatch.k8s.nodes#inventory) inventory, over SSH or any
    connection) and removes the images of containerd's O(namespace) that no container uses, through
    containerd's C(ctr) client.
  - The references of one image - C(repo:tag), C(repo@sha256:...) and the C(sha256:<id>) the CRI adds - are
    grouped, with images whose manifests share a config, so an image is kept or removed whole.
  - An image is in use when any container of the namespace uses it, running or stopped, pod sandboxes
    included. containerd does not refuse to delete an image a container uses, so this is worked out from
    every container - its image name, the image ID the CRI records in the container's metadata, and the
    image its snapshot was created from.
  - Never removed - images in use, the sandbox (pause) image (read from containerd's CRI configuration,
    plus O(sandbox_image), the CRI's C(io.cri-containerd.pinned) label and O(sandbox_patterns)), images
    matching a O(keep) pattern, and images whose content cannot be read.
  - Measures the content store of the namespace before and after the removal, which waits for containerd's
    garbage collection, and returns the bytes freed.
  - Takes no Kubernetes connection options and is not in the C(nodewatch.k8s.nodes) action group.
options:
  address:
    description:
      - containerd's socket on the node (a path, or C(unix://) and a path).
      - k3s and RKE2 use C(/run/k3s/containerd/containerd.sock).
    type: str
    default: /run/containerd/containerd.sock
  namespace:
    description:
      - The containerd namespace to prune. The kubelet's images and containers are in V(k8s.io).
    type: str
    default: k8s.io
  keep:
    description:
      - Glob patterns of images never to remove.
      - An image matches when any of its references, its repository (V(docker.io/library/nginx)) or the
        short form after the last V(/) (V(nginx), V(nginx:1.27)) matches, as with
        O(nodewatch.k8s.node_images_info#module:image_filter). V(*) crosses V(/).
    type: list
    elements: str
    default: []
  sandbox_image:
    description:
      - The pod sandbox (pause) image, kept in addition to the one containerd's configuration names
        (read with C(containerd config dump) from O(containerd_config)). A short name is completed the way
        the CRI does (V(pause:3.9) is V(docker.io/library/pause:3.9)).
    type: str
  sandbox_patterns:
    description:
      - Images matching these patterns (matched like O(keep)) are kept as sandbox images, in case the
        configuration cannot be read or names a different one than the pods still run.
      - The default keeps every repository named V(pause), V(pause-*) or V(*-pause). V([]) relies on the
        configuration, O(sandbox_image) and the containers alone.
    type: list
    elements: str
    default: [pause, pause-*, '*-pause']
  ctr_path:
    description:
      - containerd's C(ctr) client. By default it is searched on C(PATH), then in C(/usr/local/bin),
        C(/usr/bin), C(/usr/local/sbin), C(/usr/sbin), C(/bin), C(/var/lib/rancher/rke2/bin) and
        C(/var/lib/rancher/k3s/data/current/bin).
      - The C(containerd) program used to read the configuration is looked for beside it, then on C(PATH).
    type: path
  containerd_config:
    description:
      - containerd's configuration file, read for the sandbox image. When it does not exist, containerd's
        built-in defaults are read instead, as containerd itself does.
    type: path
    default: /etc/containerd/config.toml
  timeout:
    description:
      - Seconds to wait for containerd to answer each C(ctr) command. The removal, which waits for the
        garbage collection of the content and snapshots, gets ten times as long.
    type: int
    default: 60
extends_documentation_fragment:
  - ansible.builtin.action_common_attributes
attributes:
  check_mode:
    support: full
    details: Lists what would be removed, with sizes and the bytes that would be freed; removes nothing.
  diff_mode:
    support: full
    details: The images (references and size, one per line) before and after.
  platform:
    platforms: posix
author:
  - nodewatch.k8s maintainers (@nodewatch)
requirements:
  - containerd on the node, with its C(ctr) client (Debian and Ubuntu package C(containerd), Docker's
    C(containerd.io)).
  - The right to use containerd's socket, usually root (C(become=true)).
notes:
  - B(Why ctr.) It ships with every containerd package and needs no CRI endpoint configuration, and it
    sees every container of the namespace with its snapshot, which C(crictl) (not shipped with
    containerd, and not in Debian) does not show for sandboxes.
  - B(What is measured.) RV(bytes_freed) is the content store of the namespace (compressed layers,
    manifests and configs) before minus after. The unpacked snapshots of the removed images are deleted
    too and not counted, so the disk usually gains more. A blob another containerd namespace also uses
    stays on disk.
  - B(A pod starting during the run.) The containers are listed again just before the removal, and an
    image a new container uses is kept. A pod that starts later and finds its image gone pulls it again.
  - The kubelet updates the node's C(status.images) on its own schedule, so the API shows the change a
    little later; the C(nodewatch.k8s.prune_images) playbook reads it again and says so.
seealso:
  - module: nodewatch.k8s.node_images_info
  - plugin: nodewatch.k8s.nodes
    plugin_type: inventory
"""

EXAMPLES = r"""
# In a play over the nodes inventory (hosts: image_pressure, become: true, serial: 5), or
# ansible-playbook nodewatch.k8s.prune_images, which does that and reports the totals.
- name: Remove every image no container uses, except our base images
  nodewatch.k8s.node_image_prune:
    keep:
      - registry.example.com/base/*
  become: true
  register: prune

- name: What went
  ansible.builtin.debug:
    msg: "{{ prune.summary }}"

- name: See what would go, without removing anything
  nodewatch.k8s.node_image_prune:
  check_mode: true
  register: would

- name: On k3s, whose containerd has its own socket and ctr
  nodewatch.k8s.node_image_prune:
    address: /run/k3s/containerd/containerd.sock
    ctr_path: /var/lib/rancher/k3s/data/current/bin/ctr
    containerd_config: /var/lib/rancher/k3s/agent/etc/containerd/config.toml
"""

RETURN = r"""
removed:
  description: The images removed (in check mode, that would be removed).
  returned: always
  type: list
  elements: dict
  contains:
    names:
      description: Every reference of the image, tags first and the CRI's C(sha256:<id>) last.
      type: list
      elements: str
      sample: [registry.example.com/app:1.4, "sha256:3b8c1a..."]
    digests:
      description: The manifest or index digests the references point at (usually one).
      type: list
      elements: str
    id:
      description: The image ID (its config digest), or null when its config is not readable.
      type: str
    size_bytes:
      description: The bytes of the image's blobs in the content store (manifests, config, layers), shared layers included.
      type: int
    size_human:
      description: RV(removed[].size_bytes) for people.
      type: str
    exclusive_bytes:
      description: The bytes of the blobs no other image of the namespace uses - what removing this image alone frees.
      type: int
kept:
  description: The images kept, with why.
  returned: always
  type: list
  elements: dict
  contains:
    names:
      description: Every reference of the image.
      type: list
      elements: str
    digests:
      description: The manifest or index digests.
      type: list
      elements: str
    id:
      description: The image ID, or null.
      type: str
    size_bytes:
      description: The bytes of the image's blobs in the content store.
      type: int
    size_human:
      description: The size for people.
      type: str
    reasons:
      description:
        - Why it is kept - V(in_use) (a container uses it), V(sandbox) (the pod sandbox image), V(pinned)
          (pinned by the CRI), V(keep) (matches O(keep)), V(unreadable) (its content could not be read) or
          V(failed) (its removal failed; the task fails).
      type: list
      elements: str
    reason:
      description: The first of RV(kept[].reasons).
      type: str
    containers:
      description: Up to ten IDs of the containers using the image.
      type: list
      elements: str
      returned: when in use
    container_count:
      description: How many containers use the image.
      type: int
      returned: when in use
    sandbox_match:
      description: The sandbox references or patterns it matched.
      type: list
      elements: str
      returned: when kept as a sandbox image
    keep_patterns:
      description: The O(keep) patterns it matched.
      type: list
      elements: str
      returned: when matched by O(keep)
    problem:
      description: Why its content could not be read.
      type: str
      returned: when unreadable
bytes_freed:
  description: Content store bytes before minus after, as measured on the node. 0 in check mode.
  returned: always
  type: int
  sample: 734003200
bytes_freed_human:
  description: RV(bytes_freed) for people.
  returned: always
  type: str
  sample: 700.0 MiB
estimated_bytes_freed:
  description: The bytes of the blobs the removed images held and no kept image holds - the prediction, in check mode too.
  returned: always
  type: int
content_bytes_before:
  description: The size of the namespace's content store before the removal.
  returned: always
  type: int
content_bytes_after:
  description: The size of the namespace's content store after the removal (the same as before in check mode).
  returned: always
  type: int
content_blobs_before:
  description: Blobs in the content store before.
  returned: always
  type: int
content_blobs_after:
  description: Blobs in the content store after.
  returned: always
  type: int
images_before:
  description: Images (groups of references) before.
  returned: always
  type: int
images_after:
  description: Images after (in check mode, what would remain).
  returned: always
  type: int
containers:
  description: Containers in the namespace, running or not, sandboxes included.
  returned: always
  type: int
sandbox_images:
  description: The sandbox image references kept by name (from the configuration and O(sandbox_image)).
  returned: always
  type: list
  elements: str
  sample: [registry.k8s.io/pause:3.9]
sandbox_image_sources:
  description: Where RV(sandbox_images) came from - V(containerd config), V(option sandbox_image).
  returned: always
  type: list
  elements: str
namespace:
  description: The containerd namespace pruned.
  returned: always
  type: str
address:
  description: The containerd socket used.
  returned: always
  type: str
notes:
  description: Sentences on what limited the decision or the measurement.
  returned: always
  type: list
  elements: str
errors:
  description: Images whose removal failed (the task fails when there are any).
  returned: always
  type: list
  elements: str
summary:
  description: One sentence - what was removed, the bytes freed, and what was kept, by reason.
  returned: always
  type: str
  sample: "removed 12 of 31 images (2.1 GiB freed in the content store, 9.8 GiB -> 7.7 GiB); kept 19: 17 in use, 1 keep, 1 sandbox"
diff:
  description: The images before and after, one per line (with C(--diff)).
  returned: when diff mode is on
  type: dict
"""

from ansible_collections.nodewatch.k8s.plugins.module_utils.ansible_module import run_module
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.prune import (
    DEFAULT_ADDRESS,
    DEFAULT_CONTAINERD_CONFIG,
    DEFAULT_NAMESPACE,
    DEFAULT_SANDBOX_PATTERNS,
    DEFAULT_TIMEOUT,
    prune_images,
)

ARGUMENT_SPEC = dict(
    address=dict(type="str", default=DEFAULT_ADDRESS),
    namespace=dict(type="str", default=DEFAULT_NAMESPACE),
    keep=dict(type="list", elements="str", default=[]),
    sandbox_image=dict(type="str"),
    sandbox_patterns=dict(type="list", elements="str", default=list(DEFAULT_SANDBOX_PATTERNS)),
    ctr_path=dict(type="path"),
    containerd_config=dict(type="path", default=DEFAULT_CONTAINERD_CONFIG),
    timeout=dict(type="int", default=DEFAULT_TIMEOUT),
)


def handle(module):
    p = module.params
    result = prune_images(address=p["address"], namespace=p["namespace"], keep=p["keep"],
                          sandbox_image=p["sandbox_image"], sandbox_patterns=p["sandbox_patterns"],
                          ctr_path=p["ctr_path"], containerd_config=p["containerd_config"], timeout=p["timeout"],
                          check_mode=module.check_mode)
    diff = result.pop("diff")
    if module._diff:
        result["diff"] = diff
    if result["errors"]:
        module.fail_json(msg="could not remove %d image(s): %s" % (len(result["errors"]), "; ".join(result["errors"])),
                         **result)
    return result


def main():
    run_module(ARGUMENT_SPEC, handle, kubernetes=False, supports_check_mode=True)


if __name__ == "__main__":
    main()
