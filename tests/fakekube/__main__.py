"""python -m fakekube --nodes 50 --seed 1 --port 0 --tls --kubeconfig /path/kubeconfig

Starts the fake apiserver on 127.0.0.1 seeded with a realistic cluster, writes a kubeconfig
(cluster, token user, context, current-context), prints one JSON line
``{"url": ..., "kubeconfig": ..., "token": ..., "ca_file": ..., "pid": ...}`` on stdout and
serves until SIGTERM/SIGINT.
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
    args = p.parse_args(argv)

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
    return 0


if __name__ == "__main__":
    sys.exit(main())
