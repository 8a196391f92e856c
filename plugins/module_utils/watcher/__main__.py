# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""``python -m ansible_collections.nodewatch.k8s.plugins.module_utils.watcher``"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.daemon import main

if __name__ == "__main__":
    raise SystemExit(main())
