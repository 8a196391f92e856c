# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""nodewatch-watcher: the daemon that watches nodes and alerts on their image storage.

Run it with ``python -m ansible_collections.nodewatch.k8s.plugins.module_utils.watcher --help``
(the collections root on ``PYTHONPATH``). Nothing here imports Ansible.

``config`` (settings), ``alerts`` (pure decisions), ``engine`` (events to alerts), ``sinks``,
``state``, ``leader``, ``metrics`` (HTTP endpoints) and ``daemon`` (wiring and lifecycle).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type
