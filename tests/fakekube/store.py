"""Thread-safe in-memory object store with etcd-like resourceVersions, a bounded watch
history per resource (the watch cache), list snapshots for continue tokens, and watchers.

Objects are stored per *storage* resource ``(group, plural)`` under an etcd-like key
(``name`` for cluster-scoped, ``namespace/name`` for namespaced types), so lists come back in
the order the real apiserver returns them.  Stored dicts are never mutated after being stored
(every write stores a new dict), so readers can share them without copying.
"""
import bisect
import collections
import json
import queue
import threading
import time

from . import errors

START_RV = 1000


class Stored:
    """An immutable stored object plus its lazily-cached list-item JSON."""
    __slots__ = ("obj", "_item")

    def __init__(self, obj):
        self.obj = obj
        self._item = None

    def item_json(self):
        # items of a typed list carry no kind/apiVersion on the wire
        if self._item is None:
            o = self.obj
            if "kind" in o or "apiVersion" in o:
                o = {k: v for k, v in o.items() if k not in ("kind", "apiVersion")}
            self._item = json.dumps(o, separators=(",", ":"), ensure_ascii=False).encode()
        return self._item


class Event:
    __slots__ = ("type", "obj", "prev", "rv")

    def __init__(self, type_, obj, prev, rv):
        self.type, self.obj, self.prev, self.rv = type_, obj, prev, rv


CLOSED = object()        # put on a watcher queue to end the stream gracefully
DROPPED = object()       # put on a watcher queue to end the stream abruptly


class Watcher:
    def __init__(self, store, gp):
        self.store = store
        self.gp = gp
        self.q = queue.SimpleQueue()
        self.connection = None   # socket, so drop_watches() can cut it
        self.closed = False

    def push(self, item):
        if not self.closed:
            self.q.put(item)

    def stop(self):
        self.store._unregister(self)


class Snapshot:
    __slots__ = ("rv", "keys", "stored", "created")

    def __init__(self, rv, keys, stored):
        self.rv, self.keys, self.stored = rv, keys, stored
        self.created = time.monotonic()


def object_key(namespace, name):
    return "%s/%s" % (namespace, name) if namespace else name


