"""The README's main job: run the audit playbook against a cluster.

With KUBECONFIG, ~/.kube/config or K8S_AUTH_* settings present, the audit runs against that
cluster. Otherwise an embedded fake cluster (tests/fakekube, seeded with realistic nodes) is
started on 127.0.0.1 for the duration of the run, so the audit can be tried anywhere.
"""
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BIN = os.path.dirname(sys.executable)


def has_cluster_configuration():
    if any(name.startswith("K8S_AUTH_") for name in os.environ):
        return True
    if os.environ.get("KUBECONFIG"):
        return True
    return os.path.exists(os.path.expanduser("~/.kube/config"))


def start_fake_cluster(workdir, nodes):
    kubeconfig = os.path.join(workdir, "kubeconfig")
    env = dict(os.environ, PYTHONPATH=os.path.join(ROOT, "tests"))
    proc = subprocess.Popen(
        [sys.executable, "-m", "fakekube", "--nodes", str(nodes), "--seed", "7", "--tls",
         "--kubeconfig", kubeconfig],
        stdout=subprocess.PIPE, stdin=subprocess.DEVNULL, env=env, text=True)
    line = proc.stdout.readline()
    if not line:
        proc.wait()
        sys.exit("the embedded fake cluster did not start (exit code %s)" % proc.returncode)
    info = json.loads(line)
    return proc, info.get("kubeconfig", kubeconfig), info.get("url")


def main(argv):
    playbook_args = list(argv)
    env = dict(os.environ)
    server = None
    with tempfile.TemporaryDirectory(prefix="nodewatch-demo-") as workdir:
        if not has_cluster_configuration():
            nodes = int(os.environ.get("NODEWATCH_DEMO_NODES", "40"))
            server, kubeconfig, url = start_fake_cluster(workdir, nodes)
            env["KUBECONFIG"] = kubeconfig
            print("No kubeconfig found: started an embedded fake cluster of %d nodes at %s" % (nodes, url),
                  flush=True)
        try:
            command = [os.path.join(BIN, "ansible-playbook"), "nodewatch.k8s.audit"] + playbook_args
            return subprocess.call(command, env=env, stdin=subprocess.DEVNULL)
        finally:
            if server is not None:
                server.terminate()
                server.wait(timeout=10)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
