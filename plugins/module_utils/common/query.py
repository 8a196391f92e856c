# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""JMESPath over results, shared by every module with a ``query`` option."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import MissingLibraryError, ValidationError


def apply_query(expression, data):
    """Evaluate ``expression`` over ``data``; a bad expression names itself in the error."""
    try:
        import jmespath
    except ImportError:
        raise MissingLibraryError("jmespath", "for the query option")
    try:
        return jmespath.search(expression, data)
    except jmespath.exceptions.JMESPathError as exc:
        raise ValidationError("query %r is not a valid JMESPath expression: %s" % (expression, exc))
