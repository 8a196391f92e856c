# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a drift baseline is kept (spec: ``argspecs.BASELINE``)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
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
"""
