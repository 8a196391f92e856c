# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Accounting of the container images each Node reports in ``status.images``.

What the kubelet reports, and what that means for the numbers here:

* ``status.images`` is a list of ``{"names": [...], "sizeBytes": N}``, largest first. ``names``
  holds the image's repo digests (``repo@sha256:...``) then its tags (``repo:tag``), at most five
  in all; either kind may be missing, and so may ``names``.
* The kubelet lists at most ``nodeStatusMaxImages`` images (50 by default). A node listing
  exactly that many probably has more, so its counts and byte totals are lower bounds: they are
  flagged ``truncated`` and never presented as exact.
* One image on many nodes carries the same digest, which is what cluster accounting keys on.

Entries the kubelet would never produce are reported, not guessed at (see ``node_image_facts``).
Nothing here imports Ansible or anything outside the standard library.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

# Exact JSON types on purpose: bool is an int subclass, and `"sizeBytes": true` is not a size.
# pylint: disable=unidiomatic-typecheck

import fnmatch
import heapq
import re

from ansible_collections.nodewatch.k8s.plugins.module_utils.nodes.model import node_roles  # noqa: F401 (re-exported)
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.quantity import (
    QuantityError,
    human_bytes,
    quantity_to_bytes,
)

__all__ = [
    "ImageRef",
    "MalformedImageEntry",
    "parse_image_entry",
    "node_image_facts",
    "cluster_image_report",
    "compile_name_filter",
    "node_roles",
    "DEFAULT_MAX_IMAGES",
    "NODE_ROLE_KEY",
    "NO_VALUE",
]

DEFAULT_MAX_IMAGES = 50
# group_by pseudo-key: the node's roles, from its role labels, joined with ",".
NODE_ROLE_KEY = "node-role"
NO_VALUE = "<none>"
UNNAMED_PREFIX = "<unnamed:"
NODES_LISTED_PER_IMAGE = 10

TRUNCATED_NOTE = (
    "this node lists %d images, the most the kubelet reports (nodeStatusMaxImages); it probably "
    "has more, smaller images, so the image count and byte total are lower bounds"
)

# Parsed names, keyed by the tuple of names: the same image recurs on every node that has it.
# Cleared when full so a long-running daemon does not grow it without bound.
_NAMES_CACHE = {}
_NAMES_CACHE_LIMIT = 50000


class MalformedImageEntry(ValueError):
    """An image entry that cannot be counted; ``reason`` is a short phrase such as
    ``"missing sizeBytes"`` and ``index`` its position in ``status.images``."""

    def __init__(self, reason, index=None):
        message = reason if index is None else "status.images[%d]: %s" % (index, reason)
        super(MalformedImageEntry, self).__init__(message)
        self.reason = reason
        self.index = index


class ImageRef(object):
    """One entry of ``status.images``.

    ``key``        what identifies the image across nodes: its repo digest name
                   (``repo@sha256:...``, the lowest if it has several) if it has one, else its
                   first name, else ``"<unnamed:INDEX>"``, which identifies it on its node only
    ``repo``       the key without tag or digest (``docker.io/library/nginx``)
    ``digest``     ``"sha256:..."`` or None
    ``tags``       tuple of the ``repo:tag`` names, in the kubelet's order
    ``size_bytes`` int
    ``names``      tuple of every usable name, in the kubelet's order (empty when unnamed)
    ``problem``    None, or why the entry is counted with a note (``"no names"``)
    """

    __slots__ = ("key", "repo", "digest", "tags", "size_bytes", "names", "problem")

    def __init__(self, key, repo, digest, tags, size_bytes, names=(), problem=None):
        self.key = key
        self.repo = repo
        self.digest = digest
        self.tags = tags
        self.size_bytes = size_bytes
        self.names = names
        self.problem = problem

    def __eq__(self, other):
        if not isinstance(other, ImageRef):
            return NotImplemented
        return all(getattr(self, slot) == getattr(other, slot) for slot in self.__slots__)

    __hash__ = None

    def __repr__(self):
        return "ImageRef(%s)" % ", ".join("%s=%r" % (slot, getattr(self, slot)) for slot in self.__slots__)

    def as_dict(self):
        """The image as ``node_image_facts`` lists it in ``top_images``."""
        return _image_dict(self.repo, self.digest, self.tags, self.size_bytes)


