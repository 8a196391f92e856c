# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""What the watcher remembers across restarts and leader changes, and where it keeps it.

The state holds, per node, the record of the last alert (so a restart alerts once for what
changed while it was down and never repeats what it sent), the open breaches (so a crossing is
never forgotten and its clearing is announced once), and the webhook alerts not yet delivered.

Document (``version`` 1)::

    {"format": "nodewatch.k8s/watcher-state", "version": 1, "written_at": "...Z",
     "writer": "pod-abc", "synced": true,
     "labels": ["nginx:1.25@sha256:0123456789ab", ...],     # interned image labels
     "nodes": {"n1": {"total_bytes": 1, "image_count": 1, "percent": 2.5, "truncated": false,
                      "top": [0, 3]}},                      # indexes into labels
     "breaches": {"n1": {"max_total_bytes": {"rule_set": ..., "since": ..., ...}}},
     "pending": [alert, ...]}

Image labels repeat across thousands of nodes, so they are stored once: 5,000 nodes fit a
ConfigMap (1 MiB), where the data is also gzip-compressed.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import os
import time

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import KubeError
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.configmaps import (
    ABSENT,
    NotManagedError,
    OwnedConfigMaps,
    UndecodableError,
    decode_text,
    encode_text,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.files import atomic_write, read_bytes_or_none
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.untrusted import (
    STATE_MAX_BYTES,
    UntrustedInputError,
    load_json,
    too_large_message,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.alerts import utc_now_text

FORMAT = "nodewatch.k8s/watcher-state"
VERSION = 1
CONFIGMAP_KEY = "state.json.gz"
CONFIGMAP_MAX_BYTES = 900000  # a ConfigMap holds at most 1 MiB, metadata included
COMPONENT_LABEL = "app.kubernetes.io/component"
COMPONENT = "nodewatch-watcher-state"


class StateError(KubeError):
    """The state cannot be read or written; the message says where and what to do.

    ``damaged``: the state was read but cannot be understood (retrying will not help).
    """

    def __init__(self, message, damaged=False):
        super(StateError, self).__init__(message)
        self.damaged = damaged


class WatcherState:
    """The remembered state; mutated by the engine under its lock only."""

    def __init__(self, nodes=None, breaches=None, pending=None, synced=False, written_at=None,
                 writer=None):
        self.nodes = nodes if nodes is not None else {}
        self.breaches = breaches if breaches is not None else {}
        self.pending = pending if pending is not None else []
        self.synced = synced
        self.written_at = written_at
        self.writer = writer

    def snapshot(self, pending=None):
        """A copy safe to serialize while the engine goes on (records are replaced, never
        mutated, so copying the mappings is enough)."""
        return WatcherState(dict(self.nodes), dict((k, dict(v)) for k, v in self.breaches.items()),
                            list(self.pending if pending is None else pending), self.synced,
                            self.written_at, self.writer)

    def to_document(self, writer=None, now=None):
        labels = []
        index = {}
        nodes = {}
        for name, record in self.nodes.items():
            top = []
            for label in record.get("top") or ():
                position = index.get(label)
                if position is None:
                    position = index[label] = len(labels)
                    labels.append(label)
                top.append(position)
            nodes[name] = dict(record, top=top)
        return {
            "format": FORMAT, "version": VERSION, "written_at": utc_now_text(now),
            "writer": writer, "synced": bool(self.synced), "labels": labels, "nodes": nodes,
            "breaches": dict((k, v) for k, v in self.breaches.items() if v), "pending": list(self.pending),
        }

    def to_json(self, writer=None, now=None):
        return json.dumps(self.to_document(writer, now), separators=(",", ":"), sort_keys=True)

    @classmethod
    def from_document(cls, doc, where):
        if not isinstance(doc, dict) or doc.get("format") != FORMAT:
            raise StateError("%s does not hold nodewatch-watcher state (format %r)"
                             % (where, doc.get("format") if isinstance(doc, dict) else None), damaged=True)
        if doc.get("version") != VERSION:
            raise StateError("%s holds state version %r; this nodewatch-watcher reads version %d"
                             % (where, doc.get("version"), VERSION), damaged=True)
        try:
            labels = doc.get("labels") or []
            nodes = {}
            for name, record in (doc.get("nodes") or {}).items():
                record = dict(record)
                record["top"] = [labels[i] for i in record.get("top") or ()]
                for key in ("total_bytes", "image_count"):
                    if not isinstance(record.get(key), int):
                        raise ValueError("node %s has no integer %s" % (name, key))
                nodes[name] = record
            breaches = dict((name, dict(rules)) for name, rules in (doc.get("breaches") or {}).items())
            pending = [a for a in doc.get("pending") or () if isinstance(a, dict)]
        except (TypeError, ValueError, IndexError, AttributeError) as exc:
            raise StateError("%s is damaged: %s" % (where, exc), damaged=True)
        return cls(nodes, breaches, pending, bool(doc.get("synced")), doc.get("written_at"),
                   doc.get("writer"))

    @classmethod
    def from_json(cls, text, where):
        try:
            doc = load_json(text, where, max_bytes=STATE_MAX_BYTES)
        except UntrustedInputError as exc:
            raise StateError(str(exc), damaged=True)
        return cls.from_document(doc, where)

    def without_top_images(self):
        """The same state without the top-image lists: the fallback when it grows too big."""
        copy = self.snapshot()
        copy.nodes = dict((name, dict(record, top=[])) for name, record in self.nodes.items())
        return copy


class NullStateStore:
    """No persistence: every start is a first start."""

    description = "memory only (not persisted)"

    def load(self):
        return None

    def save(self, state, writer=None):
        return 0


class FileStateStore:
    """State in a local JSON file (host installs: a systemd unit's StateDirectory)."""

    def __init__(self, path):
        self.path = path
        self.description = "file %s" % path

    def load(self):
        try:
            size = os.path.getsize(self.path)
            if size > STATE_MAX_BYTES:
                raise StateError(too_large_message("the state file %s" % self.path, size, STATE_MAX_BYTES), damaged=True)
            data = read_bytes_or_none(self.path)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StateError("cannot read the state file %s: %s" % (self.path, exc.strerror or exc))
        if data is None:
            return None
        return WatcherState.from_json(data, "the state file %s" % self.path)

    def set_aside(self):
        """Move a damaged file out of the way (kept for a post-mortem); returns its new name."""
        target = "%s.damaged-%d" % (self.path, int(time.time()))
        try:
            os.replace(self.path, target)
        except OSError:
            return None
        return target

    def save(self, state, writer=None):
        payload = state.to_json(writer).encode("utf-8")
        try:
            atomic_write(self.path, payload)
        except OSError as exc:
            raise StateError("cannot write the state file %s: %s; check that its directory exists and "
                             "is writable" % (self.path, exc.strerror or exc))
        return len(payload)


class ConfigMapStateStore:
    """State in one ConfigMap (gzip in ``binaryData``), written by compare-and-swap.

    Only the leader writes; a 409 means someone else wrote since we read (a leader that has not
    noticed it was replaced), so the write is retried on top of the current version, with a
    warning. Every API call goes through ``kube.configmaps.OwnedConfigMaps``: a ConfigMap this
    collection did not create is neither read nor written.
    """

    def __init__(self, client, namespace, name, max_bytes=CONFIGMAP_MAX_BYTES, logger=None):
        self.client = client
        self.namespace = namespace
        self.name = name
        self.max_bytes = max_bytes
        self.log = logger
        self.configmaps = OwnedConfigMaps(client, namespace, labels={COMPONENT_LABEL: COMPONENT},
                                          refuse_advice="choose another state ConfigMap name or delete it")
        self.description = self.configmaps.describe(name)
        # The ConfigMap as last read or written (ABSENT: read that there is none; None: unknown),
        # so that a save needs no read of its own.
        self._last = None
        # The state a new leader would load now (as last read or written): what a save that does
        # not fit falls back on, node by node.
        self._stored = None

    def _get(self):
        try:
            obj = self.configmaps.get(self.name)
        except KubeError as exc:
            raise StateError(str(exc) if isinstance(exc, NotManagedError)
                             else "cannot read the state from %s: %s" % (self.description, exc))
        self._last = ABSENT if obj is None else obj
        return obj

    def load(self):
        obj = self._get()
        if obj is None:
            return None
        where = "the state in %s" % self.description
        try:
            text = decode_text(obj, CONFIGMAP_KEY, where)
        except UndecodableError as exc:
            raise StateError(str(exc), damaged=True)
        if not text:
            return None
        state = WatcherState.from_json(text, where)
        self._stored = state.snapshot()  # the daemon empties the pending list it hands on
        return state

    def _encode(self, state, writer):
        """``(encoded, the state encoded)``: the whole state, else without the top-image lists,
        else without the newest undelivered alerts (see ``_without_newest_alerts``)."""
        encoded = encode_text(state.to_json(writer), compress=True)[1]
        if len(encoded) <= self.max_bytes:
            return encoded, state
        if self.log is not None:
            self.log.warning("the state is %d bytes compressed, more than a ConfigMap holds; "
                             "saving it without the top-image lists", len(encoded))
        state = state.without_top_images()
        encoded = encode_text(state.to_json(writer), compress=True, level=9)[1]
        if len(encoded) <= self.max_bytes:
            return encoded, state
        return self._without_newest_alerts(state, writer, len(encoded))

    def _without_newest_alerts(self, state, writer, size):
        """Undelivered webhook alerts are what makes a state outgrow a ConfigMap (a receiver down
        for minutes while nodes change). Rather than saving nothing - every node's figures would
        then age until delivery resumes - save the oldest alerts that fit, and for each node with
        an alert left out, the figures and breaches of the state stored before (decided before
        that alert). A leader that takes over after a crash then decides those nodes again: their
        alerts come again, one per node for what changed since its last saved alert, instead of
        being lost. Alerts already in the stored state are always kept, which keeps that true
        from one save to the next."""
        stored = self._stored
        kept_ids = set(alert.get("id") for alert in stored.pending) if stored is not None else set()
        newer = [alert for alert in state.pending if alert.get("id") not in kept_ids]
        if stored is None or not newer:
            raise StateError("the state is %d bytes even without top images, more than %s can hold; "
                             "use a state file instead" % (size, self.description))
        bare = encode_text(WatcherState(state.nodes, state.breaches, [], state.synced).to_json(writer),
                           compress=True, level=9)[1]
        per_alert = max(1.0, float(size - len(bare)) / len(state.pending))
        count = min(len(newer), int((size - self.max_bytes) / per_alert * 1.1) + 1)
        while True:
            trimmed, left_out = _roll_back_newest(state, stored, newer, count)
            encoded = encode_text(trimmed.to_json(writer), compress=True, level=9)[1]
            if len(encoded) <= self.max_bytes:
                if self.log is not None:
                    self.log.warning(
                        "the state with %d undelivered alerts is %d bytes even without top images, more "
                        "than a ConfigMap holds: saved it with the oldest %d; the %d nodes of the other %d "
                        "keep their saved figures, so a leader taking over after a crash alerts their "
                        "changes again (once per node)", len(state.pending), size, len(trimmed.pending),
                        len(left_out), len(state.pending) - len(trimmed.pending))
                return encoded, trimmed
            if count >= len(newer):
                raise StateError("the state is %d bytes even without top images and the alerts saved since "
                                 "the last save, more than %s can hold; use a state file instead"
                                 % (len(encoded), self.description))
            count = min(len(newer), int(count * 1.5) + 1)

    def save(self, state, writer=None):
        encoded, written = self._encode(state, writer)
        last = self._last if isinstance(self._last, dict) else {}
        last_version = (last.get("metadata") or {}).get("resourceVersion")

        def compute(current):
            version = ((current or {}).get("metadata") or {}).get("resourceVersion")
            if current is not None and last_version and version != last_version and self.log is not None:
                self.log.warning("%s was changed by someone else since it was read; writing over the "
                                 "current version", self.description)
            return {"binaryData": {CONFIGMAP_KEY: encoded}}, None

        try:
            dummy, self._last = self.configmaps.update(self.name, compute, known=self._last)
        except KubeError as exc:
            self._last = None
            raise StateError(str(exc) if isinstance(exc, NotManagedError)
                             else "cannot write the state to %s: %s" % (self.description, exc))
        self._stored = written
        return len(encoded)


def _roll_back_newest(state, stored, newer, count):
    """``state`` without the newest ``count`` of the alerts ``newer`` (and every other alert of
    ``newer`` about the same nodes), those nodes as ``stored`` has them; and the set of them."""
    left_out = set(alert.get("node") for alert in newer[len(newer) - count:])
    dropped = set(id(alert) for alert in newer if alert.get("node") in left_out)
    trimmed = state.snapshot(pending=[alert for alert in state.pending if id(alert) not in dropped])
    for name in left_out:
        for mine, theirs in ((trimmed.nodes, stored.nodes), (trimmed.breaches, stored.breaches)):
            if name in theirs:
                mine[name] = theirs[name]
            else:
                mine.pop(name, None)
    return trimmed, left_out
