# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The linters reviewers of an Ansible collection run, each over the whole checkout, each clean:
yamllint (.yamllint), ansible-lint's production profile (.ansible-lint), antsibull-changelog lint and
antsibull-docs lint-collection-docs (plugin docs, role docs, the docsite's extra docs and links).

A failure prints the tool's own findings. The two configuration files are shown to catch what they
are meant to catch on a small bad sample, so a clean result means something.
"""
import os
import re
import shutil

import pytest

from ecosystem.tools import ROOT, lint_tool, report, run_tool

pytestmark = pytest.mark.slow


def test_yamllint_is_clean():
    proc = run_tool([lint_tool("yamllint"), "--strict", "-f", "parsable", "."])
    assert proc.returncode == 0 and proc.stdout.strip() == "", report(proc)


def test_the_yamllint_configuration_catches_what_ansible_lint_needs(tmp_path):
    sample = tmp_path / "sample.yml"
    sample.write_text("---\nenabled: yes\nmode: 0644\nitems: {  a: 1 }\nlong: %s\n" % ("x" * 170))
    proc = run_tool([lint_tool("yamllint"), "-c", os.path.join(ROOT, ".yamllint"), "-f", "parsable", str(sample)])
    found = set(re.findall(r"\((\w[\w-]*)\)$", proc.stdout, re.M))
    assert proc.returncode != 0 and {"truthy", "octal-values", "braces", "line-length"} <= found, report(proc)


def _ansible_lint(tmp_path, *args, cwd=ROOT):
    # --offline and an ANSIBLE_HOME of its own: nothing fetched, nothing cached inside the checkout.
    return run_tool([lint_tool("ansible-lint"), "--nocolor", "--offline", "--strict"] + list(args), cwd=cwd,
                    env={"ANSIBLE_HOME": str(tmp_path / "ansible-home")})


def test_ansible_lint_production_profile_is_clean(tmp_path):
    proc = _ansible_lint(tmp_path)
    assert proc.returncode == 0, report(proc)
    summary = proc.stdout + proc.stderr
    assert "Profile 'production' was required" in summary and "passed" in summary, report(proc)
    linted = re.search(r"(\d+) files? processed", summary) or re.search(r"on (\d+) files", summary)
    assert linted and int(linted.group(1)) >= 20, "ansible-lint saw too few files: %s" % report(proc)
    assert not os.path.exists(os.path.join(ROOT, ".ansible")), "ansible-lint wrote a cache into the checkout"


def test_the_ansible_lint_configuration_fails_a_role_that_breaks_the_production_rules(tmp_path):
    project = tmp_path / "project"
    tasks = project / "roles" / "sample" / "tasks"
    tasks.mkdir(parents=True)
    shutil.copy(os.path.join(ROOT, ".ansible-lint"), str(project / ".ansible-lint"))
    (tasks / "main.yml").write_text(
        "---\n- name: \"{{ sample_verb }} the thing\"\n  command: touch /tmp/x\n")
    proc = _ansible_lint(tmp_path, cwd=project)
    found = proc.stdout + proc.stderr
    assert proc.returncode != 0, report(proc)
    for rule in ("name[template]", "fqcn[action-core]", "no-changed-when"):
        assert rule in found, (rule, report(proc))


def test_changelog_fragments_pass_antsibull_changelog_lint():
    proc = run_tool([lint_tool("antsibull-changelog"), "lint"])
    assert proc.returncode == 0 and proc.stdout.strip() == "", report(proc)


def test_collection_docs_pass_antsibull_docs_lint(tmp_path):
    proc = run_tool([lint_tool("antsibull-docs"), "lint-collection-docs", "--plugin-docs", "--check-extra-docs-refs",
                     "--validate-collection-refs", "all", "."], env={"ANSIBLE_HOME": str(tmp_path / "ansible-home")})
    assert proc.returncode == 0 and proc.stdout.strip() == "", report(proc)