def _image_dict(name, digest, tags, size):
    return {"name": name, "digest": digest, "tags": list(tags), "size_bytes": size,
            "size_human": human_bytes(size)}


def _strip_tag(reference):
    # A colon after the last slash starts a tag; one before it belongs to a registry port.
    colon = reference.rfind(":")
    if colon > reference.rfind("/"):
        return reference[:colon]
    return reference


def _is_image_id(name):
    # Some runtimes list a bare image ID ("sha256:<hex>") when an image has no repo names.
    return name.startswith("sha256:") and "/" not in name and "@" not in name


def _describe_names(names):
    """Return ``(key, repo, digest, tags, names, None)`` for a list of names, or None."""
    usable = []
    tags = []
    digest_key = None
    for name in names:
        if not isinstance(name, str) or not name:
            continue
        usable.append(name)
        if "@" in name:
            # The lowest rather than the first, so nodes whose runtimes list the same image's
            # repo digests in a different order still agree on its key.
            if digest_key is None or name < digest_key:
                digest_key = name
        elif not (name.startswith("sha256:") and "/" not in name):
            tags.append(name)
    if not usable:
        return None
    if digest_key is not None:
        at = digest_key.index("@")
        return digest_key, _strip_tag(digest_key[:at]), digest_key[at + 1:], tuple(tags), tuple(usable), None
    key = usable[0]
    repo = key if _is_image_id(key) else _strip_tag(key)
    return key, repo, None, tuple(tags), tuple(usable), None


def _names_info(names):
    """Parsed names for ``names`` (as found in an entry), or a problem phrase."""
    if not names:
        return "no names"
    if type(names) is not list and type(names) is not tuple:
        return "names is not a list"
    try:
        cache_key = tuple(names)
        info = _NAMES_CACHE.get(cache_key)
    except TypeError:  # an unhashable name; such a list is not worth caching
        return _describe_names(names) or "no usable names"
    if info is None:
        info = _describe_names(cache_key) or "no usable names"
        if len(_NAMES_CACHE) >= _NAMES_CACHE_LIMIT:
            _NAMES_CACHE.clear()
        _NAMES_CACHE[cache_key] = info
    return info


def _entry_size(entry, index):
    if not isinstance(entry, dict):
        raise MalformedImageEntry("entry is not a mapping", index)
    size = entry.get("sizeBytes")
    if size is None:
        raise MalformedImageEntry("missing sizeBytes", index)
    # type() rather than isinstance(): True is an int to isinstance().
    if type(size) is not int:
        raise MalformedImageEntry("non-integer sizeBytes", index)
    if size < 0:
        raise MalformedImageEntry("negative sizeBytes", index)
    return size


def parse_image_entry(entry, index=0):
    """Parse one ``status.images`` entry into an ``ImageRef``.

    Raises ``MalformedImageEntry`` for an entry that cannot be counted: not a mapping, or
    ``sizeBytes`` missing, null, not an integer, or negative. An entry with a size but no usable
    name is returned, keyed ``"<unnamed:INDEX>"`` (``index`` being its position, which keeps the
    key unique on its node), with ``problem`` saying why.
    """
    size = _entry_size(entry, index)
    info = _names_info(entry.get("names"))
    if type(info) is str:
        placeholder = "%s%d>" % (UNNAMED_PREFIX, index)
        return ImageRef(placeholder, placeholder, None, (), size, (), info)
    return ImageRef(info[0], info[1], info[2], info[3], size, info[4])


def _group_value(labels, key):
    if key == NODE_ROLE_KEY:
        return ",".join(node_roles(labels)) or NO_VALUE
    value = labels.get(key)
    return NO_VALUE if value is None else value


def _ref_from_info(info, size):
    return ImageRef(info[0], info[1], info[2], info[3], size, info[4], info[5])


