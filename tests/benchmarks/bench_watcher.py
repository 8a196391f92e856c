# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Benchmark: nodewatch-watcher throughput and alert latency, with floors from the same run.

Not part of the test suite. Run: .venv/bin/python tests/benchmarks/bench_watcher.py
[--events 5000] [--nodes 1000] [--patches 200] [--sync-nodes 5000]

1. Throughput, on one core (the process is pinned to one CPU): node MODIFIED events with 50
   images each, as the API server writes them on a watch stream, through the real client's
   stream parsing, the informer (transform, cache, dispatch) and the engine (image facts, drift
   thresholds, alert decisions, sinks). Goal: >= 2,000 events/s. Floor: bare ``json.loads`` of
   the same event lines.
2. Latency: a status patch on the fake API server -> the alert line on the daemon's stdout
   (``python -m ...watcher`` in a subprocess, a watch over HTTP). Goal: p99 < 1 s. Floor: the
   same patch -> the MODIFIED event read by a bare watch on the same server.
3. Start-up at scale: time to /readyz and resident memory of the daemon after the first list
   of ``--sync-nodes`` nodes (the informer caches only what the engine reads).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import copy
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(ROOT, "tests")]

import conftest  # noqa: E402  (links the checkout as a collection)
from fakekube import FakeKube, make_cluster  # noqa: E402

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import KubeClient  # noqa: E402
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher import config as watcher_config  # noqa: E402
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.daemon import Daemon  # noqa: E402

MODULE = "ansible_collections.nodewatch.k8s.plugins.module_utils.watcher"
GI = 1024 ** 3


def pin_to_one_cpu():
    cpus = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpus[-1]})
    return cpus[-1]


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


# -- 1. throughput -----------------------------------------------------------------------------

class _Response:
    """What urllib3 hands the client for a watch: the bytes of a chunked stream, 64 KiB reads."""

    def __init__(self, payload):
        self.payload = payload

    def stream(self, amount):
        for start in range(0, len(self.payload), amount):
            yield self.payload[start:start + amount]

    def release_conn(self):
        pass


class ReplayClient(KubeClient):
    """The real client, with the network replaced by prepared list and watch payloads."""

    def __init__(self, nodes, watch_payload):
        KubeClient.__init__(self, KubeClient.from_options(
            {"host": "http://127.0.0.1:1", "api_key": "bench"}, environ={}).configuration)
        self._nodes = nodes
        self._payload = watch_payload
        self._watched = False
        self.done = threading.Event()

    def list_pages(self, path, label_selector=None, field_selector=None, limit=500):
        yield {"metadata": {"resourceVersion": "1"}, "items": self._nodes}

    def request(self, method, path, query=None, **kwargs):
        if self._watched:
            self.done.wait()  # one stream only; then a quiet cluster
            return _Response(b"")
        self._watched = True
        return _Response(self._payload)


def fifty_images_per_node(nodes):
    """make_cluster caps some pools below 50 images: top every node up to exactly 50."""
    pool = {}
    for node in nodes:
        for image in node["status"]["images"]:
            pool.setdefault(image["names"][0], image)
    catalog = sorted(pool.values(), key=lambda image: -image["sizeBytes"])
    for node in nodes:
        images = node["status"]["images"]
        have = set(image["names"][0] for image in images)
        for image in catalog:
            if len(images) >= 50:
                break
            if image["names"][0] not in have:
                images.append(copy.deepcopy(image))
        images.sort(key=lambda image: -image["sizeBytes"])
        node["metadata"]["resourceVersion"] = "1"
    return nodes


def make_events(nodes, count, seed=7):
    """``count`` MODIFIED events: every image of a node changes size a little, as layers are
    pulled and garbage-collected; now and then that adds up to an alert."""
    rng = random.Random(seed)
    lines = []
    rv = 100
    for i in range(count):
        node = copy.deepcopy(nodes[i % len(nodes)])
        rv += 1
        node["metadata"]["resourceVersion"] = str(rv)
        for image in node["status"]["images"]:
            image["sizeBytes"] += rng.randint(0, 4 * 1024 ** 2)
        nodes[i % len(nodes)] = node
        lines.append(json.dumps({"type": "MODIFIED", "object": node}, separators=(",", ":")).encode())
    return lines


