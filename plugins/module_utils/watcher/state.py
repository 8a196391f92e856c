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

import base64
import gzip
import json
import os
import time

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import namespaced_path
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError, KubeError
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.files import atomic_write, read_bytes_or_none
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.alerts import utc_now_text

FORMAT = "nodewatch.k8s/watcher-state"
VERSION = 1
CONFIGMAP_KEY = "state.json.gz"
CONFIGMAP_MAX_BYTES = 900000  # a ConfigMap holds at most 1 MiB, metadata included
MANAGED_BY_LABEL = "app.kubernetes.io/managed-by"
MANAGED_BY = "nodewatch.k8s"
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
            doc = json.loads(text)
        except ValueError as exc:
            raise StateError("%s is not valid JSON: %s" % (where, exc), damaged=True)
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
            data = read_bytes_or_none(self.path)
        except OSError as exc:
            raise StateError("cannot read the state file %s: %s" % (self.path, exc.strerror or exc))
        if data is None:
            return None
        return WatcherState.from_json(data.decode("utf-8", "replace"), "the state file %s" % self.path)

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
    """State in one ConfigMap (``binaryData``, gzip), written by compare-and-swap.

    Only the leader writes; a 409 means someone else wrote since we read (a leader that has not
    noticed it was replaced), so the write is retried once on top of the current version.
    """

    def __init__(self, client, namespace, name, max_bytes=CONFIGMAP_MAX_BYTES, logger=None):
        self.client = client
        self.namespace = namespace
        self.name = name
        self.max_bytes = max_bytes
        self.log = logger
        self.description = "ConfigMap %s/%s" % (namespace, name)
        self._resource_version = None
        self._known = False

    def _path(self, name=None):
        return namespaced_path("configmaps", self.namespace, name)

    def _get(self):
        try:
            obj = self.client.get(self._path(self.name))
        except ApiError as exc:
            if exc.status == 404:
                self._resource_version = None
                self._known = True
                return None
            raise StateError("cannot read the state from %s: %s" % (self.description, exc))
        except KubeError as exc:
            raise StateError("cannot read the state from %s: %s" % (self.description, exc))
        metadata = obj.get("metadata") or {}
        labels = metadata.get("labels") or {}
        if labels.get(MANAGED_BY_LABEL) != MANAGED_BY:
            raise StateError("%s exists but is not managed by nodewatch.k8s (label %s=%s is missing); "
                             "refusing to use it: choose another state ConfigMap name or delete it"
                             % (self.description, MANAGED_BY_LABEL, MANAGED_BY))
        self._resource_version = metadata.get("resourceVersion")
        self._known = True
        return obj

    def load(self):
        obj = self._get()
        if obj is None:
            return None
        encoded = (obj.get("binaryData") or {}).get(CONFIGMAP_KEY)
        if not encoded:
            return None
        where = "the state in %s" % self.description
        try:
            text = gzip.decompress(base64.b64decode(encoded)).decode("utf-8")
        except (ValueError, OSError, EOFError) as exc:
            raise StateError("%s is damaged (%s)" % (where, exc), damaged=True)
        return WatcherState.from_json(text, where)

    def _encode(self, state, writer):
        payload = gzip.compress(state.to_json(writer).encode("utf-8"), 6)
        encoded = base64.b64encode(payload).decode("ascii")
        if len(encoded) > self.max_bytes:
            if self.log is not None:
                self.log.warning("the state is %d bytes compressed, more than a ConfigMap holds; "
                                 "saving it without the top-image lists", len(encoded))
            payload = gzip.compress(state.without_top_images().to_json(writer).encode("utf-8"), 9)
            encoded = base64.b64encode(payload).decode("ascii")
            if len(encoded) > self.max_bytes:
                raise StateError("the state is %d bytes even without top images, more than %s can "
                                 "hold; use a state file instead" % (len(encoded), self.description))
        return encoded

    def _body(self, encoded, resource_version):
        metadata = {"name": self.name, "namespace": self.namespace,
                    "labels": {MANAGED_BY_LABEL: MANAGED_BY, COMPONENT_LABEL: COMPONENT}}
        if resource_version:
            metadata["resourceVersion"] = resource_version
        return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata,
                "binaryData": {CONFIGMAP_KEY: encoded}}

    def save(self, state, writer=None):
        encoded = self._encode(state, writer)
        for attempt in range(2):
            if not self._known:
                self._get()
            try:
                if self._resource_version is None:
                    result = self.client.create(self._path(), self._body(encoded, None))
                else:
                    result = self.client.replace(self._path(self.name),
                                                 self._body(encoded, self._resource_version))
                self._resource_version = (result.get("metadata") or {}).get("resourceVersion")
                return len(encoded)
            except ApiError as exc:
                if exc.status in (404, 409) and attempt == 0:
                    if exc.status == 409 and self.log is not None:
                        self.log.warning("%s was changed by someone else since it was read; "
                                         "writing over the current version", self.description)
                    self._known = False
                    continue
                raise StateError("cannot write the state to %s: %s" % (self.description, exc))
            except KubeError as exc:
                raise StateError("cannot write the state to %s: %s" % (self.description, exc))
        raise StateError("cannot write the state to %s: it kept changing" % self.description)
