# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""nodewatch-watcher: the daemon that watches nodes and alerts on their image storage.

Run it with ``python -m ansible_collections.nodewatch.k8s.plugins.module_utils.watcher --help``
(the collections root on ``PYTHONPATH``). Nothing here imports Ansible.

``config`` (settings), ``alerts`` (pure decisions), ``engine`` (events to alerts), ``sinks``,
``state``, ``leader``, ``metrics`` (HTTP endpoints) and ``daemon`` (wiring and lifecycle).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type
