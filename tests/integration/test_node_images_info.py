"""node_images_info through ansible-playbook against the fake API server.

One playbook run covers the module's options on a seeded cluster with the shapes real clusters
have (roles, zones, NotReady, cordoned, truncated and missing image lists, images without digest,
a node without ephemeral-storage, kubelets that refuse or cannot be reached); a second runs every
task of the module's EXAMPLES exactly as documented.
"""
import copy

import pytest
import yaml

from ansible_collections.nodewatch.k8s.plugins.modules import node_images_info
from fakekube import make_cluster
from harness import local_play, run_playbook

pytestmark = pytest.mark.integration

ZONE = "topology.kubernetes.io/zone"


def _key(entry):
    """An image's identity as an independent reader would take it: a digest name, else the first name."""
    names = entry.get("names") or []
    digests = sorted(n for n in names if "@" in n)
    return digests[0] if digests else names[0]


def build_cluster():
    """make_cluster's nodes, plus the edge cases a 12-node sample does not always contain."""
    nodes = make_cluster(12, seed=3)
    by_name = dict((n["metadata"]["name"], n) for n in nodes)
    for name in ("worker-a-1", "worker-a-2", "worker-b-1"):
        by_name[name]["metadata"]["labels"]["node-role.kubernetes.io/worker"] = ""
    no_storage = by_name["worker-a-6"]
    no_storage["status"]["capacity"].pop("ephemeral-storage", None)
    no_storage["status"]["allocatable"].pop("ephemeral-storage", None)
    by_name["worker-b-2"]["status"].pop("images", None)
    tag_only = by_name["worker-a-4"]["status"]["images"][0]
    tag_only["names"] = [n for n in tag_only["names"] if "@" not in n]
    return nodes


@pytest.fixture
def cluster(fake_kube):
    nodes = build_cluster()
    fake_kube.add_nodes(copy.deepcopy(nodes))
    return dict((n["metadata"]["name"], n) for n in nodes)


