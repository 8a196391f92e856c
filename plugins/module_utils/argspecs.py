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
| report files | ``REPORT`` | ``nodewatch.k8s.report`` |

Plain dicts (nothing imported from Ansible), so tests compare each spec with its fragment.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.check import SOURCES, build_policy
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.rules import THRESHOLD_KEYS, THRESHOLDS
from ansible_collections.nodewatch.k8s.plugins.module_utils.report.audit import FORMATS as REPORT_FORMATS

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
BASELINE_REQUIRED_IF = [("baseline_source", "file", ["baseline_path"])]

REPORT = {
    "report_format": {"type": "list", "elements": "str", "choices": list(REPORT_FORMATS), "default": ["markdown"]},
    "report_path": {"type": "path"},
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
    """The thresholds at the top level, ``thresholds`` (all of them as one mapping, which is how
    playbooks pass them on) and ``rule_sets`` of name, selector and thresholds."""
    spec = threshold_options(top_level=True)
    spec["thresholds"] = {"type": "dict", "options": threshold_options(top_level=False)}
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


def policy_from(params):
    """The ``drift.rules.Policy`` of a module's threshold options (flat, ``thresholds``, ``rule_sets``)."""
    return build_policy(dict((key, params[key]) for key in THRESHOLD_KEYS), params["rule_sets"], params["thresholds"])


def check_options(params):
    """The keyword arguments of ``drift.check.check_drift`` (and the audit) the families give."""
    names = list(NODE_SELECTION) + list(IMAGE_READING) + list(BASELINE)
    return dict((name, params[name]) for name in names)


def pool_size(params):
    """Connections the module's client needs: one per concurrent kubelet read, at least 10."""
    return max(10, params["imagefs_concurrency"] or 0)
