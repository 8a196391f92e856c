# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Node operations over the client: the engine behind the node and node_info modules."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import time

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import node_path
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.conflicts import retry_on_conflict
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import (
    ApiError,
    ValidationError,
    WaitTimeout,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.nodes.model import (
    normalize_taint,
    plan_node_update,
    summarize_node,
    validate_annotations,
    validate_labels,
    validate_node_definition,
    validate_node_name,
)


def join_selectors(selectors, option):
    """``['a=b', 'c']`` -> ``'a=b,c'``; the API server checks the grammar and answers 400."""
    if not selectors:
        return None
    if isinstance(selectors, str):
        selectors = [selectors]
    for selector in selectors:
        if not isinstance(selector, str) or not selector.strip():
            raise ValidationError("%s must be a list of non-empty selector strings, got %r" % (option, selectors))
    return ",".join(s.strip() for s in selectors)


def select_nodes(client, name=None, label_selectors=None, field_selectors=None, limit=500):
    """Yield the nodes asked for, page by page (one node when ``name`` is given)."""
    label_selector = join_selectors(label_selectors, "label_selectors")
    field_selector = join_selectors(field_selectors, "field_selectors")
    if name:
        validate_node_name(name)
        # A field selector keeps name lookups and selectors in one request with one meaning.
        field_selector = ",".join(s for s in ("metadata.name=%s" % name, field_selector) if s)
    try:
        yield from client.iter_items(node_path(), label_selector, field_selector, limit)
    except ApiError as exc:
        if exc.status == 400:
            raise ValidationError("the API server rejected the selector: %s (check label_selectors "
                                  "and field_selectors)" % (exc.server_message or exc))
        raise


NODE_INFO_DETAIL = ("compact", "complete")


def node_info(client, name=None, label_selectors=None, field_selectors=None, full=False, detail="compact"):
    """List nodes; summaries by default because full NodeLists of big clusters are huge.

    ``detail="compact"`` gives the lighter summary (``summarize_node(..., complete=False)``):
    Ansible checks, encodes and copies every value a module returns, thousands of times over.
    """
    if detail not in NODE_INFO_DETAIL:
        raise ValidationError("detail must be one of %s, got %r" % (", ".join(NODE_INFO_DETAIL), detail))
    complete = detail == "complete"
    nodes = select_nodes(client, name, label_selectors, field_selectors)
    if full:
        return list(nodes)
    return [summarize_node(node, complete=complete) for node in nodes]


def ensure_node(client, name, labels=None, labels_mode="merge", annotations=None,
                annotations_mode="merge", taints=None, taints_mode="merge", cordoned=None,
                create=False, definition=None, check_mode=False):
    """Bring one node to the wanted labels/annotations/taints/cordon state.

    Returns a dict with changed, diff (before/after), node (summary) and created.
    """
    validate_node_name(name)
    validate_labels(dict((k, v) for k, v in (labels or {}).items()))
    validate_annotations(annotations)
    wanted_taints = [normalize_taint(t) for t in taints] if taints is not None else None
    if wanted_taints is not None and taints_mode == "replace" and any(t["state"] == "absent" for t in wanted_taints):
        raise ValidationError("taints with state: absent only make sense with taints_mode: merge; "
                              "in replace mode list just the taints to keep")

    def attempt():
        node = client.get_or_none(node_path(name))
        created = False
        if node is None:
            if not create:
                raise ValidationError(
                    "node %s does not exist. Kubelets register their nodes themselves; to create a "
                    "Node object anyway set create: true (with definition for its spec)" % name)
            body = validate_node_definition(definition or {}, name)
            if check_mode:
                node = body
            else:
                # A 409 AlreadyExists (registered meanwhile) reads it again and plans on it.
                node = client.create(node_path(), body)
            created = True
        patch, before, after = plan_node_update(
            node, labels, labels_mode, annotations, annotations_mode, wanted_taints, taints_mode, cordoned)
        if created:
            before = {}
        if patch is None or check_mode:
            if patch is not None or created:
                summary = summarize_node(_preview(node, after))
            else:
                summary = summarize_node(node)
            return {"changed": created or patch is not None, "created": created,
                    "diff": {"before": before, "after": after}, "node": summary}
        # The patch carries the resourceVersion read above: a 409 if the node changed meanwhile.
        updated = client.patch(node_path(name), patch, patch_type="merge")
        return {"changed": True, "created": created, "diff": {"before": before, "after": after},
                "node": summarize_node(updated)}

    def after_lost_answer(result):
        if not result["changed"]:
            # Read again after the answer to our write was lost: the node is as wanted, so the
            # write was applied.
            result = dict(result, changed=True, warnings=[
                "the answer to the change of node %s was lost; reading it again shows the change was applied"
                % name])
        return result

    return retry_on_conflict(attempt, 'node "%s"' % name, after_lost_answer=after_lost_answer)


def _preview(node, after):
    """The node as it would look with ``after`` applied (for check mode's returned summary)."""
    preview = dict(node)
    preview["metadata"] = dict(node.get("metadata") or {}, labels=after["labels"], annotations=after["annotations"])
    spec = dict(node.get("spec") or {}, taints=after["taints"])
    spec["unschedulable"] = after["unschedulable"]
    preview["spec"] = spec
    return preview


def remove_node(client, name, grace_period=None, wait=False, wait_timeout=120, check_mode=False,
                sleep=time.sleep, clock=time.monotonic):
    """Delete a node if it exists; optionally wait until the API no longer returns it."""
    validate_node_name(name)
    node = client.get_or_none(node_path(name))
    if node is None:
        return {"changed": False, "diff": {"before": {}, "after": {}}}
    diff = {"before": summarize_node(node), "after": {}}
    if check_mode:
        return {"changed": True, "diff": diff}
    try:
        client.delete(node_path(name), grace_period=grace_period,
                      preconditions={"uid": node["metadata"].get("uid")} if node["metadata"].get("uid") else None)
    except ApiError as exc:
        if exc.status not in (404, 409):
            raise
        # 409 here means our uid precondition failed: a new node with this name replaced the
        # one we read, which we were not asked to remove.
        if exc.status == 409:
            raise ApiError(409, reason="Conflict", message="node %s was replaced by a new object while "
                           "deleting; not deleting the new one" % name, verb="delete", resource="nodes",
                           name=name)
    if wait:
        deadline = clock() + wait_timeout
        delay = 0.2
        while True:
            current = client.get_or_none(node_path(name))
            if current is None or current["metadata"].get("uid") != node["metadata"].get("uid"):
                break
            if clock() >= deadline:
                raise WaitTimeout("node %s still exists after %s seconds (finalizers: %s); raise "
                                  "wait_timeout or check what holds it"
                                  % (name, wait_timeout, current["metadata"].get("finalizers") or "none"))
            sleep(delay)
            delay = min(delay * 2, 2.0)
    return {"changed": True, "diff": diff}
