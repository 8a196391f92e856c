# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Pure Node logic: compact summaries, Kubernetes' validation rules, and desired state.

No I/O here: ``ops.py`` reads and writes through the client, this file decides what a
node should look like and whether anything has to change.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import re

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ValidationError
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.names import is_dns1123_subdomain

ROLE_LABEL_PREFIX = "node-role.kubernetes.io/"
LEGACY_ROLE_LABEL = "kubernetes.io/role"
ZONE_LABEL = "topology.kubernetes.io/zone"
ADDRESS_TYPES = ("InternalIP", "ExternalIP", "Hostname", "InternalDNS", "ExternalDNS")
TAINT_EFFECTS = ("NoSchedule", "PreferNoSchedule", "NoExecute")
# The node lifecycle controller owns these taints (it adds them for cordon, NotReady, pressure):
# an exact taint list never removes them, or every run would fight the controller.
SYSTEM_TAINT_PREFIXES = ("node.kubernetes.io/", "node.cloudprovider.kubernetes.io/")

# k8s.io/apimachinery/pkg/util/validation: IsQualifiedName and IsValidLabelValue.
_NAME_RE = re.compile(r"^([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]$")


def node_roles(labels):
    """Roles from ``node-role.kubernetes.io/<role>`` keys and the legacy ``kubernetes.io/role``."""
    roles = set()
    for key, value in (labels or {}).items():
        if key.startswith(ROLE_LABEL_PREFIX) and len(key) > len(ROLE_LABEL_PREFIX):
            roles.add(key[len(ROLE_LABEL_PREFIX):])
        elif key == LEGACY_ROLE_LABEL and value:
            roles.add(value)
    return sorted(roles)


def condition(node, condition_type):
    for item in (node.get("status") or {}).get("conditions") or ():
        if item.get("type") == condition_type:
            return item
    return None


def is_ready(node):
    ready = condition(node, "Ready")
    return bool(ready) and ready.get("status") == "True"


def addresses_by_type(node):
    result = {}
    for address in (node.get("status") or {}).get("addresses") or ():
        result.setdefault(address.get("type"), address.get("address"))
    return result


def node_brief(node):
    """What a report row shows of a node besides its images: roles, zone, readiness, cordon."""
    labels = (node.get("metadata") or {}).get("labels") or {}
    return {
        "roles": node_roles(labels),
        "zone": labels.get(ZONE_LABEL),
        "ready": is_ready(node),
        "schedulable": not (node.get("spec") or {}).get("unschedulable", False),
    }


def summarize_node(node, complete=True):
    """The compact view modules return by default: what a person asks about a node first.

    ``complete=False`` is the lighter view ``node_info`` returns for every node of a cluster: no
    ``allocatable``, ``container_runtime`` or ``created``, and ``capacity`` without the resources
    the node has none of (``hugepages-1Gi: "0"``).
    """
    metadata = node.get("metadata") or {}
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    labels = metadata.get("labels") or {}
    node_info = status.get("nodeInfo") or {}
    pressures = [c.get("type") for c in status.get("conditions") or ()
                 if c.get("type") != "Ready" and c.get("status") == "True"]
    capacity = status.get("capacity") or {}
    summary = {
        "name": metadata.get("name"),
        "roles": node_roles(labels),
        "ready": is_ready(node),
        "schedulable": not spec.get("unschedulable", False),
        "conditions_true": pressures,
        "taints": [_taint_view(t) for t in spec.get("taints") or ()],
        "addresses": addresses_by_type(node),
        "kubelet_version": node_info.get("kubeletVersion"),
        "capacity": dict(capacity) if complete else _present_resources(capacity),
        "zone": labels.get(ZONE_LABEL),
    }
    if complete:
        summary["container_runtime"] = node_info.get("containerRuntimeVersion")
        summary["allocatable"] = dict(status.get("allocatable") or {})
        summary["created"] = metadata.get("creationTimestamp")
    return summary


_ZERO_QUANTITIES = frozenset(["0", "0k", "0Ki", "0M", "0Mi", "0G", "0Gi"])


def _present_resources(resources):
    """Resources without the ones whose quantity is zero (hugepages sizes a node does not use)."""
    return dict((name, value) for name, value in resources.items() if value not in _ZERO_QUANTITIES)


def _taint_view(taint):
    view = {"key": taint.get("key"), "effect": taint.get("effect")}
    if taint.get("value"):
        view["value"] = taint["value"]
    return view


# -- validation (Kubernetes' own rules, so mistakes fail before any API call) -----------------

