"""python -m fakekube --nodes 50 --seed 1 --port 0 --tls --kubeconfig /path/kubeconfig

Starts the fake apiserver on 127.0.0.1 seeded with a realistic cluster, writes a kubeconfig
(cluster, token user, context, current-context), prints one JSON line
``{"url": ..., "kubeconfig": ..., "token": ..., "ca_file": ..., "pid": ...}`` on stdout and
serves until SIGTERM/SIGINT. ``--fault-plan JSON`` injects random faults (``fakekube.faults.FaultPlan``);
``--fault-report PATH`` writes what was injected when it stops.
"""
import argparse
import json
import os
import signal
import sys
import threading

if __package__ in (None, ""):
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    __package__ = "fakekube"  # noqa: A001

from fakekube import FakeKube, Rule, make_cluster  # noqa: E402
from fakekube.faults import FaultPlan  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m fakekube", description=__doc__.splitlines()[0])
    p.add_argument("--nodes", type=int, default=50)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--tls", action="store_true")
    p.add_argument("--kubeconfig", required=True)
    p.add_argument("--token", default=None, help="admin token (random by default)")
    p.add_argument("--reader-token", default=None,
                   help="also accept this token for a read-only user (get/list/watch nodes, nodes/proxy)")
    p.add_argument("--images-min", type=int, default=0)
    p.add_argument("--images-max", type=int, default=50)
    p.add_argument("--bookmark-interval", type=float, default=60.0)
    p.add_argument("--fault-plan", default=None, metavar="JSON",
                   help='random faults: {"seed": 1, "rates": {"reset": 0.01, ...}, "slow_seconds": 2, ...} '
                        "(the arguments of fakekube.faults.FaultPlan)")
    p.add_argument("--fault-report", default=None, metavar="PATH",
                   help="at exit, write the faults injected (counts and each one) to PATH as JSON")
    args = p.parse_args(argv)
    plan = None
    if args.fault_plan:
        try:
            spec = json.loads(args.fault_plan)
            plan = FaultPlan(**spec)
        except (ValueError, TypeError) as exc:
            p.error("--fault-plan: %s" % exc)

    tokens = {}
    if args.reader_token:
        tokens[args.reader_token] = Rule(user="ci-reader", allow=[
            ("get", "nodes"), ("list", "nodes"), ("watch", "nodes"), ("get", "nodes/proxy")])
    kube = FakeKube(tls=args.tls, tokens=tokens, admin_token=args.token, port=args.port,
                    bookmark_interval=args.bookmark_interval)
    kube.seed_nodes(make_cluster(args.nodes, seed=args.seed,
                                 images_per_node=(args.images_min, args.images_max)))
    kube.start()
    kube.write_kubeconfig(args.kubeconfig)
    if plan is not None:
        kube.set_fault_plan(plan)
    stop = threading.Event()

    def on_signal(signum, frame):
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    print(json.dumps({"url": kube.url, "kubeconfig": os.path.abspath(args.kubeconfig),
                      "token": kube.admin_token, "ca_file": kube.ca_file, "pid": os.getpid()}),
          flush=True)
    try:
        while not stop.wait(0.5):
            pass
    finally:
        kube.stop()
        if plan is not None and args.fault_report:
            with open(args.fault_report, "w") as handle:
                json.dump({"seed": plan.seed, "rates": plan.rates, "counts": plan.counts(),
                           "injected": plan.injected}, handle)
    return 0


if __name__ == "__main__":
    sys.exit(main())
