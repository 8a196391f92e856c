# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Changelog hygiene, by releasing the next version in a copy with antsibull-changelog itself.

The Ansible changelog rules: new modules and plugins are not announced in fragments (antsibull-changelog
lists them from their ``version_added``); new roles and playbooks, which it cannot detect, go under
``add object.role`` / ``add object.playbook``; a release has a ``release_summary``. What the release
lists is compared with what the tree holds, so a plugin without ``version_added``, a playbook nobody
added, or a fragment announcing a new plugin each fail here with the fix.
"""
import os
import shutil

import pytest
import yaml

from ecosystem.tools import ROOT, lint_tool, report, run_tool

pytestmark = pytest.mark.slow

NOT_PLUGIN_DIRS = ("module_utils", "plugin_utils", "doc_fragments", "modules")


def _names(directory, suffixes):
    if not os.path.isdir(directory):
        return set()
    return set(os.path.splitext(f)[0] for f in os.listdir(directory)
               if f.endswith(suffixes) and not f.startswith("_"))


def tree_plugins():
    """{plugin type: names} of the documented plugins in plugins/ (a .py with DOCUMENTATION, or a .yml sidecar)."""
    found = {}
    plugins = os.path.join(ROOT, "plugins")
    for plugin_type in sorted(os.listdir(plugins)):
        directory = os.path.join(plugins, plugin_type)
        if plugin_type in NOT_PLUGIN_DIRS or not os.path.isdir(directory):
            continue
        names = _names(directory, (".yml", ".yaml"))
        for name in _names(directory, (".py",)):
            with open(os.path.join(directory, name + ".py")) as handle:
                if "DOCUMENTATION" in handle.read():
                    names.add(name)
        if names:
            found[plugin_type] = names
    return found


def next_version():
    with open(os.path.join(ROOT, "galaxy.yml")) as handle:
        version = yaml.safe_load(handle)["version"]
    with open(os.path.join(ROOT, "changelogs", "changelog.yaml")) as handle:
        released = (yaml.safe_load(handle) or {}).get("releases") or {}
    if version not in released:
        return version
    major, minor, patch = version.split(".")[:3]  # released but not bumped yet: the fragments go to the next patch
    return "%s.%s.%d" % (major, minor, int(patch) + 1)


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    """changelog.yaml's entry for the next version, released in a copy of the collection."""
    tool = lint_tool("antsibull-changelog")
    copy = tmp_path_factory.mktemp("release") / "collection"
    copy.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".plugin-cache.yaml")
    for entry in ("galaxy.yml", "meta", "plugins", "roles", "playbooks", "changelogs"):
        source = os.path.join(ROOT, entry)
        if os.path.isdir(source):
            shutil.copytree(source, str(copy / entry), ignore=ignore)
        elif os.path.exists(source):
            shutil.copy(source, str(copy / entry))
    version = next_version()
    proc = run_tool([tool, "release", "--version", version, "--date", "2026-12-01"], cwd=copy,
                    env={"ANSIBLE_HOME": str(copy.parent / "ansible-home"),
                         # Only the copy: antsibull-changelog documents it through --playbook-dir.
                         "ANSIBLE_COLLECTIONS_PATH": str(copy.parent / "no-collections")})
    assert proc.returncode == 0, report(proc)
    with open(str(copy / "changelogs" / "changelog.yaml")) as handle:
        return yaml.safe_load(handle)["releases"][version]


def test_the_release_has_a_summary(release):
    assert release.get("changes", {}).get("release_summary"), \
        "add a fragment with release_summary (changelogs/fragments/<version>.yml)"


def test_every_module_is_listed_as_new_from_its_version_added(release):
    listed = set(m["name"] for m in release.get("modules", ()))
    in_tree = _names(os.path.join(ROOT, "plugins", "modules"), (".py",))
    assert in_tree - listed == set(), "modules missing from the release (is version_added set?): %s" % sorted(in_tree - listed)


def test_every_plugin_is_listed_as_new_from_its_version_added(release):
    listed = dict((kind, set(p["name"] for p in plugins)) for kind, plugins in release.get("plugins", {}).items())
    missing = dict((kind, sorted(names - listed.get(kind, set()))) for kind, names in tree_plugins().items())
    assert {"inventory", "filter"} <= set(tree_plugins())
    assert all(not names for names in missing.values()), "plugins missing from the release (is version_added set?): %s" % missing


def test_every_role_and_playbook_is_added_as_an_object(release):
    objects = release.get("objects", {})
    for kind, directory, suffixes in (("role", "roles", None), ("playbook", "playbooks", (".yml", ".yaml"))):
        path = os.path.join(ROOT, directory)
        in_tree = set(d for d in os.listdir(path) if os.path.isdir(os.path.join(path, d))) if suffixes is None \
            else _names(path, suffixes)
        listed = set(o["name"] for o in objects.get(kind, ()))
        assert in_tree - listed == set(), (
            "%ss missing from the changelog: %s; add them to a fragment under 'add object.%s' (name, description)"
            % (kind, sorted(in_tree - listed), kind))


def test_no_fragment_announces_a_new_plugin_or_object(release):
    new = set()
    for plugin in release.get("modules", ()):
        new |= {plugin["name"], "nodewatch.k8s." + plugin["name"], plugin["name"] + " module"}
    for kind, plugins in list(release.get("plugins", {}).items()) + list(release.get("objects", {}).items()):
        for plugin in plugins:
            new |= {plugin["name"], "nodewatch.k8s." + plugin["name"], "%s %s" % (plugin["name"], kind)}
    fragments = os.path.join(ROOT, "changelogs", "fragments")
    announced = []
    for name in sorted(os.listdir(fragments)):
        if not name.endswith((".yml", ".yaml")):
            continue
        with open(os.path.join(fragments, name)) as handle:
            content = yaml.safe_load(handle) or {}
        for section, entries in content.items():
            if section.startswith("add ") or not isinstance(entries, list):
                continue
            for entry in entries:
                subject = str(entry).split(" - ", 1)[0].strip()
                if subject in new:
                    announced.append("%s (%s): %s" % (name, section, subject))
    assert announced == [], (
        "fragments announce new plugins or objects, which the changelog lists by itself (plugins from version_added, "
        "roles and playbooks from 'add object.*'); remove these entries: %s" % announced)
