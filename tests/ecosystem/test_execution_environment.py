# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Execution environments: what ansible-builder makes of this collection, offline.

The collection is built into a tarball as a user would. ``ansible-builder introspect`` over an
install of it lists the collection's Python needs (meta/execution-environment.yml); ``ansible-builder
create`` turns the shipped example (extras/ee/) into a build context. Builder checks the definition's
keys but not what the requirements say, so the test then does what the image build's stages would:
installs the context's collections with ansible-galaxy, introspects them, and resolves the combined
Python requirements with pip against the versions this suite tests (nothing may be missing).
No image is built: there is no container engine here.
"""
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from ecosystem.tools import ROOT, lint_tool, report, run_tool

pytestmark = pytest.mark.slow


def _requirement_names(lines):
    names = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            names.append(re.split(r"[<>=!~;\[ ]", line, 1)[0].lower().replace("_", "-"))
    return names


def _read_lines(*parts):
    with open(os.path.join(*parts)) as handle:
        return handle.read().splitlines()


def _galaxy_version():
    with open(os.path.join(ROOT, "galaxy.yml")) as handle:
        return yaml.safe_load(handle)["version"]


@pytest.fixture(scope="module")
def tarball(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    proc = run_tool([lint_tool("ansible-galaxy"), "collection", "build", "--output-path", str(out), ROOT])
    assert proc.returncode == 0, report(proc)
    built = os.path.join(str(out), "nodewatch-k8s-%s.tar.gz" % _galaxy_version())
    assert os.path.isfile(built), report(proc)
    return built


def _install(requirement_args, dest, cwd=ROOT):
    # Only dest counts as installed: the checkout's own link would make ansible-galaxy skip the install.
    proc = run_tool([lint_tool("ansible-galaxy"), "collection", "install", "--offline", "-p", str(dest)] + requirement_args,
                    cwd=cwd, env={"ANSIBLE_COLLECTIONS_PATH": str(dest)})
    assert proc.returncode == 0, report(proc)
    assert os.path.isfile(os.path.join(str(dest), "ansible_collections", "nodewatch", "k8s", "MANIFEST.json")), report(proc)


def _introspect(collections, *args):
    proc = run_tool([lint_tool("ansible-builder"), "introspect", str(collections)] + list(args))
    assert proc.returncode == 0, report(proc)
    return yaml.safe_load(proc.stdout.split("---", 1)[1])


def test_introspect_lists_the_python_needs_of_the_built_collection(tarball, tmp_path):
    _install([tarball], tmp_path / "collections")
    # The collection says it itself (builder would otherwise guess from a requirements.txt at its root).
    with open(str(tmp_path / "collections" / "ansible_collections" / "nodewatch" / "k8s" / "meta" / "execution-environment.yml")) as handle:
        assert yaml.safe_load(handle)["dependencies"] == {"python": "requirements.txt"}
    found = _introspect(tmp_path / "collections")
    ours = [line for line in found["python"] if line.endswith("# from collection nodewatch.k8s")]
    assert _requirement_names(ours) == _requirement_names(_read_lines(ROOT, "requirements.txt"))
    assert {"kubernetes", "jmespath"} <= set(_requirement_names(ours))
    assert found["system"] == []


@pytest.fixture(scope="module")
def build_context(tarball, tmp_path_factory):
    """The example definition, laid out as in the collection, turned into a build context by ansible-builder."""
    base = tmp_path_factory.mktemp("ee")
    source = base / "nodewatch-k8s"
    shutil.copytree(os.path.join(ROOT, "extras", "ee"), str(source / "extras" / "ee"))
    shutil.copy(os.path.join(ROOT, "requirements-watcher.txt"), str(source))
    shutil.copy(tarball, str(source))
    context = base / "context"
    proc = run_tool([lint_tool("ansible-builder"), "create", "-f", str(source / "extras" / "ee" / "execution-environment.yml"),
                     "-c", str(context), "--output-filename", "Containerfile", "-v", "3"])
    assert proc.returncode == 0, report(proc)
    return context


def test_create_turns_the_example_into_a_build_context_offline(build_context):
    build = build_context / "_build"
    version = _galaxy_version()
    assert (build / "collections" / ("nodewatch-k8s-%s.tar.gz" % version)).is_file()
    with open(str(build / "requirements.yml")) as handle:
        collections = yaml.safe_load(handle)["collections"]
    assert collections == [{"name": "collections/nodewatch-k8s-%s.tar.gz" % version, "type": "file"}], (
        "extras/ee/requirements.yml must name the tarball of this version (galaxy.yml says %s)" % version)
    assert _requirement_names(_read_lines(str(build / "requirements.txt"))) == \
        _requirement_names(_read_lines(ROOT, "requirements-watcher.txt"))
    containerfile = (build_context / "Containerfile").read_text()
    assert "ansible-galaxy collection install" in containerfile and "-r requirements.yml" in containerfile
    assert "introspect" in containerfile
    with open(os.path.join(ROOT, "requirements-dev.txt")) as handle:
        tested_core = re.search(r"^ansible-core==\S+", handle.read(), re.M).group(0)
    assert 'ANSIBLE_INSTALL_REFS="%s ansible-runner"' % tested_core in containerfile, \
        "the example's ansible_core must be the tested %s" % tested_core


def test_the_contexts_requirements_install_and_resolve_to_the_tested_versions(build_context, tmp_path):
    build = build_context / "_build"
    # The galaxy stage: ansible-galaxy collection install -r requirements.yml, in the context's _build.
    _install(["-r", "requirements.yml"], tmp_path / "collections", cwd=build)
    # The builder stage: introspect the installed collections, with the definition's own Python needs.
    combined = tmp_path / "requirements.txt"
    _introspect(tmp_path / "collections", "--user-pip", str(build / "requirements.txt"), "--write-pip", str(combined))
    names = set(_requirement_names(_read_lines(str(combined))))
    assert {"kubernetes", "jmespath", "pyyaml", "prometheus-client"} <= names, names
    # pip reads every line and resolves it without an index: each requirement is satisfied by what this
    # suite tests with, so the image gets nothing untested and nothing is misspelt.
    resolved = tmp_path / "pip-report.json"
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--dry-run", "--no-index", "--disable-pip-version-check",
                           "--quiet", "--report", str(resolved), "-r", str(combined)],
                          capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, report(proc)
    with open(str(resolved)) as handle:
        assert json.load(handle)["install"] == [], "pip would install more than the tested versions"
