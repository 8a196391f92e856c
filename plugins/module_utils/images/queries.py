# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""The engine behind ``node_images_info``: select nodes, account for their images, and
optionally read each kubelet's image filesystem.

Two different numbers describe a node's image storage, and the answer carries both:

* ``total_bytes`` sums ``status.images[].sizeBytes``. Images share layers, so this counts a shared
  layer once per image that uses it: it over-states the disk really used. The kubelet also lists
  at most ``nodeStatusMaxImages`` images, so on a ``truncated`` node it is a lower bound of that
  (already inflated) sum.
* ``imagefs.used_bytes`` comes from the kubelet Summary API (``node.runtime.imageFs``): the bytes
  the image filesystem really uses. It needs ``get`` on ``nodes/proxy`` and a reachable kubelet,
  so it is optional, fetched concurrently, and a failure is reported per node.

Nodes are read page by page and reduced to their facts at once: memory holds one page of Node
objects, the per-node facts (none with ``summary_only``) and the cluster counters, which grow
with distinct images, not nodes. Nothing here imports Ansible.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import RetryPolicy, node_path
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import (
    ApiError,
    ConnectionFailure,
    KubeError,
    ValidationError,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import (
    DEFAULT_MAX_IMAGES,
    NODE_ROLE_KEY,
    TRUNCATED_NOTE,
    cluster_image_report,
    compile_name_filter,
    node_image_facts,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.nodes.ops import select_nodes
from ansible_collections.nodewatch.k8s.plugins.module_utils.nodes.model import (
    is_ready,
    node_roles,
    validate_qualified_name,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.quantity import human_bytes

# A kubelet that is down answers 503 through the API server; retrying hundreds of them with
# backoff would stall the task, so summaries get one attempt each.
NO_RETRY = RetryPolicy(attempts=1)

__all__ = ["node_images_report", "fetch_imagefs", "imagefs_facts", "ImageFsReader", "DETAIL_LEVELS",
           "COMPACT_TOP_PER_NODE"]

SUMMARY_SUBRESOURCE = "proxy/stats/summary"
ZONE_LABEL = "topology.kubernetes.io/zone"
MAX_CONCURRENCY = 64
FAILED_NODES_LISTED = 10
# What each node's entry carries: "compact" leaves out what another field already says, "complete"
# is every field. Ansible scans, encodes, decodes and copies every value a module returns, so on
# thousands of nodes the per-node entries are most of a task's time.
DETAIL_LEVELS = ("compact", "complete")
COMPACT_TOP_PER_NODE = 3
COMPACT_FIELDS = ("name", "image_count", "total_bytes", "total_human", "capacity_bytes", "percent_of_capacity",
                  "truncated")
COMPACT_IMAGE_FIELDS = ("name", "digest", "tags", "size_bytes")
_TRUNCATED_NOTE_START = TRUNCATED_NOTE[:TRUNCATED_NOTE.index("%d")]


def _validate_int(value, option, minimum, maximum=None):
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError("%s must be an integer, got %r" % (option, value))
    if value < minimum or (maximum is not None and value > maximum):
        bounds = "at least %d" % minimum if maximum is None else "from %d to %d" % (minimum, maximum)
        raise ValidationError("%s must be %s, got %d" % (option, bounds, value))
    return value


def validate_group_by(group_by):
    """Label keys (or the ``node-role`` pseudo-key) to group the cluster report by."""
    if not group_by:
        return None
    keys = []
    for key in group_by:
        if key != NODE_ROLE_KEY:
            try:
                validate_qualified_name(key, "group_by key")
            except ValidationError as exc:
                raise ValidationError("%s; use label keys such as topology.kubernetes.io/zone, or "
                                      "%s for the node's roles" % (exc, NODE_ROLE_KEY))
        if key not in keys:
            keys.append(key)
    return keys


def build_name_filter(pattern, kind):
    """``compile_name_filter`` with errors that name the module options."""
    if pattern is None:
        return None
    try:
        return compile_name_filter(pattern, kind)
    except ValueError as exc:
        raise ValidationError("image_filter %r (image_filter_type %s) is not usable: %s"
                              % (pattern, kind, exc))


# -- the kubelet Summary API -----------------------------------------------------------------

def imagefs_facts(summary):
    """Image filesystem figures from a kubelet Summary, or raise ValueError naming what is missing."""
    runtime = ((summary or {}).get("node") or {}).get("runtime") or {}
    fs = runtime.get("imageFs")
    if not isinstance(fs, dict):
        raise ValueError("it has no node.runtime.imageFs (the container runtime does not report its "
                         "image filesystem)")
    capacity = fs.get("capacityBytes")
    used = fs.get("usedBytes")
    for field, value in (("capacityBytes", capacity), ("usedBytes", used)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError("node.runtime.imageFs.%s is %s" % (
                field, "missing" if value is None else "not a non-negative integer (%r)" % (value,)))
    available = fs.get("availableBytes")
    if isinstance(available, bool) or not isinstance(available, int) or available < 0:
        available = max(capacity - used, 0)
    return _fs_usage(capacity, used, available)


def _fs_usage(capacity, used, available):
    """One filesystem's (or a sum of filesystems') usage, as every imagefs result shows it."""
    return {
        "capacity_bytes": capacity,
        "used_bytes": used,
        "available_bytes": available,
        "percent": round(used * 100.0 / capacity, 2) if capacity else None,
        "capacity_human": human_bytes(capacity),
        "used_human": human_bytes(used),
    }


def _imagefs_error(exc, name, timeout):
    """One sentence on why a node's image filesystem could not be read."""
    if isinstance(exc, ApiError):
        detail = (exc.server_message or exc.reason or "").strip()
        detail = ": %s" % detail if detail else ""
        if exc.status == 403:
            return ("forbidden to read the kubelet Summary API of node %s (HTTP 403%s); the user "
                    "needs get on the nodes/proxy resource: grant it with RBAC or set imagefs: false"
                    % (name, detail))
        if exc.status in (502, 503):
            return ("the kubelet of node %s is unreachable through the API server (HTTP %d%s); the "
                    "node may be down or the API server cannot reach its kubelet port"
                    % (name, exc.status, detail))
        if exc.status == 504:
            return ("the kubelet of node %s did not answer the API server in time (HTTP 504%s)"
                    % (name, detail))
        if exc.status == 404:
            return ("node %s no longer exists, or its kubelet does not serve /stats/summary (HTTP 404%s)"
                    % (name, detail))
        return "cannot read the kubelet Summary API of node %s: %s" % (name, exc)
    if isinstance(exc, ConnectionFailure):
        text = str(exc)
        if "in time" in text:
            return ("the kubelet Summary API of node %s did not answer within %s seconds; raise "
                    "imagefs_timeout or check the node" % (name, _seconds(timeout)))
        return "cannot read the kubelet Summary API of node %s: %s" % (name, text)
    if isinstance(exc, ValueError):
        return "the kubelet Summary of node %s cannot be used: %s" % (name, exc)
    return "cannot read the kubelet Summary API of node %s: %s" % (name, exc)


def _seconds(value):
    return ("%g" % value) if isinstance(value, float) else str(value)


def fetch_imagefs(client, name, timeout=10.0):
    """``{"imagefs": {...}}`` or ``{"imagefs_error": "<sentence>"}`` for one node; never raises
    for what a node or its kubelet can do wrong."""
    try:
        summary = client.get(node_path(name, SUMMARY_SUBRESOURCE), timeout=timeout, retry=NO_RETRY)
        return {"imagefs": imagefs_facts(summary)}
    except (KubeError, ValueError) as exc:
        return {"imagefs_error": _imagefs_error(exc, name, timeout)}


class ImageFsReader:
    """Reads kubelet Summaries on a bounded thread pool while nodes are still being listed.

    One request per node and no retries: a kubelet that is down answers 503 through the API
    server, and retrying each of hundreds of such nodes with backoff would stall the task. A node
    that fails is reported with a sentence; run the task again to retry it.
    """

    def __init__(self, client, concurrency=10, timeout=10.0):
        self._client = client
        self._timeout = timeout
        self._pool = ThreadPoolExecutor(max_workers=concurrency)
        self._futures = {}
        self._lock = threading.Lock()

    def submit(self, name):
        with self._lock:
            if name not in self._futures:
                self._futures[name] = self._pool.submit(fetch_imagefs, self._client, name, self._timeout)

    def result(self, name):
        return self._futures[name].result()

    def close(self):
        try:
            self._pool.shutdown(wait=True, cancel_futures=True)
        except TypeError:  # Python 3.8 has no cancel_futures
            self._pool.shutdown(wait=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()


def imagefs_totals(results):
    """Totals over the nodes whose image filesystem was read: ``results`` are ``(name, {"imagefs" or
    "imagefs_error"})`` pairs."""
    measured = failed = 0
    capacity = used = available = 0
    failures = []
    for name, result in results:
        fs = result.get("imagefs")
        if fs is None:
            failed += 1
            if len(failures) < FAILED_NODES_LISTED:
                failures.append({"name": name, "error": result.get("imagefs_error")})
            continue
        measured += 1
        capacity += fs["capacity_bytes"]
        used += fs["used_bytes"]
        available += fs["available_bytes"]
    return dict(_fs_usage(capacity, used, available), nodes_measured=measured, nodes_failed=failed,
                failed_nodes=failures)


# -- the whole answer ------------------------------------------------------------------------

def _compact_view(facts):
    """A node's entry without what other fields already say: no ``max_images`` (the option's
    value), no ``size_human`` twins in ``top_images``, no truncation sentence (``truncated`` says
    it), and ``malformed``/``notes`` only when they hold something."""
    view = dict((field, facts[field]) for field in COMPACT_FIELDS)
    view["top_images"] = [dict((field, image[field]) for field in COMPACT_IMAGE_FIELDS)
                          for image in facts["top_images"]]
    if facts["malformed"]:
        view["malformed"] = facts["malformed"]
    notes = [note for note in facts["notes"] if not note.startswith(_TRUNCATED_NOTE_START)]
    if notes:
        view["notes"] = notes
    return view


def _node_context(node):
    """What a query over image facts most often filters on, beside the images."""
    metadata = node.get("metadata") or {}
    labels = metadata.get("labels") or {}
    return {
        "roles": node_roles(labels),
        "zone": labels.get(ZONE_LABEL),
        "ready": is_ready(node),
        "schedulable": not (node.get("spec") or {}).get("unschedulable", False),
    }


def node_images_report(client, name=None, label_selectors=None, field_selectors=None,
                       image_filter=None, image_filter_type="glob", top=10,
                       max_images=DEFAULT_MAX_IMAGES, summary_only=False, group_by=None,
                       imagefs=False, imagefs_concurrency=10, imagefs_timeout=10.0, page_size=500,
                       detail="compact", top_per_node=None):
    """Return ``{"nodes": [...], "cluster": {...}, "count": N}`` for the selected nodes.

    ``nodes`` holds per-node image facts (``images.node_image_facts`` without the full image list,
    plus ``roles``, ``zone``, ``ready``, ``schedulable`` and, with ``imagefs``, ``imagefs`` or
    ``imagefs_error``); it is empty with ``summary_only``. ``detail="compact"`` trims each entry
    (see ``_compact_view``), ``"complete"`` keeps every field. ``top_per_node`` images are listed
    per node (default: 3 when compact, ``top`` when complete); ``top`` sizes the cluster's lists.
    ``cluster`` is ``images.cluster_image_report`` plus, with ``imagefs``, ``cluster["imagefs"]``.
    """
    _validate_int(top, "top", 0)
    if detail not in DETAIL_LEVELS:
        raise ValidationError("detail must be one of %s, got %r" % (", ".join(DETAIL_LEVELS), detail))
    if top_per_node is None:
        top_per_node = COMPACT_TOP_PER_NODE if detail == "compact" else top
    _validate_int(top_per_node, "top_per_node", 0)
    if max_images is not None:
        _validate_int(max_images, "max_images", -1)
    _validate_int(imagefs_concurrency, "imagefs_concurrency", 1, MAX_CONCURRENCY)
    if isinstance(imagefs_timeout, bool) or not isinstance(imagefs_timeout, (int, float)) or imagefs_timeout <= 0:
        raise ValidationError("imagefs_timeout must be a positive number of seconds, got %r" % (imagefs_timeout,))
    group_keys = validate_group_by(group_by)
    name_filter = build_name_filter(image_filter, image_filter_type)

    kept = []
    names = []
    reader = ImageFsReader(client, imagefs_concurrency, imagefs_timeout) if imagefs else None

    def facts_stream():
        for node in select_nodes(client, name, label_selectors, field_selectors, limit=page_size):
            facts = node_image_facts(node, top=top_per_node, max_images=max_images, name_filter=name_filter,
                                     include_images=True, group_by=group_keys)
            node_name = facts["name"]
            names.append(node_name)
            if reader is not None:
                reader.submit(node_name)
            if not summary_only:
                if detail == "compact":
                    view = _compact_view(facts)
                else:
                    view = dict((k, v) for k, v in facts.items() if k not in ("images", "group_values"))
                if group_keys:
                    view["group_values"] = facts["group_values"]
                view.update(_node_context(node))
                kept.append(view)
            yield facts

    try:
        cluster = cluster_image_report(facts_stream(), top=top, group_by=group_keys)
        if reader is not None:
            results = [(node_name, reader.result(node_name)) for node_name in names]
            for view, (_node_name, result) in zip(kept, results):
                view.update(result)
            cluster["imagefs"] = imagefs_totals(results)
    finally:
        if reader is not None:
            reader.close()
    return {"nodes": kept, "cluster": cluster, "count": len(names)}
