# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""ansible-rulebook event source ``nodewatch.k8s.node_images``.

The watcher daemon's informer and alert engine, run inside ansible-rulebook: every alert the
daemon would print becomes one event. Nothing here decides what a change or a breach is; this
file only translates arguments, runs the daemon's wiring on threads, and carries alerts from
those threads to the rulebook's asyncio queue.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import asyncio
import logging
import os
import sys
import threading
import time

DOCUMENTATION = r"""
---
short_description: Image-storage alerts of Kubernetes nodes, as events.
description:
  - Watches the cluster's Nodes (list, then watch with bookmarks, relist on 410, resync) and
    turns every alert of the nodewatch watcher into one event. The same informer and alert
    engine as C(nodewatch-watcher), with the drift check's thresholds and rule sets.
  - "An event is the daemon's alert: C(id), C(time), C(source), C(kind), C(severity), C(reason),
    C(node), C(message) and the fields of its kind (see docs/watcher.md)."
  - "C(kind) is one of C(image_storage_changed), C(threshold_crossed), C(threshold_cleared),
    C(node_added), C(node_removed)."
  - Bad arguments stop the source at start with a sentence naming the argument; so does a
    cluster that cannot be reached or refuses to list nodes at start. Later failures are
    retried with backoff, as in the daemon.
  - Needs the Python library C(kubernetes) where ansible-rulebook runs.
options:
  kubeconfig:
    description: Path(s) of kubeconfig files; default C(KUBECONFIG), C(~/.kube/config), then the
      in-cluster service account. All kubernetes.core connection options are accepted (C(host),
      C(api_key), C(username), C(password), C(validate_certs), C(ca_cert), C(client_cert),
      C(client_key), C(proxy), C(no_proxy), C(proxy_headers), C(impersonate_user),
      C(impersonate_groups), C(persist_config)) and C(K8S_AUTH_*) variables.
    type: raw
  context:
    description: The kubeconfig context.
    type: str
  request_timeout_seconds:
    description: Read timeout of every API request.
    type: float
    default: 60
  label_selector:
    description: Watch only the nodes matching this label selector.
    type: str
  resync_seconds:
    description: Re-check every node this often (0 never).
    type: float
    default: 30
  min_change_bytes:
    description: Smallest change of a node's image bytes that alerts (a size such as C(2Gi)).
    type: raw
    default: 1Gi
  min_change_percent:
    description: Smallest relative change that alerts; both minimums must be reached.
    type: raw
    default: 0
  alert_on:
    description: The alert kinds that become events.
    type: list
    elements: str
    default: [image_storage_changed, threshold_crossed, threshold_cleared, node_added, node_removed]
  thresholds:
    description: The drift check's limits, with the keys of the O(nodewatch.k8s.node_image_drift#module:thresholds)
      option of M(nodewatch.k8s.node_image_drift) (C(max_percent), C(max_total_bytes), C(deny)...).
    type: dict
  rule_sets:
    description: Limits per node group, C([{name, selector, thresholds}]); the first match wins.
    type: list
    elements: dict
  policy_file:
    description: A YAML file with C(thresholds) and C(rule_sets), shared with the drift check and
      the daemon; exclusive with I(thresholds) and I(rule_sets).
    type: path
  baseline:
    description: Where the baseline of the growth and new-image rules is read, as in the
      daemon's config (C(file), or C(configmap) as NAMESPACE/NAME; C(reload_seconds)).
    type: dict
  state:
    description:
      - What was alerted, remembered across restarts of the rulebook, as in the daemon's config
        (C(backend) none, file or configmap; C(path); C(namespace); C(name); C(flush_seconds)).
        A C(path) alone means C(backend=file).
      - Without state every start takes the nodes' current figures as the reference silently
        and announces the limits already crossed once.
    type: dict
  max_images:
    description: The kubelets' C(nodeStatusMaxImages); a node listing that many is truncated.
    type: int
    default: 50
  top_images:
    description: How many of a node's largest images change alerts compare and list.
    type: int
    default: 10
  page_size:
    description: Nodes per list page.
    type: int
    default: 500
  watch_timeout_seconds:
    description: Server-side timeout of each watch (each asks for 1x to 2x this).
    type: int
    default: 300
  inactivity_timeout_seconds:
    description: A watch silent this long is considered dead and replaced.
    type: float
    default: 70
  queue_size:
    description: Events that may wait for the rulebook; when that many wait, the watcher waits
      too (nothing is dropped).
    type: int
    default: 1000
"""

