# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which nodes a module reads (spec: ``argspecs.NODE_SELECTION``)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  label_selectors:
    description:
      - Only the nodes matching all these label selectors, in Kubernetes syntax (V(key=value),
        V(key!=value), V(key in (a,b\)), V(key notin (a,b\)), V(key), V(!key)).
      - A baseline holds the nodes selected when it was captured; check it with the same selectors.
    type: list
    elements: str
    default: []
  field_selectors:
    description:
      - Only the nodes matching all these field selectors, such as V(spec.unschedulable=false) or
        V(metadata.name=worker-1).
    type: list
    elements: str
    default: []
"""
