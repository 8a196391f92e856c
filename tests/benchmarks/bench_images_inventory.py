#!/usr/bin/env python
"""Time and memory of node_images_info's engine and of the nodes inventory on a big cluster.

    .venv/bin/python tests/benchmarks/bench_images_inventory.py [--nodes 5000] [--images 50]

A fake API server (tests/fakekube, in a process of its own) serves ``--nodes`` nodes with
``--images`` images each. Every measurement runs in a fresh child of a small parent, so imports
and caches do not leak from one to the next, and memory is the child's own:

* ``seconds``  wall time of the work, measured without tracemalloc (which slows Python down);
* ``peak MiB`` tracemalloc's peak of Python allocations during the work (a second run);
* ``RSS MiB``  the child's peak resident set (ru_maxrss), interpreter and imports included.

``engine`` keeps per-node facts (the module's default answer), ``engine-summary-only`` only the
cluster report, ``engine-imagefs`` adds one kubelet Summary request per node (10 at a time) to
the latter. ``inventory-parse`` is the plugin run by Ansible's InventoryManager. The last lines
time whole ansible-playbook / ansible-inventory runs, Ansible's own work included.

The floor is the least any reader of that NodeList can do: GET it page by page (``limit=500``)
with urllib3 and ``json.loads`` each page, keeping nothing. Ratios are against the floor
measured in the same run, so they hold on any machine. Not part of the test suite.
"""
import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
REPO = os.path.dirname(TESTS)
COLLECTIONS = os.path.join(REPO, ".build", "collections")
BIN = os.path.dirname(sys.executable)
MIB = 1024.0 * 1024.0


def _paths(collections=True):
    for path in ((TESTS, COLLECTIONS) if collections else (TESTS,)):
        if path not in sys.path:
            sys.path.insert(0, path)


def _ensure_collection_link():
    link = os.path.join(COLLECTIONS, "ansible_collections", "nodewatch", "k8s")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if not os.path.islink(link):
        os.symlink(REPO, link)


# -- the work, run in a child ------------------------------------------------------------------

def work_floor(kubeconfig):
    import urllib3
    import yaml
    with open(kubeconfig) as handle:
        config = yaml.safe_load(handle)
    server = config["clusters"][0]["cluster"]["server"]
    token = config["users"][0]["user"]["token"]
    http = urllib3.PoolManager()
    headers = {"Authorization": "Bearer " + token, "Accept": "application/json"}
    token_continue, count = None, 0
    while True:
        fields = {"limit": "500"}
        if token_continue:
            fields["continue"] = token_continue
        response = http.request("GET", server + "/api/v1/nodes", fields=fields, headers=headers)
        page = json.loads(response.data)
        count += len(page["items"])
        token_continue = page["metadata"].get("continue")
        del page, response
        if not token_continue:
            return {"nodes": count}


def work_engine(kubeconfig, summary_only=False, imagefs=False):
    from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import KubeClient
    from ansible_collections.nodewatch.k8s.plugins.module_utils.images.queries import node_images_report
    client = KubeClient.from_options({"kubeconfig": kubeconfig})
    report = node_images_report(client, summary_only=summary_only, imagefs=imagefs)
    info = {"nodes": report["count"], "kept": len(report["nodes"]),
            "result_json_mb": round(len(json.dumps(report)) / 1e6, 1)}
    if imagefs:
        info["imagefs_measured"] = report["cluster"]["imagefs"]["nodes_measured"]
    return info


def work_inventory_parse(source):
    """The plugin inside Ansible's InventoryManager, as ansible-inventory and ansible-playbook run it."""
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    manager = InventoryManager(loader=DataLoader(), sources=[source])
    hosts = manager.get_hosts()
    return {"nodes": len(hosts), "groups": len(manager.groups)}