def node_image_facts(node, top=10, max_images=DEFAULT_MAX_IMAGES, name_filter=None,
                     include_images=False, group_by=None):
    """Summarize the images one Node (a dict as the API returns it) reports.

    ``top``            how many of the largest images to list (None: all of them)
    ``max_images``     the cluster's ``nodeStatusMaxImages``; a node listing at least that many
                       entries is flagged ``truncated``. None or a value below 1 (the kubelet's
                       -1, "no limit") never flags.
    ``name_filter``    a callable taking an ``ImageRef`` (see ``compile_name_filter``); only
                       images it accepts are counted, summed and listed. ``truncated`` still
                       reflects the full list, since hidden images may be ones that would match.
    ``include_images`` add ``images``: ``[{"key", "size_bytes", "tags"}]`` for every counted
                       image, which ``cluster_image_report`` and drift baselines need. ``tags``
                       is a tuple shared by every node holding the image: a list per image
                       would double the time 5,000 nodes take, through the garbage collector.
                       It serializes to a JSON list; compare it with ``list(...)`` or
                       ``tuple(...)`` against data read back from JSON.
    ``group_by``       label keys to record in ``group_values`` for ``cluster_image_report``;
                       the pseudo-key ``"node-role"`` gives the node's roles joined with ","
                       (``"<none>"`` without roles), a missing label gives ``"<none>"``

    Returns a JSON-serializable dict: ``name``, ``image_count``, ``total_bytes``,
    ``total_human``, ``capacity_bytes`` (from ``status.capacity["ephemeral-storage"]``, else
    None), ``percent_of_capacity`` (2 decimals, None without a capacity), ``truncated``,
    ``max_images``, ``top_images`` (largest first: ``name``, ``digest``, ``tags``,
    ``size_bytes``, ``size_human``), ``malformed``, ``notes`` (plain sentences), ``group_values``
    and, when asked, ``images``.

    Malformed entries never raise and are never counted wrongly. Each is listed in
    ``malformed`` as ``{"index", "reason", "counted"}``:

    * skipped (``counted: false``), because their size is unknown: an entry that is not a
      mapping, or whose ``sizeBytes`` is missing, null, not an integer (a string included) or
      negative;
    * counted (``counted: true``), because their size is known: an entry without names, or
      without any usable (non-empty string) name. It is keyed ``"<unnamed:INDEX>"``, unique on
      its node, and never matches a name filter.
    """
    metadata = node.get("metadata") or {}
    status = node.get("status") or {}
    notes = []

    entries = status.get("images")
    if entries is None:
        entries = []
    elif not isinstance(entries, list):
        notes.append("status.images is not a list, so no images could be read")
        entries = []

    # Counted images as two parallel lists: sizes, and the parsed names shared through
    # _NAMES_CACHE. Fewer objects per image keeps Python's cyclic garbage collector, which
    # dominates the cost over thousands of nodes, from running as often.
    sizes = []
    infos = []
    malformed = []
    cache = _NAMES_CACHE
    for index, entry in enumerate(entries):
        # Fast path for the shape every kubelet produces; anything else goes through
        # parse_image_entry, which does the full checks.
        if type(entry) is dict:
            size = entry.get("sizeBytes")
            names = entry.get("names")
            if type(size) is int and size >= 0 and type(names) is list and names:
                try:
                    info = cache[tuple(names)]
                except (KeyError, TypeError):
                    info = _names_info(names)
                if type(info) is tuple:
                    if name_filter is None or name_filter(_ref_from_info(info, size)):
                        sizes.append(size)
                        infos.append(info)
                    continue
        try:
            ref = parse_image_entry(entry, index)
        except MalformedImageEntry as exc:
            malformed.append({"index": index, "reason": exc.reason, "counted": False})
            continue
        if ref.problem is not None:
            malformed.append({"index": index, "reason": ref.problem, "counted": True})
        if name_filter is None or name_filter(ref):
            sizes.append(ref.size_bytes)
            infos.append((ref.key, ref.repo, ref.digest, ref.tags, ref.names, ref.problem))

    total = sum(sizes)

    truncated = bool(max_images is not None and 0 < max_images <= len(entries))
    if truncated:
        notes.append(TRUNCATED_NOTE % len(entries))

    capacity = None
    raw_capacity = (status.get("capacity") or {}).get("ephemeral-storage")
    if raw_capacity is not None:
        try:
            capacity = quantity_to_bytes(raw_capacity)
        except QuantityError as exc:
            notes.append("the ephemeral-storage capacity cannot be read (%s), so no percentage "
                         "is given" % exc.reason)
    percent = round(total * 100.0 / capacity, 2) if capacity and capacity > 0 else None

    # The kubelet already sorts largest first, which makes this sort nearly free; it is kept
    # for lists that come from elsewhere. Ties keep the listed order.
    order = sorted(range(len(sizes)), key=sizes.__getitem__, reverse=True)
    if top is not None:
        order = order[:max(top, 0)]

    facts = {
        "name": metadata.get("name"),
        "image_count": len(sizes),
        "total_bytes": total,
        "total_human": human_bytes(total),
        "capacity_bytes": capacity,
        "percent_of_capacity": percent,
        "truncated": truncated,
        "max_images": max_images,
        "top_images": [_image_dict(infos[i][1], infos[i][2], infos[i][3], sizes[i]) for i in order],
        "malformed": malformed,
        "notes": notes,
        "group_values": {},
    }
    if group_by:
        labels = metadata.get("labels") or {}
        facts["group_values"] = dict((key, _group_value(labels, key)) for key in group_by)
    if include_images:
        facts["images"] = [{"key": info[0], "size_bytes": size, "tags": info[3]}
                           for size, info in zip(sizes, infos)]
    return facts


