# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Fleet scale: every user path of issue 11 against the cost of one read, at several cluster sizes.

    .venv/bin/python tests/benchmarks/fleet.py                     # 500, 2,000 and 5,000 nodes
    .venv/bin/python tests/benchmarks/fleet.py --sizes 500 --runs 1 --out /tmp/bench.md

For each size a fake API server (``python -m fakekube``, tests/fakekube) is started as a process of
its own, so its CPU and memory are not in what is measured, holding that many nodes with 50 images
each. Every user path then runs as a fresh process: one warm-up, then ``--runs`` timed runs whose
median is kept. Wall time is measured around the process; work is the CPU time of its tree plus the
API server's meanwhile (it holds when other jobs share the machine, wall time does not); peak RSS
is the largest single process of its tree (``RUSAGE_CHILDREN`` of a small wrapper, so
ansible-playbook's module processes count). A path that misses its goal at the largest size is
profiled once (cProfile), and the report names where its time goes.

The floor is the least any reader of that NodeList can do: a paged stdlib GET (``limit=500``) and
``json.loads`` of each page, in a fresh Python process, measured in the same run. Every ratio is
against it, so the numbers hold on any machine.

Writes ``docs/benchmarks.md`` (a table per size, the goals and whether they are met, the growth
per 1,000 nodes) and ``docs/images/benchmarks.png`` (cost against nodes). The peers - the
``kubernetes.core`` collection from the ``ansible`` package on PyPI, and matplotlib for the plot -
go into ``.venv-peers`` (created on first use; nothing of it enters the test venv). ``kubectl`` is
measured when it is on PATH. Not part of the test suite.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import argparse
import datetime
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TESTS = os.path.dirname(HERE)
REPO = os.path.dirname(TESTS)
sys.path.insert(0, os.path.join(TESTS, "integration"))
from harness import plain  # noqa: E402  pylint: disable=wrong-import-position
COLLECTIONS = os.path.join(REPO, ".build", "collections")
PEERS_VENV = os.path.join(REPO, ".venv-peers")
# ansible 12.x is the community package for ansible-core 2.19; only its collection tree is used.
PEERS_REQUIREMENTS = ("ansible==12.3.0", "matplotlib==3.11.2")
BIN = os.path.dirname(sys.executable)
MIB = 1024.0 * 1024.0
IMAGES_PER_NODE = 50
SEED = 1

# What the issue asks of each path at the largest size, as (row, limit in x floor).
TIME_GOALS = (
    ("inventory_graph", 2.5),
    ("inventory_list", 5.0),
    ("node_images_info", 4.0),
    ("node_info", 2.5),
    ("audit", 3.0),
)
RSS_GOALS = (("inventory_list", 4.0),)

# Where the time goes, for a goal not met: (label, file name, function name) whose cumulative time
# in a cProfile run is reported, as a share of that run scaled to the unprofiled wall time.
INVENTORY_PHASES = (
    ("Python and Ansible start-up, options, plugin loading", None, None),
    ("import of the kubernetes client (kube/config.py)", "config.py", "import_kubernetes"),
    ("API read: paged GET + json.loads (kube/client.py)", "client.py", "list_pages"),
    ("node records: image facts per node (inventory/hosts.py compact_node)", "hosts.py", "compact_node"),
    ("hosts, variables and groups into Ansible (plugin _populate)", "nodes.py", "_populate"),
    ("... of which Ansible's set_variable (inspects and tags each value)", "manager.py", "set_variable"),
    ("... of which Ansible's add_host and add_child", "data.py", ("add_host", "add_child")),
    ("Ansible's reconcile_inventory (group membership of every host)", "data.py", "reconcile_inventory"),
    ("output: gathering every host's variables for --list", "inventory.py", "json_inventory"),
    ("output: serializing --list (ansible-core's JSON encoder)", "inventory.py", "dump"),
    ("output: --graph", "inventory.py", "inventory_graph"),
)
MODULE_PHASES = (
    ("import of the kubernetes client (kube/config.py)", "config.py", "import_kubernetes"),
    ("API read: paged GET + json.loads (kube/client.py)", "client.py", "list_pages"),
    ("exit_json: no_log scan and JSON encoding of the result", "basic.py", "exit_json"),
)
PROFILED_ROWS = {
    "inventory_graph": ("inventory", ["--graph"]),
    "inventory_list": ("inventory", ["--list"]),
    "node_info": ("module", ("node_info", {})),
    "node_images_info": ("module", ("node_images_info", {})),
    "audit": ("module", ("node_image_audit", {"report_format": ["markdown"], "report_path": "profile-audit"})),
}

# A fresh Python per run measures the command: its wall time, its exit code, and the peak
# resident set of the largest process of its tree (every descendant it waited for).
_MEASURE = r"""
import json, resource, subprocess, sys, time
out = sys.argv[1]
started = time.perf_counter()
with open(out, "wb") as stdout:
    proc = subprocess.run(sys.argv[2:], stdout=stdout, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL)
seconds = time.perf_counter() - started
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": seconds, "rc": proc.returncode, "cpu": usage.ru_utime + usage.ru_stime,
                  "maxrss": usage.ru_maxrss * 1024,
                  "stderr": proc.stderr.decode("utf-8", "replace")[-3000:]}))
"""

# The floor, run as a fresh process like every other row.
_FLOOR = r"""
import json, ssl, sys, urllib.parse, urllib.request
server, token, ca_file = sys.argv[1], sys.argv[2], sys.argv[3]
context = ssl.create_default_context(cafile=ca_file)
token_continue, count, size = None, 0, 0
while True:
    query = {"limit": "500"}
    if token_continue:
        query["continue"] = token_continue
    request = urllib.request.Request(server + "/api/v1/nodes?" + urllib.parse.urlencode(query),
                                     headers={"Authorization": "Bearer " + token, "Accept": "application/json"})
    with urllib.request.urlopen(request, context=context) as response:
        body = response.read()
    size += len(body)
    page = json.loads(body)
    count += len(page["items"])
    token_continue = page["metadata"].get("continue")
    del page, body
    if not token_continue:
        break
print(json.dumps({"nodes": count, "bytes": size}))
"""


# -- the rows ----------------------------------------------------------------------------------

def _play(tasks):
    return ("- hosts: localhost\n  connection: local\n  gather_facts: false\n"
            "  vars: {ansible_python_interpreter: '{{ ansible_playbook_python }}'}\n"
            "  tasks:%s\n" % ("".join("\n    - %s" % task for task in tasks) if tasks else " []"))


def _inventory_source(kubeconfig, cache_dir=None):
    text = "plugin: nodewatch.k8s.nodes\nkubeconfig: %s\n" % kubeconfig
    if cache_dir:
        text += ("cache: true\ncache_plugin: ansible.builtin.jsonfile\ncache_connection: %s\n"
                 "cache_timeout: 86400\n" % cache_dir)
    return text


class Row:
    """One user path: how to run it, and how to tell that it did its work."""

    def __init__(self, key, label, command, expect=None, ok_rcs=(0,), needs=None):
        self.key = key
        self.label = label
        self.command = command          # callable(ctx) -> argv
        self.expect = expect            # callable(ctx, stdout_path, stderr_text) -> None or a problem
        self.ok_rcs = ok_rcs
        self.needs = needs              # callable(ctx) -> None or why the row cannot run


def _playbook(name, tasks):
    def command(ctx):
        path = os.path.join(ctx.workdir, name + ".yml")
        with open(path, "w") as handle:
            handle.write(_play(tasks))
        return [os.path.join(BIN, "ansible-playbook"), "-i", "localhost,", path]
    return command


def _collection_playbook(fqcn, *extra):
    def command(ctx):
        return [os.path.join(BIN, "ansible-playbook"), fqcn, "-e", "nodewatch_baseline_source=none"] + list(extra)
    return command


def _ok_recap(ctx, stdout_path, _stderr):
    tail = _tail(stdout_path)
    if "PLAY RECAP" not in tail or "failed=0" not in tail:
        return "the play did not end cleanly: %s" % tail[-1500:]
    return None


def _no_tasks(ctx, stdout_path, _stderr):
    return None if "PLAY RECAP" in _tail(stdout_path) else "no play recap in the output"


def _limits_checked(ctx, stdout_path, stderr):
    """The drift check and the audit fail the play when a limit is crossed; in this cluster some
    nodes cross the default 80 %, so a failure is expected - but only that failure."""
    with open(stdout_path, "rb") as handle:
        text = handle.read().decode("utf-8", "replace")
    if "PLAY RECAP" not in text:
        return "no play recap in the output"
    if "failed=1" in text and "breach" not in text:
        return "the play failed for another reason than a crossed limit: %s" % text[-1500:]
    return None


def _inventory_command(*args, source="plain"):
    def command(ctx):
        return [os.path.join(BIN, "ansible-inventory"), "-i", ctx.sources[source]] + list(args)
    return command


def _hosts_listed(ctx, stdout_path, _stderr):
    with open(stdout_path) as handle:
        data = json.load(handle)
    hosts = len(data.get("_meta", {}).get("hostvars", {}))
    if hosts != ctx.nodes:
        return "%d hosts listed, %d nodes in the cluster" % (hosts, ctx.nodes)
    return None


def _graph_drawn(ctx, stdout_path, _stderr):
    with open(stdout_path) as handle:
        hosts = set(line.strip().lstrip("|-") for line in handle if "@" not in line and line.strip())
    if len(hosts) < ctx.nodes:
        return "%d hosts in the graph, %d nodes in the cluster" % (len(hosts), ctx.nodes)
    return None


def _kubectl_listed(ctx, stdout_path, _stderr):
    with open(stdout_path) as handle:
        items = len(json.load(handle)["items"])
    return None if items == ctx.nodes else "kubectl listed %d nodes of %d" % (items, ctx.nodes)


def _needs_peers(ctx):
    return None if ctx.peer_collections else ctx.peers_problem


def _needs_kubectl(ctx):
    return None if shutil.which("kubectl") else "kubectl is not on PATH"


ROWS = (
    Row("floor", "floor: paged stdlib GET + json.loads",
        lambda ctx: [sys.executable, "-c", _FLOOR, ctx.server, ctx.token, ctx.ca_file]),
    Row("noop", "ansible-playbook, no tasks", _playbook("noop", []), _no_tasks),
    Row("k8s_info", "kubernetes.core.k8s_info kind=Node, playbook",
        _playbook("k8s_info", ["kubernetes.core.k8s_info: {kind: Node}"]), _ok_recap, needs=_needs_peers),
    Row("kubectl", "kubectl get nodes -o json",
        lambda ctx: [shutil.which("kubectl"), "--kubeconfig", ctx.kubeconfig, "get", "nodes", "-o", "json"],
        _kubectl_listed, needs=_needs_kubectl),
    Row("node_info", "node_info (default), playbook", _playbook("node_info", ["nodewatch.k8s.node_info:"]),
        _ok_recap),
    Row("node_images_info_summary", "node_images_info summary_only, playbook",
        _playbook("images_summary", ["nodewatch.k8s.node_images_info: {summary_only: true}"]), _ok_recap),
    Row("node_images_info", "node_images_info (default), playbook",
        _playbook("images_default", ["nodewatch.k8s.node_images_info:"]), _ok_recap),
    Row("drift_check", "drift_check playbook (no baseline)", _collection_playbook("nodewatch.k8s.drift_check"),
        _limits_checked, ok_rcs=(0, 2)),
    Row("audit", "audit playbook (no baseline, Markdown report)",
        _collection_playbook("nodewatch.k8s.audit", "-e", "nodewatch_report_path=audit.md"),
        _limits_checked, ok_rcs=(0, 2)),
    Row("inventory_list", "ansible-inventory --list", _inventory_command("--list"), _hosts_listed),
    Row("inventory_graph", "ansible-inventory --graph", _inventory_command("--graph"), _graph_drawn),
    Row("inventory_cached", "ansible-inventory --list, cached", _inventory_command("--list", source="cached"),
        _hosts_listed),
    Row("inventory_script", "script inventory, same hosts and variables, --list",
        _inventory_command("--list", source="script"), _hosts_listed),
)


# -- running -----------------------------------------------------------------------------------

class Context:
    pass


class RowFailed(Exception):
    """A path that did not do its work: measuring it would be meaningless."""


def process_cpu(pid):
    """User + system CPU seconds of a running process, all its threads."""
    with open("/proc/%d/stat" % pid) as handle:
        fields = handle.read().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / float(os.sysconf("SC_CLK_TCK"))


def measure(ctx, row):
    out = os.path.join(ctx.workdir, "%s.out" % row.key)
    command = row.command(ctx)
    server_before = process_cpu(ctx.server_pid)
    wrapper = subprocess.run([sys.executable, "-c", _MEASURE, out] + command, capture_output=True, text=True,
                             env=ctx.env, cwd=ctx.workdir, check=True)
    server_cpu = process_cpu(ctx.server_pid) - server_before
    result = json.loads(wrapper.stdout)
    # The work the path cost, its own and the API server's: on an idle machine the two mostly take
    # turns, so this is close to the wall time there, and it holds when other work shares the CPUs.
    result["work"] = result["cpu"] + server_cpu
    if result["rc"] not in row.ok_rcs:
        raise RowFailed("%s exited %d:\n%s\n%s" % (" ".join(command), result["rc"], result["stderr"], _tail(out)))
    if row.expect is not None:
        try:
            problem = row.expect(ctx, out, result["stderr"])
        except (ValueError, KeyError, OSError) as exc:  # output that is not what the path should print
            problem = "unreadable output (%s: %s)" % (type(exc).__name__, exc)
        if problem:
            raise RowFailed("%s: %s" % (row.label, problem))
    result["stdout_bytes"] = os.path.getsize(out)
    result["out"] = out
    return result


def _tail(path, size=3000):
    with open(path, "rb") as handle:
        handle.seek(max(0, os.path.getsize(path) - size))
        return handle.read().decode("utf-8", "replace")


def run_row(ctx, row, runs):
    measure(ctx, row)  # warm-up: imports in the page cache, the server's first serialization
    results = [measure(ctx, row) for _run in range(runs)]
    return {
        "seconds": statistics.median(r["seconds"] for r in results),
        "cpu": statistics.median(r["cpu"] for r in results),
        "work": statistics.median(r["work"] for r in results),
        "maxrss": statistics.median(r["maxrss"] for r in results),
        "stdout_bytes": results[-1]["stdout_bytes"],
        "rc": results[-1]["rc"],
        "out": results[-1]["out"],
        "samples": [round(r["seconds"], 3) for r in results],
    }


def write_script_inventory(ctx, list_output):
    """An executable inventory printing exactly what the plugin's --list printed: Ansible's own
    cost for that many hosts, groups and variables, with no API and no plugin."""
    with open(list_output) as handle:
        data = plain(json.load(handle))
    data_path = os.path.join(ctx.workdir, "script-inventory.json")
    with open(data_path, "w") as handle:
        json.dump(data, handle, separators=(",", ":"))
    script = os.path.join(ctx.workdir, "script_inventory.sh")
    with open(script, "w") as handle:
        handle.write("#!/bin/sh\n# --list prints everything (_meta included), so --host is never asked.\n"
                     "exec cat '%s'\n" % data_path)
    os.chmod(script, 0o755)
    return script


def start_server(ctx, nodes):
    kubeconfig = os.path.join(ctx.workdir, "kubeconfig")
    env = dict(os.environ, PYTHONPATH=TESTS)
    proc = subprocess.Popen([sys.executable, "-m", "fakekube", "--nodes", str(nodes), "--seed", str(SEED),
                             "--images-min", str(IMAGES_PER_NODE), "--images-max", str(IMAGES_PER_NODE),
                             "--tls", "--kubeconfig", kubeconfig],
                            stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True, cwd=TESTS)
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        raise SystemExit("the fake API server did not start (exit code %s)" % proc.returncode)
    info = json.loads(line)
    return proc, info


def bench_size(args, nodes, peer_collections, peers_problem):
    workdir = tempfile.mkdtemp(prefix="nodewatch-fleet-%d-" % nodes)
    ctx = Context()
    ctx.workdir = workdir
    ctx.nodes = nodes
    ctx.peer_collections = peer_collections
    ctx.peers_problem = peers_problem
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    server, info = start_server(ctx, nodes)
    try:
        ctx.server, ctx.token, ctx.kubeconfig = info["url"], info["token"], info["kubeconfig"]
        ctx.ca_file = info["ca_file"]
        ctx.server_pid = server.pid
        paths = [COLLECTIONS] + ([peer_collections] if peer_collections else [])
        ctx.env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.pathsep.join(paths), KUBECONFIG=ctx.kubeconfig,
                       ANSIBLE_HOME=os.path.join(workdir, "ansible-home"), ANSIBLE_NOCOLOR="1",
                       ANSIBLE_LOCAL_TEMP=os.path.join(workdir, "tmp"), ANSIBLE_LOCALHOST_WARNING="0",
                       ANSIBLE_INVENTORY_UNPARSED_WARNING="0", ANSIBLE_DEPRECATION_WARNINGS="0")
        for name in list(ctx.env):
            if name.startswith("K8S_AUTH_"):
                del ctx.env[name]
        ctx.sources = {}
        for name, cache in (("plain", None), ("cached", os.path.join(workdir, "inventory-cache"))):
            path = os.path.join(workdir, "%s.nodes.yml" % name)
            with open(path, "w") as handle:
                handle.write(_inventory_source(ctx.kubeconfig, cache))
            ctx.sources[name] = path
        results = {}
        for row in ROWS:
            if args.only and row.key not in args.only and row.key != "floor":
                continue
            problem = row.needs(ctx) if row.needs else None
            if row.key == "inventory_script":
                if "inventory_list" not in results:
                    problem = "needs the inventory_list row"
                else:
                    ctx.sources["script"] = write_script_inventory(ctx, results["inventory_list"]["out"])
            if problem:
                results[row.key] = {"skipped": problem}
                print("  %-52s skipped: %s" % (row.label, problem), flush=True)
                continue
            try:
                results[row.key] = run_row(ctx, row, args.runs)
            except RowFailed as exc:
                if row.key == "floor":
                    raise SystemExit(str(exc))
                # One broken path (a playbook being reworked, a peer that cannot run here) must not
                # cost the other measurements: it is reported, with why, in the table.
                results[row.key] = {"skipped": "failed: %s" % str(exc).splitlines()[0][:200]}
                print("  %-52s FAILED: %s" % (row.label, exc), flush=True)
                continue
            _print_row(row, results[row.key], results["floor"])
            if row.key == "floor":
                with open(results["floor"]["out"]) as handle:
                    floor_info = json.load(handle)
                results["floor"].update(floor_info)
                if floor_info["nodes"] != nodes:
                    raise SystemExit("the floor read %d nodes, not %d" % (floor_info["nodes"], nodes))
        if args.profile and nodes == args.largest:
            for key, limit in TIME_GOALS:
                result = results.get(key, {})
                missed = "seconds" in result and max(result["seconds"] / results["floor"]["seconds"],
                                                     result["work"] / results["floor"]["work"]) > limit
                if key in PROFILED_ROWS and missed:
                    result["profile"] = profile_row(ctx, key, result["seconds"])
                    print("  profile of %s: %s" % (key, ", ".join("%s %.2f s" % p for p in result["profile"]["phases"])),
                          flush=True)
    finally:
        server.terminate()
        server.wait(30)
    for result in results.values():
        result.pop("out", None)
    shutil.rmtree(workdir, ignore_errors=True)
    return {"nodes": nodes, "rows": results, "elapsed": time.perf_counter() - started,
            "load": [round(load_before, 2), round(os.getloadavg()[0], 2)]}


