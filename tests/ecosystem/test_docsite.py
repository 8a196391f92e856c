# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The guides as collection docs: the generated pages match docs/*.md, and a docsite built offline
with antsibull-docs and Sphinx (as docs.ansible.com builds collections) shows each guide beside the
plugin pages, with no warning but references to documentation outside this collection."""
import os
import re

import pytest

from ecosystem import docsite
from ecosystem.tools import LINT_BIN, ROOT, lint_tool, report, run_tool

pytestmark = pytest.mark.slow


def test_the_docsite_pages_are_generated_from_the_current_guides():
    lint_tool("python")
    proc = run_tool([os.path.join(LINT_BIN, "python"), os.path.join(ROOT, "tests", "ecosystem", "docsite.py"), "--check"])
    assert proc.returncode == 0, (
        "docs/docsite is out of date with docs/*.md (%s); run %s" % (", ".join(proc.stdout.split()), docsite.REFRESH)
        + "\n" + report(proc))


def test_a_docsite_built_offline_shows_the_guides_and_the_plugins(tmp_path):
    antsibull_docs = lint_tool("antsibull-docs")
    site = tmp_path / "site"
    site.mkdir(mode=0o700)  # antsibull-docs refuses a directory others can write to
    env = {"ANSIBLE_HOME": str(tmp_path / "ansible-home")}
    proc = run_tool([antsibull_docs, "sphinx-init", "--use-current", "--dest-dir", str(site), "nodewatch.k8s"], env=env)
    assert proc.returncode == 0, report(proc)
    os.chmod(str(site / "rst"), 0o755)  # as build.sh does: writable by antsibull-docs only
    # Tests reach nothing off this machine: no intersphinx inventories from docs.ansible.com and others.
    with open(str(site / "conf.py"), "a") as conf:
        conf.write("\nintersphinx_mapping = {}\n")
    proc = run_tool([antsibull_docs, "--config-file", "antsibull-docs.cfg", "collection", "--use-current", "--fail-on-error",
                     "--dest-dir", "rst", "nodewatch.k8s"], cwd=site, env=env)
    assert proc.returncode == 0, report(proc)
    proc = run_tool([lint_tool("sphinx-build"), "-M", "html", "rst", "build", "-c", ".", "--keep-going", "-q"], cwd=site, env=env)
    assert proc.returncode == 0, report(proc)

    # Without intersphinx, references to docs.ansible.com pages and other collections cannot resolve;
    # nothing else may warn.
    warnings = [line for line in proc.stderr.splitlines() if "WARNING" in line]
    outside = re.compile(r"undefined label: '(?!ansible_collections\.nodewatch\.k8s\.)[^']+' \[ref\.ref\]|"
                         r"'envvar' reference target not found: ANSIBLE_\w+ \[ref\.envvar\]")
    assert [w for w in warnings if not outside.search(w)] == [], report(proc)

    html = site / "build" / "html" / "collections" / "nodewatch" / "k8s"
    index = (html / "index.html").read_text()
    for guide in docsite.guides():
        page = html / "docsite" / (guide + ".html")
        assert page.is_file(), guide
        with open(os.path.join(ROOT, "docs", guide + ".md")) as handle:
            title = handle.readline().lstrip("#").strip().replace("`", "")
        text = re.sub(r"<[^>]+>", "", page.read_text())
        assert title in text, (guide, title)
        assert "docsite/%s.html" % guide in index, guide
    for plugin_page in ("node_info_module.html", "nodes_inventory.html", "cron_problems_filter.html", "watcher_role.html"):
        assert (html / plugin_page).is_file(), plugin_page