WORK = {
    "floor": lambda args: work_floor(args.kubeconfig),
    "engine": lambda args: work_engine(args.kubeconfig),
    "engine-summary-only": lambda args: work_engine(args.kubeconfig, summary_only=True),
    "engine-imagefs": lambda args: work_engine(args.kubeconfig, summary_only=True, imagefs=True),
    "inventory-parse": lambda args: work_inventory_parse(args.source),
}


def child(args):
    _paths(collections=args.child != "inventory-parse")
    os.environ["ANSIBLE_COLLECTIONS_PATH"] = COLLECTIONS
    # Import what the work imports before measuring, so both runs measure the work itself.
    import urllib3  # noqa: F401
    if args.child.startswith("engine"):
        import ansible_collections.nodewatch.k8s.plugins.module_utils.images.queries  # noqa: F401
        import kubernetes.client  # noqa: F401
    elif args.child == "inventory-parse":
        # Ansible's collection loader must own ansible_collections: nothing imported from it yet.
        from ansible.plugins.loader import init_plugin_loader
        import ansible.inventory.manager  # noqa: F401
        import kubernetes.client  # noqa: F401
        init_plugin_loader([COLLECTIONS])
    work = WORK[args.child]
    if args.trace:
        tracemalloc.start()
        started = time.perf_counter()
        info = work(args)
        seconds = time.perf_counter() - started
        _current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    else:
        started = time.perf_counter()
        info = work(args)
        seconds = time.perf_counter() - started
        peak = None
    info.update(seconds=seconds, peak=peak, maxrss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
    print(json.dumps(info))


def run_child(name, kubeconfig, source, trace):
    command = [sys.executable, os.path.abspath(__file__), "--child", name, "--kubeconfig", kubeconfig,
               "--source", source]
    if trace:
        command.append("--trace")
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, KUBECONFIG=kubeconfig)
    out = subprocess.run(command, check=True, capture_output=True, text=True, env=env).stdout
    return json.loads(out.strip().splitlines()[-1])


_MEASURE_CLI = (
    "import json, resource, subprocess, sys, time\n"
    "started = time.perf_counter()\n"
    "proc = subprocess.run(sys.argv[1:], capture_output=True, text=True)\n"
    "print(json.dumps({'seconds': time.perf_counter() - started, 'rc': proc.returncode,\n"
    "                  'maxrss': resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024,\n"
    "                  'stdout_mb': round(len(proc.stdout) / 1e6, 1), 'tail': proc.stdout[-1500:] + proc.stderr[-1500:]}))\n"
)