def _phase_time(stats, filename, function):
    names = function if isinstance(function, tuple) else (function,)
    total = 0.0
    for (path, _line, name), (_cc, _nc, _tt, cumulative, _callers) in stats.stats.items():
        if name in names and os.path.basename(path) == filename:
            total += cumulative
    return total


def _profile_shares(profile_path, phases):
    """``[(label, share of the profiled run)]``; the first phase without a function is what is
    left once the others (their top-level ones) are taken out."""
    import pstats
    stats = pstats.Stats(profile_path)
    whole = stats.total_tt
    shares = []
    for label, filename, function in phases:
        if filename is None:
            shares.append([label, None])
            continue
        shares.append([label, _phase_time(stats, filename, function) / whole])
    top_level = sum(share for label, share in shares if share is not None and not label.startswith("..."))
    for entry in shares:
        if entry[1] is None:
            entry[1] = max(0.0, 1.0 - top_level)
    return shares


def profile_row(ctx, key, wall):
    """One cProfile run of a path, its phases as seconds of the unprofiled ``wall``."""
    kind, spec = PROFILED_ROWS[key]
    out = os.path.join(ctx.workdir, "%s.prof" % key)
    if kind == "inventory":
        command = [sys.executable, "-m", "cProfile", "-o", out, os.path.join(BIN, "ansible-inventory"),
                   "-i", ctx.sources["plain"]] + spec
        subprocess.run(command, env=ctx.env, cwd=ctx.workdir, stdout=subprocess.DEVNULL, check=True)
        return {"process": "ansible-inventory", "wall": wall,
                "phases": [(label, share * wall) for label, share in _profile_shares(out, INVENTORY_PHASES)]}
    # A module's own process, run as AnsiballZ would run it (same interpreter, same arguments);
    # what is left of the playbook's wall time is Ansible's controller and worker.
    module, arguments = spec
    args_path = os.path.join(ctx.workdir, "%s.args.json" % key)
    with open(args_path, "w") as handle:
        json.dump({"ANSIBLE_MODULE_ARGS": dict(arguments, kubeconfig=ctx.kubeconfig)}, handle)
    path = os.path.join(REPO, "plugins", "modules", module + ".py")
    env = dict(ctx.env, PYTHONPATH=COLLECTIONS)
    started = time.perf_counter()
    subprocess.run([sys.executable, path, args_path], env=env, cwd=ctx.workdir, stdout=subprocess.DEVNULL, check=True)
    module_wall = time.perf_counter() - started
    subprocess.run([sys.executable, "-m", "cProfile", "-o", out, path, args_path], env=env, cwd=ctx.workdir,
                   stdout=subprocess.DEVNULL, check=True)
    phases = [("Ansible around the module: start-up, AnsiballZ, result decoding, checks and copies",
               max(0.0, wall - module_wall)), ("the module's process, of which:", module_wall)]
    shares = _profile_shares(out, MODULE_PHASES)
    engine = 1.0 - sum(share for _label, share in shares)
    phases += [("... " + label, share * module_wall) for label, share in shares]
    phases.append(("... the engine's own work and Python start-up", max(0.0, engine) * module_wall))
    return {"process": "ansible-playbook", "wall": wall, "phases": phases}


