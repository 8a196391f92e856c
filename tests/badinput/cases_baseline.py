# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Baselines nodewatch.k8s did not write, or that were damaged: files and ConfigMaps.

Every case is read by each reader of a baseline - the drift check (``node_image_drift``, asked to
refresh the baseline on success) and the watcher daemon (``--once``) - and both must refuse it
with a sentence naming the file or ConfigMap, leaving it as it was: one definition of a valid
baseline for every reader.

``file``: the baseline file's content (text, bytes, ``("sparse", size)`` or a callable taking a
valid document). ``configmap``: a callable ``(store, doc, kube)`` that stores a damaged baseline
with the real ConfigMap store and then damages it.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import hashlib
import json
import re

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.baseline import MANIFEST_KEY, dump_baseline

from badinput.common import Case

NOT_OVERWRITTEN = r"the stored baseline was NOT overwritten"
IN_FILE = r"baseline file .*baseline\.json"


def mutated(change):
    def make(doc):
        doc = copy.deepcopy(doc)
        change(doc)
        return dump_baseline(doc)
    return make


def first_node(doc):
    return doc["nodes"][sorted(doc["nodes"])[0]]


def nested(depth):
    return "[" * depth + "]" * depth


def file_case(case_id, expect, content):
    return Case(case_id, [IN_FILE, expect], source="file", content=content)


FILE_CASES = [
    file_case("file-not-json", r"is not valid JSON", "{this is not json"),
    file_case("file-truncated", r"is not valid JSON", lambda doc: dump_baseline(doc)[:-40]),
    file_case("file-empty", r"is empty; " + NOT_OVERWRITTEN, ""),
    file_case("file-whitespace", r"is empty", "  \n\t\n"),
    file_case("file-not-utf8", r"is not UTF-8 text", b'{"format": "nodewatch.k8s/baseline", "x": "\xff\xfe"}'),
    file_case("file-nested-200", r"is nested deeper than 64 levels \(the limit\)", '{"nodes": %s}' % nested(200)),
    file_case("file-nested-100000", r"is nested deeper than 64 levels \(the limit\)", nested(100000)),
    file_case("file-huge", r"is \d+ bytes, larger than 256 MiB \(the limit for it\)", ("sparse", 300 << 20)),
    file_case("file-kubectl-json", r"this is not a nodewatch.k8s baseline: the 'format' field is missing",
              json.dumps({"apiVersion": "v1", "kind": "List", "items": []})),
    file_case("file-foreign-format", r"format is 'acme/images', expected 'nodewatch.k8s/baseline'",
              mutated(lambda d: d.__setitem__("format", "acme/images"))),
    file_case("file-version-2", r"unsupported baseline version 2", mutated(lambda d: d.__setitem__("version", 2))),
    file_case("file-version-string", r"unsupported baseline version '1'", mutated(lambda d: d.__setitem__("version", "1"))),
    file_case("file-version-true", r"unsupported baseline version True", mutated(lambda d: d.__setitem__("version", True))),
    file_case("file-a-list", r"the document must be a JSON object, got list", "[1, 2, 3]"),
    file_case("file-a-number", r"the document must be a JSON object, got int", "42"),
    file_case("file-split-manifest", r"the manifest of a baseline split across ConfigMaps",
              json.dumps({"format": "nodewatch.k8s/baseline-split", "version": 1, "parts": []})),
    file_case("file-nodes-a-list", r"nodes must be an object mapping node names", mutated(lambda d: d.__setitem__("nodes", []))),
    file_case("file-missing-captured-at", r"the required field 'captured_at' is missing", mutated(lambda d: d.pop("captured_at"))),
    file_case("file-captured-at-garbage", r"captured_at must be an RFC 3339 UTC timestamp",
              mutated(lambda d: d.__setitem__("captured_at", "yesterday"))),
    file_case("file-captured-at-impossible", r"'2026-02-30T10:00:00Z' is not a real date",
              mutated(lambda d: d.__setitem__("captured_at", "2026-02-30T10:00:00Z"))),
    file_case("file-unknown-field", r"unknown field\(s\) 'extra' at the top level",
              mutated(lambda d: d.__setitem__("extra", 1))),
    file_case("file-total-as-string", r"total_bytes must be a non-negative integer, got '5' \(str\)",
              mutated(lambda d: first_node(d).__setitem__("total_bytes", "5"))),
    file_case("file-total-negative", r"total_bytes must be a non-negative integer, got -5",
              mutated(lambda d: first_node(d).__setitem__("total_bytes", -5))),
    file_case("file-total-nan", r"total_bytes must be a non-negative integer, got nan",
              lambda doc: re.sub(r'"total_bytes":\d+', '"total_bytes":NaN', dump_baseline(doc), count=1)),
    file_case("file-size-huge-float", r"must be a non-negative integer size in bytes, got inf",
              lambda doc: dump_baseline(doc).replace('"images":{"', '"images":{"huge":1e400,"', 1)),
    file_case("file-image-key-empty", r"image keys must be non-empty strings",
              mutated(lambda d: first_node(d)["images"].__setitem__("", 5))),
    file_case("file-node-without-images", r"the required field 'images' is missing",
              mutated(lambda d: first_node(d).pop("images"))),
    file_case("file-truncated-flag-word", r"truncated must be true or false",
              mutated(lambda d: first_node(d).__setitem__("truncated", "yes"))),
    file_case("file-duplicate-key", r"the key 'format' appears twice in one JSON object",
              lambda doc: '{"format": "x", ' + dump_baseline(doc)[1:]),
    file_case("file-node-entry-number", r"must be an object, got int",
              mutated(lambda d: d["nodes"].__setitem__(sorted(d["nodes"])[0], 5))),
]