def run_cli(command, env):
    """Wall time and the largest process's peak RSS of a whole CLI run, from a fresh parent."""
    out = subprocess.run([sys.executable, "-c", _MEASURE_CLI] + command, capture_output=True, text=True,
                         env=env, check=True).stdout
    result = json.loads(out)
    if result["rc"] != 0:
        raise SystemExit("%s failed:\n%s" % (command, result["tail"]))
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--nodes", type=int, default=5000)
    parser.add_argument("--images", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=1, help="timing runs per measurement (best is kept)")
    parser.add_argument("--no-cli", action="store_true", help="skip the ansible-inventory/ansible-playbook runs")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--kubeconfig", help=argparse.SUPPRESS)
    parser.add_argument("--source", help=argparse.SUPPRESS)
    parser.add_argument("--trace", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    if args.serve:
        return serve(args)
    _ensure_collection_link()
    workdir = tempfile.mkdtemp(prefix="nodewatch-bench-")
    # The server holds every node; in its own process it does not inflate the children's RSS
    # (a forked child inherits its parent's resident-set high-water mark).
    server = subprocess.Popen([sys.executable, os.path.abspath(__file__), "--serve", "--nodes", str(args.nodes),
                               "--images", str(args.images), "--kubeconfig", os.path.join(workdir, "kubeconfig")],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        ready = json.loads(server.stdout.readline())
        measure(args, workdir, ready["kubeconfig"], ready["size_mb"])
    finally:
        server.stdin.close()
        server.wait(30)


def serve(args):
    _paths(collections=False)
    from fakekube import FakeKube, make_cluster
    nodes = make_cluster(args.nodes, seed=1, images_per_node=(args.images, args.images))
    size_mb = len(json.dumps({"kind": "NodeList", "items": nodes}, separators=(",", ":"))) / 1e6
    with FakeKube() as kube:
        kube.add_nodes(nodes)
        del nodes
        kubeconfig = kube.write_kubeconfig(args.kubeconfig)
        print(json.dumps({"kubeconfig": kubeconfig, "size_mb": size_mb}), flush=True)
        sys.stdin.read()  # until the parent closes it


def measure(args, workdir, kubeconfig, size_mb):
    source = os.path.join(workdir, "bench.nodes.yml")
    with open(source, "w") as handle:
        handle.write("plugin: nodewatch.k8s.nodes\nkubeconfig: %s\n" % kubeconfig)
    print("cluster: %d nodes x %d images, NodeList %.1f MB of JSON, served by the fake API server"
          % (args.nodes, args.images, size_mb))
    print("python %s, %d CPUs\n" % (sys.version.split()[0], os.cpu_count()))

    rows = []
    for name in ("floor", "engine", "engine-summary-only", "engine-imagefs", "inventory-parse"):
        timed = min((run_child(name, kubeconfig, source, False) for _attempt in range(args.repeat)),
                    key=lambda r: r["seconds"])
        traced = run_child(name, kubeconfig, source, True)
        rows.append((name, timed["seconds"], traced["peak"], timed["maxrss"], timed))
    floor_seconds, floor_peak = rows[0][1], rows[0][2]
    print("%-22s %9s %7s %10s %7s %9s   %s" % ("measurement", "seconds", "x floor", "peak MiB", "x floor",
                                               "RSS MiB", "notes"))
    for name, seconds, peak, rss, info in rows:
        notes = dict((k, v) for k, v in info.items() if k not in ("seconds", "peak", "maxrss"))
        print("%-22s %9.2f %7.2f %10.1f %7.2f %9.1f   %s" % (
            name, seconds, seconds / floor_seconds, peak / MIB, peak / floor_peak, rss / MIB,
            " ".join("%s=%s" % kv for kv in sorted(notes.items()))))

    if not args.no_cli:
        env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, KUBECONFIG=kubeconfig,
                   ANSIBLE_HOME=os.path.join(workdir, "ansible-home"),
                   ANSIBLE_LOCAL_TEMP=os.path.join(workdir, "tmp"), ANSIBLE_NOCOLOR="1")
        playbook = os.path.join(workdir, "images.yml")
        for summary_only in (True, False):
            with open(playbook, "w") as handle:
                handle.write(
                    "- hosts: localhost\n  connection: local\n  gather_facts: false\n"
                    "  vars: {ansible_python_interpreter: '{{ ansible_playbook_python }}'}\n"
                    "  tasks:\n    - nodewatch.k8s.node_images_info: {summary_only: %s}\n"
                    % ("true" if summary_only else "false"))
            result = run_cli([os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", playbook], env)
            print("%-40s %6.2f s  %s" % ("ansible-playbook node_images_info%s" % (
                " (summary_only)" if summary_only else ""), result["seconds"], _rss(result)))
        result = run_cli([os.path.join(BIN, "ansible-inventory"), "-i", source, "--list"], env)
        print("%-40s %6.2f s  %s  output %.1f MB" % (
            "ansible-inventory --list", result["seconds"], _rss(result), result["stdout_mb"]))
        result = run_cli([os.path.join(BIN, "ansible-inventory"), "-i", source, "--graph"], env)
        print("%-40s %6.2f s  %s" % ("ansible-inventory --graph", result["seconds"], _rss(result)))


def _rss(result):
    return "largest process peak RSS %.0f MiB" % (result["maxrss"] / MIB)


if __name__ == "__main__":
    main()
