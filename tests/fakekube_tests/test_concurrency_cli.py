"""Many concurrent readers/writers stay consistent; the command-line entry point."""
import json
import os
import signal
import subprocess
import sys
import threading

from fakekube import FakeKube, make_cluster


def test_concurrent_readers_and_writers(make_api, watch):
    with FakeKube() as kube:
        kube.seed_nodes(make_cluster(30, seed=4))
        start_rv = kube.resource_version
        r, events = watch(kube, "/api/v1/nodes?watch=1&resourceVersion=%s" % start_rv, read_timeout=20)
        errors, written = [], []
        lock = threading.Lock()
        names = [n["metadata"]["name"] for n in kube.list("v1", "Node")]

        def writer(i):
            api = make_api(kube)
            for j in range(10):
                name = names[(i * 7 + j) % len(names)]
                resp = api.patch("/api/v1/nodes/%s" % name, {"metadata": {"labels": {"w%d" % i: str(j)}}})
                if resp.status != 200:
                    errors.append(resp)
                    continue
                with lock:
                    written.append(int(resp.json["metadata"]["resourceVersion"]))

        def conflicting_writer(i):
            api = make_api(kube)
            for j in range(6):
                while True:        # the usual get / modify / put-with-resourceVersion retry loop
                    node = api.get("/api/v1/nodes/cp-1").json
                    n = int(node["metadata"]["annotations"].get("counter", "0"))
                    node["metadata"]["annotations"]["counter"] = str(n + 1)
                    resp = api.put("/api/v1/nodes/cp-1", node)
                    if resp.status == 200:
                        with lock:
                            written.append(int(resp.json["metadata"]["resourceVersion"]))
                        break
                    if resp.status != 409:
                        errors.append(resp)
                        break

        def reader():
            api = make_api(kube)
            for dummy in range(8):
                resp = api.get("/api/v1/nodes?limit=7")
                items, cont = resp.json["items"], resp.json["metadata"].get("continue")
                rv = resp.json["metadata"]["resourceVersion"]
                while cont:
                    page = api.get("/api/v1/nodes", query={"limit": 7, "continue": cont}).json
                    if page["metadata"]["resourceVersion"] != rv:
                        errors.append(("snapshot drift", rv, page["metadata"]["resourceVersion"]))
                    items += page["items"]
                    cont = page["metadata"].get("continue")
                if len(items) != 30:
                    errors.append(("page count", len(items)))

        threads = [threading.Thread(target=writer, args=(i,)) for i in range(4)]
        threads += [threading.Thread(target=conflicting_writer, args=(i,)) for i in range(3)]
        threads += [threading.Thread(target=reader) for dummy in range(3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors[:3]
        assert len(written) == 4 * 10 + 3 * 6 and len(set(written)) == len(written)
        assert kube.get("v1", "Node", "cp-1")["metadata"]["annotations"]["counter"] == "18"
        # the watch saw every write, in resourceVersion order
        seen = []
        for ev in events:
            seen.append(int(ev["object"]["metadata"]["resourceVersion"]))
            if len(seen) == len(written):
                break
        r.close()
        assert seen == sorted(written)


def test_cli_serves_until_sigterm(tmp_path):
    kubeconfig = str(tmp_path / "kc" / "config")
    env = dict(os.environ, PYTHONPATH=os.path.join(os.path.dirname(__file__), ".."))
    proc = subprocess.Popen([sys.executable, "-m", "fakekube", "--nodes", "5", "--seed", "1", "--port", "0",
                             "--tls", "--kubeconfig", kubeconfig], stdout=subprocess.PIPE, env=env, text=True)
    try:
        line = proc.stdout.readline()
        info = json.loads(line)
        assert info["url"].startswith("https://127.0.0.1:") and info["kubeconfig"] == kubeconfig
        from kubernetes import client, config
        v1 = client.CoreV1Api(config.new_client_from_config(config_file=kubeconfig))
        assert len(v1.list_node().items) == 5
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