def validate_qualified_name(key, what="label key"):
    """``[prefix/]name``: name ≤ 63 alphanumerics with ``-_.`` inside; prefix a DNS subdomain."""
    if not isinstance(key, str) or not key:
        raise ValidationError("%s must be a non-empty string, got %r" % (what, key))
    prefix, name = key.rpartition("/")[::2]
    if "/" in key and not prefix:
        raise ValidationError("%s '%s': the prefix before '/' must not be empty" % (what, key))
    if prefix:
        if not is_dns1123_subdomain(prefix):
            raise ValidationError(
                "%s '%s': prefix '%s' must be a lowercase DNS subdomain (a-z, 0-9, '-', '.'; at "
                "most 253 characters)" % (what, key, prefix))
    if len(name) > 63 or not _NAME_RE.match(name):
        raise ValidationError(
            "%s '%s': name part '%s' must be at most 63 characters of [A-Za-z0-9-_.], starting "
            "and ending with a letter or digit" % (what, key, name))


def validate_label_value(key, value):
    if value is None:
        return
    if not isinstance(value, str):
        raise ValidationError("label '%s': value must be a string (quote numbers and booleans in "
                              "YAML), got %r" % (key, value))
    if value and (len(value) > 63 or not _NAME_RE.match(value)):
        raise ValidationError(
            "%svalue '%s' must be empty or at most 63 characters of [A-Za-z0-9-_.], starting and "
            "ending with a letter or digit" % ("label '%s': " % key if key else "label ", value))


def validate_labels(labels):
    for key, value in (labels or {}).items():
        validate_qualified_name(key, "label key")
        validate_label_value(key, value)


def validate_annotations(annotations):
    total = 0
    for key, value in (annotations or {}).items():
        validate_qualified_name(key, "annotation key")
        if value is not None and not isinstance(value, str):
            raise ValidationError("annotation '%s': value must be a string, got %r" % (key, value))
        total += len(key) + len(value or "")
    if total > 256 * 1024:
        raise ValidationError("annotations total %d bytes; Kubernetes allows at most 256 KiB" % total)