# -- ConfigMaps: a real split baseline, then damaged --------------------------------------------

def _sha(text):
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _manifest(kube, store):
    return kube.get("v1", "ConfigMap", store.name, store.namespace)


def _replace_data(kube, obj, data):
    obj = copy.deepcopy(obj)
    obj["data"] = data
    kube.update(obj)


def _parts(kube, store):
    head = _manifest(kube, store)
    manifest = json.loads(head["data"][MANIFEST_KEY])
    generation = store._generation(head)
    return head, manifest, [kube.get("v1", "ConfigMap", store.part_name(generation, i), store.namespace)
                            for i in range(1, len(manifest["parts"]))]


def cm_manifest_text(text):
    def damage(store, doc, kube):
        head = _manifest(kube, store)
        _replace_data(kube, head, dict(head["data"], **{MANIFEST_KEY: text}))
    return damage


def cm_remove_manifest(store, doc, kube):
    head = _manifest(kube, store)
    data = dict(head["data"])
    data.pop(MANIFEST_KEY)
    data["other"] = "x"
    _replace_data(kube, head, data)


def cm_delete_part(store, doc, kube):
    head, manifest, parts = _parts(kube, store)
    kube.delete("v1", "ConfigMap", parts[-1]["metadata"]["name"], store.namespace)


def cm_corrupt_part(store, doc, kube):
    head, manifest, parts = _parts(kube, store)
    part = parts[0]
    key = sorted(part["data"])[0]
    _replace_data(kube, part, dict(part["data"], **{key: part["data"][key].replace("1", "2", 1)}))


def cm_extra_key(store, doc, kube):
    head, manifest, parts = _parts(kube, store)
    _replace_data(kube, parts[0], dict(parts[0]["data"], **{"nodes-9999.json": "{}"}))


def _consistent(store, kube, change):
    """Rewrite the head's chunks and manifest so every checksum matches the damaged content."""
    head = _manifest(kube, store)
    manifest = json.loads(head["data"][MANIFEST_KEY])
    data = dict(head["data"])
    change(data, manifest)
    manifest["parts"] = [[[key, _sha(data[key])] for key in sorted(data) if key != MANIFEST_KEY]]
    data[MANIFEST_KEY] = json.dumps(manifest, separators=(",", ":"))
    _replace_data(kube, head, data)


def cm_hostile_part(content):
    """A part whose content is hostile but whose checksum the manifest lists correctly."""
    def damage(store, doc, kube):
        def change(data, manifest):
            key = sorted(k for k in data if k != MANIFEST_KEY)[0]
            data[key] = content
        _consistent(store, kube, change)
    return damage


def cm_node_count(store, doc, kube):
    def change(data, manifest):
        manifest["node_count"] = manifest["node_count"] + 7
    _consistent(store, kube, change)


def cm_whole_doc(store, doc, kube):
    head = _manifest(kube, store)
    _replace_data(kube, head, {MANIFEST_KEY: dump_baseline(doc)})


def cm_case(case_id, expect, damage, split=False):
    return Case(case_id, [r"ConfigMap nodewatch-system/bl-", expect], source="configmap", damage=damage, split=split)


CONFIGMAP_CASES = [
    cm_case("cm-manifest-not-json", r"manifest .* is not valid JSON", cm_manifest_text("{nope")),
    cm_case("cm-manifest-empty", r"manifest .* is empty", cm_manifest_text("")),
    cm_case("cm-manifest-nested", r"manifest .* is nested deeper than 64 levels \(the limit\)",
            cm_manifest_text(nested(5000))),
    cm_case("cm-manifest-a-list", r"manifest .* must be a JSON object", cm_manifest_text("[]")),
    cm_case("cm-manifest-foreign-format", r"is not a nodewatch.k8s baseline manifest \(format 'acme'",
            cm_manifest_text(json.dumps({"format": "acme", "version": 1}))),
    cm_case("cm-manifest-version-9", r"has unsupported version 9",
            cm_manifest_text(json.dumps({"format": "nodewatch.k8s/baseline-split", "version": 9}))),
    cm_case("cm-manifest-parts-malformed", r"is damaged: 'parts' or 'sha256' is missing or malformed",
            cm_manifest_text(json.dumps({"format": "nodewatch.k8s/baseline-split", "version": 1, "parts": [[1]],
                                         "sha256": "0"}))),
    cm_case("cm-manifest-whole-baseline", r"holds a whole baseline rather than a split manifest", cm_whole_doc),
    cm_case("cm-no-manifest-key", r"has no baseline.json key: it does not hold a nodewatch.k8s baseline", cm_remove_manifest),
    cm_case("cm-part-missing", r"is incomplete: its part ConfigMap nodewatch-system/bl-.* is missing", cm_delete_part, split=True),
    cm_case("cm-part-checksum", r"does not match its checksum \(corrupt, or left from another write\)", cm_corrupt_part,
            split=True),
    cm_case("cm-part-extra-key", r"unexpected key\(s\) 'nodes-9999.json' not listed in the manifest", cm_extra_key, split=True),
    cm_case("cm-part-nested-with-checksum", r"part '.*' is nested deeper than 64 levels \(the limit\)",
            cm_hostile_part(nested(100000))),
    cm_case("cm-part-not-json-with-checksum", r"part '.*' is not valid JSON", cm_hostile_part("{]")),
    cm_case("cm-part-wrong-shape-with-checksum", r"the parts cannot be decoded \(.*\)", cm_hostile_part('{"nodes": 5}')),
    cm_case("cm-node-count-mismatch", r"the parts cannot be decoded \(\d+ nodes decoded, the manifest says \d+\)",
            cm_node_count),
]

CASES = FILE_CASES + CONFIGMAP_CASES
