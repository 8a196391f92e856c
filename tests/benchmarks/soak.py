# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Soak: two nodewatch-watcher replicas through 20,000 image-storage changes on 5,000 nodes,
with faults injected at random for the whole run. Not part of the test suite.

Run: .venv/bin/python tests/benchmarks/soak.py [--nodes 5000 --images 50 --changes 20000
     --minutes 10 --seed 1] [--out DIR]

1. The fake API server runs in a process of its own (``soak/apiserver.py``) with the scenario's
   cluster; a webhook receiver (a thread here) records every alert it accepts.
2. Two daemon processes (``python -m ...watcher``) elect a leader on a Lease, keep their state in
   a ConfigMap, send alerts to the receiver and write them to stdout (files).
3. The scripted changes (``soak/scenario.py``) are applied at a steady rate; the alerts they owe
   are computed from the scenario and the documented rules, not from the watcher's code.
4. Faults: the fake's FaultPlan on every API request (429, 500, 503, 504, resets mid-body, stalls
   longer than the daemon's request timeout, dropped watches, compaction, expired continue
   tokens), API server restarts, the leader killed with SIGKILL (restarted as a replaced pod with
   a new identity, or as the same pod), the leader stopped with SIGTERM (a rolling update), the
   webhook receiver refusing connections and then answering 503 for minutes.
5. After the last change the faults stop and the run quiesces; then it reports alerts expected,
   delivered, lost, duplicated (each classified by what preceded it) and wrong, the time without
   an alerting leader, resident memory of every daemon process over time, and the faults
   injected. It prints a table and writes ``result.json`` (and every log) in ``--out``.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import heapq
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(ROOT, "tests"), os.path.join(HERE, "soak")]

import conftest  # noqa: E402  (links the checkout as a collection)
import analysis  # noqa: E402
from receiver import Receiver  # noqa: E402
from scenario import GiB, RULE, Cluster, Schedule  # noqa: E402

MODULE = "ansible_collections.nodewatch.k8s.plugins.module_utils.watcher"
LEASE = "nodewatch-soak"
STATE = "nodewatch-soak-state"
FAULT_RATES = {"status_429": 0.02, "status_500": 0.01, "status_503": 0.01, "status_504": 0.005,
               "reset": 0.02, "slow": 0.005, "drop_watches": 0.004, "compact": 0.004,
               "expire_continue": 0.01}
REQUEST_TIMEOUT = 10
SLOW_SECONDS = 12          # stalls outlast the daemon's request timeout
FLUSH_SECONDS = 2