def _describe_key(key):
    """``(name, digest)`` for an image key as ``node_image_facts`` produces it."""
    at = key.find("@")
    if at >= 0:
        return _strip_tag(key[:at]), key[at + 1:]
    if key.startswith(UNNAMED_PREFIX) or _is_image_id(key):
        return key, None
    return _strip_tag(key), None


# Internal key of an unnamed image: its placeholder made unique to its node.
_NODE_SEPARATOR = "\x00"


def cluster_image_report(facts_iter, top=10, group_by=None):
    """Account for images across nodes from ``node_image_facts(..., include_images=True)``.

    ``facts_iter`` is read once, so it can be a generator over thousands of nodes; memory grows
    with the number of distinct images, not of nodes. ``group_by`` picks which of the facts'
    ``group_values`` keys to group nodes by; by default every key they carry is used. A facts
    dict without ``images`` or without a requested group key raises ``ValueError``, because the
    report would otherwise be silently wrong.

    Returns a JSON-serializable dict:

    ``node_count``, ``nodes_truncated``, ``lower_bound`` (true when any node is truncated),
    ``image_count_total`` (sum of the nodes' image counts), ``distinct_images``,
    ``total_bytes`` (sum over nodes), ``shared_bytes`` (bytes, summed over every node holding
    them, of images on more than one node), ``unique_bytes`` (bytes of images on exactly one
    node; ``shared_bytes + unique_bytes == total_bytes``), ``distinct_bytes`` (each distinct
    image counted once, at the largest size any node reports for it),
    ``largest_images`` (top ``top`` by size), ``most_common_images`` (top ``top`` by node
    count), each ``{"key", "name", "digest", "tags", "size_bytes", "size_human", "node_count",
    "nodes"}`` with the first 10 node names, ``heaviest_images`` (top ``top`` by the bytes an
    image takes summed over the nodes that hold it: the same plus ``total_bytes`` and
    ``total_human``), ``groups``
    (``{group key: {value: {"node_count", "total_bytes", "image_count", "nodes_truncated"}}}``)
    and ``notes`` (plain sentences on what limits the numbers).

    Unnamed images (``"<unnamed:INDEX>"``) cannot be matched across nodes, so each counts as
    distinct and unique to its node.
    """
    accounting = ImageAccounting(group_by)
    for facts in facts_iter:
        accounting.add(facts)
    return accounting.report(top)


