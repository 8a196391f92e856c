# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""An informer: a local, always-current copy of a Kubernetes collection, with change handlers.

The loop is kopf's (and client-go's reflector): LIST page by page, then WATCH from the list's
resourceVersion with bookmarks; a watch the server ends normally is resumed from the last
resourceVersion seen (no relist); 410 Gone means that version is compacted away, so the
collection is listed again and the difference from the cache is delivered as synthetic
add/update/delete; any other failure backs off with jitter (honouring Retry-After) and resumes.
No request can hang: list pages carry the client's timeouts, and a watch whose socket stays
silent longer than ``inactivity_timeout`` (bookmarks arrive about every minute) is treated as
dead.

Handlers run on one dispatcher thread, in event order, never concurrently with each other:
handler code needs no lock of its own for state only handlers touch. The same thread delivers
the periodic resync (every cached object again as an update with ``old is new``), the safety net
for an event a handler mishandled. A handler that raises is logged; it never stops the loop.

Pure Python plus this collection's client; nothing here imports Ansible.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import logging
import random
import threading
import time

try:
    import queue
except ImportError:  # pragma: no cover - Python 2 is not supported; keeps sanity's compile test quiet
    import Queue as queue  # noqa

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import RetryPolicy
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError, ConnectionFailure

__all__ = ["Backoff", "Informer", "InformerStats", "Store", "object_key"]

_LOG = logging.getLogger("nodewatch.informer")

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"

# Why a watch stream ended, as counted in InformerStats.watch_restarts.
RESTART_REASONS = ("timeout", "expired", "connection", "error")


def object_key(obj):
    """``namespace/name`` for namespaced objects, ``name`` for cluster-scoped ones (Nodes)."""
    metadata = obj["metadata"]
    namespace = metadata.get("namespace")
    return "%s/%s" % (namespace, metadata["name"]) if namespace else metadata["name"]


def resource_version(obj):
    try:
        return obj["metadata"].get("resourceVersion")
    except (KeyError, TypeError, AttributeError):
        return None


def _replaced(old, new):
    """True when ``new`` is another object under the same name (deleted and created again,
    e.g. a node whose machine was replaced): both carry a uid and the uids differ."""
    try:
        old_uid, new_uid = old["metadata"].get("uid"), new["metadata"].get("uid")
    except (KeyError, TypeError, AttributeError):
        return False
    return bool(old_uid) and bool(new_uid) and old_uid != new_uid


class MalformedObject(ValueError):
    """An object from the server without the metadata every Kubernetes object has."""


def _check_object(obj):
    if not isinstance(obj, dict):
        raise MalformedObject("the object is a %s, not a mapping" % type(obj).__name__)
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict):
        raise MalformedObject("the object has no metadata mapping")
    name = metadata.get("name")
    if not isinstance(name, str) or not name:
        raise MalformedObject("the object has no metadata.name")


class Store:
    """The informer's cache: thread-safe reads for anyone, writes by the informer only.

    Objects are shared, not copied: readers must treat what they get as read-only.
    """

    def __init__(self, key_func=object_key):
        self._key = key_func
        self._lock = threading.Lock()
        self._items = {}

    def key(self, obj):
        return self._key(obj)

    def get(self, key):
        with self._lock:
            return self._items.get(key)

    def list(self):
        with self._lock:
            return list(self._items.values())

    def keys(self):
        with self._lock:
            return list(self._items)

    def snapshot(self):
        """A copy of the key -> object mapping, consistent at one instant."""
        with self._lock:
            return dict(self._items)

    def __len__(self):
        with self._lock:
            return len(self._items)

    def __contains__(self, key):
        with self._lock:
            return key in self._items

    # -- informer side -------------------------------------------------------------------------

    def _put(self, key, obj):
        """Store ``obj``; return the object it replaced (None when new)."""
        with self._lock:
            old = self._items.get(key)
            self._items[key] = obj
            return old

    def _pop(self, key):
        with self._lock:
            return self._items.pop(key, None)

    def _replace(self, items):
        """Swap in a fresh list; return ``(added, updated, deleted)`` as lists of objects/pairs.

        ``updated`` holds ``(old, new)`` pairs whose resourceVersion differs: unchanged objects
        are not re-delivered here (the periodic resync does that). An object re-created under
        the same name while nobody watched (another uid) is a deletion plus an addition, as the
        watch would have told.
        """
        with self._lock:
            old_items = self._items
            self._items = items
        added = []
        updated = []
        deleted = []
        for key, obj in items.items():
            old = old_items.get(key)
            if old is None:
                added.append(obj)
            elif _replaced(old, obj):
                deleted.append(old)
                added.append(obj)
            elif resource_version(old) != resource_version(obj) or resource_version(obj) is None:
                updated.append((old, obj))
        deleted.extend(obj for key, obj in old_items.items() if key not in items)
        return added, updated, deleted