def free_port():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def http_json(url, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


def http_text(url, timeout=5):
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, ""
    except OSError:
        return None, ""


def rss_mib(pid):
    try:
        with open("/proc/%d/status" % pid) as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        return None
    return None


def metric(text, name, labels=""):
    prefix = name + labels + " "
    for line in text.splitlines():
        if line.startswith(prefix):
            return float(line[len(prefix):])
    return None


class Log:
    def __init__(self, started):
        self.started = started

    def __call__(self, text, *args):
        sys.stdout.write("[%6.1fs] %s\n" % (time.time() - self.started, text % args if args else text))
        sys.stdout.flush()


class Replicas:
    """The daemon processes: two replicas, each a succession of processes (incarnations)."""

    def __init__(self, out, kubeconfig, webhook_url, limit, min_change, log):
        self.out = out
        self.kubeconfig = kubeconfig
        self.webhook_url = webhook_url
        self.limit = limit
        self.min_change = min_change
        self.log = log
        self.incarnations = []
        self.live = {}          # replica -> incarnation
        self.generation = {}
        self.lock = threading.Lock()

    def config(self, identity, port):
        return {
            "kubeconfig": self.kubeconfig,
            "request_timeout_seconds": REQUEST_TIMEOUT,
            "min_change_bytes": self.min_change,
            "thresholds": {RULE: self.limit},
            "sinks": {"stdout": {"enabled": True}, "events": {"enabled": False},
                      # Room for every alert of a long outage: the bounded queue drops the oldest.
                      "webhook": {"url": self.webhook_url, "queue_size": 100000, "timeout_seconds": 5}},
            "http": {"address": "127.0.0.1:%d" % port},
            "leader_election": {"enabled": True, "namespace": "default", "name": LEASE, "identity": identity},
            "state": {"backend": "configmap", "namespace": "default", "name": STATE, "flush_seconds": FLUSH_SECONDS},
            "log_level": "info",
        }

    def start(self, replica, identity=None):
        with self.lock:
            number = self.generation.get(replica, 0) + 1
            self.generation[replica] = number
        identity = identity or "replica-%s-%d" % (replica, number)
        key = "%s%d" % (replica, number)
        port = free_port()
        config_path = os.path.join(self.out, "config-%s.json" % key)
        with open(config_path, "w") as handle:
            json.dump(self.config(identity, port), handle, indent=1)
        stdout = os.path.join(self.out, "alerts-%s.jsonl" % key)
        stderr = os.path.join(self.out, "log-%s.jsonl" % key)
        env = dict(os.environ, PYTHONPATH=conftest.COLLECTIONS_ROOT)
        with open(stdout, "w") as out_handle, open(stderr, "w") as err_handle:
            proc = subprocess.Popen([sys.executable, "-m", MODULE, "--config", config_path], env=env,
                                    stdout=out_handle, stderr=err_handle, cwd=self.out)
        inc = {"key": key, "replica": replica, "identity": identity, "port": port, "pid": proc.pid,
               "started": time.time(), "stdout": stdout, "stderr": stderr, "ended": None, "end_how": None,
               "synced_at": None, "proc": proc}
        with self.lock:
            self.incarnations.append(inc)
            self.live[replica] = inc
        self.log("started %s (identity %s, pid %d)", key, identity, proc.pid)
        return inc

    def by_identity(self, identity):
        with self.lock:
            for inc in self.live.values():
                if inc["identity"] == identity and inc["ended"] is None:
                    return inc
        return None

    def end(self, inc, sig, how):
        try:
            inc["proc"].send_signal(sig)
        except OSError:
            pass
        inc["ended"] = time.time()
        inc["end_how"] = how
        with self.lock:
            if self.live.get(inc["replica"]) is inc:
                del self.live[inc["replica"]]
        self.log("%s %s (identity %s)", how, inc["key"], inc["identity"])

    def poll(self):
        """Readiness of the new processes; processes that died on their own are reported."""
        with self.lock:
            live = list(self.live.values())
        for inc in live:
            code = inc["proc"].poll()
            if code is not None and inc["ended"] is None:
                inc["ended"], inc["end_how"] = time.time(), "exited %d" % code
                with self.lock:
                    if self.live.get(inc["replica"]) is inc:
                        del self.live[inc["replica"]]
                self.log("!! %s exited by itself with code %d", inc["key"], code)
                continue
            if inc["synced_at"] is None:
                status, _body = http_text("http://127.0.0.1:%d/readyz" % inc["port"], timeout=2)
                if status == 200:
                    inc["synced_at"] = time.time()
                    self.log("%s is ready (listed and evaluated every node) after %.1fs", inc["key"],
                             inc["synced_at"] - inc["started"])

    def stop_all(self, timeout=30):
        with self.lock:
            live = list(self.live.values())
        for inc in live:
            self.end(inc, signal.SIGTERM, "SIGTERM")
        for inc in live:
            try:
                inc["proc"].wait(timeout)
            except subprocess.TimeoutExpired:
                self.log("!! %s did not stop within %ds; killing it", inc["key"], timeout)
                inc["proc"].kill()
                inc["proc"].wait(10)

    def kill_everything(self):
        for inc in self.incarnations:
            if inc["proc"].poll() is None:
                inc["proc"].kill()


def make_timeline(rng, duration, kills, restarts):
    """Scripted faults ``(at, kind, details)``, seconds after the first change."""
    events = []
    outages = [(rng.uniform(0.12, 0.2) * duration, 0.2 * duration, 0.1 * duration),
               (rng.uniform(0.62, 0.7) * duration, 0.05 * duration, 0.05 * duration)]
    for start, refused, failing in outages:
        events.append((start, "webhook_down", {}))
        events.append((start + refused, "webhook_failing", {}))
        events.append((start + refused + failing, "webhook_up", {}))
    slots = kills + 1
    times = [duration * (0.08 + 0.84 * i / max(1, slots - 1)) + rng.uniform(-0.02, 0.02) * duration
             for i in range(slots)]
    in_outage = [i for i, at in enumerate(times) if outages[0][0] < at < outages[0][0] + outages[0][1]]
    sigterm = rng.choice([i for i in range(slots) if i not in in_outage[:1]] or [slots - 1])
    modes = ["replaced", "same pod"]
    killed = 0
    for i, at in enumerate(times):
        if i == sigterm:
            events.append((at, "stop_leader", {"restart_after": 1.0}))
        else:
            mode = modes[killed % 2]
            killed += 1
            delay = rng.uniform(8, 20) if mode == "replaced" else rng.uniform(1, 4)
            events.append((at, "kill_leader", {"mode": mode, "restart_after": delay}))
    for dummy in range(restarts):
        for _attempt in range(100):
            at = rng.uniform(0.05, 0.95) * duration
            if all(abs(at - t) > 25 for t in times):
                break
        events.append((at, "server_restart", {"down": 2.0, "starting": 3.0}))
    return sorted(events, key=lambda e: e[0])


class Soak:
    def __init__(self, args):
        self.args = args
        self.out = args.out or os.path.join("/tmp", "nodewatch-soak-%s" % time.strftime("%Y%m%d-%H%M%S"))
        os.makedirs(self.out, exist_ok=True)
        self.begun = time.time()
        self.log = Log(self.begun)
        self.samples = {}
        self.loads = []
        self.faults_done = []
        self.stop_sampling = threading.Event()
        self.server = None
        self.control = None
        self.receiver = None
        self.replicas = None
        self.cluster = self.schedule = self.timeline = self.plan = self.kubeconfig = None
        self.t0 = self.end_of_changes = self.quiesced = self.final_open_breaches = None
        self.load_before = None

    # -- set-up ------------------------------------------------------------------------------------

    def build(self):
        args = self.args
        started = time.time()
        self.cluster = Cluster(args.nodes, args.images, args.seed, args.min_change_gib * GiB)
        self.schedule = Schedule(self.cluster, args.changes, args.minutes * 60.0, args.min_gap, args.seed)
        self.log("scenario: %d nodes (%d changed), %d changes over %.0f min, limit %d GiB, min_change %.1f GiB, "
                 "a node changes at most every %.0fs; %d alerts owed (%s); built in %.1fs",
                 args.nodes, len(self.cluster.active), len(self.schedule.changes), args.minutes,
                 self.cluster.limit // GiB, args.min_change_gib, self.schedule.min_gap, len(self.schedule.expected),
                 analysis.expected_by_kind(self.schedule.expected), time.time() - started)
        with open(os.path.join(self.out, "schedule.json"), "w") as handle:
            json.dump(self.schedule.changes, handle)
        self.timeline = make_timeline(random.Random("timeline-%d" % args.seed), args.minutes * 60.0, args.kills,
                                      args.server_restarts)

    def start_server(self):
        args = self.args
        rates = json.loads(args.fault_rates) if args.fault_rates else FAULT_RATES
        self.plan = {"seed": args.seed, "rates": rates, "slow_seconds": SLOW_SECONDS, "retry_after": 1}
        command = [sys.executable, os.path.join(HERE, "soak", "apiserver.py"), "--nodes", str(args.nodes),
                   "--images", str(args.images), "--seed", str(args.seed),
                   "--min-change", str(int(args.min_change_gib * GiB)), "--fingerprint", self.cluster.fingerprint(),
                   "--schedule", os.path.join(self.out, "schedule.json"),
                   "--changes-log", os.path.join(self.out, "changes-applied.json"),
                   "--kubeconfig", os.path.join(self.out, "kubeconfig"),
                   "--fault-plan", json.dumps(self.plan), "--fault-report", os.path.join(self.out, "faults.json")]
        self.server = subprocess.Popen(command, stdout=subprocess.PIPE,
                                       stderr=open(os.path.join(self.out, "apiserver.stderr"), "w"))
        line = self.server.stdout.readline()
        if not line:
            raise SystemExit("the API server process did not start: see %s/apiserver.stderr" % self.out)
        info = json.loads(line)
        self.control = info["control"]
        self.kubeconfig = info["kubeconfig"]
        self.log("API server %s (pid %d) serving %d nodes", info["url"], info["pid"], args.nodes)

    def sampler(self):
        while not self.stop_sampling.wait(self.args.sample_seconds):
            now = time.time()
            self.loads.append((now, os.getloadavg()[0]))
            pids = {"apiserver": self.server.pid, "soak": os.getpid()}
            with self.replicas.lock:
                for inc in self.replicas.live.values():
                    pids[inc["key"]] = inc["pid"]
            for key, pid in pids.items():
                value = rss_mib(pid)
                if value is not None:
                    self.samples.setdefault(key, []).append((now, value))

    def readiness(self):
        while not self.stop_sampling.wait(1.0):
            self.replicas.poll()

    def leader(self):
        """The live process holding the Lease, or None."""
        try:
            spec = http_json(self.control + "/lease?namespace=default&name=" + LEASE)
        except OSError:
            return None
        holder = spec.get("holderIdentity")
        return self.replicas.by_identity(holder) if holder else None

    # -- the run -------------------------------------------------------------------------------

    def wait_for_first_run(self, timeout=600):
        initial = sum(1 for alert in self.schedule.expected if alert["change"] is None)
        deadline = time.time() + timeout
        while time.time() < deadline:
            live = list(self.replicas.live.values())
            if (len(live) == 2 and all(inc["synced_at"] for inc in live) and self.receiver.count() >= initial
                    and self.leader() is not None):
                return
            time.sleep(1)
        raise SystemExit("the replicas did not start: %d of %d first-run alerts arrived; logs in %s"
                         % (self.receiver.count(), initial, self.out))

    def do(self, kind, details, pending):
        now = time.time()
        record = {"time": now, "kind": kind}
        record.update(details)
        if kind == "webhook_down":
            self.receiver.down()
        elif kind == "webhook_failing":
            self.receiver.failing()
        elif kind == "webhook_up":
            self.receiver.up()
        elif kind == "server_restart":
            http_json(self.control + "/restart", details)
        elif kind == "restart_replica":
            self.replicas.start(details["replica"], details.get("identity"))
        elif kind in ("kill_leader", "stop_leader"):
            leader = None
            deadline = now + 30
            while leader is None and time.time() < deadline:
                leader = self.leader()
                if leader is None:
                    time.sleep(0.5)
            if leader is None:
                record["skipped"] = "no leader within 30s"
                self.log("!! %s skipped: no live leader", kind)
            else:
                record["time"] = time.time()
                record["process"] = leader["key"]
                if kind == "kill_leader":
                    self.replicas.end(leader, signal.SIGKILL, "SIGKILL")
                else:
                    self.replicas.end(leader, signal.SIGTERM, "SIGTERM")
                same = details.get("mode") == "same pod"
                heapq.heappush(pending, (time.time() + details["restart_after"], "restart_replica",
                                         {"replica": leader["replica"], "identity": leader["identity"] if same else None}))
        if kind != "restart_replica":
            self.log("fault: %s %s", kind, json.dumps(details))
        self.faults_done.append(record)

    def run(self):
        args = self.args
        self.build()
        self.start_server()
        self.receiver = Receiver(os.path.join(self.out, "webhook-received.jsonl"))
        self.receiver.up()
        self.replicas = Replicas(self.out, self.kubeconfig, self.receiver.url, self.cluster.limit,
                                 int(args.min_change_gib * GiB), self.log)
        for target in (self.sampler, self.readiness):
            threading.Thread(target=target, daemon=True).start()
        self.replicas.start("a")
        self.replicas.start("b")
        self.wait_for_first_run()
        time.sleep(3 * FLUSH_SECONDS)  # the first state is saved
        self.log("first run done: %d alerts delivered; starting the changes and the faults", self.receiver.count())
        http_json(self.control + "/start", {})
        self.t0 = time.time()
        duration = args.minutes * 60.0
        pending = [(self.t0 + at, kind, details) for at, kind, details in self.timeline]
        heapq.heapify(pending)
        last_status = 0
        while pending and pending[0][0] <= self.t0 + duration + 60 or time.time() < self.t0 + duration:
            if pending and pending[0][0] <= time.time():
                _at, kind, details = heapq.heappop(pending)
                self.do(kind, details, pending)
                continue
            if time.time() - last_status >= 30:
                last_status = time.time()
                status = http_json(self.control + "/status")
                self.log("changes %d/%d (late by %.2fs at most), %d alerts received, receiver %s, load %.2f",
                         status["applied"], status["of"], status["late_max"], self.receiver.count(),
                         self.receiver.mode, os.getloadavg()[0])
            time.sleep(0.2)
        self.end_of_changes = time.time()
        http_json(self.control + "/plan", {"enabled": False})
        self.receiver.up()
        while pending:  # replicas still to restart
            at, kind, details = heapq.heappop(pending)
            time.sleep(max(0.0, at - time.time()))
            self.do(kind, details, pending)
        self.log("changes done, faults stopped; waiting for the alerts to settle")
        self.quiesce()

    def queues(self):
        total = 0
        for inc in list(self.replicas.live.values()):
            status, text = http_text("http://127.0.0.1:%d/metrics" % inc["port"], timeout=10)
            value = metric(text, "nodewatch_watcher_alert_queue_length", '{sink="webhook"}') if status == 200 else None
            if value is None:
                return None
            total += value
        return total

    def quiesce(self):
        deadline = time.time() + self.args.quiesce_timeout
        while time.time() < deadline:
            idle = time.time() - (self.receiver.last_received or 0)
            if idle >= self.args.quiet_seconds and self.queues() == 0:
                break
            time.sleep(2)
        self.quiesced = time.time()
        leader = self.leader()
        self.final_open_breaches = None
        if leader is not None:
            status, text = http_text("http://127.0.0.1:%d/metrics" % leader["port"], timeout=10)
            if status == 200:
                self.final_open_breaches = metric(text, "nodewatch_watcher_open_breaches")
        self.log("settled after %.0fs (%d alerts received)", self.quiesced - self.end_of_changes, self.receiver.count())

    def shutdown(self):
        self.stop_sampling.set()
        if self.replicas is not None:
            self.replicas.stop_all()
            self.replicas.kill_everything()
        if self.receiver is not None:
            self.receiver.stop()
        if self.server is not None and self.server.poll() is None:
            try:
                http_json(self.control + "/stop", {})
                self.server.wait(60)
            except (OSError, subprocess.TimeoutExpired):
                self.server.kill()

    # -- the record of the run -------------------------------------------------------------------

    def save_run(self):
        """Everything the report needs besides the files already written (see analysis.report)."""
        args = self.args
        with open(os.path.join(self.out, "expected.json"), "w") as handle:
            json.dump(self.schedule.expected, handle)
        run = {
            "argv": [os.path.relpath(sys.executable, ROOT), os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)] + sys.argv[1:],
            "args": vars(args), "begun": self.begun, "t0": self.t0, "end_of_changes": self.end_of_changes,
            "quiesced": self.quiesced, "flush_seconds": FLUSH_SECONDS, "request_timeout_seconds": REQUEST_TIMEOUT,
            "state_path": "/api/v1/namespaces/default/configmaps/" + STATE,
            "lease_path": "/apis/coordination.k8s.io/v1/namespaces/default/leases/" + LEASE,
            "machine": {"platform": platform.platform(), "cpus": os.cpu_count(), "python": platform.python_version(),
                        "kubernetes_client": _version("kubernetes"), "commit": _git_commit(),
                        "load_before": self.load_before},
            "loads": self.loads, "samples": self.samples, "faults_done": self.faults_done,
            "scenario": {"nodes": args.nodes, "images": args.images, "active_nodes": len(self.cluster.active),
                         "changes": len(self.schedule.changes), "minutes": args.minutes, "seed": args.seed,
                         "limit_bytes": self.cluster.limit, "min_change_bytes": int(args.min_change_gib * GiB),
                         "min_gap_seconds": round(self.schedule.min_gap, 1), "categories": self.schedule.categories(),
                         "final_open": len(self.schedule.final_open)},
            "final_open_breaches": self.final_open_breaches,
            "receiver": {"changes": self.receiver.changes, "refused": self.receiver.refused,
                         "malformed": self.receiver.malformed},
            "incarnations": [dict((k, v) for k, v in inc.items() if k != "proc") for inc in self.replicas.incarnations],
        }
        with open(os.path.join(self.out, "run.json"), "w") as handle:
            json.dump(run, handle)