def bench_throughput(event_count, node_count, tmp):
    nodes = fifty_images_per_node(make_cluster(node_count, seed=5, images_per_node=(50, 50)))
    initial = copy.deepcopy(nodes)
    lines = make_events(nodes, event_count)
    payload = b"\n".join(lines) + b"\n"
    counts = set(len(json.loads(line)["object"]["status"]["images"]) for line in lines)
    print("throughput: %d MODIFIED events over %d nodes, %s images per node, %.1f KiB per event"
          % (event_count, node_count, "/".join(str(c) for c in sorted(counts)),
             len(payload) / 1024.0 / event_count))

    started = time.perf_counter()
    for line in lines:
        json.loads(line)
    floor_s = time.perf_counter() - started

    # The daemon as it runs, with the network replaced: same wiring, GC settings, sinks.
    config_path = os.path.join(tmp, "throughput.json")
    with open(config_path, "w") as handle:
        json.dump({"thresholds": {"max_percent": 85, "max_image_count": 60},
                   "rule_sets": [{"name": "gpu", "selector": "nvidia.com/gpu.present",
                                  "thresholds": {"max_total_bytes": "60Gi"}}],
                   "http": {"address": ""}, "sinks": {"events": {"enabled": False}},
                   "resync_seconds": 0, "log_level": "warning"}, handle)
    config, policy, _check_only = watcher_config.load(["--config", config_path], environ={})
    client = ReplayClient(initial, payload)
    devnull = open(os.devnull, "w")
    daemon = Daemon(config, policy, client, stdout=devnull).start()
    informer, engine = daemon.informer, daemon.engine
    deadline = time.monotonic() + 120
    while not engine.active:
        if time.monotonic() > deadline:
            raise SystemExit("the daemon did not start")
        time.sleep(0.001)
    target = node_count + event_count
    started = time.perf_counter()
    while informer.stats.dispatched < target:
        time.sleep(0.001)
    pipeline_s = time.perf_counter() - started
    client.done.set()
    daemon.stop_event.set()
    daemon.shutdown()
    assert engine.handled["update"] == event_count, engine.handled
    rate = event_count / pipeline_s
    floor_rate = event_count / floor_s
    print("  floor: json.loads of the same lines         %8.0f events/s" % floor_rate)
    print("  watcher: stream parse + informer + engine   %8.0f events/s (x%.1f the floor's time; "
          "goal >= 2000/s: %s)" % (rate, pipeline_s / floor_s, "met" if rate >= 2000 else "NOT met"))
    print("  alerts raised on the way: %s" % dict((k, v) for k, v in engine.alerts_sent.items() if v))
    return rate


# -- 2. latency ----------------------------------------------------------------------------------

def read_lines(stream, sink, cond):
    """Timestamp each line as soon as its bytes arrive (``read1``: no waiting for more)."""
    buffer = b""
    while True:
        try:
            chunk = stream.read1(65536)
        except (OSError, ValueError):  # the connection closed at the end of the run
            return
        if not chunk:
            return
        buffer += chunk
        while b"\n" in buffer:
            line, buffer = buffer.split(b"\n", 1)
            with cond:
                sink.append((time.perf_counter(), line))
                cond.notify_all()


def wait_count(items, count, cond, timeout=10.0):
    deadline = time.monotonic() + timeout
    with cond:
        while len(items) < count:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise SystemExit("timed out waiting for item %d" % count)
            cond.wait(remaining)
        return items[count - 1]


def image_patch(node, grow):
    """Add (or take back) 2 GiB on the node's largest image: a change that always alerts."""
    images = copy.deepcopy(node["status"]["images"])
    images[0]["sizeBytes"] += 2 * GI if grow else -2 * GI
    return {"images": images}


