# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Argument specs of the option families several modules share, each beside its doc fragment.

| family | spec | doc fragment |
| --- | --- | --- |
| connection | ``ansible_module.AUTH_ARG_SPEC`` | ``nodewatch.k8s.auth`` |
| which nodes | ``NODE_SELECTION`` | ``nodewatch.k8s.node_selection`` |
| how images are read | ``IMAGE_READING`` | ``nodewatch.k8s.image_reading`` |
| limits | ``threshold_spec()`` (from ``drift.rules.THRESHOLDS``) | ``nodewatch.k8s.thresholds`` |
| baseline | ``BASELINE`` | ``nodewatch.k8s.baseline`` |

Plain dicts (nothing imported from Ansible), so tests compare each spec with its fragment.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.check import SOURCES
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.rules import THRESHOLDS

NODE_SELECTION = {
    "label_selectors": {"type": "list", "elements": "str", "default": []},
    "field_selectors": {"type": "list", "elements": "str", "default": []},
}

IMAGE_READING = {
    "max_images": {"type": "int", "default": 50},
    "imagefs": {"type": "bool", "default": False},
    "imagefs_concurrency": {"type": "int", "default": 10},
    "imagefs_timeout": {"type": "float", "default": 10.0},
}

BASELINE = {
    "baseline_source": {"type": "str", "choices": list(SOURCES), "default": "none"},
    "baseline_configmap": {"type": "dict", "apply_defaults": True, "options": {
        "namespace": {"type": "str", "default": "nodewatch-system"},
        "name": {"type": "str", "default": "nodewatch-baseline"},
    }},
    "baseline_path": {"type": "path"},
}

# How each kind of threshold arrives from Ansible: sizes and percentages as raw values (5Gi, "80%"),
# checked by the engine so the message names the rule set as well as the option.
_KIND_SPECS = {
    "size": {"type": "raw"},
    "percent": {"type": "raw"},
    "growth_percent": {"type": "raw"},
    "count": {"type": "raw"},
    "patterns": {"type": "list", "elements": "str"},
    "bool": {"type": "bool"},
}
_TOP_LEVEL_DEFAULTS = {"patterns": [], "bool": False}


def threshold_options(top_level=True):
    """One option per threshold of ``drift.rules.THRESHOLDS``; defaults only at the top level
    (inside a rule set an unset limit must stay None: "not checked")."""
    options = {}
    for threshold in THRESHOLDS:
        spec = dict(_KIND_SPECS[threshold.kind])
        if top_level and threshold.kind in _TOP_LEVEL_DEFAULTS:
            spec["default"] = copy.copy(_TOP_LEVEL_DEFAULTS[threshold.kind])
        options[threshold.name] = spec
    return options


def threshold_spec():
    """The thresholds at the top level plus ``rule_sets`` of name, selector and thresholds."""
    spec = threshold_options(top_level=True)
    spec["rule_sets"] = {"type": "list", "elements": "dict", "default": [], "options": {
        "name": {"type": "str", "required": True},
        "selector": {"type": "str", "required": True},
        "thresholds": {"type": "dict", "options": threshold_options(top_level=False)},
    }}
    return spec


def merged(*families, **own):
    """A module's argument spec: deep copies of the shared families plus its own options."""
    spec = {}
    for family in families:
        spec.update(copy.deepcopy(family))
    spec.update(own)
    return spec
