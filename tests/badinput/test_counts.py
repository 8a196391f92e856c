# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""How many bad inputs the suite tries, per area (shown at the end of the run, and here)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from badinput import cases_baseline, cases_daemon, cases_inventory, cases_kubeconfig, cases_modules, cases_nodes, cases_role

AREAS = (
    ("modules", cases_modules.CASES),
    ("inventory (options and cache)", cases_inventory.CASES),
    ("daemon (file, flags, environment)", cases_daemon.CASES),
    ("role variables", cases_role.CASES),
    ("kubeconfigs and connection options", cases_kubeconfig.CASES),
    ("baselines (file and ConfigMap), each read by 2 readers", cases_baseline.CASES),
    ("node objects", cases_nodes.CASES),
)
MINIMUM = 300


def counts():
    return [(area, len(cases)) for area, cases in AREAS]


def test_at_least_300_distinct_cases(capsys):
    ids = [(area, case.id) for area, cases in AREAS for case in cases]
    assert len(ids) >= MINIMUM, "only %d bad-input cases" % len(ids)
    duplicated = sorted(set(i for i in ids if ids.count(i) > 1))
    assert not duplicated, "case ids used twice in an area: %s" % duplicated
    with capsys.disabled():
        print("\nbad-input cases per area:")
        for area, count in counts():
            print("  %-58s %4d" % (area, count))
        print("  %-58s %4d" % ("total", len(ids)))