class ImageAccounting:
    """``cluster_image_report`` one node at a time, for callers that also do something else with
    each node as it streams by (the audit checks limits on the same pass).

    Memory grows with the number of distinct images, not of nodes.
    """

    def __init__(self, group_by=None):
        # One dict per counter rather than one record per image: dicts holding only strings and
        # numbers are invisible to the garbage collector, which otherwise dominates the cost when
        # a cluster has hundreds of thousands of distinct images.
        self.largest_size = {}
        self.node_counts = {}
        self.placed_bytes = {}
        self.last_node = {}
        self.listed_nodes = {}   # the first node's name; a list once a second node has the image
        self.first_tags = {}     # the first non-empty tags seen
        self.groups = {}
        self.group_keys = list(group_by) if group_by is not None else None
        self.node_count = 0
        self.nodes_truncated = 0
        self.image_count_total = 0
        self.total_bytes = 0
        self.unnamed = 0
        self.size_mismatch = set()

    def add(self, facts):
        """Account for one node's facts (``node_image_facts(..., include_images=True)``)."""
        largest_size = self.largest_size
        node_counts = self.node_counts
        placed_bytes = self.placed_bytes
        last_node = self.last_node
        listed_nodes = self.listed_nodes
        first_tags = self.first_tags
        images = facts.get("images")
        node_name = facts.get("name")
        if images is None:
            raise ValueError("the image facts of node %r have no 'images' list; produce them with "
                             "node_image_facts(..., include_images=True)" % (node_name,))
        self.node_count += 1
        node_count = self.node_count
        truncated = bool(facts.get("truncated"))
        self.nodes_truncated += truncated
        self.image_count_total += len(images)

        node_bytes = 0
        for image in images:
            key = image["key"]
            size = image["size_bytes"]
            node_bytes += size
            if key.startswith(UNNAMED_PREFIX):
                self.unnamed += 1
                key = "%s%s%d" % (key, _NODE_SEPARATOR, node_count)
            previous = largest_size.get(key)
            if previous is None:
                largest_size[key] = size
                node_counts[key] = 1
                placed_bytes[key] = size
                last_node[key] = node_count
                listed_nodes[key] = node_name
                first_tags[key] = image.get("tags") or ()
                continue
            placed_bytes[key] += size
            if not first_tags[key] and image.get("tags"):
                first_tags[key] = image["tags"]
            if size != previous:
                self.size_mismatch.add(key)
                if size > previous:
                    largest_size[key] = size
            # An image listed twice on one node (possible for tag-keyed images) is still on one node.
            if last_node[key] != node_count:
                last_node[key] = node_count
                node_counts[key] += 1
                listed = listed_nodes[key]
                if type(listed) is not list:
                    listed_nodes[key] = [listed, node_name]
                elif len(listed) < NODES_LISTED_PER_IMAGE:
                    listed.append(node_name)
        self.total_bytes += node_bytes

        values = facts.get("group_values") or {}
        keys = self.group_keys if self.group_keys is not None else list(values)
        for group_key in keys:
            if group_key not in values:
                raise ValueError("the image facts of node %r have no group value for %r; pass "
                                 "group_by=%r to node_image_facts as well"
                                 % (node_name, group_key, self.group_keys))
            bucket = self.groups.setdefault(group_key, {}).get(values[group_key])
            if bucket is None:
                bucket = self.groups[group_key][values[group_key]] = {
                    "node_count": 0, "total_bytes": 0, "image_count": 0, "nodes_truncated": 0}
            bucket["node_count"] += 1
            bucket["total_bytes"] += node_bytes
            bucket["image_count"] += len(images)
            bucket["nodes_truncated"] += truncated

    def describe(self, key, placed=False):
        nodes = self.listed_nodes[key]
        name, image_digest = _describe_key(key.partition(_NODE_SEPARATOR)[0])
        result = _image_dict(name, image_digest, self.first_tags[key], self.largest_size[key])
        result.update(key=key.partition(_NODE_SEPARATOR)[0], node_count=self.node_counts[key],
                      nodes=list(nodes) if type(nodes) is list else [nodes])
        if placed:
            result["total_bytes"] = self.placed_bytes[key]
            result["total_human"] = human_bytes(self.placed_bytes[key])
        return result

    def report(self, top=10):
        """The cluster report (see ``cluster_image_report``) of what was added so far."""
        largest_size = self.largest_size
        node_counts = self.node_counts
        placed_bytes = self.placed_bytes
        shared_bytes = 0
        unique_bytes = 0
        for key, count in node_counts.items():
            if count > 1:
                shared_bytes += placed_bytes[key]
            else:
                unique_bytes += placed_bytes[key]
        distinct_bytes = sum(largest_size.values())

        limit = max(top, 0) if top is not None else len(largest_size)
        largest = heapq.nlargest(limit, largest_size, key=lambda k: (largest_size[k], node_counts[k]))
        most_common = heapq.nlargest(limit, node_counts, key=lambda k: (node_counts[k], largest_size[k]))
        heaviest = heapq.nlargest(limit, placed_bytes, key=lambda k: (placed_bytes[k], node_counts[k]))

        notes = []
        if self.nodes_truncated:
            notes.append("%d of %d nodes list as many images as the kubelet reports "
                         "(nodeStatusMaxImages), so they probably have more: image counts and byte "
                         "totals are lower bounds, and images shown on one node may be on others too"
                         % (self.nodes_truncated, self.node_count))
        if self.unnamed:
            notes.append("%d image entries have no name; each is counted as a distinct image found on "
                         "its node only" % self.unnamed)
        if self.size_mismatch:
            notes.append("%d images are reported with different sizes on different nodes (container "
                         "runtimes measure differently); distinct_bytes uses the largest size"
                         % len(self.size_mismatch))

        return {
            "node_count": self.node_count,
            "nodes_truncated": self.nodes_truncated,
            "lower_bound": self.nodes_truncated > 0,
            "image_count_total": self.image_count_total,
            "distinct_images": len(largest_size),
            "total_bytes": self.total_bytes,
            "total_human": human_bytes(self.total_bytes),
            "shared_bytes": shared_bytes,
            "unique_bytes": unique_bytes,
            "distinct_bytes": distinct_bytes,
            "distinct_human": human_bytes(distinct_bytes),
            "largest_images": [self.describe(key) for key in largest],
            "most_common_images": [self.describe(key) for key in most_common],
            "heaviest_images": [self.describe(key, placed=True) for key in heaviest],
            "groups": self.groups,
            "notes": notes,
        }


