"""make_cluster realism/determinism, and serving a 5,000-node cluster."""
import collections
import datetime
import json
import re
import time

import pytest

from fakekube import FakeKube, make_cluster
from fakekube.quantity import canonical

NOW = datetime.datetime(2026, 11, 25, 15, 51, 48, tzinfo=datetime.timezone.utc)


def test_deterministic():
    a = make_cluster(40, seed=7, now=NOW)
    b = make_cluster(40, seed=7, now=NOW)
    assert json.dumps(a) == json.dumps(b)
    assert json.dumps(a) != json.dumps(make_cluster(40, seed=8, now=NOW))


def test_node_shape():
    nodes = make_cluster(200, seed=1, now=NOW)
    names = [n["metadata"]["name"] for n in nodes]
    assert names[:3] == ["cp-1", "cp-2", "cp-3"] and "worker-a-12" in names and len(set(names)) == 200
    zones = collections.Counter(n["metadata"]["labels"]["topology.kubernetes.io/zone"] for n in nodes)
    assert len(zones) == 3
    for n in nodes:
        md, spec, st = n["metadata"], n["spec"], n["status"]
        labels = md["labels"]
        assert labels["kubernetes.io/hostname"] == md["name"] and labels["kubernetes.io/os"] == "linux"
        assert labels["kubernetes.io/arch"] in ("amd64", "arm64")
        assert "node.kubernetes.io/instance-type" in labels and "topology.kubernetes.io/region" in labels
        is_cp = md["name"].startswith("cp-")
        assert ("node-role.kubernetes.io/control-plane" in labels) is is_cp
        taints = {(t["key"], t["effect"]) for t in spec.get("taints", [])}
        assert (("node-role.kubernetes.io/control-plane", "NoSchedule") in taints) is is_cp
        assert (("node.kubernetes.io/unschedulable", "NoSchedule") in taints) is bool(spec.get("unschedulable"))
        assert [c["type"] for c in st["conditions"]] == ["MemoryPressure", "DiskPressure", "PIDPressure", "Ready"]
        for c in st["conditions"]:
            assert {"lastHeartbeatTime", "lastTransitionTime", "reason", "message"} <= set(c)
        types = [a["type"] for a in st["addresses"]]
        assert "InternalIP" in types and "Hostname" in types
        assert all(canonical(v) == v for v in st["capacity"].values())
        assert all(canonical(v) == v for v in st["allocatable"].values())
        assert re.fullmatch(r"\d+Ki", st["capacity"]["memory"])
        info = st["nodeInfo"]
        assert info["containerRuntimeVersion"] == "containerd://1.7.22"
        assert info["kubeletVersion"].startswith("v1.3") and info["architecture"] == labels["kubernetes.io/arch"]
        for k in ("osImage", "kernelVersion", "machineID", "bootID", "systemUUID"):
            assert info[k]
        images = st.get("images", [])
        assert len(images) <= 50
        sizes = [i["sizeBytes"] for i in images]
        assert sizes == sorted(sizes, reverse=True)
    ready = collections.Counter(
        [c for c in n["status"]["conditions"] if c["type"] == "Ready"][0]["status"] for n in nodes)
    assert ready["True"] == 190 and ready["False"] + ready["Unknown"] == 10 and ready["Unknown"] > 0
    assert sum(1 for n in nodes if n["spec"].get("unschedulable")) == 10
    assert sum(1 for n in nodes if "ephemeral-storage" not in n["status"]["capacity"]) == 4
    assert sum(1 for n in nodes if len(n["status"].get("images", [])) == 50) > 10


def test_images_are_shared_and_realistic():
    nodes = make_cluster(100, seed=2, now=NOW)
    by_digest = collections.defaultdict(set)
    digest_only = tag_only = 0
    for n in nodes:
        for img in n["status"].get("images", []):
            digests = [x for x in img["names"] if "@sha256:" in x]
            tags = [x for x in img["names"] if "@" not in x]
            digest_only += not tags
            tag_only += not digests
            for d in digests:
                assert re.fullmatch(r"[^@]+@sha256:[0-9a-f]{64}", d)
                by_digest[d].add(img["sizeBytes"])
    assert all(len(s) == 1 for s in by_digest.values())          # same digest, same size
    pause = [d for d in by_digest if d.startswith("registry.k8s.io/pause@")]
    assert pause and 250_000 < next(iter(by_digest[pause[0]])) < 400_000
    assert digest_only > 0 and tag_only > 0
    sizes = [s for v in by_digest.values() for s in v]
    assert max(sizes) > 3 * 1024 ** 3                              # CUDA-class images exist


def test_options():
    nodes = make_cluster(30, seed=1, images_per_node=(0, 0), not_ready_fraction=0, cordoned_fraction=0, now=NOW)
    assert all("images" not in n["status"] for n in nodes)
    assert not any(n["spec"].get("unschedulable") for n in nodes)
    nodes = make_cluster(30, seed=1, images_per_node=(5, 5), now=NOW)
    assert {len(n["status"]["images"]) for n in nodes} == {5}


@pytest.mark.slow
def test_5000_nodes_generate_and_serve_paged(make_api):
    t0 = time.perf_counter()
    nodes = make_cluster(5000, seed=1, images_per_node=(50, 50))
    gen = time.perf_counter() - t0
    assert all(len(n["status"]["images"]) == 50 for n in nodes[3:])
    with FakeKube() as kube:
        t0 = time.perf_counter()
        kube.seed_nodes(nodes)
        seed = time.perf_counter() - t0
        api = make_api(kube)
        t0 = time.perf_counter()
        total, cont, pages = 0, None, 0
        while True:
            q = {"limit": 500}
            if cont:
                q["continue"] = cont
            r = api.get("/api/v1/nodes", query=q)
            total += len(r.json["items"])
            pages += 1
            cont = r.json["metadata"].get("continue")
            if not cont:
                break
        serve = time.perf_counter() - t0
    print("\nmake_cluster(5000): %.2fs  seed_nodes: %.2fs  10 pages of 500 (50 images each): %.2fs"
          % (gen, seed, serve))
    # Speed is measured in tests/benchmarks, not asserted here (no timed assertions in the suite).
    assert total == 5000 and pages == 10
