# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Node objects as an API server can really return them, and a few only a proxy or a broken
server would (``api=False``: a real kube-apiserver refuses to store them).

``change`` turns a realistic Node (``fakekube.make_cluster``) into the case's node. Every reader of
nodes - image facts, node summaries, inventory records and groups, drift rules, baselines, the
cluster report, the watcher's engine - must take it without an error; what cannot be counted is
said in the readers' notes, naming the node's field (``expect``).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from badinput.common import Case


def entry(reason):
    """The first image entry, named with its reason: in a sentence (the watcher's log) or in the
    structured ``malformed`` list the modules return (index and reason)."""
    return r"(status\.images\[0\]: |\"index\": 0, \"reason\": \")%s" % reason


def case(case_id, change, expect=(), api=True):
    return Case(case_id, list(expect), change=change, api=api)


def first_image(node):
    return node["status"]["images"][0]


def set_in(path, value):
    def change(node):
        target = node
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value
    return change


def drop(path):
    def change(node):
        target = node
        for key in path[:-1]:
            target = target[key]
        target.pop(path[-1], None)
    return change


def many_labels(node):
    node["metadata"]["labels"].update(("example.com/label-%d" % i, "value-%d" % i) for i in range(3000))


def long_annotation(node):
    node["metadata"].setdefault("annotations", {})["example.com/blob"] = "x" * 200000


def many_images(node):
    node["status"]["images"] = [{"names": ["registry.example.com/app-%d@sha256:%064x" % (i, i),
                                           "registry.example.com/app-%d:v1" % i], "sizeBytes": 1000 + i}
                                for i in range(2000)]


def same_digest_twice(node):
    node["status"]["images"].append(dict(first_image(node)))


def many_tags(node):
    first_image(node)["names"] = ["registry.example.com/app:tag-%d" % i for i in range(500)]


def image_entry(value):
    def change(node):
        node["status"]["images"][0] = value
    return change


CASES = [
    case("status-missing", drop(["status"])),
    case("status-empty", set_in(["status"], {})),
    case("images-null", set_in(["status", "images"], None)),
    case("images-empty", set_in(["status", "images"], [])),
    case("image-names-empty", lambda n: first_image(n).__setitem__("names", []), [entry("no names")]),
    case("image-names-missing", lambda n: first_image(n).pop("names"), [entry("no names")]),
    case("image-names-digest-only", lambda n: first_image(n).__setitem__("names", ["sha256:%064x" % 7])),
    case("image-names-many-tags", many_tags),
    case("image-size-zero", lambda n: first_image(n).__setitem__("sizeBytes", 0)),
    case("image-size-negative", lambda n: first_image(n).__setitem__("sizeBytes", -5),
         [entry("negative sizeBytes")]),
    case("image-size-missing", lambda n: first_image(n).pop("sizeBytes"), [entry("missing sizeBytes")]),
    case("image-size-int64-max", lambda n: first_image(n).__setitem__("sizeBytes", 2 ** 63 - 1)),
    case("image-entry-null", image_entry(None), [entry("(entry is not a mapping|missing sizeBytes)")]),
    case("image-duplicate-digest", same_digest_twice),
    case("images-2000", many_images, [r"(truncated|lower bound|more than)"]),
    case("capacity-missing", drop(["status", "capacity"])),
    case("ephemeral-storage-missing", lambda n: n["status"]["capacity"].pop("ephemeral-storage", None)),
    case("ephemeral-storage-zero", set_in(["status", "capacity", "ephemeral-storage"], "0")),
    case("ephemeral-storage-huge", set_in(["status", "capacity", "ephemeral-storage"], "9E")),
    case("allocatable-missing", drop(["status", "allocatable"])),
    case("labels-3000", many_labels),
    case("labels-missing", drop(["metadata", "labels"])),
    case("annotation-200k", long_annotation),
    case("conditions-missing", drop(["status", "conditions"])),
    case("ready-unknown", lambda n: [c.__setitem__("status", "Unknown") for c in n["status"].get("conditions") or ()
                                     if c.get("type") == "Ready"]),
    case("addresses-missing", drop(["status", "addresses"])),
    case("node-info-missing", drop(["status", "nodeInfo"])),
    case("taint-without-value", set_in(["spec", "taints"], [{"key": "example.com/dedicated", "effect": "NoSchedule"}])),
    case("spec-missing", drop(["spec"])),
    # Only a proxy or a broken server returns these; a kube-apiserver refuses to store them.
    case("image-size-string", lambda n: first_image(n).__setitem__("sizeBytes", "12345"),
         [entry("non-integer sizeBytes")], api=False),
    case("image-size-float", lambda n: first_image(n).__setitem__("sizeBytes", 1.5),
         [entry("non-integer sizeBytes")], api=False),
    case("image-size-huge", lambda n: first_image(n).__setitem__("sizeBytes", 10 ** 30), api=False),
    case("image-entry-number", image_entry(5), [entry("entry is not a mapping")], api=False),
    case("images-a-mapping", set_in(["status", "images"], {"a": 1}), [r"status.images is not a list"], api=False),
    case("ephemeral-storage-unparsable", set_in(["status", "capacity", "ephemeral-storage"], "lots"),
         [r"the ephemeral-storage capacity cannot be read"], api=False),
    case("ephemeral-storage-negative", set_in(["status", "capacity", "ephemeral-storage"], "-5Gi"), api=False),
]
