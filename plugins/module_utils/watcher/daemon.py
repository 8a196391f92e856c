# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""``nodewatch-watcher``: wiring, lifecycle and the command line.

Start: validate the configuration (exit 2 on any problem, before anything connects), build the
client, start the sinks and the HTTP server, then the informer. The state is loaded by whoever
leads (the only replica, or the Lease holder) and the engine starts alerting once that state is
loaded and the first list is processed.

Stop (SIGTERM/SIGINT): not ready any more; the informer stops delivering; queued alerts get
``shutdown_timeout_seconds`` to go out; the state (with what is still undelivered) is saved;
then the Lease is released so a follower takes over at once.

Exit codes: 0 done, 1 runtime failure (``--once``: the API or the state could not be reached,
or alerts stayed undelivered), 2 invalid configuration (``--once``: also a configured baseline
that cannot be used).

The baseline is read by the drift check's own stores and validation (``drift/baseline.py``), so
the daemon accepts and refuses exactly what ``node_image_drift`` does. With ``--once`` an
unusable baseline ends the run (exit 2) with the sentence; running, the daemon logs the error,
keeps comparing with the last good baseline, and says so on ``/readyz`` (still 200: the other
rules keep alerting) until a good one is read again.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gc
import json
import logging
import signal
import sys
import threading
import time

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import KubeClient, RetryPolicy, node_path
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.config import tls_verification_warning
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError, KubeError
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.baseline import (
    BaselineError,
    ConfigMapBaselineStore,
    FileBaselineStore,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.informer import Backoff, Informer
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher import config as watcher_config
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.alerts import AlertSettings
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.engine import Engine, slim_node
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.leader import LeaderElector
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.metrics import (
    HAS_PROMETHEUS,
    StatusServer,
    WatcherCollector,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.sinks import (
    EventSink,
    Sinks,
    StdoutSink,
    WebhookSink,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.state import (
    ConfigMapStateStore,
    FileStateStore,
    NullStateStore,
    StateError,
    WatcherState,
)

LOG = logging.getLogger("nodewatch.watcher")


# -- logging ------------------------------------------------------------------------------------

class JsonFormatter(logging.Formatter):
    """One JSON object per line on stderr: what log collectors parse without a regex."""

    def format(self, record):
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        entry = {
            "time": "%s.%03dZ" % (stamp, int(record.msecs)),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info and record.levelno >= logging.ERROR:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, sort_keys=False)


def setup_logging(level="info", fmt="json", stream=None):
    handler = logging.StreamHandler(stream or sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("nodewatch")
    root.handlers[:] = [handler]
    root.setLevel(getattr(logging, level.upper()))
    root.propagate = False


# -- the daemon ---------------------------------------------------------------------------------

def build_client(config, stop_event=None):
    options = dict(config["auth"])
    for key in ("kubeconfig", "context"):
        if config.get(key):
            options[key] = config[key]
    # Retries sleep on the stop event, so SIGTERM is never stuck behind a backoff.
    sleep = stop_event.wait if stop_event is not None else time.sleep
    client = KubeClient.from_options(options, timeout=(10.0, float(config["request_timeout_seconds"])),
                                     retry=RetryPolicy(sleep=sleep))
    warning = tls_verification_warning(client.configuration)
    if warning:
        LOG.warning("%s", warning)
    return client


class BaselineSource:
    """The drift baseline the daemon compares with, read as the drift check reads it.

    ``problem`` holds the last read's failure (None after a good read) and ``failures`` counts
    them; ``in_use`` is the ``captured_at`` of the baseline the engine uses (None: none yet).
    """

    def __init__(self, config, client, clock=time.time):
        baseline = config["baseline"]
        self.client = client
        self.clock = clock
        self.namespace = None
        if baseline["file"]:
            self.store = FileBaselineStore(baseline["file"])
            self.where = "the baseline file %s" % baseline["file"]
        else:
            self.namespace, name = baseline["configmap"].split("/")
            self.store = ConfigMapBaselineStore(client, self.namespace, name)
            self.where = "the baseline ConfigMap %s" % baseline["configmap"]
        self.in_use = None
        self.problem = None
        self.failed_at = None
        self.failures = 0

    def read(self):
        """The stored baseline, or None when it does not exist yet.

        Raises BaselineError when it cannot be used (damaged, foreign, or in a namespace that does
        not exist) and KubeError when it cannot be reached.
        """
        doc = self.store.read()
        if doc is None and self.namespace and self._namespace_missing():
            raise BaselineError("%s cannot exist: the namespace %s does not exist; create it and capture a "
                                "baseline, or fix baseline.configmap" % (self.where, self.namespace))
        return doc

    def sentence(self, exc):
        """``exc`` as a sentence that names the baseline once."""
        text = str(exc)
        location = self.where.rsplit(" ", 1)[-1]  # the path, or NAMESPACE/NAME
        return text if location in text else "cannot use %s: %s" % (self.where, text)

    def _namespace_missing(self):
        try:
            self.client.get("/api/v1/namespaces/%s" % self.namespace)
        except ApiError as exc:
            return exc.status == 404  # 403: may not read namespaces, so it cannot be told
        except KubeError:
            return False
        return False

    def failed(self, exc):
        self.problem = self.sentence(exc)
        self.failed_at = self.clock()
        self.failures += 1

    def status_text(self):
        """A line for /readyz about the baseline in use and the last read, or ''."""
        in_use = ("still using the one captured at %s" % self.in_use if self.in_use
                  else "no baseline in use: growth and new-image rules are not checked")
        if self.problem is None:
            return "baseline: %s\n" % ("captured at %s" % self.in_use if self.in_use else "none yet (%s)" % in_use)
        return "baseline: the last read failed at %s: %s; %s\n" % (
            time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.failed_at)), self.problem, in_use)


class Daemon:
    def __init__(self, config, policy, client, stdout=None, stop_event=None, embedded=False):
        """``embedded``: the daemon runs inside another program (the EDA event source), so it
        leaves the process's garbage collector alone."""
        self.config = config
        self.client = client
        self.stop_event = stop_event or threading.Event()
        self.embedded = embedded
        self.threads = []
        self.identity = config["leader_election"]["identity"]
        self.state_saves = 0
        self.state_save_failures = 0
        self.shutting_down = False
        self._leader_generation = 0
        self._has_led = False

        sinks = []
        sink_config = config["sinks"]
        if sink_config["stdout"]["enabled"]:
            sinks.append(StdoutSink(stdout, kinds=sink_config["stdout"]["kinds"]))
        self.webhook = None
        webhook = sink_config["webhook"]
        if webhook["url"]:
            self.webhook = WebhookSink(
                webhook["url"], timeout=webhook["timeout_seconds"], headers=webhook["headers"],
                kinds=webhook["kinds"], queue_size=webhook["queue_size"],
                backoff_initial=webhook["backoff_initial_seconds"],
                backoff_max=webhook["backoff_max_seconds"], max_attempts=webhook["max_attempts"])
            sinks.append(self.webhook)
        events = sink_config["events"]
        event_sink = None
        if events["enabled"]:
            event_sink = EventSink(client, namespace=events["namespace"], instance=self.identity,
                                   kinds=events["kinds"], queue_size=events["queue_size"])
            sinks.append(event_sink)
        self.sinks = Sinks(sinks)

        settings = AlertSettings(config["min_change_bytes"], config["min_change_percent"],
                                 config["alert_on"], config["top_images"])
        self.engine = Engine(settings, policy, self.sinks, max_images=config["max_images"])
        if event_sink is not None:
            event_sink.node_uid = self.engine.node_uid

        self.informer = Informer(
            client, node_path(), label_selector=config["label_selector"],
            resync_period=config["resync_seconds"], page_size=config["page_size"],
            watch_timeout=config["watch_timeout_seconds"],
            inactivity_timeout=config["inactivity_timeout_seconds"], transform=slim_node, name="nodes",
            sleep=self.stop_event.wait)
        self.informer.add_handlers(self.engine.on_add, self.engine.on_update, self.engine.on_delete)
        self.informer.add_sync_handler(self.engine.on_synced)
        if not config["once"] and not embedded:
            self.informer.add_sync_handler(self._freeze_cache)

        state = config["state"]
        if state["backend"] == "file":
            self.store = FileStateStore(state["path"])
        elif state["backend"] == "configmap":
            self.store = ConfigMapStateStore(client, state["namespace"], state["name"], logger=LOG)
        else:
            self.store = NullStateStore()

        self.elector = None
        election = config["leader_election"]
        if election["enabled"]:
            self.elector = LeaderElector(
                client, election["namespace"], election["name"], self.identity,
                lease_duration=election["lease_duration_seconds"],
                renew_deadline=election["renew_deadline_seconds"],
                retry_period=election["retry_period_seconds"],
                on_started=self._on_started_leading, on_stopped=self._on_stopped_leading)

        self.baseline = None
        if config["baseline"]["file"] or config["baseline"]["configmap"]:
            self.baseline = BaselineSource(config, client)

        self.http = None
        if config["http"]["address"] and not config["once"]:
            collector = WatcherCollector(self) if config["http"]["metrics"] else None
            self.http = StatusServer(config["http"]["address"], self.health, self.ready, collector)

    # -- probes --------------------------------------------------------------------------------

    def health(self):
        if not self.informer.alive():
            return False, "the informer threads died\n"
        stuck = self.informer.dispatch_stuck_for()
        if stuck > 120:
            return False, "a node event has been processing for %.0fs\n" % stuck
        return True, "ok\n"

    def ready(self):
        if self.shutting_down:
            return False, "shutting down\n"
        if not self.informer.has_synced:
            return False, "the first node list is not processed yet\n"
        return True, "ok\n" + (self.baseline.status_text() if self.baseline is not None else "")

    # -- leadership and state -----------------------------------------------------------------

    def _on_started_leading(self):
        # Loading may take retries: never on the elector's thread, which must keep renewing.
        self._leader_generation += 1
        generation = self._leader_generation
        if self._has_led and self.elector.kept_own_lease:
            # This process led until a renewal failed and the Lease still names it: nobody else
            # led, nor wrote the state, since. Its memory is newer than the saved state (what it
            # decided and delivered after the last save): reloading would alert that again.
            LOG.info("leading again, with no other leader in between: continuing from this process's "
                     "own state")
            state = self.engine.state
            self._spawn(lambda: self._activate(state, generation, restore_pending=False), "state-keep")
            return
        self._spawn(lambda: self._take_over(generation), "state-load")

    def _on_stopped_leading(self):
        self._leader_generation += 1
        self.engine.stop_leading()

    def _still_leading(self, generation):
        if self.elector is None:
            return True
        return self.elector.is_leader and generation == self._leader_generation

    def load_state(self):
        """The saved state (None when there is none); a damaged one is set aside and ignored."""
        try:
            state = self.store.load()
        except StateError as exc:
            if not exc.damaged:
                raise
            moved = self.store.set_aside() if hasattr(self.store, "set_aside") else None
            LOG.error("%s; starting from an empty state%s: the current figures become the reference for "
                      "changes, and breaches open now are alerted again", exc,
                      " (the damaged file is kept as %s)" % moved if moved else "")
            return None
        if state is not None:
            LOG.info("loaded the state from %s: %d nodes, %d open breaches, %d undelivered alerts "
                     "(written %s by %s)", self.store.description, len(state.nodes),
                     sum(len(v) for v in state.breaches.values()), len(state.pending),
                     state.written_at, state.writer)
        return state

    def _take_over(self, generation=0):
        backoff = Backoff(1.0, 30.0)
        while not self.stop_event.is_set() and self._still_leading(generation):
            try:
                state = self.load_state()
                break
            except StateError as exc:
                delay = backoff.next()
                LOG.error("%s; alerts wait until the state is read (retrying in %.0fs)", exc, delay)
                self.stop_event.wait(delay)
        else:
            return
        self._activate(state or WatcherState(), generation)

    def _activate(self, state, generation=0, restore_pending=True):
        with self.engine.lock:
            if not self._still_leading(generation):
                return
            if state.pending and restore_pending:
                if self.webhook is not None:
                    self.webhook.restore(state.pending)
                else:
                    LOG.warning("the state holds %d undelivered webhook alerts but no webhook is "
                                "configured; dropping them", len(state.pending))
                state.pending = []
            self.engine.start_leading(state)
            self._has_led = True

    def save_state(self):
        """Save if anything changed; True when saved (or nothing to do)."""
        if not self.engine.active:
            return True
        snapshot = self.engine.state_snapshot()
        snapshot.pending = self.webhook.pending() if self.webhook is not None else []
        try:
            self.store.save(snapshot, writer=self.identity)
            self.state_saves += 1
            return True
        except KubeError as exc:
            self.state_save_failures += 1
            self.engine.dirty = True
            LOG.error("%s", exc)
            return False

    def _flush_loop(self):
        interval = self.config["state"]["flush_seconds"]
        last_version = None
        while not self.stop_event.wait(interval):
            version = self.webhook.version if self.webhook is not None else None
            if self.engine.active and (self.engine.dirty or version != last_version):
                if self.save_state():
                    last_version = version

    def refresh_baseline(self):
        """Read the baseline once; use it when it is new. Raises what ``BaselineSource.read`` raises."""
        source = self.baseline
        try:
            doc = source.read()
        except KubeError as exc:
            source.failed(exc)
            raise
        source.problem = None
        if doc is None:
            LOG.warning("%s does not exist yet: growth and new-image rules are not checked", source.where)
        elif source.in_use is None or doc.get("captured_at") != source.in_use:
            LOG.info("using %s captured at %s (%d nodes)", source.where, doc.get("captured_at"),
                     len(doc.get("nodes") or {}))
            source.in_use = doc.get("captured_at")
            self.engine.set_baseline(doc)
            return True
        return False

    def _baseline_loop(self):
        while True:
            try:
                if self.refresh_baseline():
                    self.informer.resync_now()
            except KubeError as exc:
                LOG.error("%s; %s", self.baseline.sentence(exc),
                          "keeping the one captured at %s" % self.baseline.in_use if self.baseline.in_use
                          else "growth and new-image rules are not checked until it can be read")
            if self.stop_event.wait(self.config["baseline"]["reload_seconds"]):
                return

    def _spawn(self, target, name):
        thread = threading.Thread(target=target, name=name)
        thread.daemon = True
        thread.start()
        self.threads.append(thread)
        return thread

    def all_threads(self):
        """Every thread the daemon started, the informer's included: to join after a stop."""
        return self.threads + self.informer.threads()

    # -- run ------------------------------------------------------------------------------------

    @staticmethod
    def tune_gc():
        """Fewer cyclic-GC passes: the cache is a large, long-lived, acyclic heap (5,000 nodes x
        50 images) that every collection of the oldest generation would walk again, and each
        watch event allocates hundreds of objects. Measured: 1.7x the events per second."""
        gc.set_threshold(50000, 20, 20)

    def _freeze_cache(self):
        # What the first list cached will mostly live for the whole run: keep it out of the
        # collector's sight (objects replaced later are still freed by reference counting).
        gc.collect()
        gc.freeze()

    def start(self):
        """Start every part; returns at once (``run`` also waits for a signal and shuts down)."""
        if not self.embedded:
            self.tune_gc()
        LOG.info("nodewatch-watcher starting (identity %s, state: %s, leader election %s)",
                 self.identity, self.store.description, "on" if self.elector else "off")
        self.sinks.start()
        if self.http is not None:
            self.http.start()
            LOG.info("serving /healthz, /readyz%s on %s:%d", ", /metrics" if self.http.registry else "",
                     self.http.host, self.http.port)
        if self.baseline is not None:
            self._spawn(self._baseline_loop, "baseline")
        self.informer.start()
        if self.elector is not None:
            self.elector.start()
        else:
            self._spawn(self._take_over, "state-load")
        self._spawn(self._flush_loop, "state-flush")
        return self

    def run(self):
        self.start()
        self.stop_event.wait()
        return self.shutdown()

    def shutdown(self):
        self.shutting_down = True
        LOG.info("stopping: delivering queued alerts and saving the state")
        self.informer.stop()
        timeout = self.config["shutdown_timeout_seconds"]
        delivered = self.sinks.drain(timeout)
        self.sinks.stop(timeout=1.0)
        if not delivered:
            LOG.warning("%d alerts are still undelivered after %.0fs; they are saved with the state and "
                        "sent at the next start", len(self.webhook.pending()) if self.webhook else 0, timeout)
        saved = self.save_state()
        if self.elector is not None:
            self.elector.stop(release=True)
        if self.http is not None:
            self.http.stop()
        self.client.close()
        LOG.info("stopped%s", "" if saved else " (the state could NOT be saved)")
        return 0 if saved else 1

    def run_once(self):
        """One list and one pass of decisions; the state is loaded before and saved after."""
        if self.baseline is not None:
            # The same baseline the drift check would refuse ends this run: checking without it
            # would report "0 open breaches" for rules that were never evaluated.
            try:
                self.refresh_baseline()
            except BaselineError as exc:
                LOG.error("%s", self.baseline.sentence(exc))
                return 2
            except KubeError as exc:
                LOG.error("%s", self.baseline.sentence(exc))
                return 1
        self.sinks.start()
        try:
            self._activate(self.load_state() or WatcherState())
            count = self.informer.run_once()
        except KubeError as exc:
            LOG.error("%s", exc)
            self.sinks.stop(timeout=1.0)
            return 1
        delivered = self.sinks.drain(self.config["shutdown_timeout_seconds"])
        self.sinks.stop(timeout=1.0)
        saved = self.save_state()
        LOG.info("checked %d nodes: %d open breaches", count, self.engine.status()["open_breaches"])
        if not delivered:
            LOG.error("some alerts could not be delivered; they are saved with the state for the next run")
        return 0 if (saved and delivered) else 1


def main(argv=None, environ=None, stdout=None):
    try:
        config, policy, check_only = watcher_config.load(argv, environ)
    except watcher_config.WatcherConfigError as exc:
        sys.stderr.write("%s: configuration error: %s\n" % (watcher_config.PROG, exc))
        return 2
    if check_only:
        (stdout or sys.stdout).write(json.dumps(watcher_config.redacted(config), indent=2, sort_keys=True) + "\n")
        return 0
    if config["http"]["address"] and config["http"]["metrics"] and not config["once"] and not HAS_PROMETHEUS:
        sys.stderr.write("%s: configuration error: http.metrics needs the Python library prometheus_client "
                         "(pip install prometheus_client), or set http.metrics: false\n" % watcher_config.PROG)
        return 2
    setup_logging(config["log_level"], config["log_format"])
    stop_event = threading.Event()
    try:
        client = build_client(config, stop_event)
    except KubeError as exc:
        sys.stderr.write("%s: configuration error: %s\n" % (watcher_config.PROG, exc))
        return 2
    try:
        daemon = Daemon(config, policy, client, stdout=stdout, stop_event=stop_event)
    except (KubeError, ValueError, OSError) as exc:
        sys.stderr.write("%s: cannot start: %s\n" % (watcher_config.PROG, exc))
        return 2
    if config["once"]:
        return daemon.run_once()

    def on_signal(signum, frame):
        LOG.info("received %s", signal.Signals(signum).name)
        stop_event.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        return daemon.run()
    except OSError as exc:  # e.g. the HTTP port is taken
        LOG.error("cannot run: %s", exc)
        return 1