def _version(name):
    try:
        from importlib.metadata import version
        return version(name)
    except Exception:  # the report is still useful without it
        return None


def _git_commit():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                              timeout=10, check=False).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--changes", type=int, default=20000)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--min-change-gib", type=float, default=1.0, help="the daemon's min_change_bytes, in GiB")
    parser.add_argument("--min-gap", type=float, default=90.0, help="seconds between two changes of a node")
    parser.add_argument("--kills", type=int, default=4, help="leader SIGKILLs (one SIGTERM comes on top)")
    parser.add_argument("--server-restarts", type=int, default=2)
    parser.add_argument("--fault-rates", default=None, metavar="JSON", help="FaultPlan rates (default: %s)"
                        % json.dumps(FAULT_RATES))
    parser.add_argument("--sample-seconds", type=float, default=5.0)
    parser.add_argument("--warmup", type=float, default=120.0, help="seconds of each process's life not judged for RSS")
    parser.add_argument("--min-span", type=float, default=180.0, help="RSS is judged over at least this many seconds")
    parser.add_argument("--quiet-seconds", type=float, default=75.0, help="settled: nothing received for this long")
    parser.add_argument("--quiesce-timeout", type=float, default=480.0)
    parser.add_argument("--out", default=None, help="directory for the logs and result.json (default /tmp/nodewatch-soak-*)")
    parser.add_argument("--report", default=None, metavar="DIR", help="only compute the report again from a run's directory")
    args = parser.parse_args()
    if args.report:
        result = analysis.report(args.report)
    else:
        soak = Soak(args)
        soak.load_before = list(os.getloadavg())
        soak.log("load average before the run: %s; logs in %s", soak.load_before, soak.out)
        try:
            soak.run()
        finally:
            soak.shutdown()
        soak.save_run()
        result = analysis.report(soak.out)
    ok = result["alerts"]["lost"] == 0 and result["alerts"]["wrong"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
