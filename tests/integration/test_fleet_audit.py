"""ansible-playbook nodewatch.k8s.fleet_audit over several fake clusters at once.

Four clusters: one with a node over its limit, one within its limits, one whose API server is
down and one that forbids listing nodes. Each reachable cluster gets its own report in three
formats, the fleet summary is written in three formats, the two unreadable clusters are named
as such without stopping the others, and the play fails at the end naming cluster, node, rule,
value and limit.
"""
import json
import socket

import pytest
import yaml

from fakekube import FakeKube, Rule, make_cluster
from harness import run_playbook

pytestmark = pytest.mark.integration

GI = 1 << 30
BIG = {"names": ["registry.example.com/ml/trainer@sha256:%064x" % 78, "registry.example.com/ml/trainer:3.0"],
       "sizeBytes": 120 * GI}
FORMATS = ["markdown", "json", "html"]


def down_kubeconfig(template, path):
    """A kubeconfig like ``template``'s whose API server address refuses connections."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = yaml.safe_load(open(template.write_kubeconfig(str(path))))
    config["clusters"][0]["cluster"]["server"] = "https://127.0.0.1:%d" % port
    path.write_text(yaml.safe_dump(config))
    return str(path)


@pytest.fixture
def clusters(tmp_path):
    """Four API servers (one already stopped) and an inventory with one host per cluster."""
    prod = FakeKube(tls=True).start()
    test = FakeKube(tls=True).start()
    dev = FakeKube(tls=True, tokens={"viewer": Rule("viewer", allow=[("get", "configmaps")])}).start()
    try:
        prod.seed_nodes(make_cluster(20, seed=5))
        victim = prod.list("v1", "Node")[0]["metadata"]["name"]
        prod.patch_status(victim, {"images": [BIG]})
        test.seed_nodes(make_cluster(10, seed=6, name_prefix="t-"))
        dev.seed_nodes(make_cluster(5, seed=7))
        hosts = {
            "prod": {"kubeconfig": prod.write_kubeconfig(str(tmp_path / "prod.kubeconfig"))},
            "test": {"nodewatch_connection": {"kubeconfig": test.write_kubeconfig(str(tmp_path / "test.kubeconfig"))}},
            "dev": {"kubeconfig": dev.write_kubeconfig(str(tmp_path / "dev.kubeconfig"), token="viewer")},
            "lab": {"kubeconfig": down_kubeconfig(test, tmp_path / "lab.kubeconfig")},
        }
        inventory = tmp_path / "clusters.yml"
        inventory.write_text(yaml.safe_dump({"all": {"hosts": hosts}}))
        yield {"prod": prod, "test": test, "dev": dev, "victim": victim, "inventory": str(inventory)}
    finally:
        for kube in (prod, test, dev):
            kube.stop()


def test_fleet_audit_keeps_going_and_fails_at_the_end(clusters, tmp_path):
    out = tmp_path / "reports"
    run = run_playbook(tmp_path, "nodewatch.k8s.fleet_audit", args=["-i", clusters["inventory"], "-f", "4"],
                       extra_vars={"nodewatch_report_format": FORMATS, "nodewatch_fleet_report_dir": str(out),
                                   "nodewatch_baseline_source": "none", "nodewatch_max_total_bytes": "100Gi"})
    assert run.rc == 2, run

    # Every cluster was audited; the unreadable ones said why, and did not stop the rest.
    audit_task = "Read every node once, check the limits, write the cluster's report"
    audits = dict((r["host"], r) for r in run.results if r["task"].endswith(audit_task))
    assert sorted(audits) == ["dev", "lab", "prod", "test"]
    assert audits["lab"]["status"] == "failed" and audits["lab"]["result"]["error_kind"] == "unreachable", audits["lab"]["result"]["msg"]
    assert audits["dev"]["status"] == "failed" and audits["dev"]["result"]["error_kind"] == "forbidden"
    assert audits["prod"]["status"] == "ok" and audits["test"]["status"] == "ok"
    # each with its own connection: the servers saw their own lists
    assert any(r[:2] == ("GET", "/api/v1/nodes") for r in clusters["prod"].requests)
    assert any(r[:2] == ("GET", "/api/v1/nodes") for r in clusters["test"].requests)

    # The play fails at its end, naming cluster, node, rule, value and limit, and the unreadable clusters.
    failed = [r for r in run.results if r["status"] == "failed"][-1]
    assert failed["task"].endswith("Fail when a limit was crossed or a cluster could not be read")
    message = failed["result"]["msg"]
    assert message.splitlines()[0] == ("fleet image audit: 4 clusters, 30 nodes: 2 breaches on 1 node, "
                                       "2 clusters not read")
    assert "cluster lab could not be read (unreachable): cannot connect to the API server" in message
    assert "cluster dev could not be read (forbidden): " in message
    breach_line = [line for line in message.splitlines() if line.startswith("cluster prod: ") and "max_total_bytes" in line][0]
    for words in (clusters["victim"], "max_total_bytes", "120.0 GiB", "100.0 GiB"):
        assert words in breach_line, breach_line

    # One report per readable cluster, and the fleet summary, in every format.
    names = sorted(p.name for p in out.iterdir())
    assert names == sorted("%s.%s" % (name, ext) for name in ("prod", "test", "fleet") for ext in ("md", "json", "html"))
    fleet = json.loads((out / "fleet.json").read_text())
    statuses = dict((c["name"], c["status"]) for c in fleet["clusters"])
    assert statuses == {"prod": "breach", "test": "ok", "dev": "forbidden", "lab": "unreachable"}
    assert fleet["worst_nodes"][0]["cluster"] == "prod" and fleet["worst_nodes"][0]["name"] == clusters["victim"]
    # each summary links every cluster to its report of the same format
    assert dict((c["name"], c["report_path"]) for c in fleet["clusters"])["prod"] == "prod.json"
    prod = json.loads((out / "prod.json").read_text())
    assert prod["cluster_name"] == "prod" and prod["cluster"]["node_count"] == 20
    assert len(prod["nodes"]) == 20  # the cluster's own report keeps every node
    assert "| prod | breach | 20 |" in (out / "fleet.md").read_text()
    assert 'href="prod.html"' in (out / "fleet.html").read_text()
    assert "prod.md" in (out / "fleet.md").read_text()


def test_fleet_audit_passes_when_every_cluster_is_within_its_limits(clusters, tmp_path):
    inventory = yaml.safe_load(open(clusters["inventory"]))
    for name in ("dev", "lab"):
        del inventory["all"]["hosts"][name]
    path = tmp_path / "healthy.yml"
    path.write_text(yaml.safe_dump(inventory))
    run = run_playbook(tmp_path, "nodewatch.k8s.fleet_audit", args=["-i", str(path)],
                       extra_vars={"nodewatch_baseline_source": "none", "nodewatch_fleet_report_dir": "out",
                                   # the mapping replaces the default limits (max_percent 80 included)
                                   "nodewatch_thresholds": {"max_total_bytes": "1Ti"}})
    assert run.rc == 0, run
    summary = run.result("Summarize the clusters")
    assert summary["ok"] is True and summary["totals"]["clusters_ok"] == 2
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["fleet.md", "prod.md", "test.md"]
