"""Benchmark: the fleet audit of 10 clusters x 500 nodes, in parallel (forks) against one after another.

Not part of the test suite. Run: .venv/bin/python tests/benchmarks/bench_fleet_audit.py
[--clusters 10] [--nodes 500] [--forks 5] [--runs 2]

Each cluster is a fake API server in a process of its own (python -m fakekube), so the servers'
work is not in the measured process. Printed: wall time of ``ansible-playbook
nodewatch.k8s.fleet_audit -f 1`` (the floor: one cluster after another) and ``-f FORKS``, the
median of ``--runs`` after a warm-up, and their ratio.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
BIN = os.path.dirname(sys.executable)


def start_cluster(workdir, index, nodes):
    kubeconfig = os.path.join(workdir, "cluster-%02d.kubeconfig" % index)
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tests"))
    proc = subprocess.Popen([sys.executable, "-m", "fakekube", "--nodes", str(nodes), "--seed", str(index),
                             "--tls", "--kubeconfig", kubeconfig],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True)
    json.loads(proc.stdout.readline())
    return proc, kubeconfig


def fleet_audit(workdir, inventory, forks):
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(ROOT, ".build", "collections"),
               ANSIBLE_LOCALHOST_WARNING="0", ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_NOCOLOR="1")
    extra = {"nodewatch_baseline_source": "none", "nodewatch_report_format": ["markdown", "json", "html"],
             "nodewatch_fleet_report_dir": os.path.join(workdir, "out")}
    command = [os.path.join(BIN, "ansible-playbook"), "nodewatch.k8s.fleet_audit", "-i", inventory,
               "-f", str(forks), "-e", json.dumps(extra)]
    started = time.perf_counter()
    proc = subprocess.run(command, env=env, cwd=workdir, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          check=False)
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 2):
        sys.exit("fleet_audit failed (rc %d):\n%s\n%s" % (proc.returncode, proc.stdout[-3000:], proc.stderr[-2000:]))
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--clusters", type=int, default=10)
    parser.add_argument("--nodes", type=int, default=500)
    parser.add_argument("--forks", type=int, default=5)
    parser.add_argument("--runs", type=int, default=2)
    args = parser.parse_args()
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    # Links the checkout as a collection.
    import conftest  # noqa: F401  pylint: disable=unused-import

    servers = []
    with tempfile.TemporaryDirectory(prefix="nodewatch-fleet-bench-") as workdir:
        try:
            hosts = {}
            for index in range(args.clusters):
                proc, kubeconfig = start_cluster(workdir, index, args.nodes)
                servers.append(proc)
                hosts["cluster-%02d" % index] = {"kubeconfig": kubeconfig}
            inventory = os.path.join(workdir, "clusters.yml")
            with open(inventory, "w") as handle:
                yaml.safe_dump({"all": {"hosts": hosts}}, handle)
            fleet_audit(workdir, inventory, args.forks)  # warm-up: page cache, .pyc files
            results = {}
            for forks in (1, args.forks):
                results[forks] = statistics.median(fleet_audit(workdir, inventory, forks) for dummy in range(args.runs))
        finally:
            for proc in servers:
                proc.terminate()
                proc.wait(timeout=10)
    print("fleet audit of %d clusters x %d nodes (%d cores), median of %d:" % (
        args.clusters, args.nodes, os.cpu_count(), args.runs))
    print("  one after another (-f 1): %6.1f s  (floor)" % results[1])
    print("  in parallel (-f %d):      %6.1f s  (x %.2f of the floor, %.1f times faster)" % (
        args.forks, results[args.forks], results[args.forks] / results[1], results[1] / results[args.forks]))


if __name__ == "__main__":
    main()
