# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every case of ``cases_role`` in one ansible-playbook run, in check mode: one host per case
(``serial: 1``, so the role's run-once checks run for each), the role in a block whose rescue
records the failure, so one case's failure does not end the others."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import sys

import pytest
import yaml

from harness import run_playbook

from badinput.cases_role import CASES
from badinput.common import Case, ClusterUnchanged, check, params


def host(case):
    return "case_" + case.id.replace("-", "_")


@pytest.fixture(scope="module")
def role_run(kube, kubeconfig, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("badinput-role")
    hosts = {}
    for case in CASES:
        variables = {"ansible_connection": "local", "ansible_python_interpreter": sys.executable,
                     "watcher_wait": False}
        variables.update(case.vars)
        hosts[host(case)] = variables
    inventory = tmp_path / "cases.yml"
    inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
    play = [{
        "hosts": "all", "gather_facts": False, "serial": 1,
        "module_defaults": {"group/nodewatch.k8s.nodes": {"kubeconfig": kubeconfig}},
        "tasks": [{"block": [{"name": "Run the role", "ansible.builtin.include_role": {"name": "nodewatch.k8s.watcher"}}],
                   "rescue": [{"name": "Record the failure", "ansible.builtin.debug": {"msg": "refused"}}]}],
    }]
    cluster = ClusterUnchanged(kube)
    kube.clear_requests()
    run = run_playbook(tmp_path, play, args=["-i", str(inventory)], check=True, diff=True)
    writes = [r for r in kube.requests if r[0] not in ("GET",)]
    return run, cluster, writes


def test_role_run_changed_nothing(role_run):
    run, cluster, writes = role_run
    whole = Case("the role run", [r"rescued=1"])
    assert run.rc == 0, run
    check(whole, run.stdout, run.stderr)
    cluster.assert_same(whole)
    assert writes == [], "the role wrote to the cluster in check mode: %s" % writes


@pytest.mark.parametrize("case", params(CASES))
def test_role_case(case, role_run):
    run = role_run[0]
    mine = [r for r in run.results if r["host"] == host(case)]
    failed = [r for r in mine if r["status"] == "failed"]
    assert len(failed) == 1, "%s: %s" % (case.id, [(r["task"], r["status"]) for r in mine])
    assert not any("Apply" in r["task"] or "Install" in r["task"] for r in mine), "%s went past validation" % case.id
    check(case, failed[0]["result"].get("msg"), failed[0]["result"])
