# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The limits a node's image storage is checked against, and rule sets for groups of nodes.

One option per threshold of ``plugins/module_utils/drift/rules.py`` (``THRESHOLDS``); the argument spec is
derived from that list (``argspecs.threshold_spec``) and a test keeps this fragment in step with it."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    # ansible-test reads this as a literal: the limits are listed again, one line each, as the
    # sub-options of the two mappings that carry them (tests/unit/plugins/doc_fragments keeps all
    # three lists equal to drift.rules.THRESHOLDS).
    DOCUMENTATION = r"""
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
  thresholds:
    description:
      - The same limits as one mapping, with the names of the options above - how playbooks and roles pass
        them on (C(nodewatch_thresholds)).
      - A limit also given as its own option takes that option's value.
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
"""
