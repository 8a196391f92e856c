# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Names Kubernetes accepts, and the label that marks what this collection owns.

The patterns are apimachinery's (``k8s.io/apimachinery/pkg/util/validation``): every object name
this collection checks before sending it (nodes, namespaces, ConfigMaps, Leases) goes through
here, so a name refused locally is exactly one the API server would refuse.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import re

# Every object the collection creates carries this label; one it finds without it was made by
# someone else and is never overwritten.
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "nodewatch.k8s"

DNS1123_LABEL_MAX = 63
DNS1123_SUBDOMAIN_MAX = 253
DNS1123_LABEL_PATTERN = r"[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_LABEL_RE = re.compile(r"^%s$" % DNS1123_LABEL_PATTERN)
DNS1123_SUBDOMAIN_RE = re.compile(r"^%s(\.%s)*$" % (DNS1123_LABEL_PATTERN, DNS1123_LABEL_PATTERN))


def is_dns1123_label(value):
    """A namespace, ConfigMap-part or Service name: at most 63 of a-z, 0-9 and '-'."""
    return isinstance(value, str) and len(value) <= DNS1123_LABEL_MAX and bool(DNS1123_LABEL_RE.match(value))


def is_dns1123_subdomain(value):
    """A node, ConfigMap or Lease name: at most 253 of a-z, 0-9, '-' and '.'."""
    return (isinstance(value, str) and len(value) <= DNS1123_SUBDOMAIN_MAX
            and bool(DNS1123_SUBDOMAIN_RE.match(value)))


def is_managed(obj):
    """True when ``obj`` (an API object) carries this collection's managed-by label."""
    labels = ((obj or {}).get("metadata") or {}).get("labels") or {}
    return labels.get(MANAGED_BY_LABEL) == MANAGED_BY


def not_managed_sentence(what, advice):
    """Why an object is refused: ``what`` names it, ``advice`` says what the user can do."""
    return ("%s exists but is not managed by nodewatch.k8s (label %s=%s is missing); refusing to "
            "overwrite it - %s" % (what, MANAGED_BY_LABEL, MANAGED_BY, advice))