class Store:
    def __init__(self, watch_window=1000, continue_ttl=300.0, max_snapshots=64):
        self.lock = threading.RLock()
        self._rv = START_RV
        self._data = collections.defaultdict(dict)       # gp -> key -> Stored
        self._sorted = {}                                 # gp -> sorted keys (cache)
        self._history = collections.defaultdict(collections.deque)
        self._oldest = collections.defaultdict(lambda: START_RV)  # watch from rv >= this
        self._watchers = collections.defaultdict(set)
        self._snapshots = collections.OrderedDict()       # (gp, rv) -> Snapshot
        self._continue_floor = 0                          # tokens with rv < this are expired
        self._floor = START_RV                            # compaction point of every history
        self.watch_window = watch_window
        self.continue_ttl = continue_ttl
        self.max_snapshots = max_snapshots

    # ------------------------------------------------------------------ versions
    @property
    def rv(self):
        return self._rv

    def _next_rv(self):
        self._rv += 1
        return self._rv

    def bump(self):
        """Advance the global resourceVersion as an unrelated write would."""
        with self.lock:
            return self._next_rv()

    # ------------------------------------------------------------------ reads
    def get(self, gp, key):
        with self.lock:
            s = self._data[gp].get(key)
            return s.obj if s else None

    def get_stored(self, gp, key):
        with self.lock:
            return self._data[gp].get(key)

    def _sorted_keys(self, gp):
        keys = self._sorted.get(gp)
        if keys is None:
            keys = sorted(self._data[gp])
            self._sorted[gp] = keys
        return keys

    def snapshot(self, gp, keep=False):
        """A consistent (rv, keys, Stored list) of every object of ``gp``."""
        with self.lock:
            keys = self._sorted_keys(gp)
            data = self._data[gp]
            snap = Snapshot(self._rv, keys, [data[k] for k in keys])
            if keep:
                self.keep_snapshot(gp, snap)
            return snap

    def keep_snapshot(self, gp, snap):
        with self.lock:
            key = (gp, snap.rv)
            if key not in self._snapshots:
                snap.created = time.monotonic()
                self._snapshots[key] = snap
            self._snapshots.move_to_end(key)
            while len(self._snapshots) > self.max_snapshots:
                self._snapshots.popitem(last=False)

    def snapshot_for_continue(self, gp, rv):
        """The snapshot a continue token at ``rv`` refers to, or None when it is gone."""
        with self.lock:
            self._expire_snapshots()
            if rv < self._continue_floor:
                return None
            snap = self._snapshots.get((gp, rv))
            if snap is None and rv == self._rv:
                snap = self.snapshot(gp, keep=True)
            return snap

    def _expire_snapshots(self):
        now = time.monotonic()
        for k in [k for k, s in self._snapshots.items() if now - s.created > self.continue_ttl]:
            del self._snapshots[k]

    def expire_continue_tokens(self):
        with self.lock:
            self._snapshots.clear()
            self._continue_floor = self._next_rv()

    def count(self, gp):
        with self.lock:
            return len(self._data[gp])

    def keys_in(self, gp, namespace):
        with self.lock:
            prefix = namespace + "/"
            return [k for k in self._data[gp] if k.startswith(prefix)]

    # ------------------------------------------------------------------ writes
    def put(self, gp, key, obj, event_type, prev=None, set_rv=True):
        """Store ``obj`` (a fresh dict, owned by the store from now on) and emit an event.

        Assigns the next resourceVersion into ``obj['metadata']``.  Returns the stored dict."""
        with self.lock:
            rv = self._next_rv()
            if set_rv:
                obj.setdefault("metadata", {})["resourceVersion"] = str(rv)
            if key not in self._data[gp]:
                self._sorted.pop(gp, None)
            self._data[gp][key] = Stored(obj)
            self._emit(gp, Event(event_type, obj, prev, rv))
            return obj

    def remove(self, gp, key, last_obj=None):
        """Delete the object; the DELETED event carries it with the deletion's resourceVersion."""
        with self.lock:
            s = self._data[gp].pop(key, None)
            if s is None:
                return None
            self._sorted.pop(gp, None)
            rv = self._next_rv()
            last = dict(last_obj if last_obj is not None else s.obj)
            last["metadata"] = dict(last.get("metadata") or {}, resourceVersion=str(rv))
            self._emit(gp, Event("DELETED", last, s.obj, rv))
            return last

    def load(self, gp, items):
        """Bulk insert of trusted, already-normalized objects (one RV each, events emitted)."""
        with self.lock:
            for key, obj in items:
                rv = self._next_rv()
                obj.setdefault("metadata", {})["resourceVersion"] = str(rv)
                event_type = "MODIFIED" if key in self._data[gp] else "ADDED"
                prev = self._data[gp][key].obj if key in self._data[gp] else None
                self._data[gp][key] = Stored(obj)
                self._emit(gp, Event(event_type, obj, prev, rv))
            self._sorted.pop(gp, None)

    def _emit(self, gp, ev):
        hist = self._history[gp]
        hist.append(ev)
        while len(hist) > self.watch_window:
            old = hist.popleft()
            self._oldest[gp] = old.rv + 1
        for w in list(self._watchers[gp]):
            w.push(ev)

    # ------------------------------------------------------------------ watch
    def compact(self):
        """Forget every watch event up to now (like etcd compaction + a watch cache reset)."""
        with self.lock:
            now = self._next_rv()
            for gp in list(self._history):
                self._history[gp].clear()
            # watchers for any resource must now start at or after ``now - 1``
            self._floor = now

    def reset_watch_cache(self):
        """A new apiserver's watch cache: it starts at the current resourceVersion with no
        history, so a watch from that version works and one from any older version is 410."""
        with self.lock:
            for gp in list(self._history):
                self._history[gp].clear()
            self._floor = self._rv + 1

    def oldest(self, gp):
        return max(self._oldest[gp], self._floor)

    def watch(self, gp, from_rv):
        """Register a watcher.  ``from_rv`` None means "send the current state first".

        Returns (watcher, initial_events).  Raises ApiError(410) for a too-old RV."""
        with self.lock:
            w = Watcher(self, gp)
            initial = []
            if from_rv is None:
                for k in self._sorted_keys(gp):
                    s = self._data[gp][k]
                    initial.append(Event("ADDED", s.obj, None, int(s.obj["metadata"]["resourceVersion"])))
            else:
                oldest = self.oldest(gp)
                if from_rv < oldest - 1:
                    raise errors.gone_expired("too old resource version: %d (%d)" % (from_rv, oldest - 1))
                for ev in self._history[gp]:
                    if ev.rv > from_rv:
                        initial.append(ev)
            self._watchers[gp].add(w)
            return w, initial

    def _unregister(self, w):
        with self.lock:
            w.closed = True
            self._watchers[w.gp].discard(w)

    def all_watchers(self):
        with self.lock:
            return [w for ws in self._watchers.values() for w in ws]

    def bookmark_rv(self, w):
        """Current RV, queued behind every event already delivered to ``w``."""
        with self.lock:
            return self._rv


def find_start(keys, start_key):
    """Index of the first key >= start_key in a sorted key list."""
    return bisect.bisect_left(keys, start_key)