def compile_name_filter(pattern, kind="glob"):
    """Return a predicate ``f(ImageRef) -> bool`` selecting images by name.

    An image matches when any of these matches ``pattern``: its repo
    (``docker.io/library/nginx``), any of its names (``...nginx:1.25``, ``...nginx@sha256:...``),
    or the short form of its repo and tags after the last ``/`` (``nginx``, ``nginx:1.25``), so
    ``nginx*`` works without spelling out the registry. Unnamed images never match.

    ``kind="glob"``: shell-style, case-sensitive, the whole string must match (``*`` crosses
    ``/``). ``kind="regex"``: a Python regular expression searched anywhere in the string
    (anchor it with ``^``/``$`` to match whole names).

    Raises ``ValueError`` for an empty pattern, an unknown kind or an invalid regular expression.
    """
    if not isinstance(pattern, str) or not pattern:
        raise ValueError("an image name filter must be a non-empty string, got %r" % (pattern,))
    if kind == "glob":
        matcher = re.compile(fnmatch.translate(pattern)).match
    elif kind == "regex":
        try:
            matcher = re.compile(pattern).search
        except re.error as exc:
            raise ValueError("invalid regular expression %r for the image name filter: %s"
                             % (pattern, exc))
    else:
        raise ValueError("unknown image name filter kind %r: use 'glob' or 'regex'" % (kind,))

    def name_filter(ref):
        if not ref.names:
            return False
        candidates = [ref.repo, ref.repo.rpartition("/")[2]]
        candidates.extend(ref.names)
        candidates.extend(tag.rpartition("/")[2] for tag in ref.tags)
        for candidate in candidates:
            if matcher(candidate):
                return True
        return False

    name_filter.pattern = pattern
    name_filter.kind = kind
    return name_filter