class Backoff:
    """The client's retry delays (exponential, jittered, Retry-After honoured) for loops that
    retry forever: counts the attempts itself and starts over after a success."""

    def __init__(self, initial=0.5, maximum=30.0, max_retry_after=None):
        self.policy = RetryPolicy(base_delay=float(initial), max_delay=float(maximum),
                                  max_retry_after=max(float(maximum), 60.0) if max_retry_after is None
                                  else float(max_retry_after))
        self.attempt = 0

    def next(self, retry_after=None):
        delay = self.policy.delay(self.attempt, retry_after)
        self.attempt += 1
        return delay

    def reset(self):
        self.attempt = 0


class InformerStats:
    """Counters for metrics and tests; written by the informer's threads, read by anyone."""

    def __init__(self):
        self.lists = 0
        self.relists = 0
        self.watches = 0
        self.watch_restarts = dict((reason, 0) for reason in RESTART_REASONS)
        self.events = {ADDED: 0, MODIFIED: 0, DELETED: 0, BOOKMARK: 0}
        self.resyncs = 0
        self.malformed = 0
        self.handler_errors = 0
        self.dispatched = 0


# Dispatcher queue markers, besides the event kinds.
_RESYNC = object()
_STOP = object()
_SYNCED = object()


class Informer:
    """List, watch, cache and notify for one collection path (e.g. ``/api/v1/nodes``).

    ``client``              a ``KubeClient`` (``list_pages`` and ``watch`` are used)
    ``resync_period``       seconds between re-deliveries of the whole cache (0/None: never)
    ``watch_timeout``       the server-side ``timeoutSeconds`` of a watch; each watch asks for
                            a random value between it and twice it, as client-go does, so that
                            many watchers do not reconnect at once
    ``inactivity_timeout``  seconds of silence after which a watch counts as dead
    ``transform``           ``f(obj) -> obj`` applied before caching (drop what handlers never
                            read; a 5,000-node cache is mostly managedFields otherwise). An
                            exception there marks the object malformed: logged and skipped.
    ``sleep``               ``f(seconds)`` used for backoff; the default wakes up on ``stop()``

    Handlers: ``on_add(obj)``, ``on_update(old, new)`` (``old is new`` on resync),
    ``on_delete(obj)`` (the last object known).
    """

    def __init__(self, client, path, label_selector=None, field_selector=None, resync_period=30.0,
                 page_size=500, watch_timeout=300, inactivity_timeout=70.0, backoff_initial=0.5,
                 backoff_max=30.0, transform=None, key_func=object_key, name=None, logger=None,
                 sleep=None, rand=random.random):
        self.client = client
        self.path = path
        self.label_selector = label_selector or None
        self.field_selector = field_selector or None
        self.resync_period = float(resync_period or 0)
        self.page_size = page_size
        self.watch_timeout = watch_timeout
        self.inactivity_timeout = inactivity_timeout
        self.transform = transform
        self.name = name or path
        self.log = logger or _LOG
        self.store = Store(key_func)
        self.stats = InformerStats()
        self.backoff = Backoff(backoff_initial, backoff_max)
        self._rand = rand
        self._handlers = []
        self._sync_handlers = []
        self._queue = queue.Queue()
        self._stop = threading.Event()
        self._interrupt_watch = None
        self._synced = threading.Event()
        self._sleep = sleep or self._stop.wait
        self._watch_thread = None
        self._dispatch_thread = None
        self._dispatching_since = None
        self.last_resource_version = None

    # -- public API --------------------------------------------------------------------------

    def add_handlers(self, on_add=None, on_update=None, on_delete=None):
        self._handlers.append((on_add, on_update, on_delete))

    def add_sync_handler(self, on_synced):
        """``on_synced()`` runs once on the dispatcher thread, after the first list's events."""
        self._sync_handlers.append(on_synced)

    @property
    def has_synced(self):
        """True once the first full list has been delivered to the handlers."""
        return self._synced.is_set()

    def wait_for_sync(self, timeout=None):
        return self._synced.wait(timeout)

    @property
    def stopped(self):
        return self._stop.is_set()

    def start(self):
        """Run the watch loop and the dispatcher on daemon threads; returns immediately."""
        self._watch_thread = threading.Thread(target=self._run_watch_loop,
                                              name="informer-watch %s" % self.name)
        self._dispatch_thread = threading.Thread(target=self._run_dispatcher,
                                                 name="informer-dispatch %s" % self.name)
        for thread in (self._watch_thread, self._dispatch_thread):
            # A watch blocked in a socket read cannot be interrupted; it ends by its own
            # timeouts, and must not keep the process alive after stop().
            thread.daemon = True
            thread.start()
        return self

    def _watch_opened(self, interrupt):
        self._interrupt_watch = interrupt
        if self._stop.is_set():  # stop() raced with the stream opening
            interrupt()

    def stop(self, timeout=5.0):
        """Stop both loops. Handlers already running finish; queued events are dropped.

        An open watch is interrupted (its socket shut down), so the watch thread ends promptly.
        Returns True when the dispatcher ended in time.
        """
        self._stop.set()
        interrupt = self._interrupt_watch
        if interrupt is not None:
            interrupt()
        self._queue.put((_STOP, None, None))
        thread = self._dispatch_thread
        if thread is None or thread is threading.current_thread():
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def resync_now(self):
        """Re-deliver the whole cache as updates, after what is already queued."""
        self._queue.put((_RESYNC, None, None))

    def threads(self):
        """The informer's threads (watch and dispatch), once started: to join after ``stop()``."""
        return [t for t in (self._watch_thread, self._dispatch_thread) if t is not None]

    def alive(self):
        """True while both threads run (or before start); for liveness probes."""
        return self.stopped or all(thread.is_alive() for thread in self.threads())

    def dispatch_stuck_for(self):
        """Seconds the current handler call has been running (0 when idle)."""
        since = self._dispatching_since
        return 0.0 if since is None else max(0.0, time.monotonic() - since)

    def run_once(self):
        """List once and deliver everything as adds on the calling thread; no watch, no threads.

        For single-pass runs (cron, ``--once``). Raises the client's errors.
        """
        items, rv = self._list()
        self.last_resource_version = rv
        added, updated, deleted = self.store._replace(items)
        for obj in deleted:
            self._deliver(DELETED, obj, None)
        for obj in added:
            self._deliver(ADDED, None, obj)
        for old, new in updated:
            self._deliver(MODIFIED, old, new)
        self._mark_synced()
        return len(items)

    # -- listing and watching -------------------------------------------------------------------

    def _list(self):
        items = {}
        rv = None
        key = self.store.key
        for page in self.client.list_pages(self.path, self.label_selector, self.field_selector,
                                           self.page_size):
            metadata = page.get("metadata") or {}
            if metadata.get("nodewatch.k8s/restarted"):
                items = {}
            for raw in page.get("items") or ():
                obj = self._cached_as(raw)
                if obj is None:
                    obj = self._accept(raw, "list")
                if obj is not None:
                    items[key(obj)] = obj
            rv = metadata.get("resourceVersion") or rv
            # Only the transformed objects are kept: let the raw page go before the next one.
            del page, metadata
        self.stats.lists += 1
        return items, rv

    def _cached_as(self, raw):
        """The cached object when ``raw`` is that object at the same resourceVersion, else None.

        A relist (after a 410 or an API server restart) then keeps one copy of every unchanged
        object instead of building a second cache beside the first: measured on 5,000 nodes,
        the resident memory of the daemon otherwise rose by two thirds at the first relist and
        never came back down (the allocator keeps what it once held).
        """
        try:
            metadata = raw["metadata"]
            version = metadata["resourceVersion"]
            cached = self.store.get(self.store.key(raw))
        except (KeyError, TypeError, AttributeError):
            return None
        if (cached is None or not version or resource_version(cached) != version
                or cached["metadata"].get("uid") != metadata.get("uid")):
            return None
        return cached

    def _accept(self, raw, where):
        """The object to cache, or None (logged) when it is malformed."""
        try:
            _check_object(raw)
            obj = self.transform(raw) if self.transform is not None else raw
            _check_object(obj)
            return obj
        except Exception as exc:
            self.stats.malformed += 1
            name = None
            if isinstance(raw, dict) and isinstance(raw.get("metadata"), dict):
                name = raw["metadata"].get("name")
            self.log.warning("skipping a malformed object in %s of %s (name %r): %s",
                             where, self.name, name, exc)
            return None

    def _relist(self):
        items, rv = self._list()
        added, updated, deleted = self.store._replace(items)
        # Deletes first: a handler that keeps per-object state sees a name disappear before a
        # new object could reuse it.
        for obj in deleted:
            self._queue.put((DELETED, obj, None))
        for obj in added:
            self._queue.put((ADDED, None, obj))
        for old, new in updated:
            self._queue.put((MODIFIED, old, new))
        self.last_resource_version = rv
        if not self._synced.is_set():
            self._queue.put((_SYNCED, None, None))
        return len(added), len(updated), len(deleted)

    def _watch_timeout(self):
        if not self.watch_timeout:
            return None
        return int(self.watch_timeout * (1.0 + self._rand()))

    def _run_watch_loop(self):
        need_list = True
        while not self._stop.is_set():
            try:
                if need_list:
                    counts = self._relist()
                    if self.stats.lists > 1:
                        self.stats.relists += 1
                        self.log.info("relisted %s at resourceVersion %s: %d added, %d changed, "
                                      "%d deleted while away", self.name, self.last_resource_version,
                                      counts[0], counts[1], counts[2])
                    need_list = False
                started = time.monotonic()
                received = self._watch()
                if self._stop.is_set():
                    break
                self.stats.watch_restarts["timeout"] += 1
                if received or time.monotonic() - started >= 10.0:
                    self.backoff.reset()
                else:
                    # A server that ends every watch at once would make this a busy loop.
                    self._sleep(self.backoff.next())
            except ApiError as exc:
                if self._stop.is_set():
                    break  # stop() interrupted the watch: nothing broke
                if exc.status == 410 and not need_list:
                    self.stats.watch_restarts["expired"] += 1
                    self.log.info("the watch on %s expired (resourceVersion %s is gone); relisting",
                                  self.name, self.last_resource_version)
                    need_list = True
                    continue
                self.stats.watch_restarts["error"] += 1
                delay = self.backoff.next(exc.retry_after)
                self.log.warning("listing/watching %s failed: %s; retrying in %.1fs", self.name, exc, delay)
                self._sleep(delay)
            except ConnectionFailure as exc:
                if self._stop.is_set():
                    break
                self.stats.watch_restarts["connection"] += 1
                delay = self.backoff.next()
                self.log.warning("%s; resuming the watch on %s in %.1fs", exc, self.name, delay)
                self._sleep(delay)
                # Without a resourceVersion there is nothing to resume from.
                need_list = need_list or self.last_resource_version is None
            except Exception as exc:  # never let the loop die: a dead informer is a silent daemon
                if self._stop.is_set():
                    break
                self.stats.watch_restarts["error"] += 1
                delay = self.backoff.next()
                self.log.error("unexpected error in the watch on %s (%s: %s); relisting in %.1fs",
                               self.name, type(exc).__name__, exc, delay, exc_info=True)
                self._sleep(delay)
                need_list = True

    def _watch(self):
        """Consume one watch stream; return how many events it carried."""
        self.stats.watches += 1
        received = 0
        stream = self.client.watch(self.path, resource_version=self.last_resource_version,
                                   label_selector=self.label_selector,
                                   field_selector=self.field_selector,
                                   timeout_seconds=self._watch_timeout(), allow_bookmarks=True,
                                   inactivity_timeout=self.inactivity_timeout,
                                   on_open=self._watch_opened)
        store = self.store
        events = self.stats.events
        put = self._queue.put
        try:
            for event in stream:
                if self._stop.is_set():
                    break
                received += 1
                kind = event.get("type") if isinstance(event, dict) else None
                raw = event.get("object") if isinstance(event, dict) else None
                if kind == BOOKMARK:
                    events[BOOKMARK] += 1
                    rv = resource_version(raw)
                    if rv:
                        self.last_resource_version = rv
                    continue
                if kind not in (ADDED, MODIFIED, DELETED):
                    self.stats.malformed += 1
                    self.log.warning("skipping a watch event of unknown type %r on %s", kind, self.name)
                    continue
                obj = self._accept(raw, "a %s event" % kind)
                if obj is None:
                    continue
                events[kind] += 1
                key = store.key(obj)
                if kind == DELETED:
                    old = store._pop(key)
                    put((DELETED, old if old is not None else obj, None))
                else:
                    old = store._put(key, obj)
                    if old is None:
                        put((ADDED, None, obj))
                    elif _replaced(old, obj):
                        # its DELETED never reached us (a filtered or lost event): say it now
                        put((DELETED, old, None))
                        put((ADDED, None, obj))
                    else:
                        put((MODIFIED, old, obj))
                rv = resource_version(obj)
                if rv:
                    self.last_resource_version = rv
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
        return received

    # -- dispatching --------------------------------------------------------------------------

    def _run_dispatcher(self):
        get = self._queue.get
        next_resync = time.monotonic() + self.resync_period if self.resync_period else None
        while True:
            timeout = None if next_resync is None else max(0.0, next_resync - time.monotonic())
            try:
                kind, old, new = get(timeout=timeout)
            except queue.Empty:
                kind, old, new = _RESYNC, None, None
            if kind is _STOP:
                return
            if kind is _SYNCED:
                self._mark_synced()
                continue
            if kind is _RESYNC:
                if next_resync is not None:
                    next_resync = time.monotonic() + self.resync_period
                self._resync()
                continue
            self._deliver(kind, old, new)

    def _mark_synced(self):
        if self._synced.is_set():
            return
        self._synced.set()
        for handler in self._sync_handlers:
            self._call(handler)

    def _call(self, func):
        self._dispatching_since = time.monotonic()
        try:
            func()
        except Exception as exc:
            self.stats.handler_errors += 1
            self.log.error("a callback on the dispatcher of %s failed: %s: %s", self.name,
                           type(exc).__name__, exc, exc_info=True)
        finally:
            self._dispatching_since = None

    def _resync(self):
        self.stats.resyncs += 1
        for obj in self.store.list():
            if self._stop.is_set():
                return
            self._deliver(MODIFIED, obj, obj)

    def _deliver(self, kind, old, new):
        self._dispatching_since = time.monotonic()
        try:
            for on_add, on_update, on_delete in self._handlers:
                try:
                    if kind == ADDED:
                        if on_add is not None:
                            on_add(new)
                    elif kind == MODIFIED:
                        if on_update is not None:
                            on_update(old, new)
                    elif on_delete is not None:
                        on_delete(old)
                except Exception as exc:
                    self.stats.handler_errors += 1
                    obj = new if new is not None else old
                    self.log.error("the %s handler of %s failed on %r: %s: %s", kind.lower(), self.name,
                                   _safe_key(self.store, obj), type(exc).__name__, exc, exc_info=True)
            self.stats.dispatched += 1
        finally:
            self._dispatching_since = None


def _safe_key(store, obj):
    try:
        return store.key(obj)
    except Exception:
        return None