def test_node_images_info_on_a_realistic_cluster(fake_kube, cluster, kubeconfig, tmp_path):
    fake_kube.set_kubelet_summary("worker-a-1", status=403)
    fake_kube.set_kubelet_summary("worker-a-2", status=503)
    fake_kube.set_kubelet_summary("worker-a-3", summary={"node": {"nodeName": "worker-a-3", "runtime": {
        "imageFs": {"capacityBytes": 100 * 2 ** 30, "usedBytes": 87 * 2 ** 30, "availableBytes": 13 * 2 ** 30}}}})
    fake_kube.clear_requests()
    run = run_playbook(tmp_path, local_play([
        {"name": "all", "nodewatch.k8s.node_images_info": {"top": 3}, "register": "all"},
        {"name": "all in check mode", "nodewatch.k8s.node_images_info": {"top": 3}, "check_mode": True},
        {"name": "complete", "nodewatch.k8s.node_images_info": {"top": 3, "detail": "complete"}},
        {"name": "one per node", "nodewatch.k8s.node_images_info": {"top_per_node": 1}},
        {"name": "summary", "nodewatch.k8s.node_images_info": {
            "summary_only": True, "group_by": [ZONE, "node-role"]}},
        {"name": "nginx", "nodewatch.k8s.node_images_info": {
            "image_filter": "nginx:*", "label_selectors": ["node-role.kubernetes.io/worker"],
            "query": "nodes[].{name: name, count: image_count}"}},
        {"name": "regex", "nodewatch.k8s.node_images_info": {
            "image_filter": "^ghcr\\.io/acme/", "image_filter_type": "regex", "summary_only": True}},
        {"name": "imagefs", "nodewatch.k8s.node_images_info": {"imagefs": True, "imagefs_concurrency": 3}},
        {"name": "one node", "nodewatch.k8s.node_images_info": {"name": "cp-1"}},
        {"name": "no such node", "nodewatch.k8s.node_images_info": {"name": "no-such-node"}},
        {"name": "bad regex", "nodewatch.k8s.node_images_info": {
            "image_filter": "nginx(", "image_filter_type": "regex"}, "ignore_errors": True},
        {"name": "bad selector", "nodewatch.k8s.node_images_info": {
            "label_selectors": ["zone in (a"]}, "ignore_errors": True},
    ], kubeconfig=kubeconfig))
    assert run.rc == 0, run

    result = run.result("all")
    assert result["changed"] is False and result["count"] == 12
    nodes = dict((n["name"], n) for n in result["nodes"])
    assert sorted(nodes) == sorted(cluster)
    for name, raw in cluster.items():
        images = raw["status"].get("images") or []
        facts = nodes[name]
        assert facts["image_count"] == len(images), name
        assert facts["total_bytes"] == sum(i["sizeBytes"] for i in images), name
        assert facts["truncated"] is (len(images) == 50), name
        assert len(facts["top_images"]) == min(3, len(images))
        assert [i["size_bytes"] for i in facts["top_images"]] == sorted((i["sizeBytes"] for i in images), reverse=True)[:3]
        assert "images" not in facts, "the full image list must not be returned"
        assert facts["zone"] == raw["metadata"]["labels"].get(ZONE)
        assert facts["schedulable"] is not bool(raw["spec"].get("unschedulable"))
    assert any(n["truncated"] for n in nodes.values()), "the sample should have a truncated node"
    # Compact entries (the default): nothing another field already says.
    for facts in nodes.values():
        assert "max_images" not in facts and "notes" not in facts and "malformed" not in facts, facts["name"]
        assert all(set(i) == {"name", "digest", "tags", "size_bytes"} for i in facts["top_images"])
    # Complete entries: every field, the same numbers.
    complete = dict((n["name"], n) for n in run.result("complete")["nodes"])
    for name, facts in nodes.items():
        full = complete[name]
        assert dict((k, v) for k, v in full.items() if k in facts and k != "top_images") == \
            dict((k, v) for k, v in facts.items() if k != "top_images")
        assert full["max_images"] == 50 and full["malformed"] == []
        assert [i["size_bytes"] for i in full["top_images"]] == [i["size_bytes"] for i in facts["top_images"]]
        assert all(i["size_human"].endswith("B") for i in full["top_images"])
        assert bool(full["notes"]) is full["truncated"], name  # the sentence explaining a truncated list
    assert all(len(n["top_images"]) == min(1, n["image_count"]) for n in run.result("one per node")["nodes"])
    # top_per_node sizes the per-node lists only; top (10 by default here) sizes the cluster's.
    assert run.result("one per node")["cluster"]["largest_images"][:3] == result["cluster"]["largest_images"]
    assert len(run.result("one per node")["cluster"]["largest_images"]) == 10
    assert nodes["worker-a-6"]["capacity_bytes"] is None and nodes["worker-a-6"]["percent_of_capacity"] is None
    assert nodes["worker-b-2"]["image_count"] == 0 and nodes["worker-b-2"]["total_bytes"] == 0
    assert nodes["worker-a-4"]["top_images"][0]["digest"] is None
    assert nodes["worker-a-4"]["top_images"][0]["tags"]
    assert nodes["cp-1"]["roles"] == ["control-plane"] and nodes["worker-a-1"]["roles"] == ["worker"]
    assert not all(n["ready"] for n in nodes.values()) and not all(n["schedulable"] for n in nodes.values())
    # Percent of capacity, from the node's own quantity.
    cp = cluster["cp-1"]["status"]["capacity"]["ephemeral-storage"]
    assert cp.endswith("Ki") or cp.endswith("Gi")
    capacity = int(cp[:-2]) << (10 if cp.endswith("Ki") else 30)
    assert nodes["cp-1"]["capacity_bytes"] == capacity
    assert nodes["cp-1"]["percent_of_capacity"] == round(nodes["cp-1"]["total_bytes"] * 100.0 / capacity, 2)

    report = result["cluster"]
    all_entries = [e for raw in cluster.values() for e in raw["status"].get("images") or []]
    holders = {}
    for raw in cluster.values():
        for entry in raw["status"].get("images") or []:
            holders.setdefault(_key(entry), set()).add(raw["metadata"]["name"])
    assert report["node_count"] == 12
    assert report["distinct_images"] == len(holders)
    assert report["total_bytes"] == sum(e["sizeBytes"] for e in all_entries)
    assert report["shared_bytes"] + report["unique_bytes"] == report["total_bytes"]
    assert report["lower_bound"] is True and report["nodes_truncated"] == sum(n["truncated"] for n in nodes.values())
    most_common = report["most_common_images"][0]
    assert most_common["node_count"] == max(len(h) for h in holders.values())
    assert run.result("all in check mode")["cluster"] == report

    summary = run.result("summary")
    assert summary["nodes"] == [] and summary["count"] == 12
    zones = summary["cluster"]["groups"][ZONE]
    assert sum(g["node_count"] for g in zones.values()) == 12 and set(zones) == {"eu-west-1a", "eu-west-1b", "eu-west-1c"}
    roles = summary["cluster"]["groups"]["node-role"]
    assert roles["control-plane"]["node_count"] == 3 and roles["worker"]["node_count"] == 3
    assert roles["<none>"]["node_count"] == 6

    nginx = run.result("nginx")
    assert sorted(n["name"] for n in nginx["nodes"]) == ["worker-a-1", "worker-a-2", "worker-b-1"]
    for item in nginx["query_result"]:
        raw = cluster[item["name"]]["status"].get("images") or []
        assert item["count"] == sum(1 for e in raw if any("/nginx:" in n for n in e["names"]))
    for facts in nginx["nodes"]:
        assert all(top["name"] == "docker.io/library/nginx" for top in facts["top_images"])

    regex = run.result("regex")["cluster"]
    acme = [e for e in all_entries if e["names"][0].startswith("ghcr.io/acme/")]
    assert regex["image_count_total"] == len(acme) and regex["total_bytes"] == sum(e["sizeBytes"] for e in acme)

    imagefs = dict((n["name"], n) for n in run.result("imagefs")["nodes"])
    assert run.status("imagefs") == "ok"
    assert "nodes/proxy" in imagefs["worker-a-1"]["imagefs_error"] and "imagefs" not in imagefs["worker-a-1"]
    assert "unreachable" in imagefs["worker-a-2"]["imagefs_error"] and "503" in imagefs["worker-a-2"]["imagefs_error"]
    assert imagefs["worker-a-3"]["imagefs"] == {
        "capacity_bytes": 100 * 2 ** 30, "used_bytes": 87 * 2 ** 30, "available_bytes": 13 * 2 ** 30,
        "percent": 87.0, "capacity_human": "100.0 GiB", "used_human": "87.0 GiB"}
    measured = [n for n in imagefs.values() if "imagefs" in n]
    assert len(measured) == 10
    for facts in measured:  # the kubelet's real usage is below the sum of sizes (shared layers)
        if facts["name"] != "worker-a-3" and facts["total_bytes"]:
            assert facts["imagefs"]["used_bytes"] < facts["total_bytes"]
    fs_total = run.result("imagefs")["cluster"]["imagefs"]
    assert fs_total["nodes_measured"] == 10 and fs_total["nodes_failed"] == 2

    assert [n["name"] for n in run.result("one node")["nodes"]] == ["cp-1"]
    assert run.result("no such node")["count"] == 0 and run.result("no such node")["nodes"] == []
    assert run.status("bad regex") == "failed"
    assert "image_filter" in run.result("bad regex")["msg"] and "regular expression" in run.result("bad regex")["msg"]
    assert run.status("bad selector") == "failed"
    assert "label_selectors" in run.result("bad selector")["msg"]

    # Read-only: nothing but GETs, nodes listed in pages, one Summary per node and imagefs task.
    methods = set(method for method, _path, _query, _user in fake_kube.requests)
    assert methods == {"GET"}
    summaries = [p for _m, p, _q, _u in fake_kube.requests if p.endswith("/proxy/stats/summary")]
    assert len(summaries) == 12


