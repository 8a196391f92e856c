"""ansible-playbook nodewatch.k8s.prune_images over the nodes inventory, as an operator runs it.

The inventory reads a fake API server whose cluster has three nodes under image pressure; its
``compose`` makes each of those hosts "be" the node running the test's own containerd (a local
connection, its socket, become through su), except BROKEN, whose containerd is missing. In batches
of two, the first batch prunes on one node and fails on BROKEN, the second finds nothing left, so
the total must add up across batches and name the failed node.
"""
import copy
import sys

import pytest
import yaml

from containerd_fixture import KEEP, Scene, containerd  # noqa: F401  pylint: disable=unused-import
from fakekube import make_cluster
from harness import run_playbook

pytestmark = pytest.mark.integration

GI = 1 << 30
PRESSURED = ("worker-a-1", "worker-a-3")
BROKEN = "worker-a-2"
PLAYBOOK = "nodewatch.k8s.prune_images"


def cluster_nodes():
    """A small cluster where exactly PRESSURED are over the inventory's 80 % image pressure."""
    nodes = make_cluster(6, seed=11)
    for node in nodes:
        name = node["metadata"]["name"]
        node["status"]["capacity"]["ephemeral-storage"] = "10Gi" if name in PRESSURED + (BROKEN,) else "100Ti"
        if name in PRESSURED + (BROKEN,):
            node["status"]["images"] = [
                {"names": ["registry.test/batch/cache@sha256:" + "c" * 64, "registry.test/batch/cache:7"],
                 "sizeBytes": 6 * GI},
                {"names": ["registry.test/shop/app@sha256:" + "a" * 64, "registry.test/shop/app:1.4"],
                 "sizeBytes": 3 * GI},
            ]
    assert set(PRESSURED + (BROKEN,)) <= set(n["metadata"]["name"] for n in nodes)
    return nodes


@pytest.fixture
def inventory(fake_kube, kubeconfig, containerd, tmp_path):  # noqa: F811 (the fixture imported above)
    fake_kube.add_nodes(copy.deepcopy(cluster_nodes()))
    path = tmp_path / "cluster.nodes.yml"

    def literal(value):
        return repr(str(value))

    path.write_text(yaml.safe_dump({
        "plugin": "nodewatch.k8s.nodes",
        "kubeconfig": kubeconfig,
        "compose": {
            "ansible_connection": literal("local"),
            "ansible_python_interpreter": literal(sys.executable),
            # become: true, as the playbook does by default, through su (root needs no password).
            "ansible_become_method": literal("su"),
            "nodewatch_prune_address": "%s if nodewatch_name == %s else %s" % (
                literal(tmp_path / "no-containerd.sock"), literal(BROKEN), literal(containerd.socket)),
            "nodewatch_prune_containerd_config": literal(containerd.config),
        },
    }))
    return path


def reports(run, task):
    return dict((r["host"], r["result"]["msg"]) for r in run.results if r["task"] == task)


def node_reads(fake_kube, name):
    return [r for r in fake_kube.requests
            if r[0] == "GET" and r[1] == "/api/v1/nodes" and "metadata.name=%s" % name in str(r[2])]


def test_check_mode_reports_what_would_go_and_removes_nothing(containerd, kubeconfig, inventory, tmp_path):  # noqa: F811
    scene = Scene(containerd)
    run = run_playbook(tmp_path, PLAYBOOK, args=["-i", str(inventory)], check=True,
                       extra_vars={"kubeconfig": kubeconfig, "nodewatch_prune_serial": 1, "nodewatch_prune_keep": [KEEP],
                                   "nodewatch_prune_hosts": "image_pressure:!%s" % BROKEN})
    assert run.rc == 0, run
    assert containerd.refs() == scene.refs_before
    per_node = reports(run, "Report this node")
    assert sorted(per_node) == sorted(PRESSURED)
    for host in PRESSURED:
        assert per_node[host][0].startswith("%s: would remove 3 of 9 images" % host)
    total = run.result("Report the total over every batch")["msg"]
    assert total[0] == ("Would remove 6 images on 2 nodes, about %d bytes (%s) to free in containerd's content stores."
                        % (2 * scene.expected_freed(), total[0].split("(")[1].split(")")[0]))
    assert total[1] == "Every node was checked."


def test_prune_in_batches_reports_per_node_and_in_total_and_reads_the_api_again(containerd, fake_kube, kubeconfig,  # noqa: F811
                                                                               inventory, tmp_path):
    scene = Scene(containerd)
    expected_gone = set()
    for image in scene.removable:
        expected_gone |= scene.refs_of(image)
    fake_kube.clear_requests()

    # Half of the first batch fails: that does not stop the run here (the default, 0, would). A batch
    # that fails whole stops any playbook, before its last play: BROKEN shares its batch.
    run = run_playbook(tmp_path, PLAYBOOK, args=["-i", str(inventory)],
                       extra_vars={"kubeconfig": kubeconfig, "nodewatch_prune_serial": 2, "nodewatch_prune_keep": [KEEP],
                                   "nodewatch_prune_max_fail_percentage": 50})
    assert run.rc == 2, run  # a host failed
    assert containerd.refs() == scene.refs_before - expected_gone
    broken = [r for r in run.results if r["host"] == BROKEN]
    assert [(r["task"], r["status"]) for r in broken] == [("Remove the images no container uses", "failed")]
    assert broken[0]["result"]["msg"].startswith("no containerd socket at %s (option address)"
                                                 % (tmp_path / "no-containerd.sock"))

    # The first batch removes the unused images, the second finds none left.
    pruned = dict((r["host"], r["result"]) for r in run.results
                  if r["task"] == "Remove the images no container uses" and r["status"] != "failed")
    assert sorted(pruned) == sorted(PRESSURED)
    first, second = [pruned[host] for host in PRESSURED]
    assert first["changed"] is True and first["bytes_freed"] == scene.expected_freed()
    assert second["changed"] is False and second["bytes_freed"] == 0
    order = [(r["task"], r["host"]) for r in run.results]
    first_report = order.index(("Report this node", PRESSURED[0]))
    second_prune = order.index(("Remove the images no container uses", PRESSURED[1]))
    assert first_report < second_prune, "serial: 2, batch after batch"

    per_node = reports(run, "Report this node")
    assert per_node[PRESSURED[0]][0] == "%s: %s" % (PRESSURED[0], first["summary"])
    for host in PRESSURED:
        api_line = per_node[host][1]
        assert api_line.startswith("Kubernetes API, read again: node %s reports 2 images, 9.0 GiB (90.0 %% of its "
                                   "ephemeral storage); the inventory read 2 images, 9.0 GiB." % host), api_line
        assert "may still show removed images" in api_line
        assert len(node_reads(fake_kube, host)) == 1, "the API was read again for %s" % host

    total = run.result("Report the total over every batch")["msg"]
    assert total[0].startswith("Removed 3 images on 2 nodes, %d bytes (" % scene.expected_freed())
    assert total[0].endswith("freed in containerd's content stores.")
    assert total[1] == "Not pruned (failed or unreachable): %s" % BROKEN
    assert total[2] == ["%s: %s" % (host, pruned[host]["summary"]) for host in PRESSURED]