EXAMPLES = r"""
- name: Prune the node that crosses a limit
  hosts: all
  sources:
    - nodewatch.k8s.node_images:
        kubeconfig: ~/.kube/prod
        thresholds:
          max_percent: 80
        alert_on: [threshold_crossed]
      filters:
        - eda.builtin.insert_hosts_to_meta:
            host_path: node
  rules:
    - name: Prune
      condition: event.kind == "threshold_crossed"
      action:
        run_playbook:
          name: nodewatch.k8s.prune_images
"""


def _use_own_collection_tree():
    """Make ``ansible_collections.nodewatch.k8s`` importable from where this file is installed.

    ansible-rulebook runs a source with ``runpy.run_path`` and puts no collection directory on
    ``sys.path``; the engine this source shares with the daemon lives in the same collection, so
    the root holding ``ansible_collections/nodewatch/k8s`` goes first on the path. A source run
    from a plain checkout (tests) finds nothing to add and relies on the path it was given.
    """
    parts = os.path.abspath(__file__).split(os.sep)
    if len(parts) > 8 and parts[-8:-5] == ["ansible_collections", "nodewatch", "k8s"]:
        root = os.sep.join(parts[:-8]) or os.sep
        if root not in sys.path:
            sys.path.insert(0, root)


_use_own_collection_tree()