def normalize_taint(taint, require_effect=True):
    """Validate one taint given by a user; returns a clean dict (key, value?, effect?, state)."""
    if not isinstance(taint, dict):
        raise ValidationError("each taint must be a mapping with key, effect and optional value; got %r"
                              % (taint,))
    unknown = set(taint) - {"key", "value", "effect", "state"}
    if unknown:
        raise ValidationError("taint %r: unknown field(s) %s; use key, value, effect, state"
                              % (taint, ", ".join(sorted(unknown))))
    key = taint.get("key")
    validate_qualified_name(key, "taint key")
    state = taint.get("state") or "present"
    if state not in ("present", "absent"):
        raise ValidationError("taint '%s': state must be present or absent, got %r" % (key, state))
    effect = taint.get("effect")
    if effect is None and (require_effect and state == "present"):
        raise ValidationError("taint '%s': effect is required (one of %s)" % (key, ", ".join(TAINT_EFFECTS)))
    if effect is not None and effect not in TAINT_EFFECTS:
        raise ValidationError("taint '%s': effect '%s' is not valid; use one of %s"
                              % (key, effect, ", ".join(TAINT_EFFECTS)))
    value = taint.get("value")
    if value is not None:
        value = str(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value
        if not isinstance(value, str) or (value and (len(value) > 63 or not _NAME_RE.match(value))):
            raise ValidationError(
                "taint '%s': value %r must be empty or at most 63 characters of [A-Za-z0-9-_.], "
                "starting and ending with a letter or digit" % (key, value))
    clean = {"key": key, "state": state}
    if effect is not None:
        clean["effect"] = effect
    if value:
        clean["value"] = value
    return clean


# -- desired state ---------------------------------------------------------------------------

def _is_system_managed(key):
    """Keys in Kubernetes' own namespaces, except the role labels people set themselves."""
    if key.startswith(ROLE_LABEL_PREFIX):
        return False
    prefix = key.rpartition("/")[0]
    return any(prefix == domain or prefix.endswith("." + domain) for domain in ("kubernetes.io", "k8s.io"))


def desired_mapping(current, wanted, mode):
    """Labels/annotations after applying ``wanted`` (None value = remove) in merge or replace mode.

    In replace mode, keys in the kubernetes.io and k8s.io namespaces (hostname, zone, kubelet
    annotations) stay: they are written by Kubernetes itself and removing them breaks scheduling.
    """
    current = current or {}
    if wanted is None:
        return dict(current)
    if mode == "replace":
        result = dict((k, v) for k, v in current.items() if _is_system_managed(k))
    else:
        result = dict(current)
    for key, value in wanted.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = value
    return result


def _taint_identity(taint):
    return taint.get("key"), taint.get("effect")


def desired_taints(current, wanted, mode):
    """Taints after applying ``wanted`` (normalized) in merge or replace mode.

    A taint is identified by key and effect, as ``kubectl taint`` does. In merge mode listed
    taints are added or updated and ``state: absent`` removes (all effects when no effect is
    given). In replace mode the list is exact, except controller-owned ``node.kubernetes.io/``
    taints, which stay.
    """
    current = list(current or ())
    if wanted is None:
        return current
    if mode == "replace":
        result = [t for t in current if t.get("key", "").startswith(SYSTEM_TAINT_PREFIXES)]
    else:
        result = list(current)
    for taint in wanted:
        if taint["state"] == "absent":
            result = [t for t in result if not (
                t.get("key") == taint["key"] and ("effect" not in taint or t.get("effect") == taint["effect"]))]
            continue
        new = {"key": taint["key"], "effect": taint["effect"]}
        if taint.get("value"):
            new["value"] = taint["value"]
        for index, existing in enumerate(result):
            if _taint_identity(existing) == _taint_identity(new):
                if (existing.get("value") or "") != (new.get("value") or ""):
                    kept = dict(existing)
                    kept.pop("value", None)
                    kept.update(new)
                    result[index] = kept
                break
        else:
            result.append(new)
    return result


def _taints_equal(left, right):
    def canon(taints):
        return sorted((t.get("key"), t.get("effect"), t.get("value") or "") for t in taints or ())
    return canon(left) == canon(right)


def managed_view(node):
    """The part of a node this collection manages, as shown in --diff."""
    metadata = node.get("metadata") or {}
    spec = node.get("spec") or {}
    return {
        "labels": dict(metadata.get("labels") or {}),
        "annotations": dict(metadata.get("annotations") or {}),
        "taints": [dict(t) for t in spec.get("taints") or ()],
        "unschedulable": bool(spec.get("unschedulable", False)),
    }


def plan_node_update(node, labels=None, labels_mode="merge", annotations=None,
                     annotations_mode="merge", taints=None, taints_mode="merge", cordoned=None):
    """Compare a node with the wanted state.

    Returns ``(patch, before, after)``; ``patch`` is None when nothing has to change. The patch
    is a JSON merge patch carrying the node's resourceVersion, so the API server refuses it with
    409 if the node changed since it was read (the caller re-reads and plans again).
    """
    before = managed_view(node)
    after = copy.deepcopy(before)
    after["labels"] = desired_mapping(before["labels"], labels, labels_mode)
    after["annotations"] = desired_mapping(before["annotations"], annotations, annotations_mode)
    after["taints"] = desired_taints(before["taints"], taints, taints_mode)
    if cordoned is not None:
        after["unschedulable"] = bool(cordoned)

    patch = {}
    metadata_patch = {}
    for field in ("labels", "annotations"):
        if after[field] != before[field]:
            changes = dict((k, v) for k, v in after[field].items() if before[field].get(k) != v)
            changes.update((k, None) for k in before[field] if k not in after[field])
            metadata_patch[field] = changes
    spec_patch = {}
    if not _taints_equal(before["taints"], after["taints"]):
        # Merge patch replaces lists whole, which is what an exact taint list needs; an empty
        # list is sent as null so the field disappears as when kubectl removes the last taint.
        spec_patch["taints"] = after["taints"] or None
    if after["unschedulable"] != before["unschedulable"]:
        spec_patch["unschedulable"] = True if after["unschedulable"] else None
    if metadata_patch:
        patch["metadata"] = metadata_patch
    if spec_patch:
        patch["spec"] = spec_patch
    if not patch:
        return None, before, before
    patch.setdefault("metadata", {})["resourceVersion"] = (node.get("metadata") or {}).get("resourceVersion")
    return patch, before, after


def validate_node_definition(definition, name):
    """A Node to create: a mapping whose kind/apiVersion/name agree with the task."""
    if not isinstance(definition, dict):
        raise ValidationError("definition must be a Node object as a mapping")
    kind = definition.get("kind", "Node")
    api_version = definition.get("apiVersion", "v1")
    if kind != "Node" or api_version != "v1":
        raise ValidationError("definition must be kind: Node, apiVersion: v1 (got kind %s, apiVersion %s)"
                              % (kind, api_version))
    for key in ("metadata", "spec", "status"):
        if definition.get(key) is not None and not isinstance(definition[key], dict):
            raise ValidationError("definition.%s must be a mapping, got %s" % (key, type(definition[key]).__name__))
    body = copy.deepcopy(definition)
    body["kind"], body["apiVersion"] = "Node", "v1"
    if body.get("metadata") is None:
        body["metadata"] = {}
    metadata = body["metadata"]
    if metadata.get("name") not in (None, name):
        raise ValidationError("definition metadata.name '%s' differs from name '%s'" % (metadata["name"], name))
    metadata["name"] = name
    validate_node_name(name)
    validate_labels(metadata.get("labels"))
    validate_annotations(metadata.get("annotations"))
    for taint in (body.get("spec") or {}).get("taints") or ():
        normalize_taint(taint)
    return body


def validate_node_name(name):
    if not is_dns1123_subdomain(name):
        raise ValidationError("node name %r is not valid: use a lowercase DNS subdomain (a-z, 0-9, '-', "
                              "'.'; at most 253 characters)" % (name,))
