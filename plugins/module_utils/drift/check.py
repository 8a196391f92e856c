# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""The engine behind ``node_image_drift``: one drift check from the API to the answer.

Select nodes page by page, reduce each to its image facts (with the compact image list the
deny and new-image rules need), evaluate it against the policy and the baseline, and forget it.
Only when the baseline is to be replaced is a compact entry per node kept (``{key: size}``, the
baseline's own shape) until the new baseline is written.

Order matters for safety: the stored baseline is read (and strictly validated) before any node
is listed, so a corrupt, foreign or unreadable baseline fails the check at once and is never
replaced, whatever ``update_baseline`` says.

Nothing here imports Ansible; the module, the playbooks (through the module) and the tests call
``check_drift`` directly.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.untrusted import seconds
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.baseline import (
    BaselineError,
    ConfigMapBaselineStore,
    FileBaselineStore,
    build_baseline,
    diff_baselines,
    dump_baseline,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.configmaps import NotManagedError
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.rules import (
    BASELINE_THRESHOLDS_TEXT,
    DriftConfigError,
    Policy,
    evaluate_cluster,
    summary_text,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import (
    ApiError,
    ConnectionFailure,
    ValidationError,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import (
    DEFAULT_MAX_IMAGES,
    node_image_facts,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.nodes.model import node_brief
from ansible_collections.nodewatch.k8s.plugins.module_utils.nodes.ops import select_nodes

__all__ = ["check_drift", "build_policy", "open_baseline", "BaselineLocation", "BaselineAccessError",
           "SOURCES", "UPDATE_CHOICES"]

SOURCES = ("none", "configmap", "file")
UPDATE_CHOICES = ("false", "true", "on_success")
IMAGEFS_BATCH = 200
IMAGEFS_ERRORS_LISTED = 3
_NO_BASELINE_NOTE = "no baseline was given"


class BaselineAccessError(BaselineError):
    """The baseline store could not be reached or refused us; carries the API status if any."""

    def __init__(self, message, status=None, reason=None):
        super(BaselineAccessError, self).__init__(message)
        self.status = status
        self.reason = reason or ""


# ----------------------------------------------------------------------------------------------
# Policy
# ----------------------------------------------------------------------------------------------

def _unset(value):
    """None and '' mean "not checked" (an empty -e variable of a playbook is '')."""
    return value is None or (isinstance(value, str) and not value.strip())


def _empty_list(value):
    return isinstance(value, (list, tuple)) and not value


def build_policy(thresholds=None, rule_sets=None, mapping=None):
    """A ``drift.Policy`` from flat threshold options and rule sets.

    ``thresholds``: a dict of ``drift.rules.THRESHOLD_KEYS`` (None values = not checked).
    ``mapping``: the same limits as one mapping (the modules' ``thresholds`` option); a limit set
    in ``thresholds`` wins over the same one in ``mapping``. Raises
    ``DriftConfigError`` whose message names the option, e.g. ``max_percent must be a percentage
    between 0 and 100 ..., got 120`` or ``rule_sets[1] (gpu).thresholds.max_total_bytes: ...``.
    """
    if mapping is not None and not isinstance(mapping, dict):
        raise DriftConfigError("invalid drift threshold: thresholds must be a mapping of limits, got %r" % (mapping,))
    flat = dict((k, v) for k, v in (mapping or {}).items() if not _unset(v) and not _empty_list(v))
    # An option left at its default (an empty list, false) does not hide the mapping's value.
    flat.update((k, v) for k, v in (thresholds or {}).items()
                if not _unset(v) and not _empty_list(v) and v is not False)
    sets = []
    for item in rule_sets or ():
        if isinstance(item, dict):
            item = dict(item)
            inner = item.get("thresholds")
            if isinstance(inner, dict):
                # Ansible fills every sub-option it knows with None; None means "not checked".
                item["thresholds"] = dict((k, v) for k, v in inner.items() if not _unset(v))
        sets.append(item)
    try:
        return Policy.from_dict({"thresholds": flat, "rule_sets": sets})
    except DriftConfigError as exc:
        text = str(exc)
        if text.startswith("thresholds."):
            text = text[len("thresholds."):]
        elif text.startswith("thresholds: "):
            text = text[len("thresholds: "):]
        raise DriftConfigError("invalid drift threshold: %s" % text)


# ----------------------------------------------------------------------------------------------
# Baseline location
# ----------------------------------------------------------------------------------------------

class BaselineLocation:
    """A baseline store plus the words that name it in messages and results."""

    def __init__(self, source, store=None, where=None, namespace=None, name=None, path=None):
        self.source = source
        self.store = store
        self.where = where
        self.namespace = namespace
        self.name = name
        self.path = path
        # How the store's own messages name it; messages that do not get ``where`` added.
        self.mention = path if source == "file" else "ConfigMap %s/%s" % (namespace, name)

    def describe(self):
        data = {"source": self.source}
        if self.source == "configmap":
            data["configmap"] = {"namespace": self.namespace, "name": self.name}
        elif self.source == "file":
            data["path"] = self.path
        return data

    def _access_error(self, verb, exc):
        status = getattr(exc, "status", None) if isinstance(exc, ApiError) else None
        reason = getattr(exc, "reason", None) if isinstance(exc, ApiError) else None
        if isinstance(exc, ApiError) and exc.status == 403:
            hint = ("grant get, create and update on configmaps in namespace %s (and list and delete to "
                    "clean up split baselines), or use baseline_source: file" % self.namespace)
            return BaselineAccessError("cannot %s the baseline %s: %s; %s" % (verb, self.where, exc, hint),
                                       status, reason)
        if isinstance(exc, ApiError) and exc.status == 404 and verb == "write":
            return BaselineAccessError(
                "cannot write the baseline %s: %s; does namespace %s exist? Create it (kubectl create "
                "namespace %s) or set baseline_configmap.namespace" % (self.where, exc, self.namespace, self.namespace),
                status, reason)
        return BaselineAccessError("cannot %s the baseline %s: %s" % (verb, self.where, exc), status, reason)

    def read(self):
        """The stored baseline document, or None when there is none yet."""
        if self.store is None:
            return None
        try:
            return self.store.read()
        except BaselineError as exc:
            if self.mention in str(exc):
                raise
            raise BaselineError("the baseline %s cannot be used: %s" % (self.where, exc))
        except (ApiError, ConnectionFailure) as exc:
            raise self._access_error("read", exc)

    def check_writable(self):
        """Fail now, not after listing every node, when the baseline could not be replaced.

        Only a ConfigMap can be refused up front: one that nodewatch.k8s did not create is never
        written (the store refuses it too; checking first also makes check mode's answer true).
        """
        if self.source != "configmap":
            return
        try:
            self.store.configmaps.get(self.name, owned=True)
        except NotManagedError as exc:
            raise BaselineError(str(exc))
        except (ApiError, ConnectionFailure) as exc:
            raise self._access_error("read", exc)

    def write(self, doc):
        """Store ``doc``; returns the store's report (``{}`` for a file)."""
        if self.source == "file":
            directory = os.path.dirname(os.path.abspath(self.path))
            if not os.path.isdir(directory):
                try:
                    os.makedirs(directory, mode=0o700)
                except OSError as exc:
                    raise BaselineAccessError("cannot create the directory %s for the baseline file: %s"
                                              % (directory, exc.strerror or exc))
        try:
            report = self.store.write(doc)
        except (ApiError, ConnectionFailure) as exc:
            raise self._access_error("write", exc)
        return report or {}


def open_baseline(client, source="none", configmap=None, path=None):
    """A ``BaselineLocation`` for the module's baseline options (validated)."""
    if source not in SOURCES:
        raise ValidationError("baseline_source must be one of %s, got %r" % (", ".join(SOURCES), source))
    if source == "none":
        return BaselineLocation("none")
    if source == "file":
        if not isinstance(path, str) or not path.strip():
            raise ValidationError("baseline_source: file needs baseline_path, the JSON file that holds the baseline")
        return BaselineLocation("file", FileBaselineStore(path), where="in file %s" % path, path=path)
    configmap = configmap or {}
    namespace = configmap.get("namespace")
    name = configmap.get("name")
    if not namespace or not name:
        raise ValidationError("baseline_source: configmap needs baseline_configmap with namespace and name, "
                              "for example {namespace: nodewatch-system, name: nodewatch-baseline}")
    try:
        store = ConfigMapBaselineStore(client, namespace, name)
    except BaselineError as exc:
        raise ValidationError("baseline_configmap: %s" % exc)
    return BaselineLocation("configmap", store, where="in ConfigMap %s/%s" % (namespace, name),
                            namespace=namespace, name=name)


# ----------------------------------------------------------------------------------------------
# Facts stream
# ----------------------------------------------------------------------------------------------

class _Collector:
    """Keeps what a new baseline needs, per node, while the facts stream by."""

    def __init__(self):
        self.entries = []

    def add(self, facts):
        images = {}
        for image in facts.get("images") or ():
            key = image["key"]
            size = image["size_bytes"]
            if key not in images or size > images[key]:
                images[key] = size
        self.entries.append((facts["name"], facts["total_bytes"], facts["image_count"],
                             bool(facts.get("truncated")), images))

    def facts(self):
        """Facts-shaped items for ``baseline.build_baseline``, made one at a time."""
        for name, total, count, truncated, images in self.entries:
            yield {"name": name, "total_bytes": total, "image_count": count, "truncated": truncated,
                   "images": [{"key": k, "size_bytes": s} for k, s in images.items()]}


def _node_pairs(client, label_selectors, field_selectors, max_images, page_size, collector, report_options):
    top = 0
    group_by = None
    if report_options is not None:
        top = report_options.get("top", 0)
        group_by = report_options.get("group_by")
    for node in select_nodes(client, None, label_selectors, field_selectors, limit=page_size):
        facts = node_image_facts(node, top=top, max_images=max_images, include_images=True, group_by=group_by)
        if not facts.get("name"):
            continue
        if report_options is not None:
            facts["node"] = node_brief(node)
        labels = (node.get("metadata") or {}).get("labels") or {}
        if collector is not None:
            collector.add(facts)
        yield facts, labels


def _observed(pairs, observe):
    for facts, labels in pairs:
        observe(facts, labels)
        yield facts, labels


class _ImageFsStats:
    def __init__(self):
        self.measured = 0
        self.failed = 0
        self.errors = []


def _with_imagefs(pairs, reader, stats, batch=IMAGEFS_BATCH):
    """Attach each node's kubelet image filesystem figures; fetched concurrently per batch."""
    pending = []

    def flush():
        for facts, labels in pending:
            result = reader.result(facts["name"])
            if result.get("imagefs") is not None:
                facts["imagefs"] = result["imagefs"]
                stats.measured += 1
            else:
                facts["imagefs_error"] = result.get("imagefs_error") or "unknown error"
                stats.failed += 1
                if len(stats.errors) < IMAGEFS_ERRORS_LISTED:
                    stats.errors.append(result.get("imagefs_error") or "unknown error")
            yield facts, labels
        del pending[:]

    for facts, labels in pairs:
        reader.submit(facts["name"])
        pending.append((facts, labels))
        if len(pending) >= batch:
            yield from flush()
    yield from flush()


# ----------------------------------------------------------------------------------------------
# The check
# ----------------------------------------------------------------------------------------------

def _update_mode(value):
    if value is True:
        return "true"
    if value is False or value is None:
        return "false"
    text = str(value).strip().lower()
    if text in ("yes", "on", "1"):
        text = "true"
    if text in ("no", "off", "0"):
        text = "false"
    if text not in UPDATE_CHOICES:
        raise ValidationError("update_baseline must be one of %s, got %r" % (", ".join(UPDATE_CHOICES), value))
    return text


def check_drift(client, policy, label_selectors=None, field_selectors=None, baseline_source="none",
                baseline_configmap=None, baseline_path=None, update_baseline="false", check_mode=False,
                max_images=DEFAULT_MAX_IMAGES, imagefs=False, imagefs_concurrency=10, imagefs_timeout=10.0,
                want_diff=False, page_size=500, captured_at=None, cluster=None, observe=None, report_options=None):
    """Run one drift check; returns the module's result (without ``failed``).

    ``policy``: a ``drift.Policy`` (see ``build_policy``) or a dict for ``Policy.from_dict``.
    ``update_baseline``: ``"false"``, ``"true"`` (always replace the baseline with what was seen)
    or ``"on_success"`` (only when nothing breached). Nothing is written in ``check_mode``; the
    result then says what would have been.

    Result keys: ``changed``, ``ok``, ``breaches``, ``breaching_nodes``, ``nodes_checked``,
    ``nodes_added``, ``nodes_removed``, ``notes``, ``summary`` (``drift.summary_text``),
    ``baseline`` (``source``, ``configmap``/``path``, ``found``, ``captured_at``, ``nodes``,
    ``updated``, ``new_captured_at``, ``configmaps``), ``policy`` and, with ``want_diff`` and a
    write, ``diff`` (``before``/``after`` texts of ``baseline.diff_baselines``).

    ``observe(facts, labels)``, when given, sees every node's facts on the same pass (the audit
    builds its report from them): with ``report_options`` (``top``, ``group_by``) the facts also
    carry the node's largest images, group values and ``node`` (``nodes.model.node_brief``).
    """
    policy = Policy.coerce(policy)
    mode = _update_mode(update_baseline)
    if max_images is not None and (isinstance(max_images, bool) or not isinstance(max_images, int) or max_images < -1):
        raise ValidationError("max_images must be an integer of at least -1 (-1: the kubelets report every image), "
                              "got %r" % (max_images,))
    if imagefs:
        if isinstance(imagefs_concurrency, bool) or not isinstance(imagefs_concurrency, int) or \
                not 1 <= imagefs_concurrency <= 64:
            raise ValidationError("imagefs_concurrency must be from 1 to 64, got %r" % (imagefs_concurrency,))
        imagefs_timeout = seconds(imagefs_timeout, "imagefs_timeout", error=ValidationError, allow_zero=False)
    location = open_baseline(client, baseline_source, baseline_configmap, baseline_path)
    if mode != "false" and location.store is None:
        raise ValidationError("update_baseline: %s needs a place to keep the baseline: set baseline_source to "
                              "configmap or file" % mode)

    # Read first: a baseline that cannot be read fails the check before anything else happens.
    old = location.read()
    if mode != "false":
        location.check_writable()

    collector = _Collector() if mode != "false" else None
    pairs = _node_pairs(client, label_selectors, field_selectors, max_images, page_size, collector, report_options)
    notes = []
    reader = None
    stats = None
    if imagefs:
        # Imported here: only checks that read the kubelets pay for the thread pool.
        from ansible_collections.nodewatch.k8s.plugins.module_utils.images.queries import ImageFsReader
        reader = ImageFsReader(client, imagefs_concurrency, imagefs_timeout)
        stats = _ImageFsStats()
        pairs = _with_imagefs(pairs, reader, stats)
    if observe is not None:
        pairs = _observed(pairs, observe)
    try:
        report = evaluate_cluster(pairs, policy, old)
    finally:
        if reader is not None:
            reader.close()

    if stats is not None and stats.failed:
        notes.append("the image filesystem of %d of %d nodes could not be read from the kubelet, so max_percent "
                     "used their ephemeral-storage percentage instead: %s"
                     % (stats.failed, stats.failed + stats.measured, "; ".join(stats.errors)))
    if location.store is not None and old is None:
        # Say where no baseline was found rather than drift's "no baseline was given".
        report["notes"] = [n for n in report["notes"] if not n.startswith(_NO_BASELINE_NOTE)]
        unchecked = ""
        if policy.uses_baseline:
            unchecked = ": %s were not checked" % BASELINE_THRESHOLDS_TEXT
        notes.append("no baseline was found %s%s%s" % (
            location.where, unchecked,
            "; this task captures it" if mode == "true" else
            "; it is captured when the check passes" if mode == "on_success" else
            "; capture one with update_baseline: true"))

    write = mode == "true" or (mode == "on_success" and report["ok"])
    new = None
    store_report = {}
    if write:
        new = build_baseline(collector.facts(), captured_at=captured_at, cluster=cluster)
        if not check_mode:
            store_report = location.write(new)
            for problem in store_report.get("cleanup_errors") or ():
                notes.append("the new baseline is stored, but cleaning up an old part failed: %s" % problem)
    elif mode == "on_success":
        notes.append("the baseline %s was not updated because the check found %d breach%s"
                     % (location.where, len(report["breaches"]), "" if len(report["breaches"]) == 1 else "es"))
    collector = None

    report["notes"] = list(report["notes"]) + notes
    baseline_info = location.describe()
    baseline_info.update({
        "found": old is not None,
        "captured_at": old["captured_at"] if old else None,
        "nodes": len(old["nodes"]) if old else 0,
        "updated": bool(write and not check_mode),
        "new_captured_at": new["captured_at"] if new is not None else None,
    })
    if store_report.get("configmaps"):
        baseline_info["configmaps"] = store_report["configmaps"]
    # A capture identical to the stored baseline (same second, same images) changes nothing.
    changed = bool(write) and (old is None or dump_baseline(old) != dump_baseline(new))
    result = {
        "changed": changed,
        "ok": report["ok"],
        "breaches": report["breaches"],
        "breaching_nodes": report["breaching_nodes"],
        "nodes_checked": report["nodes_checked"],
        "nodes_added": report["nodes_added"],
        "nodes_removed": report["nodes_removed"],
        "notes": report["notes"],
        "summary": summary_text(report),
        "baseline": baseline_info,
        "policy": policy.as_dict(),
    }
    if want_diff and changed:
        diff = diff_baselines(old, new)
        result["diff"] = dict((k, diff[k]) for k in ("before", "after", "before_header", "after_header"))
    return result