# pylint: disable=wrong-import-position
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import KubeError  # noqa: E402
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import node_path  # noqa: E402
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.config import AUTH_OPTIONS, check_auth_options  # noqa: E402
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.alerts import KINDS  # noqa: E402
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.config import (  # noqa: E402
    WatcherConfigError,
    validate_settings,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.daemon import Daemon, build_client  # noqa: E402
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.sinks import SinkStats  # noqa: E402

NAME = "nodewatch.k8s.node_images"
LOG = logging.getLogger("nodewatch.eda.node_images")

# Arguments with the daemon's config keys and meaning (validated by the daemon's own schema).
WATCHER_ARGS = ("kubeconfig", "context", "request_timeout_seconds", "label_selector", "resync_seconds",
                "page_size", "watch_timeout_seconds", "inactivity_timeout_seconds", "max_images",
                "top_images", "min_change_bytes", "min_change_percent", "alert_on", "thresholds",
                "rule_sets", "policy_file", "baseline", "state")
# kubernetes.core's connection options, flat as the modules take them (the daemon's ``auth``).
AUTH_ARGS = tuple(name for name in AUTH_OPTIONS if name not in ("kubeconfig", "context"))
QUEUE_SIZE_DEFAULT = 1000
QUEUE_SIZE_MAX = 1000000
# ansible-rulebook adds this itself when it runs with a feedback channel.
RULEBOOK_ARGS = ("eda_feedback_queue",)
STOP_TIMEOUT_SECONDS = 10.0


class NodeImagesSourceError(ValueError):
    """The source cannot start; the message says which argument or what to do."""

    def __init__(self, message):
        super(NodeImagesSourceError, self).__init__("%s: %s" % (NAME, message))


# -- arguments ----------------------------------------------------------------------------------

def _type_name(value):
    return "null" if value is None else type(value).__name__


def settings_from_args(args, environ=None):
    """``(config, policy, queue_size)`` from the source's arguments, or NodeImagesSourceError.

    The arguments become a daemon configuration with every sink, the HTTP server and leader
    election off, and go through the daemon's validation: the same checks, the same messages.
    """
    if args is None:
        args = {}
    if not isinstance(args, dict):
        raise NodeImagesSourceError("the arguments must be a mapping, got %s" % _type_name(args))
    accepted = WATCHER_ARGS + AUTH_ARGS + ("queue_size",)
    unknown = sorted(str(key) for key in args if key not in accepted + RULEBOOK_ARGS)
    if unknown:
        raise NodeImagesSourceError("unknown argument%s %s; accepted arguments are %s" % (
            "s" if len(unknown) > 1 else "", ", ".join(repr(key) for key in unknown), ", ".join(sorted(accepted))))

    # None is how a rulebook says "not set" ({{ var | default(None) }}).
    data = dict((key, args[key]) for key in WATCHER_ARGS if args.get(key) is not None)
    try:
        data["auth"] = check_auth_options(dict((key, args[key]) for key in AUTH_ARGS if args.get(key) is not None))
    except KubeError as exc:
        raise NodeImagesSourceError(str(exc))
    state = data.get("state")
    if isinstance(state, dict) and state.get("path") and not state.get("backend"):
        data["state"] = dict(state, backend="file")
    data.update({
        "sinks": {"stdout": {"enabled": False}, "events": {"enabled": False}},
        "http": {"address": ""},
        "leader_election": {"enabled": False},
        "shutdown_timeout_seconds": 0,
    })
    try:
        config, policy = validate_settings(data, environ)
    except WatcherConfigError as exc:
        raise NodeImagesSourceError(str(exc))

    queue_size = args.get("queue_size")
    if queue_size is None:
        queue_size = QUEUE_SIZE_DEFAULT
    if isinstance(queue_size, str) and queue_size.strip().isdigit():
        queue_size = int(queue_size)
    if isinstance(queue_size, bool) or not isinstance(queue_size, int) or not 1 <= queue_size <= QUEUE_SIZE_MAX:
        raise NodeImagesSourceError("queue_size must be a whole number from 1 to %d, got %r" % (QUEUE_SIZE_MAX, queue_size))
    return config, policy, queue_size


# -- from the watcher's threads to the rulebook's event loop -----------------------------------

class RulebookSink:
    """A watcher sink whose alerts go to the event loop, with backpressure.

    ``send`` runs on the watcher's threads: it waits while ``limit`` alerts are on their way to
    the rulebook, so a slow rulebook slows the watcher instead of losing alerts. The event loop
    never waits for those threads (it only takes a lock held for a few instructions), and
    ``close`` releases every waiting ``send``: stopping can never deadlock on a full queue.
    """

    name = "rulebook"

    def __init__(self, loop, limit, kinds=KINDS):
        self.kinds = frozenset(kinds)
        self.limit = int(limit)
        self.stats = SinkStats()
        self._loop = loop
        self._ready = asyncio.Queue()
        self._cond = threading.Condition()
        self._in_flight = 0
        self._closed = False

    def send(self, alert):
        with self._cond:
            if self._in_flight >= self.limit and not self._closed:
                LOG.warning("%d events wait for the rulebook; the watcher waits until it takes them",
                            self._in_flight)
                while self._in_flight >= self.limit and not self._closed:
                    self._cond.wait()
            if self._closed:
                self.stats.dropped += 1
                return
            self._in_flight += 1
        try:
            self._loop.call_soon_threadsafe(self._ready.put_nowait, dict(alert))
        except RuntimeError:  # the event loop is closed: nobody will take it
            self.close()
            self.done()
            self.stats.dropped += 1
            return
        self.stats.sent += 1

    async def get(self):
        return await self._ready.get()

    def done(self):
        """One alert reached the rulebook (or never will): room for the next."""
        with self._cond:
            self._in_flight -= 1
            self._cond.notify()

    def close(self):
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    # The rest of the sink interface the daemon drives.
    def start(self):
        return self

    def stop(self, timeout=None):
        self.close()
        return True

    def drain(self, timeout):
        return True

    def pending(self):
        return []


class NodeImagesWatcher:
    """Start and stop the embedded daemon; both block, so they run on threads of their own."""

    def __init__(self, config, policy, sink):
        self.config = config
        self.policy = policy
        self.sink = sink
        self.stop_event = threading.Event()
        self.daemon = None
        self._lifecycle = threading.Lock()

    def start(self):
        with self._lifecycle:
            if self.stop_event.is_set():
                return
            try:
                client = build_client(self.config, self.stop_event)
            except KubeError as exc:
                raise NodeImagesSourceError("cannot connect: %s" % exc)
            try:
                # One small request first: credentials or RBAC that will never work fail the
                # start with the API server's answer, instead of retries in a log.
                client.get(node_path(), {"labelSelector": self.config["label_selector"] or None, "limit": 1})
                daemon = Daemon(self.config, self.policy, client, stop_event=self.stop_event, embedded=True)
                daemon.sinks.sinks.append(self.sink)
            except (KubeError, ValueError, OSError) as exc:
                client.close()
                if self.stop_event.is_set():
                    return
                raise NodeImagesSourceError("cannot watch nodes: %s" % exc)
            if self.stop_event.is_set():  # cancelled while connecting
                client.close()
                return
            # Known before it starts: whatever part of it started is stopped by stop().
            self.daemon = daemon
            try:
                daemon.start()
            except (OSError, RuntimeError) as exc:  # e.g. no thread can be started
                raise NodeImagesSourceError("cannot start watching: %s" % exc)

    def stop(self, timeout=STOP_TIMEOUT_SECONDS):
        """Stop every thread (the state, if any, is saved); True when all ended in time."""
        self.stop_event.set()
        self.sink.close()
        with self._lifecycle:
            daemon = self.daemon
            if daemon is None:
                return True
            daemon.shutdown()
            deadline = time.monotonic() + timeout
            for thread in daemon.all_threads():
                thread.join(max(0.0, deadline - time.monotonic()))
            alive = [thread.name for thread in daemon.all_threads() if thread.is_alive()]
            if alive:
                LOG.warning("still running after %.0fs: %s; they end with their request timeouts",
                            timeout, ", ".join(alive))
            return not alive


def _in_thread(loop, func, name):
    """Run the blocking ``func`` on a new thread; return ``(future, thread)``."""
    future = loop.create_future()

    def settle(setter, value):
        if not future.done():
            setter(value)

    def run():
        try:
            outcome = (future.set_result, func())
        except BaseException as exc:  # handed to the awaiting coroutine, which re-raises it
            outcome = (future.set_exception, exc)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the event loop is closed: nobody waits any more
            pass

    thread = threading.Thread(target=run, name=name)
    thread.daemon = True
    thread.start()
    return future, thread


async def main(queue, args):
    """Put one event on ``queue`` per watcher alert until cancelled."""
    config, policy, queue_size = settings_from_args(args)
    loop = asyncio.get_running_loop()
    sink = RulebookSink(loop, queue_size)
    watcher = NodeImagesWatcher(config, policy, sink)
    starter = None
    try:
        started, starter = _in_thread(loop, watcher.start, "node_images start")
        await started
        starter.join()
        LOG.info("watching nodes%s", " matching %s" % config["label_selector"] if config["label_selector"] else "")
        while True:
            alert = await sink.get()
            try:
                await queue.put(alert)
            finally:
                sink.done()
    finally:
        stopped, stopper = _in_thread(loop, watcher.stop, "node_images stop")
        try:
            await asyncio.shield(stopped)
        except asyncio.CancelledError:
            # Cancelled again while stopping: finish the stop anyway, threads must not outlive us.
            stopper.join()
            raise
        finally:
            stopper.join()
            if starter is not None:
                starter.join()
