# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every case of ``cases_modules``: each module run in this process exactly as Ansible runs it
(argument spec, no_log, fail_json), and the ``play=True`` cases once more through one
ansible-playbook run, so the play's own output is checked too."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import pytest
import yaml

from harness import local_play, run_playbook

from badinput.cases_modules import CASES
from badinput.common import Case, ClusterUnchanged, DiskUnchanged, check, materialize, params, run_module, write_files

PLAY_CASES = [case for case in CASES if case.play]


def task_args(case, tmp_path, kubeconfig):
    args = materialize(dict(case.args), tmp_path, kubeconfig)
    args.setdefault("kubeconfig", kubeconfig)
    return dict((k, v) for k, v in args.items() if v is not None)


# ansible-core 2.19 records this in every failed task result that carries no traceback.
NO_TRACEBACK = "(traceback unavailable)"


def check_failure(case, result, *outputs, failed=None):
    assert result.get("failed") if failed is None else failed, "%s: accepted: %s" % (case.id, result)
    check(case, result.get("msg"), dict((k, v) for k, v in result.items() if k != "exception"), *outputs)
    if result.get("exception", NO_TRACEBACK) != NO_TRACEBACK:
        # A missing library is the one refusal that keeps its import traceback (shown at -vvv only).
        assert "Failed to import the required Python library" in result["msg"], result["exception"]


@pytest.mark.parametrize("case", params(CASES))
def test_module_case(case, kube, kubeconfig, tmp_path):
    write_files(tmp_path, case.files)
    cluster = ClusterUnchanged(kube)
    disk = DiskUnchanged(tmp_path)
    result, stderr = run_module(case.module, task_args(case, tmp_path, kubeconfig))
    check_failure(case, result, stderr)
    cluster.assert_same(case)
    disk.assert_same(case)


def from_vars(value, secrets):
    """Strings holding a secret marker become references to a vars file, as secrets are kept.

    ansible-core 2.19 quotes the playbook lines around a failing task in its error output, so a
    secret written literally in a playbook is shown there: that is the playbook's text, not a leak
    of the collection's. The suite's markers therefore live where secrets belong, in variables.
    """
    if isinstance(value, dict):
        return dict((k, from_vars(v, secrets)) for k, v in value.items())
    if isinstance(value, list):
        return [from_vars(v, secrets) for v in value]
    if isinstance(value, str) and "SECRET-MARKER" in value:
        name = "badinput_secret_%d" % len(secrets)
        secrets[name] = value
        return "{{ %s }}" % name
    return value


def secret_play(tasks, secrets, tmp_path):
    """``local_play`` with the secrets in a vars file."""
    path = tmp_path / "secrets.yml"
    path.write_text(yaml.safe_dump(secrets))
    plays = local_play(tasks)
    plays[0]["vars_files"] = [str(path)]
    return plays


@pytest.fixture(scope="module")
def play_run(kube, kubeconfig, tmp_path_factory):
    """All ``play=True`` cases as the tasks of one play (failures ignored), run once."""
    tmp_path = tmp_path_factory.mktemp("badinput-play")
    files = tmp_path / "case-files"
    files.mkdir()
    tasks = []
    secrets = {}
    for case in PLAY_CASES:
        write_files(files, case.files)
        tasks.append({"name": case.id,
                      "nodewatch.k8s." + case.module: from_vars(task_args(case, files, kubeconfig), secrets),
                      "ignore_errors": True})
    cluster = ClusterUnchanged(kube)
    disk = DiskUnchanged(files)
    run = run_playbook(tmp_path, secret_play(tasks, secrets, tmp_path))
    return run, cluster, disk


def test_play_output_has_no_python_error_and_changes_nothing(play_run):
    run, cluster, disk = play_run
    assert run.rc == 0, run
    assert len(run.results) == len(PLAY_CASES), run
    whole = Case("the whole play", [r"ignored=%d\b" % len(PLAY_CASES)])
    check(whole, run.stdout, run.stderr)
    cluster.assert_same(whole)
    disk.assert_same(whole)


@pytest.mark.parametrize("case", params(PLAY_CASES))
def test_play_case(case, play_run):
    run = play_run[0]
    result = run.result(case.id)
    check_failure(case, result, failed=run.status(case.id) == "failed")
    # The task's own lines of the play output say the same sentence.
    section = run.stdout.split("TASK [%s]" % case.id, 1)[1].split("TASK [", 1)[0]
    check(case, section)
