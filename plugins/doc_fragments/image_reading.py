# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How the image storage of a node is read (spec: ``argspecs.IMAGE_READING``)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  max_images:
    description:
      - The kubelet's C(nodeStatusMaxImages) setting in this cluster (50 by default), the most images a
        node reports. A node reporting at least this many images probably has more - its image count and
        byte total are then lower bounds, and the results say so.
      - Use V(-1) when the kubelets are configured without a limit.
    type: int
    default: 50
  imagefs:
    description:
      - Also read each node's image filesystem from the kubelet Summary API
        (C(/api/v1/nodes/NAME/proxy/stats/summary), C(node.runtime.imageFs)) - the bytes really used,
        with shared layers counted once. Limits in percent (O(max_percent)) then use it.
      - Needs C(get) on the C(nodes/proxy) resource and a kubelet the API server can reach. A node whose
        kubelet cannot be read gets a sentence saying why (and percentages fall back to its
        C(ephemeral-storage) capacity); the task does not fail for it.
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
"""
