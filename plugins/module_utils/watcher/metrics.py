# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""``/metrics``, ``/healthz`` and ``/readyz`` on one small HTTP server.

Metrics are read from the engine, the informer and the sinks when scraped (a custom collector),
so the hot path pays nothing for them and a deleted node's series disappear with it. Per node
there are totals only, never one series per image: kube-state-metrics refused per-image series
for their cardinality, and 5,000 nodes x 50 images would be a quarter of a million.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import logging
import socket
import threading

try:
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from socketserver import ThreadingMixIn
except ImportError:  # pragma: no cover - Python 2 is not supported; keeps sanity's compile test quiet
    BaseHTTPRequestHandler = HTTPServer = ThreadingMixIn = object

try:
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
    HAS_PROMETHEUS = True
except ImportError:  # pragma: no cover - exercised by sanity's bare import test
    HAS_PROMETHEUS = False

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import MissingLibraryError

_LOG = logging.getLogger("nodewatch.watcher.http")


def require_prometheus():
    if not HAS_PROMETHEUS:
        raise MissingLibraryError("prometheus_client", "to serve /metrics; or set http.metrics: false")


class WatcherCollector:
    """Reads ``daemon`` (engine, informer, sinks, elector) at scrape time."""

    def __init__(self, daemon):
        self.daemon = daemon

    def describe(self):
        return []  # unchecked collector: the series depend on the nodes of the moment

    def collect(self):
        daemon = self.daemon
        engine = daemon.engine
        image_bytes = GaugeMetricFamily("nodewatch_node_image_bytes",
                                        "Sum of sizeBytes of the images a node reports (a lower bound when "
                                        "the list is truncated)", labels=["node"])
        image_count = GaugeMetricFamily("nodewatch_node_images", "Images a node reports", labels=["node"])
        percent = GaugeMetricFamily("nodewatch_node_image_storage_percent",
                                    "Image bytes as a percentage of the node's ephemeral-storage capacity",
                                    labels=["node"])
        truncated = GaugeMetricFamily("nodewatch_node_image_list_truncated",
                                      "1 when the node lists as many images as the kubelet reports at most",
                                      labels=["node"])
        breaches = GaugeMetricFamily("nodewatch_node_threshold_breaches",
                                     "Threshold rules the node breaches now (0 = within limits)", labels=["node"])
        for name, record, breach_count in engine.metrics_view():
            image_bytes.add_metric([name], record["total_bytes"])
            image_count.add_metric([name], record["image_count"])
            if record.get("percent") is not None:
                percent.add_metric([name], record["percent"])
            truncated.add_metric([name], 1 if record.get("truncated") else 0)
            breaches.add_metric([name], breach_count)
        yield from (image_bytes, image_count, percent, truncated, breaches)

        status = engine.status()
        yield _gauge("nodewatch_watcher_nodes", "Nodes in the watcher's cache", status["nodes"])
        yield _gauge("nodewatch_watcher_open_breaches", "Breaches alerted and not yet cleared",
                     status["open_breaches"])
        yield _gauge("nodewatch_watcher_leader", "1 when this replica leads (and so alerts)",
                     1 if status["active"] else 0)

        informer = daemon.informer
        stats = informer.stats
        yield _gauge("nodewatch_watcher_synced", "1 once the first node list has been processed",
                     1 if informer.has_synced else 0)
        restarts = CounterMetricFamily("nodewatch_watcher_watch_restarts",
                                       "Watch streams ended, by reason (timeout: normal server end; expired: "
                                       "410 Gone, followed by a relist; connection; error)", labels=["reason"])
        for reason, count in sorted(stats.watch_restarts.items()):
            restarts.add_metric([reason], count)
        yield restarts
        yield _counter("nodewatch_watcher_relists", "Full relists after the first list", stats.relists)
        received = CounterMetricFamily("nodewatch_watcher_watch_events", "Watch events received, by type",
                                       labels=["type"])
        for kind, count in sorted(stats.events.items()):
            received.add_metric([kind], count)
        yield received
        handled = CounterMetricFamily("nodewatch_watcher_events_handled",
                                      "Node events processed, by kind (resync: periodic re-delivery)",
                                      labels=["kind"])
        for kind, count in sorted(engine.handled.items()):
            handled.add_metric([kind], count)
        yield handled
        yield _counter("nodewatch_watcher_malformed_objects",
                       "Objects skipped because they could not be read",
                       stats.malformed + engine.malformed)
        yield _counter("nodewatch_watcher_handler_errors",
                       "Node events whose processing failed unexpectedly (see the error log)",
                       stats.handler_errors)
        alerts = CounterMetricFamily("nodewatch_watcher_alerts", "Alerts raised, by kind", labels=["kind"])
        for kind, count in sorted(engine.alerts_sent.items()):
            alerts.add_metric([kind], count)
        yield alerts
        failures = CounterMetricFamily("nodewatch_watcher_alert_send_failures",
                                       "Failed attempts to deliver an alert, by sink", labels=["sink"])
        dropped = CounterMetricFamily("nodewatch_watcher_alerts_dropped",
                                      "Alerts dropped undelivered (queue full or given up), by sink",
                                      labels=["sink"])
        queued = GaugeMetricFamily("nodewatch_watcher_alert_queue_length", "Alerts waiting for delivery",
                                   labels=["sink"])
        for sink in daemon.sinks.sinks:
            failures.add_metric([sink.name], sink.stats.failures)
            dropped.add_metric([sink.name], sink.stats.dropped)
            queued.add_metric([sink.name], len(sink.pending()))
        yield failures
        yield dropped
        yield queued
        yield _counter("nodewatch_watcher_state_saves", "State saves", daemon.state_saves)
        yield _counter("nodewatch_watcher_state_save_failures", "Failed state saves", daemon.state_save_failures)
        baseline = getattr(daemon, "baseline", None)
        if baseline is not None:
            yield _gauge("nodewatch_watcher_baseline_ok",
                         "0 while the drift baseline cannot be read (the last good one, if any, is still used)",
                         0 if baseline.problem else 1)
            yield _counter("nodewatch_watcher_baseline_read_failures", "Failed reads of the drift baseline",
                           baseline.failures)


