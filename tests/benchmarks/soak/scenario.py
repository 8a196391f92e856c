# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The soak's scenario: the cluster, the scripted image-storage changes, and the alerts they owe.

The expected alerts come from the scenario alone, from the rules as docs/watcher.md states them,
never from the watcher's code (otherwise a wrong alert would be expected too):

* ``image_storage_changed`` when a node's image bytes moved by at least ``min_change_bytes``
  since the last alert about it (``old_bytes`` = the bytes of that alert, ``new_bytes`` = now);
* ``threshold_crossed`` when the bytes go above ``max_total_bytes`` (once per crossing),
  ``threshold_cleared`` when they come back to it or below;
* on the very first run, no change alerts (every node's bytes become the reference silently),
  but a crossing for every node already above the limit.

Every node the soak changes ("active": the workers outside the GPU pool) carries one image of
its own, a CI build cache (``ghcr.io/acme/ci-build-cache``) whose every change is a new build of
a new size, replacing the node's smallest image at the start. Its size sets the node's total to
a target drawn so that the outcome is clear-cut: never within 64 MiB of the limit, nor of
``min_change_bytes`` away from the last alert, and never a total the node had before, so each
``image_storage_changed`` and ``threshold_crossed`` is identified by its node and bytes.

A state only alerts if some replica sees it. A node is changed again only after ``min_gap``
seconds, longer than the time without an active leader the soak causes (a leader killed, its
lease expiring, the next one listing and loading the state), so every state is seen, live or at
the next leader's catch-up. ``blind windows`` in the report shows the longest such time.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import bisect
import hashlib
import heapq
import random

from fakekube import make_cluster
from fakekube.cluster import CATALOG

MiB = 1024 ** 2
GiB = 1024 ** 3
SCRATCH_REPO = "ghcr.io/acme/ci-build-cache"
MARGIN = 64 * MiB
CHANGED = "image_storage_changed"
CROSSED = "threshold_crossed"
CLEARED = "threshold_cleared"
RULE = "max_total_bytes"


def scratch_entry(node, version, size):
    digest = "sha256:" + hashlib.sha256(("%s/%d" % (node, version)).encode()).hexdigest()
    return {"names": ["%s@%s" % (SCRATCH_REPO, digest), "%s:build-%d" % (SCRATCH_REPO, version)],
            "sizeBytes": int(size)}


def node_images(others, scratch):
    """The kubelet's list: largest first."""
    return sorted(others + [scratch], key=lambda entry: -entry["sizeBytes"])


def _top_up(node, count):
    """make_cluster gives some nodes (control planes) fewer images: add catalog images."""
    images = node["status"].setdefault("images", [])
    have = set(image["names"][0].split("@")[0].rsplit(":", 1)[0] for image in images)
    for image in sorted(CATALOG, key=lambda image: -image.size):
        if len(images) >= count:
            break
        if image.repo not in have:
            have.add(image.repo)
            images.append({"names": image.names(), "sizeBytes": image.size})
    images.sort(key=lambda entry: -entry["sizeBytes"])


class Cluster:
    """The initial cluster and what the scenario knows of each node.

    ``others[name]``: the node's images other than the build cache (active nodes only);
    ``totals[name]``: its initial image bytes; ``limit``: ``max_total_bytes``.
    """

    def __init__(self, node_count, images, seed, min_change=GiB):
        rng = random.Random("cluster-%d" % seed)
        self.nodes = make_cluster(node_count, seed=seed, images_per_node=(images, images))
        self.min_change = int(min_change)
        self.others = {}
        self.active = []
        self.scratch_version = {}
        for node in self.nodes:
            _top_up(node, images)
            labels = node["metadata"]["labels"]
            if "node.example.com/pool" in labels and "nvidia.com/gpu.present" not in labels:
                name = node["metadata"]["name"]
                images_now = node["status"]["images"]
                self.others[name] = images_now[:-1]  # the smallest makes room for the build cache
                self.active.append(name)
        largest = max(sum(image["sizeBytes"] for image in others) for others in self.others.values())
        # A round limit a person would set, 5 GiB above the busiest active node without its cache:
        # every target total in [limit - 4.6 * min_change, limit + 3.2 * min_change] is reachable
        # with a build cache of positive size.
        self.limit = -(-(largest + 5 * GiB) // GiB) * GiB
        self.low = self.limit - int(4.6 * self.min_change)
        self.high = self.limit + int(3.2 * self.min_change)
        if self.low - largest < 64 * MiB:
            raise ValueError("min_change_bytes is too large for this cluster's shape")
        by_name = dict((node["metadata"]["name"], node) for node in self.nodes)
        for name in self.active:
            target = self.limit - rng.randint(int(1.2 * self.min_change), int(4.4 * self.min_change))
            self.scratch_version[name] = 0
            scratch = scratch_entry(name, 0, target - self.other_bytes(name))
            by_name[name]["status"]["images"] = node_images(self.others[name], scratch)
        self.totals = dict((node["metadata"]["name"], sum(image["sizeBytes"] for image in node["status"]["images"]))
                           for node in self.nodes)

    def other_bytes(self, name):
        return sum(image["sizeBytes"] for image in self.others[name])

    def fingerprint(self):
        """Identifies the cluster: the soak and the API server process must build the same one."""
        text = "%d|%s" % (self.limit, ",".join("%s=%d" % item for item in sorted(self.totals.items())))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


class Model:
    """The documented alert rules, per node: the bytes of the last alert and the open breach."""

    def __init__(self, limit, min_change):
        self.limit = limit
        self.min_change = min_change
        self.reference = {}
        self.open = {}
        self.seen = {}

    def first_run(self, totals):
        """The first run: references taken silently; a crossing per node above the limit."""
        alerts = []
        for name in sorted(totals):
            total = totals[name]
            self.reference[name] = total
            self.seen[name] = {total}
            self.open[name] = total > self.limit
            if self.open[name]:
                alerts.append({"kind": CROSSED, "node": name, "observed": total, "change": None})
        return alerts

    def outcome(self, name, total):
        """(changed, crossed, cleared) for ``name`` going to ``total``; changes nothing."""
        changed = abs(total - self.reference[name]) >= self.min_change
        above = total > self.limit
        return changed, above and not self.open[name], not above and self.open[name]

    def clear_cut(self, name, total):
        """No rounding, clock or off-by-one question can decide this change's outcome."""
        distance = abs(total - self.reference[name])
        return (abs(total - self.limit) >= MARGIN and abs(distance - self.min_change) >= MARGIN
                and all(abs(total - before) >= MiB for before in self.seen[name]))

    def apply(self, name, total, change):
        changed, crossed, cleared = self.outcome(name, total)
        alerts = []
        if changed:
            alerts.append({"kind": CHANGED, "node": name, "old_bytes": self.reference[name], "new_bytes": total,
                           "change": change})
            self.reference[name] = total
        if crossed:
            alerts.append({"kind": CROSSED, "node": name, "observed": total, "change": change})
            self.open[name] = True
        if cleared:
            alerts.append({"kind": CLEARED, "node": name, "change": change})
            self.open[name] = False
        self.seen[name].add(total)
        return alerts


def category(changed, crossed, cleared):
    if cleared:
        return "cleared"
    if crossed:
        return "crossed"
    return "changed" if changed else "quiet"


# What a change of a node below the limit (or above it) should do, and how often.
MIX_BELOW = (("crossed", 0.30), ("changed", 0.35), ("quiet", 0.35))
MIX_ABOVE = (("cleared", 0.45), ("changed", 0.30), ("quiet", 0.25))


def _weighted(rng, mix):
    roll = rng.random()
    edge = 0.0
    for name, weight in mix:
        edge += weight
        if roll < edge:
            return name
    return mix[-1][0]


class Schedule:
    """``changes``: ``[{"i", "at", "node", "version", "size", "total", "category"}]`` (``at``:
    seconds after the start), and ``expected``: the alerts they owe, first run included."""

    def __init__(self, cluster, changes, duration, min_gap, seed):
        rng = random.Random("schedule-%d" % seed)
        self.duration = float(duration)
        rate = changes / self.duration
        # Enough nodes must be free at every moment; shorter runs on small clusters get a shorter gap.
        self.min_gap = min(float(min_gap), 0.7 * len(cluster.active) / rate)
        model = Model(cluster.limit, cluster.min_change)
        self.expected = model.first_run(cluster.totals)
        self.changes = []
        ready = []
        waiting = [(0.0, name) for name in cluster.active]
        heapq.heapify(waiting)
        for index in range(changes):
            at = (index + 0.5) * self.duration / changes
            while waiting and waiting[0][0] <= at:
                ready.append(heapq.heappop(waiting)[1])
            pick = rng.randrange(len(ready))
            ready[pick], ready[-1] = ready[-1], ready[pick]
            name = ready.pop()
            heapq.heappush(waiting, (at + self.min_gap * (1.0 + 0.3 * rng.random()), name))
            wanted = _weighted(rng, MIX_ABOVE if model.open[name] else MIX_BELOW)
            total = None
            for dummy in range(400):
                candidate = rng.randint(cluster.low, cluster.high)
                if model.clear_cut(name, candidate):
                    total = candidate
                    if category(*model.outcome(name, candidate)) == wanted:
                        break
            if total is None:
                raise ValueError("no clear-cut target for %s" % name)
            outcome = category(*model.outcome(name, total))
            cluster.scratch_version[name] += 1
            version = cluster.scratch_version[name]
            self.changes.append({"i": index, "at": round(at, 4), "node": name, "version": version,
                                 "size": total - cluster.other_bytes(name), "total": total, "category": outcome})
            self.expected.extend(model.apply(name, total, index))
        self.final_open = sorted(name for name, is_open in model.open.items() if is_open)

    def categories(self):
        counts = {}
        for change in self.changes:
            counts[change["category"]] = counts.get(change["category"], 0) + 1
        return counts


# -- matching what was delivered with what was owed -------------------------------------------------

class Matcher:
    """Pairs each delivered alert with the expected alert it stands for.

    ``image_storage_changed`` and ``threshold_crossed`` by node and bytes (unique per node, see
    the module docstring; a change alert whose ``old_bytes`` differ is *wrong*, not a match);
    ``threshold_cleared`` by node and time: the clearing owed by the node's latest change applied
    before the alert was raised (consecutive clearings of a node are at least two changes, so
    ``2 * min_gap``, apart).
    """

    CLOCK_SLACK = 2.0

    def __init__(self, expected, applied_at):
        self.expected = expected
        self.by_key = {}
        self.clearings = {}
        for index, alert in enumerate(expected):
            kind = alert["kind"]
            if kind == CHANGED:
                self.by_key[(kind, alert["node"], alert["new_bytes"])] = index
            elif kind == CROSSED:
                self.by_key[(kind, alert["node"], alert["observed"])] = index
            else:
                at = applied_at.get(alert["change"])
                self.clearings.setdefault(alert["node"], []).append((at if at is not None else float("inf"), index))
        for entries in self.clearings.values():
            entries.sort()

    def match(self, alert, raised_at):
        """(index of the expected alert or None, why not)."""
        kind, node = alert.get("kind"), alert.get("node")
        if kind == CHANGED:
            index = self.by_key.get((kind, node, alert.get("new_bytes")))
            if index is None:
                return None, "no change of %s to %s bytes was scripted" % (node, alert.get("new_bytes"))
            if alert.get("old_bytes") != self.expected[index]["old_bytes"]:
                return None, "change of %s measured from %s bytes, expected from %s" % (
                    node, alert.get("old_bytes"), self.expected[index]["old_bytes"])
            return index, None
        if kind == CROSSED:
            if alert.get("rule") != RULE:
                return None, "unexpected rule %r" % alert.get("rule")
            index = self.by_key.get((kind, node, alert.get("observed")))
            return (index, None) if index is not None else (None, "no crossing of %s at %s bytes" % (
                node, alert.get("observed")))
        if kind == CLEARED:
            entries = self.clearings.get(node) or []
            position = bisect.bisect_right(entries, (raised_at + self.CLOCK_SLACK, len(self.expected))) - 1
            if position < 0:
                return None, "no clearing of %s was owed before %.1f" % (node, raised_at)
            return entries[position][1], None
        return None, "unexpected kind %s" % kind