def bare_watch_floor(kube, names, patches):
    """Patch -> event on a plain HTTP watch (no client library): what the server itself costs."""
    import http.client
    conn = http.client.HTTPConnection("127.0.0.1", int(kube.url.rsplit(":", 1)[1]), timeout=30)
    conn.request("GET", "/api/v1/nodes?watch=1&resourceVersion=%s" % kube.resource_version,
                 headers={"Authorization": "Bearer " + kube.admin_token})
    response = conn.getresponse()
    events, cond = [], threading.Condition()
    reader = threading.Thread(target=read_lines, args=(response, events, cond))
    reader.daemon = True
    reader.start()
    latencies = []
    for i in range(patches):
        name = names[i % len(names)]
        node = kube.get("v1", "Node", name)
        started = time.perf_counter()
        kube.patch_status(name, image_patch(node, (i // len(names)) % 2 == 0))
        at, _line = wait_count(events, i + 1, cond)
        latencies.append(at - started)
    conn.close()
    return latencies


def bench_latency(node_count, patches, tmp):
    with FakeKube(tls=False, bookmark_interval=60.0) as kube:
        kube.add_nodes(make_cluster(node_count, seed=9, images_per_node=(50, 50)))
        names = sorted(n["metadata"]["name"] for n in kube.list("v1", "Node"))[:50]
        floor = bare_watch_floor(kube, names, patches)
        config = os.path.join(tmp, "latency.json")
        with open(config, "w") as handle:
            json.dump({"kubeconfig": kube.write_kubeconfig(os.path.join(tmp, "kubeconfig")),
                       "min_change_bytes": "1Gi", "http": {"address": ""},
                       "sinks": {"events": {"enabled": False}}, "log_level": "warning"}, handle)
        env = dict(os.environ, PYTHONPATH=conftest.COLLECTIONS_ROOT)
        proc = subprocess.Popen([sys.executable, "-m", MODULE, "--config", config], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        alerts, cond = [], threading.Condition()
        reader = threading.Thread(target=read_lines, args=(proc.stdout, alerts, cond))  # a BufferedReader
        reader.daemon = True
        reader.start()
        try:
            # Wait until the daemon watches: a first patch must come back as an alert.
            deadline = time.monotonic() + 60
            grow = True
            while not alerts:
                if time.monotonic() > deadline:
                    raise SystemExit("the daemon did not alert")
                kube.patch_status(names[0], image_patch(kube.get("v1", "Node", names[0]), grow))
                grow = not grow
                time.sleep(0.3)
            time.sleep(0.5)
            seen = len(alerts)
            latencies = []
            others = names[1:]
            for i in range(patches):
                name = others[i % len(others)]
                node = kube.get("v1", "Node", name)
                started = time.perf_counter()
                kube.patch_status(name, image_patch(node, (i // len(others)) % 2 == 0))
                at, line = wait_count(alerts, seen + i + 1, cond)
                assert json.loads(line)["node"] == name
                latencies.append(at - started)
        finally:
            proc.terminate()
            proc.wait(10)
    print("latency: status patch -> alert on stdout, %d patches on a %d-node cluster (50 images per node)"
          % (patches, node_count))
    print("  floor: patch -> event on a bare HTTP watch  p50 %6.1f ms  p99 %6.1f ms  max %6.1f ms"
          % (1000 * percentile(floor, 50), 1000 * percentile(floor, 99), 1000 * max(floor)))
    p99 = percentile(latencies, 99)
    print("  watcher: patch -> alert line              p50 %6.1f ms  p99 %6.1f ms  max %6.1f ms "
          "(p99 x%.1f the floor's; goal p99 < 1 s: %s)"
          % (1000 * percentile(latencies, 50), 1000 * p99, 1000 * max(latencies),
             p99 / percentile(floor, 99), "met" if p99 < 1.0 else "NOT met"))
    return p99


# -- 3. start-up at scale ------------------------------------------------------------------------

def rss_mib(pid):
    with open("/proc/%d/status" % pid) as handle:
        for line in handle:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    return float("nan")


def bench_sync(node_count, tmp):
    with FakeKube(tls=False) as kube:
        kube.add_nodes(make_cluster(node_count, seed=1))
        port_probe = __import__("socket").socket()
        port_probe.bind(("127.0.0.1", 0))
        port = port_probe.getsockname()[1]
        port_probe.close()
        config = os.path.join(tmp, "sync.json")
        with open(config, "w") as handle:
            json.dump({"kubeconfig": kube.write_kubeconfig(os.path.join(tmp, "kubeconfig-sync")),
                       "http": {"address": "127.0.0.1:%d" % port}, "sinks": {"events": {"enabled": False}},
                       "thresholds": {"max_percent": 85}, "log_level": "warning"}, handle)
        env = dict(os.environ, PYTHONPATH=conftest.COLLECTIONS_ROOT)
        started = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", MODULE, "--config", config], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            while True:
                try:
                    with urllib.request.urlopen("http://127.0.0.1:%d/readyz" % port, timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                if proc.poll() is not None or time.perf_counter() - started > 300:
                    raise SystemExit("the daemon did not become ready")
                time.sleep(0.05)
            ready_s = time.perf_counter() - started
            time.sleep(1.0)
            memory = rss_mib(proc.pid)
        finally:
            proc.terminate()
            proc.wait(10)
    print("start-up: %d nodes (realistic, up to 50 images each): ready after %.1f s (process start, list, "
          "facts and drift for every node); resident memory %.0f MiB" % (node_count, ready_s, memory))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--events", type=int, default=5000)
    parser.add_argument("--nodes", type=int, default=1000, help="nodes in the latency cluster")
    parser.add_argument("--patches", type=int, default=200)
    parser.add_argument("--sync-nodes", type=int, default=5000)
    parser.add_argument("--skip", action="append", default=[], choices=("throughput", "latency", "sync"))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if "throughput" not in args.skip:
            cpu = pin_to_one_cpu()
            print("(pinned to CPU %d)" % cpu)
            bench_throughput(args.events, 500, tmp)
            os.sched_setaffinity(0, set(range(os.cpu_count())))
        if "latency" not in args.skip:
            bench_latency(args.nodes, args.patches, tmp)
        if "sync" not in args.skip:
            bench_sync(args.sync_nodes, tmp)


if __name__ == "__main__":
    main()