def test_every_example_runs_as_written(fake_kube, cluster, kubeconfig, tmp_path):
    examples = yaml.safe_load(node_images_info.EXAMPLES)
    fake_kube.set_kubelet_summary("worker-a-2", status=503)
    # The examples name no cluster: like a user's, they use KUBECONFIG.
    run = run_playbook(tmp_path, local_play(examples), env={"KUBECONFIG": kubeconfig})
    assert run.rc == 0, run
    names = [task["name"] for task in examples]
    ran = [r["task"] for r in run.results]
    assert all(name in ran for name in names), (names, ran)
    assert run.result("Image storage of every node, and of the cluster")["count"] == 12
    nginx = run.result("Where nginx images are, and how much they weigh (workers only)")
    assert sorted(item["node"] for item in nginx["query_result"]) == ["worker-a-1", "worker-a-2", "worker-b-1"]
    summary = run.result("Summary of a big cluster, totalled per zone and per role")
    assert summary["nodes"] == [] and set(summary["cluster"]["groups"]) == {ZONE, "node-role"}
    fs = run.result("Real image filesystem usage read from the kubelets")
    assert any("imagefs_error" in n for n in fs["nodes"]) and any("imagefs" in n for n in fs["nodes"])
    assert all(n["schedulable"] for n in fs["nodes"])