def _print_row(row, result, floor):
    print("  %-52s %7.2f s  x%5.2f  work %6.2f s  x%5.2f  %6.0f MiB  x%5.2f   %s" % (
        row.label, result["seconds"], result["seconds"] / floor["seconds"], result["work"],
        result["work"] / floor["work"], result["maxrss"] / MIB, result["maxrss"] / floor["maxrss"],
        " ".join("%.2f" % s for s in result["samples"])), flush=True)


# -- peers -------------------------------------------------------------------------------------

def ensure_peers(workdir_root):
    """The kubernetes.core collection (from the ansible package on PyPI) and matplotlib, in a venv
    beside the test venv. Returns (collections path holding only kubernetes.core, python, problem)."""
    python = os.path.join(PEERS_VENV, "bin", "python")
    stamp = os.path.join(PEERS_VENV, ".installed")
    want = "\n".join(PEERS_REQUIREMENTS)
    try:
        if not os.path.exists(python):
            subprocess.run([sys.executable, "-m", "venv", PEERS_VENV], check=True)
        if not os.path.exists(stamp) or open(stamp).read() != want:
            # --no-deps: the ansible package's collections are wanted, not a second ansible-core.
            subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                            PEERS_REQUIREMENTS[0]], check=True)
            subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
                           + list(PEERS_REQUIREMENTS[1:]), check=True)
            with open(stamp, "w") as handle:
                handle.write(want)
    except (OSError, subprocess.CalledProcessError) as exc:
        return None, None, "could not install the peers into %s: %s" % (PEERS_VENV, exc)
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    core = os.path.join(site, "ansible_collections", "kubernetes", "core")
    if not os.path.isdir(core):
        return None, python, "the ansible package in %s has no kubernetes.core" % PEERS_VENV
    # Only kubernetes.core is put on the collections path, nothing else of the ansible package.
    root = os.path.join(workdir_root, "peer-collections")
    os.makedirs(os.path.join(root, "ansible_collections", "kubernetes"), exist_ok=True)
    link = os.path.join(root, "ansible_collections", "kubernetes", "core")
    if not os.path.islink(link):
        os.symlink(core, link)
    return root, python, None


