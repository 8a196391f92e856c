# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Image-storage baselines: the document, strict loading, splitting across ConfigMaps, stores.

Document (``version`` 1)::

    {"format": "nodewatch.k8s/baseline", "version": 1,
     "captured_at": "2026-11-18T10:00:00Z",          # RFC 3339, UTC ('Z')
     "cluster": "prod-eu" | null,                     # optional
     "nodes": {"worker-1": {"total_bytes": 123, "image_count": 2,
                            "images": {"repo@sha256:...": 100, "other:1": 23},
                            "truncated": true}}}      # "truncated" optional, only when true

A baseline is the reference every drift check compares with, so nothing here ever replaces a
stored baseline with something it could not read back: loading is strict (any problem is a
``BaselineError`` saying what is wrong and that the stored baseline was NOT overwritten), file
writes are atomic, and a baseline split across ConfigMaps is only switched to once all its parts
are stored and checksummed.

Standard library only (plus this collection's ``quantity`` and ``errors``).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import datetime
import hashlib
import json
import re
import time

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import KubeError
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.configmaps import (  # noqa: F401 (re-exported)
    NotManagedError,
    OwnedConfigMaps,
    configmap_data_size,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.conflicts import ConflictsExhausted
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.names import is_dns1123_label
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.files import atomic_write
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.untrusted import (
    BASELINE_MAX_BYTES,
    check_path,
    load_json,
    read_file,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.quantity import human_bytes

FORMAT = "nodewatch.k8s/baseline"
VERSION = 1
SPLIT_FORMAT = "nodewatch.k8s/baseline-split"
SPLIT_VERSION = 1
MANIFEST_KEY = "baseline.json"
DEFAULT_MAX_BYTES = 900000  # a ConfigMap holds at most 1 MiB (1,048,576 bytes) in total
BASELINE_LABEL = "nodewatch.k8s/baseline"
ROLE_LABEL = "nodewatch.k8s/baseline-role"
GENERATION_LABEL = "nodewatch.k8s/baseline-generation"

_TOP_REQUIRED = ("format", "version", "captured_at", "nodes")
_TOP_OPTIONAL = ("cluster",)
_NODE_REQUIRED = ("total_bytes", "image_count", "images")
_NODE_OPTIONAL = ("truncated",)
_RFC3339_UTC_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(\.\d{1,9})?Z$")
_NOT_OVERWRITTEN = "the stored baseline was NOT overwritten"


class BaselineError(KubeError, ValueError):
    """A baseline cannot be read, validated or stored; ``str()`` says what and what to do."""


# ----------------------------------------------------------------------------------------------
# Building and validating
# ----------------------------------------------------------------------------------------------

def format_timestamp(value=None):
    """RFC 3339 UTC text for a datetime (naive = UTC), an epoch number or now."""
    if value is None:
        value = datetime.datetime.now(datetime.timezone.utc)
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        value = datetime.datetime.fromtimestamp(value, datetime.timezone.utc)
    if not isinstance(value, datetime.datetime):
        raise TypeError("expected a datetime, got %r" % (value,))
    if value.tzinfo is not None:
        value = value.astimezone(datetime.timezone.utc)
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _timestamp_problem(text):
    if not isinstance(text, str):
        return "must be an RFC 3339 UTC timestamp string such as '2026-11-18T10:00:00Z', got %s" % _type_name(text)
    m = _RFC3339_UTC_RE.match(text)
    if not m:
        return "must be an RFC 3339 UTC timestamp such as '2026-11-18T10:00:00Z', got %r" % text
    try:
        datetime.datetime(*[int(g) for g in m.groups()[:6]])
    except ValueError as exc:
        return "%r is not a real date and time (%s)" % (text, exc)
    return None


def _type_name(value):
    return "null" if value is None else type(value).__name__


def _is_count(value):
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _split_facts_item(item):
    if isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], dict):
        return item[0]
    return item


def build_baseline(facts_iter, captured_at=None, cluster=None):
    """A baseline document from node image facts (or ``(facts, labels)`` pairs).

    ``captured_at``: None (now), a datetime, an epoch number or an RFC 3339 UTC string.
    """
    if captured_at is None or not isinstance(captured_at, str):
        captured_at = format_timestamp(captured_at)
    problem = _timestamp_problem(captured_at)
    if problem:
        raise BaselineError("captured_at %s" % problem)
    if cluster is not None and not isinstance(cluster, str):
        raise BaselineError("cluster must be a string or None, got %s" % _type_name(cluster))
    nodes = {}
    for item in facts_iter:
        facts = _split_facts_item(item)
        if not isinstance(facts, dict) or not isinstance(facts.get("name"), str) or not facts["name"]:
            raise BaselineError("cannot build a baseline: node facts must be mappings with a 'name', got %r"
                                % (facts,))
        name = facts["name"]
        if name in nodes:
            raise BaselineError("cannot build a baseline: node %r appears twice in the facts" % name)
        images = {}
        for image in facts.get("images") or ():
            key = image.get("key")
            size = image.get("size_bytes")
            if not isinstance(key, str) or not key:
                raise BaselineError("cannot build a baseline: node %r has an image without a key: %r" % (name, image))
            size = int(size or 0)
            if key not in images or size > images[key]:
                images[key] = size
        total = facts.get("total_bytes")
        count = facts.get("image_count")
        entry = {
            "total_bytes": int(total) if total is not None else sum(images.values()),
            "image_count": int(count) if count is not None else len(images),
            "images": images,
        }
        if facts.get("truncated"):
            entry["truncated"] = True
        nodes[name] = entry
    doc = {"format": FORMAT, "version": VERSION, "captured_at": captured_at, "nodes": nodes}
    if cluster is not None:
        doc["cluster"] = cluster
    validate_baseline(doc)
    return doc


def _problem(doc):
    """The first thing wrong with a baseline document, or None."""
    if not isinstance(doc, dict):
        return "the document must be a JSON object, got %s" % _type_name(doc)
    fmt = doc.get("format")
    if fmt != FORMAT:
        if fmt == SPLIT_FORMAT:
            return ("this is the manifest of a baseline split across ConfigMaps (format %r); it is read "
                    "together with its parts, not on its own" % SPLIT_FORMAT)
        if "format" not in doc:
            return "this is not a nodewatch.k8s baseline: the 'format' field is missing (expected %r)" % FORMAT
        return "this is not a nodewatch.k8s baseline: format is %r, expected %r" % (fmt, FORMAT)
    version = doc.get("version")
    if version != VERSION or isinstance(version, bool):
        return ("unsupported baseline version %r: this collection reads version %d; it was written by a "
                "different nodewatch.k8s release" % (version, VERSION))
    for key in _TOP_REQUIRED:
        if key not in doc:
            return "the required field %r is missing" % key
    unknown = sorted(str(k) for k in doc if k not in _TOP_REQUIRED + _TOP_OPTIONAL)
    if unknown:
        return "unknown field(s) %s at the top level (allowed: %s)" % (
            ", ".join(repr(k) for k in unknown), ", ".join(_TOP_REQUIRED + _TOP_OPTIONAL))
    problem = _timestamp_problem(doc["captured_at"])
    if problem:
        return "captured_at %s" % problem
    if doc.get("cluster") is not None and not isinstance(doc["cluster"], str):
        return "cluster must be a string or null, got %s" % _type_name(doc["cluster"])
    nodes = doc["nodes"]
    if not isinstance(nodes, dict):
        return "nodes must be an object mapping node names to entries, got %s" % _type_name(nodes)
    for name, entry in nodes.items():
        where = "nodes[%r]" % (name,)
        if not isinstance(name, str) or not name:
            return "node names must be non-empty strings, got %r" % (name,)
        if not isinstance(entry, dict):
            return "%s must be an object, got %s" % (where, _type_name(entry))
        for key in _NODE_REQUIRED:
            if key not in entry:
                return "%s: the required field %r is missing" % (where, key)
        unknown = [k for k in entry if k not in _NODE_REQUIRED + _NODE_OPTIONAL]
        if unknown:
            return "%s: unknown field(s) %s (allowed: %s)" % (
                where, ", ".join(repr(k) for k in sorted(unknown)), ", ".join(_NODE_REQUIRED + _NODE_OPTIONAL))
        for key in ("total_bytes", "image_count"):
            if not _is_count(entry[key]):
                return "%s.%s must be a non-negative integer, got %r (%s)" % (
                    where, key, entry[key], _type_name(entry[key]))
        if "truncated" in entry and not isinstance(entry["truncated"], bool):
            return "%s.truncated must be true or false, got %r" % (where, entry["truncated"])
        images = entry["images"]
        if not isinstance(images, dict):
            return "%s.images must be an object mapping image keys to sizes, got %s" % (where, _type_name(images))
        for key, size in images.items():
            if not isinstance(key, str) or not key:
                return "%s.images: image keys must be non-empty strings, got %r" % (where, key)
            if not _is_count(size):
                return "%s.images[%r] must be a non-negative integer size in bytes, got %r (%s)" % (
                    where, key, size, _type_name(size))
    return None


def validate_baseline(doc, what="invalid baseline"):
    """Raise ``BaselineError`` when ``doc`` is not a valid version-1 baseline document."""
    problem = _problem(doc)
    if problem:
        raise BaselineError("%s: %s" % (what, problem))
    return doc


def _reject_duplicates(pairs):
    result = {}
    for key, value in pairs:
        if key in result:
            raise BaselineError("the key %r appears twice in one JSON object" % key)
        result[key] = value
    return result


def _parse_json(text, what):
    """JSON of a stored baseline or manifest, through the safe reader (size, depth, UTF-8)."""
    if not isinstance(text, (str, bytes)):
        raise BaselineError("%s must be JSON text, got %s; %s" % (what, _type_name(text), _NOT_OVERWRITTEN))
    if not text.strip():
        raise BaselineError("%s is empty; %s. Delete it to capture a new baseline" % (what, _NOT_OVERWRITTEN))
    try:
        return load_json(text, what, max_bytes=BASELINE_MAX_BYTES, error=BaselineError,
                         object_pairs_hook=_reject_duplicates)
    except BaselineError as exc:
        raise BaselineError("%s; %s. Fix it, or delete it to capture a new baseline" % (_as_found(exc, what), _NOT_OVERWRITTEN))


def _as_found(exc, what):
    """The reader's sentence, prefixed with ``what`` when it does not name it already."""
    text = str(exc)
    return text if text.startswith(what) else "%s is not valid: %s" % (what, text)


def load_baseline(text, what="the baseline"):
    """Parse and strictly validate a baseline document (str or bytes); returns the dict."""
    doc = _parse_json(text, what)
    problem = _problem(doc)
    if problem:
        raise BaselineError("%s is not usable: %s; %s. Fix it, or delete it to capture a new baseline"
                            % (what, problem, _NOT_OVERWRITTEN))
    return doc


def dump_baseline(doc):
    """Canonical compact JSON text of a baseline (sorted keys, ASCII, no whitespace)."""
    return json.dumps(doc, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def baseline_checksum(doc):
    """sha256 (hex) of the canonical JSON of a baseline document."""
    return hashlib.sha256(dump_baseline(doc).encode("ascii")).hexdigest()


# ----------------------------------------------------------------------------------------------
# Splitting across ConfigMaps
# ----------------------------------------------------------------------------------------------
#
# The parts are compact JSON. Image keys dominate the size of a baseline and most of them repeat
# on many nodes (DaemonSets, common workloads), so the split form interns them: the chunks
# images-NNNN.json hold one table of [key, size] pairs, most frequent first (small indexes),
# and the chunks nodes-NNNN.json hold {"nodes": {name: [total, count, refs(, 1 if truncated)]}}
# where a ref is the table index when the node's size equals the table's size for that key, or
# [index, size] when it differs. The manifest (key baseline.json, in the first ConfigMap) lists
# every key of every part with its sha256 and the sha256 of the whole canonical document.

def _sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _utf8_len(text):
    return len(text.encode("utf-8"))


def _intern(doc):
    """(table [[key, size]], node_items [(name, entry_list)]) for a validated document."""
    freq = {}
    for entry in doc["nodes"].values():
        for key, size in entry["images"].items():
            sizes = freq.setdefault(key, {})
            sizes[size] = sizes.get(size, 0) + 1
    ranked = []
    for key, sizes in freq.items():
        common = max(sizes.items(), key=lambda kv: (kv[1], -kv[0]))[0]
        ranked.append((-sum(sizes.values()), key, common))
    ranked.sort()
    table = [[key, size] for dummy, key, size in ranked]
    index = dict((key, (i, size)) for i, (key, size) in enumerate(table))
    items = []
    for name in sorted(doc["nodes"]):
        entry = doc["nodes"][name]
        refs = []
        for key, size in entry["images"].items():
            i, common = index[key]
            refs.append((i, size, common))
        refs.sort()
        packed = [i if size == common else [i, size] for i, size, common in refs]
        row = [entry["total_bytes"], entry["image_count"], packed]
        if entry.get("truncated"):
            row.append(1)
        items.append((name, row))
    return table, items


def _compact(value):
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)


class _Packer:
    """Greedy packing of table and node items into chunks and ConfigMaps within ``max_bytes``."""

    def __init__(self, max_bytes, first_budget):
        self.max_bytes = max_bytes
        self.parts = [{}]
        self.remaining = first_budget
        self.kind = None
        self.pieces = []
        self.start = 0
        self.key = None
        self.counters = {"images": 0, "nodes": 0}
        self.table_pos = 0

    def _wrapper(self, kind, start):
        if kind == "images":
            return '{"start":%d,"images":[' % start, "]}"
        return '{"nodes":{', "}}"

    def _close_chunk(self):
        if self.kind is None:
            return
        head, tail = self._wrapper(self.kind, self.start)
        self.parts[-1][self.key] = head + ",".join(self.pieces) + tail
        self.kind = None
        self.pieces = []

    def _open_chunk(self, kind, first_len, what):
        key = "%s-%04d.json" % (kind, self.counters[kind])
        head, tail = self._wrapper(kind, self.table_pos if kind == "images" else 0)
        overhead = len(key) + len(head) + len(tail)
        if overhead + first_len > self.remaining:
            if self.parts[-1] or self.remaining != self.max_bytes:
                self.parts.append({})
                self.remaining = self.max_bytes
            if overhead + first_len > self.remaining:
                raise BaselineError("cannot split the baseline: %s alone needs %d bytes, more than the %d "
                                    "bytes allowed per ConfigMap" % (what, overhead + first_len, self.max_bytes))
        self.counters[kind] += 1
        self.kind = kind
        self.key = key
        self.start = self.table_pos if kind == "images" else 0
        self.remaining -= overhead

    def add(self, kind, text, what):
        length = len(text)
        if self.kind == kind and length + 1 <= self.remaining:
            self.pieces.append(text)
            self.remaining -= length + 1
        else:
            self._close_chunk()
            self._open_chunk(kind, length, what)
            self.pieces.append(text)
            self.remaining -= length
        if kind == "images":
            self.table_pos += 1

    def finish(self):
        self._close_chunk()
        return self.parts


def split_for_configmaps(doc, max_bytes=DEFAULT_MAX_BYTES):
    """Split a baseline into the ``data`` of one or more ConfigMaps (a list of {key: str}).

    Each returned dict's keys plus values total at most ``max_bytes`` UTF-8 bytes (leave room
    below the 1 MiB ConfigMap limit for metadata). The first holds the manifest
    ``baseline.json``; ``join_from_configmaps`` reverses this exactly.
    """
    validate_baseline(doc, what="refusing to store an invalid baseline")
    if not isinstance(max_bytes, int) or isinstance(max_bytes, bool) or max_bytes < 4096:
        raise BaselineError("max_bytes must be an integer of at least 4096, got %r" % (max_bytes,))
    table, node_items = _intern(doc)
    table_texts = [_compact(entry) for entry in table]
    node_texts = [(_compact(name) + ":" + _compact(row), name) for name, row in node_items]
    checksum = baseline_checksum(doc)
    reserve = 1024
    while True:
        packer = _Packer(max_bytes, max_bytes - reserve)
        for i, text in enumerate(table_texts):
            packer.add("images", text, "image %r" % table[i][0])
        for text, name in node_texts:
            packer.add("nodes", text, "node %r" % name)
        parts = packer.finish()
        manifest = {
            "format": SPLIT_FORMAT,
            "version": SPLIT_VERSION,
            "baseline_version": doc["version"],
            "captured_at": doc["captured_at"],
            "cluster": doc.get("cluster"),
            "sha256": checksum,
            "node_count": len(node_items),
            "image_table_size": len(table),
            "parts": [[[key, _sha(part[key])] for key in sorted(part)] for part in parts],
        }
        text = _compact(manifest)
        need = len(MANIFEST_KEY) + len(text)
        if need <= reserve:
            parts[0][MANIFEST_KEY] = text
            return parts
        reserve = need + 256
        if reserve >= max_bytes:
            raise BaselineError("cannot split the baseline: its manifest alone needs %d bytes, more than "
                                "max_bytes %d" % (need, max_bytes))


def _parse_manifest(text, what="the baseline manifest"):
    manifest = _parse_json(text, what)
    if not isinstance(manifest, dict):
        raise BaselineError("%s must be a JSON object; %s" % (what, _NOT_OVERWRITTEN))
    fmt = manifest.get("format")
    if fmt == FORMAT:
        raise BaselineError("%s holds a whole baseline rather than a split manifest; read it with "
                            "load_baseline" % what)
    if fmt != SPLIT_FORMAT:
        raise BaselineError("%s is not a nodewatch.k8s baseline manifest (format %r, expected %r); %s"
                            % (what, fmt, SPLIT_FORMAT, _NOT_OVERWRITTEN))
    if manifest.get("version") != SPLIT_VERSION:
        raise BaselineError("%s has unsupported version %r (this collection reads version %d); %s"
                            % (what, manifest.get("version"), SPLIT_VERSION, _NOT_OVERWRITTEN))
    parts = manifest.get("parts")
    ok = isinstance(parts, list) and parts and all(
        isinstance(p, list) and all(isinstance(k, list) and len(k) == 2 and all(isinstance(x, str) for x in k)
                                    for k in p) for p in parts)
    if not ok or not isinstance(manifest.get("sha256"), str):
        raise BaselineError("%s is damaged: 'parts' or 'sha256' is missing or malformed; %s" % (what, _NOT_OVERWRITTEN))
    return manifest


def join_from_configmaps(list_of_data, what="the baseline"):
    """Rebuild a baseline from the ``data`` dicts of its ConfigMaps (any order).

    Verifies the part count, every part's sha256 and the checksum of the whole document; a
    missing, extra, stale or corrupt part is a ``BaselineError``.
    """
    if isinstance(list_of_data, dict):
        list_of_data = [list_of_data]
    if not isinstance(list_of_data, (list, tuple)) or not list_of_data:
        raise BaselineError("%s: no ConfigMap data to read" % what)
    merged = {}
    manifest_text = None
    for data in list_of_data:
        if not isinstance(data, dict):
            raise BaselineError("%s: ConfigMap data must be a mapping of strings, got %s" % (what, _type_name(data)))
        for key, value in data.items():
            if not isinstance(value, str):
                raise BaselineError("%s: key %r holds %s, not text; %s" % (what, key, _type_name(value), _NOT_OVERWRITTEN))
            if key == MANIFEST_KEY:
                if manifest_text is not None:
                    raise BaselineError("%s: more than one ConfigMap holds %s" % (what, MANIFEST_KEY))
                manifest_text = value
                continue
            if key in merged:
                raise BaselineError("%s: key %r appears in more than one ConfigMap" % (what, key))
            merged[key] = value
    if manifest_text is None:
        raise BaselineError("%s: no ConfigMap holds the manifest %s; %s" % (what, MANIFEST_KEY, _NOT_OVERWRITTEN))
    manifest = _parse_manifest(manifest_text, "%s manifest (%s)" % (what, MANIFEST_KEY))
    damaged = "%s is damaged or incompletely written" % what
    if len(manifest["parts"]) != len(list_of_data):
        raise BaselineError("%s: the manifest lists %d ConfigMap(s) but %d were read; %s"
                            % (damaged, len(manifest["parts"]), len(list_of_data), _NOT_OVERWRITTEN))
    expected = {}
    for part in manifest["parts"]:
        for key, digest in part:
            expected[key] = digest
    for key in sorted(expected):
        if key not in merged:
            raise BaselineError("%s: part %r is missing; %s" % (damaged, key, _NOT_OVERWRITTEN))
        if _sha(merged[key]) != expected[key]:
            raise BaselineError("%s: part %r does not match its checksum (corrupt, or left from another "
                                "write); %s" % (damaged, key, _NOT_OVERWRITTEN))
    extra = sorted(set(merged) - set(expected))
    if extra:
        raise BaselineError("%s: unexpected key(s) %s not listed in the manifest; %s"
                            % (damaged, ", ".join(repr(k) for k in extra), _NOT_OVERWRITTEN))
    try:
        doc = _decode_parts(manifest, merged, damaged)
    except (KeyError, IndexError, TypeError, ValueError) as exc:
        if isinstance(exc, BaselineError):
            raise BaselineError("%s; %s" % (exc, _NOT_OVERWRITTEN))
        raise BaselineError("%s: the parts cannot be decoded (%s); %s" % (damaged, _decode_problem(exc), _NOT_OVERWRITTEN))
    problem = _problem(doc)
    if problem:
        raise BaselineError("%s: the rebuilt baseline is not valid: %s; %s" % (damaged, problem, _NOT_OVERWRITTEN))
    if baseline_checksum(doc) != manifest["sha256"]:
        raise BaselineError("%s: the rebuilt baseline does not match the manifest's sha256; %s"
                            % (damaged, _NOT_OVERWRITTEN))
    return doc


def _decode_problem(exc):
    """What a decoding failure means, in the baseline's words rather than Python's."""
    if isinstance(exc, KeyError):
        return "the field %s is missing" % exc
    if isinstance(exc, IndexError):
        return "an image reference points outside the image table"
    if isinstance(exc, TypeError):
        return "a value has the wrong type"
    return str(exc)


def _decode_parts(manifest, merged, what="the baseline"):
    table_chunks = []
    node_chunks = []
    for key in sorted(merged):
        chunk = load_json(merged[key], "%s: part %r" % (what, key), error=BaselineError)
        if key.startswith("images-"):
            table_chunks.append((chunk["start"], chunk["images"]))
        elif key.startswith("nodes-"):
            node_chunks.append(chunk["nodes"])
        else:
            raise ValueError("unknown part key %r" % key)
    table_chunks.sort(key=lambda c: c[0])
    table = []
    for start, entries in table_chunks:
        if start != len(table):
            raise ValueError("the image table is not contiguous at index %d" % start)
        table.extend(entries)
    if len(table) != manifest.get("image_table_size"):
        raise ValueError("the image table has %d entries, the manifest says %r"
                         % (len(table), manifest.get("image_table_size")))
    nodes = {}
    for chunk in node_chunks:
        for name, row in chunk.items():
            if name in nodes:
                raise ValueError("node %r appears twice" % name)
            images = {}
            for ref in row[2]:
                if isinstance(ref, list):
                    index, size = ref
                else:
                    index, size = ref, None
                if isinstance(index, bool) or not isinstance(index, int) or index < 0:
                    raise ValueError("bad image reference %r" % (ref,))
                key, common = table[index]
                images[key] = common if size is None else size
            entry = {"total_bytes": row[0], "image_count": row[1], "images": images}
            if len(row) > 3 and row[3]:
                entry["truncated"] = True
            nodes[name] = entry
    if len(nodes) != manifest.get("node_count"):
        raise ValueError("%d nodes decoded, the manifest says %r" % (len(nodes), manifest.get("node_count")))
    doc = {"format": FORMAT, "version": manifest.get("baseline_version"), "captured_at": manifest.get("captured_at"),
           "nodes": nodes}
    if manifest.get("cluster") is not None:
        doc["cluster"] = manifest["cluster"]
    return doc


# ----------------------------------------------------------------------------------------------
# Diff for Ansible's diff mode
# ----------------------------------------------------------------------------------------------

_DIFF_NODE_LIMIT = 100


def _node_line(name, entry, other=None):
    line = "%s: %s in %d image%s" % (name, human_bytes(entry["total_bytes"]), entry["image_count"],
                                     "" if entry["image_count"] == 1 else "s")
    if entry.get("truncated"):
        line += " (list truncated)"
    if other is not None:
        new = len(set(entry["images"]) - set(other["images"]))
        gone = len(set(other["images"]) - set(entry["images"]))
        if new or gone:
            line += " (%d new, %d gone)" % (new, gone)
    return line


def _totals(doc):
    if doc is None:
        return None
    return {
        "captured_at": doc["captured_at"],
        "cluster": doc.get("cluster"),
        "nodes": len(doc["nodes"]),
        "total_bytes": sum(e["total_bytes"] for e in doc["nodes"].values()),
    }


def _capped(lines, names, label):
    if len(names) > _DIFF_NODE_LIMIT:
        lines.append("... and %d more %s nodes" % (len(names) - _DIFF_NODE_LIMIT, label))


def diff_baselines(old, new):
    """A compact summary of what replacing ``old`` with ``new`` changes, for Ansible's diff.

    Returns ``{"before", "after", "before_header", "after_header", "summary"}``: before/after
    are short texts (totals plus one line per added, removed or changed node, at most 100 of
    each) so Ansible's unified diff shows what moved; ``summary`` has the same as data.
    """
    old_nodes = old["nodes"] if old else {}
    new_nodes = new["nodes"] if new else {}
    added = sorted(set(new_nodes) - set(old_nodes))
    removed = sorted(set(old_nodes) - set(new_nodes))
    changed = sorted(n for n in set(old_nodes) & set(new_nodes) if old_nodes[n] != new_nodes[n])

    def header(doc):
        t = _totals(doc)
        lines = ["captured_at: %s" % t["captured_at"]]
        if t["cluster"]:
            lines.append("cluster: %s" % t["cluster"])
        lines.append("nodes: %d, image storage: %s" % (t["nodes"], human_bytes(t["total_bytes"])))
        return lines

    before = []
    after = []
    if old:
        before = header(old)
        for name in changed[:_DIFF_NODE_LIMIT]:
            before.append(_node_line(name, old_nodes[name]))
        _capped(before, changed, "changed")
        for name in removed[:_DIFF_NODE_LIMIT]:
            before.append(_node_line(name, old_nodes[name]))
        _capped(before, removed, "removed")
    if new:
        after = header(new)
        for name in changed[:_DIFF_NODE_LIMIT]:
            after.append(_node_line(name, new_nodes[name], old_nodes[name]))
        _capped(after, changed, "changed")
        for name in added[:_DIFF_NODE_LIMIT]:
            after.append(_node_line(name, new_nodes[name]))
        _capped(after, added, "added")
    summary = {
        "before": _totals(old),
        "after": _totals(new),
        "nodes_added": added[:_DIFF_NODE_LIMIT],
        "nodes_removed": removed[:_DIFF_NODE_LIMIT],
        "nodes_changed": dict(
            (n, {"before": {"total_bytes": old_nodes[n]["total_bytes"], "image_count": old_nodes[n]["image_count"]},
                 "after": {"total_bytes": new_nodes[n]["total_bytes"], "image_count": new_nodes[n]["image_count"]}})
            for n in changed[:_DIFF_NODE_LIMIT]),
        "counts": {"added": len(added), "removed": len(removed), "changed": len(changed)},
    }
    return {
        "before": "\n".join(before) + ("\n" if before else ""),
        "after": "\n".join(after) + ("\n" if after else ""),
        "before_header": "baseline (%s)" % (old["captured_at"] if old else "absent"),
        "after_header": "baseline (%s)" % (new["captured_at"] if new else "absent"),
        "summary": summary,
    }


# ----------------------------------------------------------------------------------------------
# File store
# ----------------------------------------------------------------------------------------------

def _encode_file(doc):
    return (dump_baseline(doc) + "\n").encode("ascii")


class FileBaselineStore:
    """A baseline in one local JSON file, replaced atomically (mode 0o600)."""

    MODE = 0o600

    def __init__(self, path):
        self.path = check_path(path, "the baseline file path", BaselineError)

    def read(self):
        """The stored baseline, or None when the file does not exist (BaselineError if corrupt,
        larger than ``BASELINE_MAX_BYTES``, a directory or unreadable)."""
        what = "the baseline file %s" % self.path
        data = read_file(self.path, what, BASELINE_MAX_BYTES, BaselineError, missing_ok=True)
        if data is None:
            return None
        return load_baseline(data, what=what)

    def write(self, doc):
        """Validate, then replace the file atomically (see ``files.atomic_write``). On any
        failure the previous file is untouched."""
        validate_baseline(doc, what="refusing to write an invalid baseline to %s" % self.path)
        payload = _encode_file(doc)
        try:
            atomic_write(self.path, payload, self.MODE)
        except OSError as exc:
            raise BaselineError("cannot write the baseline file %s: %s; the previous baseline (if any) was left "
                                "unchanged" % (self.path, exc.strerror or exc))

    diff = staticmethod(diff_baselines)


# ----------------------------------------------------------------------------------------------
# ConfigMap store
# ----------------------------------------------------------------------------------------------

class ConfigMapBaselineStore:
    """A baseline in ConfigMaps: ``<name>`` holds the manifest (and the first chunks), the other
    parts live in ``<name>-<generation>-<n>`` (n = 1, 2, ...).

    The generation is a hash of the manifest, so each write stores its parts under new names
    before switching the manifest ConfigMap to them with one compare-and-swap PUT (a 409 Conflict
    reads again and retries, at most ``conflict_retries`` times). Readers therefore see either the
    old or the new baseline, never a mix; the parts of the replaced generation are deleted
    afterwards. Parts left by an interrupted write are swept once older than
    ``orphan_grace_seconds`` (this needs ``list`` on ConfigMaps; without it they stay).

    A ConfigMap without the managed-by label is read (someone may prepare a baseline by hand)
    but never written. Every API call goes through ``kube.configmaps.OwnedConfigMaps``.
    """

    def __init__(self, client, namespace, name, max_bytes=DEFAULT_MAX_BYTES, conflict_retries=5,
                 orphan_grace_seconds=600, clock=time.time):
        if not is_dns1123_label(name):
            raise BaselineError("ConfigMap baseline name %r must be a DNS-1123 label of at most 63 characters "
                                "(lower-case letters, digits and '-')" % (name,))
        if not is_dns1123_label(namespace):
            raise BaselineError("namespace %r is not a valid Kubernetes namespace name" % (namespace,))
        self.client = client
        self.namespace = namespace
        self.name = name
        self.max_bytes = max_bytes
        self.conflict_retries = int(conflict_retries)
        self.orphan_grace_seconds = orphan_grace_seconds
        self.clock = clock
        self.configmaps = OwnedConfigMaps(
            client, namespace, labels={BASELINE_LABEL: name},
            refuse_advice="choose another baseline name or delete it",
            conflict_attempts=self.conflict_retries + 1)

    def part_name(self, generation, index):
        return "%s-%s-%d" % (self.name, generation, index)

    def _where(self, name=None):
        return self.configmaps.describe(name or self.name)

    def _get(self, name, owned=False):
        try:
            return self.configmaps.get(name, owned=owned)
        except NotManagedError as exc:
            raise BaselineError(str(exc))

    @staticmethod
    def _generation(obj):
        """A ConfigMap's generation: the hash of the manifest it holds, else its label."""
        manifest = (obj.get("data") or {}).get(MANIFEST_KEY)
        if isinstance(manifest, str):
            return _sha(manifest)[:10]
        return ((obj.get("metadata") or {}).get("labels") or {}).get(GENERATION_LABEL)

    @staticmethod
    def _part_count(obj):
        """How many ConfigMaps the baseline in this manifest object spans (None if unreadable)."""
        try:
            return len(_parse_manifest((obj.get("data") or {})[MANIFEST_KEY])["parts"])
        except (BaselineError, KeyError, TypeError):
            return None

    # -- read --------------------------------------------------------------------------------

    def read(self):
        """The stored baseline, None when the manifest ConfigMap does not exist."""
        for attempt in range(3):
            head = self._get(self.name)
            if head is None:
                return None
            data = head.get("data") or {}
            if MANIFEST_KEY not in data:
                raise BaselineError("%s has no %s key: it does not hold a nodewatch.k8s baseline; %s"
                                    % (self._where(), MANIFEST_KEY, _NOT_OVERWRITTEN))
            manifest = _parse_manifest(data[MANIFEST_KEY], "the baseline manifest in %s" % self._where())
            generation = self._generation(head)
            datas = [data]
            missing = None
            for index in range(1, len(manifest["parts"])):
                part = self._get(self.part_name(generation, index))
                if part is None:
                    missing = self.part_name(generation, index)
                    break
                datas.append(part.get("data") or {})
            if missing is not None:
                again = self._get(self.name)
                if again is not None and (again.get("metadata") or {}).get("resourceVersion") != \
                        (head.get("metadata") or {}).get("resourceVersion") and attempt < 2:
                    continue  # replaced while we read: read the new one
                raise BaselineError("the baseline in %s is incomplete: its part %s is missing; %s"
                                    % (self._where(), self._where(missing), _NOT_OVERWRITTEN))
            return join_from_configmaps(datas, what="the baseline in %s" % self._where())
        raise BaselineError("the baseline in %s kept changing while being read; try again" % self._where())

    # -- write -------------------------------------------------------------------------------

    def _store(self, name, data, role, generation, on_current=None):
        """Write one ConfigMap (compare-and-swap, conflicts retried); True when it changed."""
        labels = {ROLE_LABEL: role, GENERATION_LABEL: generation}

        def compute(current):
            if on_current is not None:
                on_current(current)
            if current is not None and (current.get("data") or {}) == data and self._generation(current) == generation:
                return None
            return {"data": data}, labels

        try:
            action, dummy = self.configmaps.update(name, compute)
        except NotManagedError as exc:
            raise BaselineError(str(exc))
        return action != "unchanged"

    def write(self, doc):
        """Store ``doc``; returns ``{"changed", "configmaps", "deleted", "cleanup_errors", "bytes"}``.

        Order: new parts, then the manifest ConfigMap (the switch), then the old parts. A failure
        before the switch leaves the previous baseline readable and intact.
        """
        parts = split_for_configmaps(doc, self.max_bytes)
        generation = _sha(parts[0][MANIFEST_KEY])[:10]
        # A foreign manifest ConfigMap is refused before any part is written next to it.
        self._get(self.name, owned=True)
        names = [self.name]
        changed = False
        for index in range(1, len(parts)):
            name = self.part_name(generation, index)
            changed = self._store(name, parts[index], "part", generation) or changed
            names.append(name)

        displaced = {}

        def note_displaced(current):
            # The generation the switch replaces is the one the manifest holds when it is read.
            # Kept across attempts: after a lost answer the manifest already holds ours, and the
            # parts it replaced must still go.
            old_generation = self._generation(current) if current is not None else None
            if old_generation and old_generation != generation:
                displaced[old_generation] = self._part_count(current)

        try:
            changed = self._store(self.name, parts[0], "manifest", generation, note_displaced) or changed
        except ConflictsExhausted:
            head = self._get(self.name)
            if head is None or self._generation(head) != generation:
                for name in names[1:]:
                    try:
                        self.configmaps.delete(name)
                    except KubeError:
                        pass
            raise BaselineError("could not update %s: it was changed by someone else %d times in a row "
                                "(HTTP 409 Conflict); %s. Try again later"
                                % (self._where(), self.conflict_retries + 1, _NOT_OVERWRITTEN))
        # The new baseline is in place; removing the old parts is cleanup and must not fail it.
        deleted = []
        cleanup_errors = []
        for old_generation, count in sorted(displaced.items()):
            for index in range(1, count or 0):
                name = self.part_name(old_generation, index)
                try:
                    if self.configmaps.delete(name):
                        deleted.append(name)
                except KubeError as exc:
                    cleanup_errors.append("could not delete %s: %s" % (self._where(name), exc))
        deleted.extend(self._sweep_orphans(generation, set(displaced), set(deleted)))
        return {"changed": changed or bool(deleted), "configmaps": names, "deleted": deleted,
                "cleanup_errors": cleanup_errors, "bytes": sum(configmap_data_size(p) for p in parts)}

    def _sweep_orphans(self, generation, displaced, already):
        """Delete parts of other generations: displaced ones now, any other once old enough."""
        try:
            items = self.configmaps.list("%s=%s,%s=part" % (BASELINE_LABEL, self.name, ROLE_LABEL))
        except KubeError:
            return []  # no list permission: sweeping is best effort
        deleted = []
        now = self.clock()
        for item in items:
            meta = item.get("metadata") or {}
            name = meta.get("name")
            gen = (meta.get("labels") or {}).get(GENERATION_LABEL)
            if not name or gen == generation or name in already:
                continue
            if gen not in displaced:
                created = _parse_epoch(meta.get("creationTimestamp"))
                if created is None or now - created < self.orphan_grace_seconds:
                    continue  # possibly the parts of a write in progress elsewhere
            try:
                if self.configmaps.delete(name):
                    deleted.append(name)
            except KubeError:
                pass
        return deleted

    diff = staticmethod(diff_baselines)


def _parse_epoch(text):
    if not isinstance(text, str) or _timestamp_problem(text):
        return None
    stamp = datetime.datetime.strptime(text[:19], "%Y-%m-%dT%H:%M:%S")
    return (stamp - datetime.datetime(1970, 1, 1)).total_seconds()
