"""Benchmark: node_info against the fake cluster, compared with floors measured in the same run.

Not part of the test suite. Run: .venv/bin/python tests/benchmarks/bench_node_info.py [--nodes 5000]

Floors:
- per-task start-up: an ansible.builtin.ping task (AnsiballZ, no kubernetes import);
- listing: a paged GET + json.loads of the same NodeList with the bare urllib3 pool.
"""
import argparse
import json
import os
import sys
import tempfile
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path[:0] = [os.path.join(ROOT, "tests"), os.path.join(ROOT, "tests", "integration")]

# Links the checkout as a collection.
import conftest  # noqa: E402,F401  pylint: disable=unused-import
from fakekube import FakeKube, make_cluster  # noqa: E402
from harness import local_play, run_playbook  # noqa: E402

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import KubeClient  # noqa: E402
from ansible_collections.nodewatch.k8s.plugins.module_utils.nodes.ops import node_info  # noqa: E402


def timed(fn):
    started = time.perf_counter()
    value = fn()
    return time.perf_counter() - started, value


def floor_list(kube):
    import urllib3
    pool = urllib3.PoolManager()
    token = None
    count = 0
    while True:
        url = kube.url + "/api/v1/nodes?limit=500" + ("&continue=" + token if token else "")
        page = json.loads(pool.request("GET", url, headers={"Authorization": "Bearer " + kube.admin_token}).data)
        count += len(page["items"])
        token = page["metadata"].get("continue")
        if not token:
            return count


def peak_memory(fn):
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--tasks", type=int, default=10)
    args = parser.parse_args()

    with FakeKube(tls=False) as kube:
        started = time.perf_counter()
        kube.add_nodes(make_cluster(args.nodes, seed=1))
        print("seeded %d nodes in %.1f s" % (args.nodes, time.perf_counter() - started))
        client = KubeClient.from_options({"host": kube.url, "api_key": kube.admin_token}, environ={})

        floor_list(kube)  # warm-up: the first pass also pays for the server's first serialization
        floor_s, count = timed(lambda: floor_list(kube))
        engine_s, nodes = timed(lambda: node_info(client))
        full_s, full = timed(lambda: node_info(client, full=True))
        assert count == len(nodes) == len(full) == args.nodes
        floor_mem = peak_memory(lambda: floor_list(kube))
        engine_mem = peak_memory(lambda: node_info(client))
        print("list %d nodes: floor (paged GET + json.loads) %.2f s; node_info summaries %.2f s (x%.2f); "
              "full objects %.2f s (x%.2f)" % (args.nodes, floor_s, engine_s, engine_s / floor_s, full_s,
                                               full_s / floor_s))
        print("peak Python memory: floor %.1f MiB; node_info summaries %.1f MiB (x%.2f)"
              % (floor_mem / 2**20, engine_mem / 2**20, engine_mem / floor_mem))

        with tempfile.TemporaryDirectory() as tmp:
            import pathlib
            tmp = pathlib.Path(tmp)
            kubeconfig = kube.write_kubeconfig(str(tmp / "kubeconfig"))
            small = FakeKube(tls=False).start()
            small.add_nodes(make_cluster(20, seed=2))
            small_config = small.write_kubeconfig(str(tmp / "small"))
            ping = [{"name": "ping %d" % i, "ansible.builtin.ping": {}} for i in range(args.tasks)]
            info = [{"name": "info %d" % i, "nodewatch.k8s.node_info": {}} for i in range(args.tasks)]
            floor_run, dummy = timed(lambda: run_playbook(tmp, local_play(ping)))
            module_run, run = timed(lambda: run_playbook(tmp, local_play(info, kubeconfig=small_config)))
            assert run.rc == 0, run
            per_floor = floor_run / args.tasks
            per_task = module_run / args.tasks
            print("per task (20-node cluster, %d tasks): ping floor %.3f s; node_info %.3f s (x%.2f, +%.3f s)"
                  % (args.tasks, per_floor, per_task, per_task / per_floor, per_task - per_floor))
            big_run, run = timed(lambda: run_playbook(tmp, local_play(
                [{"name": "big", "nodewatch.k8s.node_info": {}}], kubeconfig=kubeconfig)))
            assert run.rc == 0, run
            print("one node_info task on %d nodes through ansible-playbook: %.2f s (floor list x%.1f)"
                  % (args.nodes, big_run, big_run / floor_s))
            small.stop()


if __name__ == "__main__":
    main()
