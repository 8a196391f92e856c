# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Which report files a module writes, and where (spec: ``argspecs.REPORT``)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type


class ModuleDocFragment(object):
    DOCUMENTATION = r"""
options:
  report_format:
    description:
      - The formats of the report. V(markdown) is for people and pull requests, V(json) for tools (its
        shape is in C(docs/drift.md)), V(html) a single page with charts drawn as inline SVG and sortable
        tables, readable offline.
    type: list
    elements: str
    choices: [markdown, json, html]
    default: [markdown]
  report_path:
    description:
      - Where to write the report. With one format and a path with an extension, that file; otherwise
        the path with each format's extension (V(.md), V(.json), V(.html)) in place of its own.
      - Unset or empty - no file is written. Give an absolute path - the directory a module runs in is
        not the one C(ansible-playbook) was started in (the playbooks resolve relative paths against the
        latter).
      - Each file is replaced atomically; its directory is created when missing.
    type: path
"""
