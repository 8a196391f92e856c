# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: thresholds
short_description: The drift limits set as individual variables, as one mapping
version_added: 0.1.0
description:
  - Returns, as one mapping, every drift threshold (the options of M(nodewatch.k8s.node_image_drift) such as
    C(max_percent), C(max_growth_bytes), C(deny)) that is set as a variable named with O(prefix) - for
    example C(nodewatch_max_percent) - so that C(-e nodewatch_max_percent=70) works for every threshold
    the collection knows, today's and future ones, without listing them.
  - Undefined variables are left out. A variable set to null or to an empty string is returned as it is -
    it switches that limit off, even when the mapping it is combined with sets it.
  - The playbooks C(nodewatch.k8s.audit), C(nodewatch.k8s.drift_check) and C(nodewatch.k8s.fleet_audit)
    (role C(nodewatch.k8s.nodewatch)) combine it with C(nodewatch_thresholds).
options:
  prefix:
    description: The prefix of the variables' names.
    type: str
    default: nodewatch_
author:
  - nodewatch.k8s maintainers (@nodewatch)
"""

EXAMPLES = r"""
- name: Check the limits given as nodewatch_* variables (ansible-playbook ... -e nodewatch_max_percent=70)
  nodewatch.k8s.node_image_drift:
    thresholds: "{{ {'max_percent': 80} | combine(lookup('nodewatch.k8s.thresholds')) }}"
"""

RETURN = r"""
_raw:
  description: One mapping of threshold name to the value of its variable.
  type: list
  elements: dict
  sample: [{max_percent: 70, deny: ["*:latest"]}]
"""

from ansible.errors import AnsibleError
from ansible.plugins.loader import lookup_loader
from ansible.plugins.lookup import LookupBase

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.rules import THRESHOLD_KEYS

_MISSING = "\x00nodewatch.k8s:unset"


class LookupModule(LookupBase):

    def run(self, terms, variables=None, **kwargs):
        self.set_options(var_options=variables, direct=kwargs)
        prefix = self.get_option("prefix")
        if terms:
            raise AnsibleError("nodewatch.k8s.thresholds takes no terms, only the option prefix; got %r" % (terms,))
        names = [prefix + name for name in THRESHOLD_KEYS]
        # The builtin vars lookup templates each variable the way every ansible-core version does.
        reader = lookup_loader.get("ansible.builtin.vars", loader=self._loader, templar=self._templar)
        values = reader.run(names, variables, default=_MISSING)
        limits = {}
        for name, value in zip(THRESHOLD_KEYS, values):
            if isinstance(value, str) and value == _MISSING:
                continue
            limits[name] = value
        return [limits]