def _ensure_collection_link():
    link = os.path.join(COLLECTIONS, "ansible_collections", "nodewatch", "k8s")
    os.makedirs(os.path.dirname(link), exist_ok=True)
    if not os.path.islink(link):
        os.symlink(REPO, link)


def versions(peer_collections):
    found = {"python": platform.python_version()}
    probe = ("import ansible.release, kubernetes; print(ansible.release.__version__); "
             "print(kubernetes.__version__)")
    lines = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                           check=True).stdout.split()
    found["ansible-core"], found["kubernetes (Python client)"] = lines[0], lines[1]
    if peer_collections:
        with open(os.path.join(peer_collections, "ansible_collections", "kubernetes", "core",
                               "MANIFEST.json")) as handle:
            found["kubernetes.core"] = json.load(handle)["collection_info"]["version"]
    kubectl = shutil.which("kubectl")
    if kubectl:
        out = subprocess.run([kubectl, "version", "--client", "-o", "json"], capture_output=True, text=True,
                             check=False)
        try:
            found["kubectl"] = json.loads(out.stdout)["clientVersion"]["gitVersion"]
        except (ValueError, KeyError):
            found["kubectl"] = "present (version unknown)"
    return found


def machine():
    model = ""
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as handle:
            memory = "%.0f GiB" % (int(handle.readline().split()[1]) / 1024.0 / 1024.0)
    except (OSError, ValueError, IndexError):
        pass
    release = ""
    try:
        with open("/etc/os-release") as handle:
            for line in handle:
                if line.startswith("PRETTY_NAME="):
                    release = line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return {"cpu": model or platform.processor(), "cores": os.cpu_count(), "memory": memory,
            "os": release or platform.platform()}