def _gauge(name, doc, value):
    family = GaugeMetricFamily(name, doc)
    family.add_metric([], value)
    return family


def _counter(name, doc, value):
    family = CounterMetricFamily(name, doc)
    family.add_metric([], value)
    return family


class _Server(ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class StatusServer:
    """``/metrics`` (when a collector is given), ``/healthz`` and ``/readyz``.

    ``health()`` and ``ready()`` return ``(ok, text)``.
    """

    def __init__(self, address, health, ready, collector=None, logger=None):
        host, port = address.rsplit(":", 1)
        self.host = host.strip("[]") or "0.0.0.0"
        self.port = int(port)
        self.health = health
        self.ready = ready
        self.log = logger or _LOG
        self.registry = None
        if collector is not None:
            require_prometheus()
            self.registry = CollectorRegistry(auto_describe=False)
            self.registry.register(collector)
        self._server = None
        self._thread = None

    def render_metrics(self):
        return generate_latest(self.registry)

    def start(self):
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                path = self.path.split("?", 1)[0]
                try:
                    if path == "/metrics" and owner.registry is not None:
                        self._reply(200, owner.render_metrics(), CONTENT_TYPE_LATEST)
                    elif path in ("/healthz", "/livez"):
                        ok, text = owner.health()
                        self._reply(200 if ok else 503, text.encode("utf-8"))
                    elif path == "/readyz":
                        ok, text = owner.ready()
                        self._reply(200 if ok else 503, text.encode("utf-8"))
                    else:
                        self._reply(404, b"not found: try /metrics, /healthz or /readyz\n")
                except Exception as exc:
                    owner.log.error("serving %s failed: %s: %s", path, type(exc).__name__, exc, exc_info=True)
                    self._reply(500, b"internal error\n")

            def _reply(self, status, body, content_type="text/plain; charset=utf-8"):
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, fmt, *args):  # probes every few seconds would flood the log
                pass

        server_class = _Server
        if ":" in self.host:
            server_class = type("_Server6", (_Server,), {"address_family": socket.AF_INET6})
        self._server = server_class((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.2}, name="http")
        self._thread.daemon = True
        self._thread.start()
        return self

    def stop(self):
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