# -- the report --------------------------------------------------------------------------------

def linear_fit(points):
    """Least squares y = a*x + b over (x, y) points: (a, b, r2)."""
    n = float(len(points))
    mean_x = sum(x for x, _y in points) / n
    mean_y = sum(y for _x, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _y in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    slope = sxy / sxx if sxx else 0.0
    intercept = mean_y - slope * mean_x
    ss_tot = sum((y - mean_y) ** 2 for _x, y in points)
    ss_res = sum((y - (slope * x + intercept)) ** 2 for x, y in points)
    return slope, intercept, (1.0 - ss_res / ss_tot) if ss_tot else 1.0


def _met(by_wall, by_work):
    if by_wall and by_work:
        return "yes"
    if by_wall:
        return "yes by wall time, not by work"
    if by_work:
        return "by work, not by wall time"
    return "**no**"


def goal_lines(biggest):
    rows = biggest["rows"]
    floor = rows["floor"]
    lines = ["| goal (at %s nodes) | wall | work | met |" % format(biggest["nodes"], ","), "|---|---:|---:|---|"]
    for key, limit in TIME_GOALS:
        if "seconds" not in rows.get(key, {}):
            continue
        wall = rows[key]["seconds"] / floor["seconds"]
        work = rows[key]["work"] / floor["work"]
        met = _met(wall <= limit, work <= limit)
        lines.append("| %s ≤ %.1f× floor | %.2f× | %.2f× | %s |" % (_label(key), limit, wall, work, met))
    for key, limit in RSS_GOALS:
        if "maxrss" not in rows.get(key, {}):
            continue
        ratio = rows[key]["maxrss"] / floor["maxrss"]
        lines.append("| %s peak RSS ≤ %.1f× the floor's | %.2f× | | %s |" % (
            _label(key), limit, ratio, "yes" if ratio <= limit else "**no**"))
    if "seconds" in rows.get("inventory_cached", {}) and "seconds" in rows.get("inventory_list", {}):
        saved = rows["inventory_list"]["seconds"] - rows["inventory_cached"]["seconds"]
        saved_work = rows["inventory_list"]["work"] - rows["inventory_cached"]["work"]
        lines.append("| cached `--list` faster than uncached by ≥ the floor (%.2f s; work %.2f s) | %.2f s | %.2f s | %s |" % (
            floor["seconds"], floor["work"], saved, saved_work,
            _met(saved >= floor["seconds"], saved_work >= floor["work"])))
    return lines


def budget_lines(biggest):
    """What the fixed costs leave of each goal, and the levers that would meet the goals."""
    rows = biggest["rows"]
    floor = rows["floor"]
    lines = ["### What would meet them", ""]
    noop = rows.get("noop", {})
    if "work" in noop:
        start = noop["work"] / floor["work"]
        lines += [
            "Fixed costs come first. `ansible-playbook` with no task costs %.2f× the floor's work here (%.2f s), "
            "and every path reads the NodeList once (1×): a playbook goal of 2.5× leaves %.2f× (%.2f s) for the "
            "module's own start-up (Python, AnsiballZ, `ansible.module_utils`, the kubernetes client) and for "
            "Ansible's handling of the result, a goal of 4× leaves %.2f×. In the issue's reference run (a real "
            "kube-apiserver, on an idle machine) `ansible-playbook` started in 0.4× its floor."
            % (start, noop["work"], 2.5 - 1 - start, (2.5 - 1 - start) * floor["work"], 4 - 1 - start), ""]
    drift, audit = rows.get("drift_check", {}), rows.get("audit", {})
    if "work" in drift and "work" in audit:
        lines += [
            "The audit costs %.2f× the drift check it contains (%.2f s against %.2f s; the issue measured 5×): "
            "one read of the nodes feeds the limits and the report, written in Python. What is left of the "
            "audit's goal is the drift check's own cost, %.2f× the floor here: the fixed costs above."
            % (audit["work"] / drift["work"], audit["seconds"], drift["seconds"], drift["work"] / floor["work"]), ""]
    lines += [
        "Levers, by the profiles above:",
        "",
        "- `kube/config.py` imports the whole `kubernetes` package in every module process and inventory run "
        "(its own row in each profile) to read the kubeconfig; a kubeconfig with a token or client certificate "
        "could be turned into the urllib3 pool without it, keeping the official client for exec plugins, "
        "auth providers and in-cluster configuration.",
        "- `kube/client.py` reads page after page: the API server serializes the next page while the caller "
        "waits. Fetching page n+1 on a thread while page n is reduced would overlap the server's time with "
        "ours (the floor does not overlap either, so this would bring paths below what the floor measures "
        "for the read).",
        "- The inventory's records call `images/accounting.py`'s `node_image_facts` for each node (its own "
        "row in the inventory profile); a totals-and-top-N path without notes, malformed entries and "
        "human-readable twins would cost less.",
        "- The rest is ansible-core's own per-value cost, outside this collection: `set_variable` inspects and "
        "tags every value a host carries, and every value a module returns is scanned for secrets, encoded, "
        "decoded, tagged and copied on the controller. The script-inventory row measures that cost for the "
        "inventory's data without any plugin; the defaults keep the number of values small (issue 11, items 2 "
        "and 3), and `hostvars_detail`, `detail: complete` and `summary_only` trade values for time.",
        "",
    ]
    return lines


def _label(key):
    for row in ROWS:
        if row.key == key:
            return row.label
    return key


def write_report(path, png_path, data):
    sizes = data["sizes"]
    lines = [
        "# Benchmarks: every user path against the cost of one read",
        "",
        "Generated by `tests/benchmarks/fleet.py` (`./dev bench`) on %s; the run took %.1f minutes." % (
            data["date"], data["elapsed"] / 60.0),
        "",
        "Machine: %s, %d cores, %s, %s. Versions: %s." % (
            data["machine"]["cpu"], data["machine"]["cores"], data["machine"]["memory"], data["machine"]["os"],
            ", ".join("%s %s" % kv for kv in data["versions"].items())),
        "",
        "Cluster: the fake API server of `tests/fakekube` in a process of its own (HTTPS on 127.0.0.1, bearer token), "
        "realistic nodes (labels, annotations, conditions, addresses, node info) with %d images each. "
        "Every path runs as a fresh process: one warm-up, then the median of %d runs. **Wall** is "
        "the whole process. **Work** is the CPU time (user + system) of its whole process tree plus "
        "the CPU time the API server spent meanwhile: on an idle machine the two mostly take turns, "
        "so work is close to wall time there, and unlike wall time it holds when other jobs share the "
        "CPUs (the 1-minute load average is given per size; on 2 cores anything above 2 means the "
        "wall times are stretched). **Peak RSS** is the largest single process of the tree (module "
        "processes included). **Floor**: a paged stdlib GET (`limit=500`) and `json.loads` of the "
        "NodeList, measured in the same run; `× floor` divides by it (wall by wall, work by work)."
        % (IMAGES_PER_NODE, data["runs"]),
        "",
    ]
    biggest = sizes[-1]
    lines += ["## Goals (issue 11)", ""] + goal_lines(biggest) + [""]
    profiled = [key for key, _limit in TIME_GOALS if "profile" in biggest["rows"].get(key, {})]
    if profiled:
        lines += ["### Where the time goes where a goal is not met (%s nodes)" % format(biggest["nodes"], ","), "",
                  "One cProfile run each; every phase is its share of that run applied to the wall time above "
                  "(the profiler slows Python code more than I/O, so shares are approximate). \"...\" lines are "
                  "part of the line above them.", ""]
        floor_seconds = biggest["rows"]["floor"]["seconds"]
        for key in profiled:
            profile = biggest["rows"][key]["profile"]
            lines += ["**%s**: %.2f s, %.2f× floor." % (_label(key), profile["wall"], profile["wall"] / floor_seconds), "",
                      "| phase | seconds | × floor |", "|---|---:|---:|"]
            for label, seconds in profile["phases"]:
                lines.append("| %s | %.2f | %.2f |" % (label, seconds, seconds / floor_seconds))
            lines.append("")
        lines += budget_lines(biggest)
    for size in sizes:
        rows = size["rows"]
        floor = rows["floor"]
        lines += [
            "## %s nodes" % format(size["nodes"], ","),
            "",
            "NodeList: %.1f MiB of JSON. Floor: %.2f s, %.0f MiB. Load average %.1f before, %.1f after." % (
                floor["bytes"] / MIB, floor["seconds"], floor["maxrss"] / MIB, size["load"][0], size["load"][1]),
            "",
            "| user path | wall | × floor | work | × floor | peak RSS | × floor | output |",
            "|---|---:|---:|---:|---:|---:|---:|---:|",
        ]
        for row in ROWS:
            result = rows.get(row.key)
            if result is None:
                continue
            if "skipped" in result:
                lines.append("| %s | – | – | – | – | – | – | %s |" % (row.label, result["skipped"]))
                continue
            lines.append("| %s | %.2f s | %.2f | %.2f s | %.2f | %.0f MiB | %.2f | %s |" % (
                row.label, result["seconds"], result["seconds"] / floor["seconds"], result["work"],
                result["work"] / floor["work"], result["maxrss"] / MIB, result["maxrss"] / floor["maxrss"],
                _size(result["stdout_bytes"])))
        lines.append("")
    if len(sizes) > 1:
        lines += [
            "## Growth",
            "",
            "Seconds per 1,000 nodes from a least-squares line through the sizes measured, its "
            "intercept (fixed start-up cost) and R² (1.0 = perfectly linear), for wall time and for work.",
            "",
            "| user path | wall s per 1,000 nodes | start-up | R² | work s per 1,000 nodes | start-up | R² |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        for row in ROWS:
            cells = []
            for measure_key in ("seconds", "work"):
                points = [(s["nodes"], s["rows"][row.key][measure_key]) for s in sizes
                          if measure_key in s["rows"].get(row.key, {})]
                if len(points) < 2:
                    break
                slope, intercept, r2 = linear_fit(points)
                cells.append("%.3f | %.2f s | %s" % (slope * 1000, intercept, "%.4f" % r2 if len(points) > 2 else "–"))
            if len(cells) == 2:
                lines.append("| %s | %s | %s |" % (row.label, cells[0], cells[1]))
        lines.append("")
        if png_path:
            lines += ["![wall time against cluster size](%s)" % os.path.relpath(png_path, os.path.dirname(path)), ""]
    with open(path, "w") as handle:
        handle.write("\n".join(lines))


def _size(count):
    if count >= MIB:
        return "%.1f MiB" % (count / MIB)
    if count >= 1024:
        return "%.0f KiB" % (count / 1024.0)
    return "%d B" % count


def plot(results_path, png_path):
    """Run by the peers' Python (matplotlib is not in the test venv)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    with open(results_path) as handle:
        data = json.load(handle)
    sizes = data["sizes"]
    figure, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 5.5))
    colors = plt.get_cmap("tab20").colors
    markers = "osD^v<>ph*XP"
    for index, row in enumerate(ROWS):
        points = [(s["nodes"], s["rows"][row.key]["seconds"], s["rows"][row.key]["work"],
                   s["rows"][row.key]["maxrss"] / MIB) for s in sizes if "seconds" in s["rows"].get(row.key, {})]
        if len(points) < 2:
            continue
        style = {"linewidth": 1.3, "color": colors[(2 * index + index // 10) % len(colors)], "marker": markers[index % len(markers)]}
        if row.key == "floor":
            style.update(linewidth=2.8, color="black", marker="o")
        for axis, column in ((left, 1), (middle, 2), (right, 3)):
            axis.plot([p[0] for p in points], [p[column] for p in points], label=row.label, **style)
    for axis, title, unit in ((left, "wall time", "seconds"), (middle, "work (CPU: path + API server)", "seconds"),
                              (right, "peak RSS (largest process)", "MiB")):
        axis.set_title(title)
        axis.set_xlabel("nodes (50 images each)")
        axis.set_ylabel(unit)
    for axis in (left, middle, right):
        axis.grid(True, alpha=0.3)
        axis.set_xlim(left=0)
        axis.set_ylim(bottom=0)
    handles, labels = left.get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=3, fontsize=8)
    figure.tight_layout(rect=(0, 0.17, 1, 1))
    os.makedirs(os.path.dirname(png_path), exist_ok=True)
    figure.savefig(png_path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--sizes", default="500,2000,5000", help="cluster sizes, comma-separated (default %(default)s)")
    parser.add_argument("--runs", type=int, default=2, help="timed runs per path after the warm-up (median kept)")
    parser.add_argument("--only", action="append", default=[], choices=[r.key for r in ROWS],
                        help="measure only these paths (and the floor); repeatable")
    parser.add_argument("--out", default=os.path.join(REPO, "docs", "benchmarks.md"), help="the report (Markdown)")
    parser.add_argument("--png", default=os.path.join(REPO, "docs", "images", "benchmarks.png"), help="the plot")
    parser.add_argument("--json", help="also keep the raw results here")
    parser.add_argument("--no-profile", dest="profile", action="store_false",
                        help="do not profile the paths that miss their goal at the largest size")
    parser.add_argument("--plot", help=argparse.SUPPRESS)  # results JSON: draw --png from it and stop
    parser.add_argument("--from-json", help="write the report (and the plot) from results kept with --json, "
                                            "without measuring")
    args = parser.parse_args()
    if args.plot:
        return plot(args.plot, args.png)
    if args.from_json:
        with open(args.from_json) as handle:
            data = json.load(handle)
        png = None
        if len(data["sizes"]) > 1 and os.path.exists(os.path.join(PEERS_VENV, "bin", "python")):
            subprocess.run([os.path.join(PEERS_VENV, "bin", "python"), os.path.abspath(__file__), "--plot",
                            args.from_json, "--png", args.png], check=True)
            png = args.png
        write_report(args.out, png, data)
        print("wrote %s from %s" % (args.out, args.from_json))
        return 0

    # A stopped run still stops its API servers (the finally blocks run on SystemExit).
    signal.signal(signal.SIGTERM, lambda _signum, _frame: sys.exit(143))
    started = time.perf_counter()
    sizes = sorted(int(s) for s in args.sizes.split(","))
    args.largest = sizes[-1]
    _ensure_collection_link()
    scratch = tempfile.mkdtemp(prefix="nodewatch-fleet-")
    peer_collections, peers_python, peers_problem = ensure_peers(scratch)
    data = {"date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "runs": args.runs, "machine": machine(), "versions": versions(peer_collections), "sizes": []}
    print("%s\n%s" % (data["machine"], data["versions"]), flush=True)
    for nodes in sizes:
        print("%s nodes x %d images:" % (format(nodes, ","), IMAGES_PER_NODE), flush=True)
        data["sizes"].append(bench_size(args, nodes, peer_collections, peers_problem))
    data["elapsed"] = time.perf_counter() - started
    results_path = args.json or os.path.join(scratch, "results.json")
    with open(results_path, "w") as handle:
        json.dump(data, handle, indent=1)
    png = None
    if len(sizes) > 1 and peers_python:
        subprocess.run([peers_python, os.path.abspath(__file__), "--plot", results_path, "--png", args.png],
                       check=True)
        png = args.png
    data["elapsed"] = time.perf_counter() - started
    write_report(args.out, png, data)
    shutil.rmtree(scratch, ignore_errors=True)
    print("wrote %s%s in %.1f minutes" % (args.out, " and %s" % png if png else "", data["elapsed"] / 60.0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
