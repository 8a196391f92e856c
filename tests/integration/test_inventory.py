"""The nodewatch.k8s.nodes inventory through ansible-inventory and ansible-playbook, as users run it.

Each test is one or two subprocess runs (they cost seconds): assertions are grouped per run.
"""
import copy
import json
import os
import subprocess

import pytest
import yaml

from ansible_collections.nodewatch.k8s.plugins.inventory import nodes as nodes_plugin
from fakekube import FakeKube, make_cluster
from harness import BIN, ansible_env, plain, run_playbook

pytestmark = pytest.mark.integration

SNEAKY = "{{ 6 * 7 }}"
GI = 1 << 30


def build_cluster(count=12, seed=3):
    """make_cluster's nodes plus what the default groups need to be seen: worker role labels, a
    node over the image pressure threshold, and an annotation that looks like a template."""
    nodes = make_cluster(count, seed=seed)
    by_name = dict((n["metadata"]["name"], n) for n in nodes)
    for name in ("worker-a-1", "worker-a-2", "worker-b-1"):
        if name in by_name:
            by_name[name]["metadata"]["labels"]["node-role.kubernetes.io/worker"] = ""
    full = by_name["worker-a-3"]["status"]
    full["capacity"]["ephemeral-storage"] = "16Gi"
    full["allocatable"]["ephemeral-storage"] = "14Gi"
    by_name["worker-a-1"]["metadata"]["annotations"]["example.com/note"] = SNEAKY
    by_name["worker-a-1"]["metadata"]["labels"]["example.com/team"] = "ml"
    return nodes


def inventory(tmp_path, sources, *args, env=None):
    command = [os.path.join(BIN, "ansible-inventory")]
    for source in sources:
        command += ["-i", str(source)]
    command += list(args)
    return subprocess.run(command, cwd=str(tmp_path), env=ansible_env(tmp_path, env), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=300, check=False)


def squeezed(text):
    """Text without whitespace: ansible-core 2.16 wraps warnings at 79 columns, even inside words."""
    return "".join(text.split())


def listed(proc):
    assert proc.returncode == 0, proc.stderr
    data = plain(json.loads(proc.stdout))
    groups = {}
    for name, group in data.items():
        if name != "_meta":
            groups[name] = set(group.get("hosts", []))
    return groups, data["_meta"]["hostvars"]


def write(path, config):
    path.write_text(yaml.safe_dump(config, sort_keys=False) if isinstance(config, dict) else config)
    return path


def expected_pressure(nodes, threshold=80.0):
    from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import node_image_facts
    out = set()
    for node in nodes:
        percent = node_image_facts(node)["percent_of_capacity"]
        if percent is not None and percent > threshold:
            out.add(node["metadata"]["name"])
    return out


@pytest.fixture
def cluster(fake_kube):
    nodes = build_cluster()
    fake_kube.add_nodes(copy.deepcopy(nodes))
    return nodes


LEAN_HOSTVARS = {"ansible_host", "nodewatch_name", "nodewatch_cluster", "nodewatch_roles", "nodewatch_zone",
                 "nodewatch_ready", "nodewatch_schedulable", "nodewatch_pressure", "nodewatch_images"}


def test_list_graph_hostvars_and_constructed(fake_kube, cluster, kubeconfig, tmp_path):
    config = write(tmp_path / "cluster.nodes.yml", {
        "plugin": "nodewatch.k8s.nodes",
        "kubeconfig": kubeconfig,
        "top_images": 2,
        "hostvars_detail": ["all"],  # every family, as hosts carried them before 0.2.0
        "compose": {
            "kubelet_version": "nodewatch_node_info.kubeletVersion",
            "note_copy": "nodewatch_annotations['example.com/note'] | default('none')",
            "ansible_connection": "'local'",
        },
        "groups": {
            "big_images": "nodewatch_images.total_bytes > 10 * 1024 ** 3",
            "ml_team": "nodewatch_labels['example.com/team'] | default('') == 'ml'",
        },
        "keyed_groups": [
            {"prefix": "type", "key": "nodewatch_labels['node.kubernetes.io/instance-type']"},
            {"prefix": "kubelet", "key": "kubelet_version"},  # a composed variable
        ],
    })
    groups, hostvars = listed(inventory(tmp_path, [config], "--list"))
    by_name = dict((n["metadata"]["name"], n) for n in cluster)
    names = set(by_name)
    assert set(hostvars) == names

    # Default groups, with names Ansible accepts.
    assert groups["role_control_plane"] == {"cp-1", "cp-2", "cp-3"}
    assert groups["role_worker"] == {"worker-a-1", "worker-a-2", "worker-b-1"}
    zones = {}
    for name, node in by_name.items():
        zones.setdefault("zone_" + node["metadata"]["labels"]["topology.kubernetes.io/zone"].replace("-", "_"), set()).add(name)
    for group, members in zones.items():
        assert groups[group] == members
    ready = set(n for n, node in by_name.items()
                if any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"]["conditions"]))
    assert groups["ready"] == ready and groups["not_ready"] == names - ready and groups["not_ready"]
    assert groups["cordoned"] == set(n for n, node in by_name.items() if node["spec"].get("unschedulable"))
    assert groups["cordoned"]
    assert groups["image_pressure"] == expected_pressure(cluster) == {"worker-a-3"}
    assert groups["cluster_default"] == names

    # Host variables.
    cp = hostvars["cp-1"]
    node = by_name["cp-1"]
    internal = [a["address"] for a in node["status"]["addresses"] if a["type"] == "InternalIP"][0]
    assert cp["ansible_host"] == internal
    assert cp["nodewatch_name"] == "cp-1" and cp["nodewatch_cluster"] == "default"
    assert cp["nodewatch_labels"] == node["metadata"]["labels"]
    assert cp["nodewatch_annotations"] == node["metadata"]["annotations"]
    assert cp["nodewatch_taints"] == [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]
    assert cp["nodewatch_conditions"]["Ready"] == "True"
    assert cp["nodewatch_capacity"] == node["status"]["capacity"]
    assert cp["nodewatch_allocatable"] == node["status"]["allocatable"]
    assert cp["nodewatch_node_info"] == node["status"]["nodeInfo"]
    assert cp["nodewatch_addresses"]["InternalIP"] == internal
    assert cp["nodewatch_roles"] == ["control-plane"] and cp["nodewatch_ready"] is True
    assert cp["nodewatch_schedulable"] is True and cp["nodewatch_zone"] == "eu-west-1a"
    images = cp["nodewatch_images"]
    assert images["count"] == len(node["status"]["images"])
    assert images["total_bytes"] == sum(i["sizeBytes"] for i in node["status"]["images"])
    assert len(images["top_images"]) == 2 and images["truncated"] is False
    assert {"total_human", "percent_of_capacity", "capacity_bytes"} <= set(images)
    truncated = [h for h, v in hostvars.items() if v["nodewatch_images"]["truncated"]]
    assert truncated and all(len(by_name[h]["status"]["images"]) == 50 for h in truncated)

    # compose, groups and keyed_groups took effect (ansible-core 2.19 trust: the file's
    # expressions are templates) ...
    assert cp["kubelet_version"] == node["status"]["nodeInfo"]["kubeletVersion"]
    assert cp["ansible_connection"] == "local"
    assert groups["ml_team"] == {"worker-a-1"}
    assert groups["big_images"] == set(h for h, v in hostvars.items() if v["nodewatch_images"]["total_bytes"] > 10 * GI)
    assert groups["type_m5_xlarge"] >= {"cp-1", "cp-2", "cp-3"}
    assert groups["kubelet_v1_31_2"] | groups.get("kubelet_v1_30_6", set()) == names
    # ... while the API's values stayed data.
    assert hostvars["worker-a-1"]["note_copy"] == SNEAKY
    assert hostvars["worker-a-1"]["nodewatch_annotations"]["example.com/note"] == SNEAKY

    graph = inventory(tmp_path, [config], "--graph")
    assert graph.returncode == 0, graph.stderr
    lines = [line.strip() for line in graph.stdout.splitlines()]
    assert "|--@image_pressure:" in lines and "|--@role_control_plane:" in lines
    at = lines.index("|--@image_pressure:")
    assert lines[at + 1] == "|  |--worker-a-3"
    assert "Invalid characters were found in group names" not in graph.stderr


def test_hosts_are_lean_by_default_and_constructed_options_see_everything(fake_kube, cluster, kubeconfig, tmp_path):
    by_name = dict((n["metadata"]["name"], n) for n in cluster)
    pressured = sorted(n for n, node in by_name.items()
                       if any(c["type"] == "DiskPressure" and c["status"] == "True" for c in node["status"]["conditions"]))
    if not pressured:  # make one, so that the condition group has a member to show
        fake_kube.patch_status("worker-b-1", {"conditions": [{"type": "DiskPressure", "status": "True"}]})
        pressured = ["worker-b-1"]
    config = write(tmp_path / "lean.nodes.yml", {
        "plugin": "nodewatch.k8s.nodes",
        "kubeconfig": kubeconfig,
        "strict": True,
        "compose": {"kubelet_version": "nodewatch_node_info.kubeletVersion"},
        "groups": {"disk_pressure": "nodewatch_conditions.DiskPressure | default('') == 'True'"},
        "keyed_groups": [{"prefix": "type", "key": "nodewatch_labels['node.kubernetes.io/instance-type']"}],
    })
    groups, hostvars = listed(inventory(tmp_path, [config], "--list"))
    assert set(hostvars) == set(by_name)
    for name, variables in hostvars.items():
        node = by_name[name]
        # What the host carries: what people group and limit by, and the composed variable.
        assert set(variables) == LEAN_HOSTVARS | {"kubelet_version"}, name
        assert set(variables["nodewatch_images"]) == {"count", "total_bytes", "total_human", "capacity_bytes",
                                                      "percent_of_capacity", "truncated"}
        assert variables["kubelet_version"] == node["status"]["nodeInfo"]["kubeletVersion"]
    # What the expressions saw: labels, conditions and node info that no host carries.
    assert groups["disk_pressure"] == set(pressured)
    assert "DiskPressure" in hostvars[pressured[0]]["nodewatch_pressure"]
    types = {}
    for name, node in by_name.items():
        kind = node["metadata"]["labels"]["node.kubernetes.io/instance-type"]
        types.setdefault("type_" + kind.replace(".", "_").replace("-", "_"), set()).add(name)
    for group, members in types.items():
        assert groups[group] == members
    assert groups["image_pressure"] == {"worker-a-3"} and groups["role_worker"] == {"worker-a-1", "worker-a-2", "worker-b-1"}


def test_cache_serves_a_second_run_without_the_api(fake_kube, cluster, tmp_path):
    # No CA file: the server's PKI goes away with it when it is stopped below.
    kubeconfig = fake_kube.write_kubeconfig(str(tmp_path / "kubeconfig"), insecure=True)
    cache_dir = tmp_path / "inventory-cache"
    config = write(tmp_path / "cached.nodes.yml", {
        "plugin": "nodewatch.k8s.nodes",
        "kubeconfig": kubeconfig,
        "cache": True,
        "cache_plugin": "ansible.builtin.jsonfile",
        "cache_connection": str(cache_dir),
        "cache_timeout": 600,
        "compose": {"kubelet_version": "nodewatch_node_info.kubeletVersion"},
        "groups": {"ml_team": "nodewatch_labels['example.com/team'] | default('') == 'ml'"},
        "keyed_groups": [{"prefix": "arch", "key": "nodewatch_node_info.architecture"}],
    })
    fake_kube.clear_requests()
    first_groups, first_vars = listed(inventory(tmp_path, [config], "--list"))
    assert [m for m, p, _q, _u in fake_kube.requests if p == "/api/v1/nodes"] == ["GET"]

    # What is cached: compact records, not Node objects.
    files = list(cache_dir.iterdir())
    assert len(files) == 1
    payload = json.loads(files[0].read_text())
    if "__payload__" in payload:  # ansible-core 2.19 wraps what a cache plugin stores
        payload = json.loads(payload["__payload__"])
    records = json.loads(payload["clusters"])  # one JSON text: the cache layer decodes it in one piece
    assert payload["format"] == 2 and len(records[0]["nodes"]) == 12
    record = records[0]["nodes"][0]
    assert "status" not in record and "images" in record
    compact = len(json.dumps(records, separators=(",", ":")))
    assert compact < 0.4 * len(json.dumps(cluster, separators=(",", ":")))

    fake_kube.stop()  # the second run can only be served from the cache
    second_groups, second_vars = listed(inventory(tmp_path, [config], "--list"))
    assert second_groups == first_groups and second_vars == first_vars
    assert second_groups["ml_team"] == {"worker-a-1"} and "arch_amd64" in second_groups
    assert second_vars["cp-1"]["kubelet_version"].startswith("v1.3")
    assert second_groups["image_pressure"] == {"worker-a-3"}

    # Options applied when hosts are built need no API either.
    write(config, dict(yaml.safe_load(config.read_text()), image_pressure_percent="5%"))
    third_groups, _hostvars = listed(inventory(tmp_path, [config], "--list"))
    assert third_groups["image_pressure"] == expected_pressure(cluster, 5.0)
    assert len(third_groups["image_pressure"]) > 1
    # Nor does carrying more of each node: the records keep every family.
    assert "nodewatch_labels" not in second_vars["cp-1"]
    write(config, dict(yaml.safe_load(config.read_text()), hostvars_detail=["labels", "top_images"]))
    _groups, detailed = listed(inventory(tmp_path, [config], "--list"))
    assert detailed["cp-1"]["nodewatch_labels"] == dict((n["metadata"]["name"], n) for n in cluster)["cp-1"]["metadata"]["labels"]
    assert detailed["cp-1"]["nodewatch_images"]["top_images"]

    # Without the cache the API is asked, and it is gone: a clear sentence, not a traceback.
    for entry in cache_dir.iterdir():
        entry.unlink()
    missed = inventory(tmp_path, [config], "--list", env={"ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
    assert missed.returncode != 0
    text = squeezed(missed.stderr)
    assert squeezed("nodewatch.k8s.nodes inventory %s: cluster 'default': cannot connect to the API server" % config) in text
    assert "connectionrefused" in text and "Traceback" not in missed.stderr


def merged_kubeconfig(path, kubes):
    """One kubeconfig with a context per (context name, FakeKube)."""
    merged = {"apiVersion": "v1", "kind": "Config", "clusters": [], "users": [], "contexts": []}
    for context, kube in kubes:
        written = kube.write_kubeconfig(str(path) + "." + context, context=context, user=context + "-user")
        with open(written) as handle:
            single = yaml.safe_load(handle)
        for key in ("clusters", "users", "contexts"):
            merged[key].extend(single[key])
    merged["current-context"] = kubes[0][0]
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    with open(str(path), "w") as handle:
        yaml.safe_dump(merged, handle)
    return str(path)


def plugin_examples():
    return list(yaml.safe_load_all(nodes_plugin.EXAMPLES))


def test_two_clusters_and_limit_image_pressure(fake_kube, cluster, tmp_path):
    staging_nodes = build_cluster(6, seed=8)
    staging_by_name = dict((n["metadata"]["name"], n) for n in staging_nodes)
    # worker-a-1 exists in both clusters; in staging its disk is tiny, so it is under pressure.
    staging_by_name["worker-a-1"]["status"]["capacity"]["ephemeral-storage"] = "1Gi"
    staging_workers = [n for n in staging_nodes
                       if "node-role.kubernetes.io/control-plane" not in n["metadata"]["labels"]]
    with FakeKube() as staging:
        staging.add_nodes(staging_nodes)
        # The documented fleet example, literally: it reads ~/.kube/config (HOME is the test's).
        merged_kubeconfig(tmp_path / "home" / ".kube" / "config", [("prod-admin", fake_kube), ("staging-admin", staging)])
        fleet = [e for e in plugin_examples() if e.get("connections")][0]
        # The play below reads an annotation, which hosts carry only on request.
        source = write(tmp_path / "fleet.nodes.yml", dict(fleet, hostvars_detail=["annotations"]))
        play = {
            "hosts": "all", "connection": "local", "gather_facts": False,
            "tasks": [
                {"name": "who", "ansible.builtin.debug": {"msg": "{{ nodewatch_cluster }}/{{ nodewatch_name }}"}},
                {"name": "inventory", "run_once": True, "ansible.builtin.debug": {"msg": {
                    "groups": "{{ groups }}",
                    "note": "{{ hostvars['prod-worker-a-1'].nodewatch_annotations['example.com/note'] }}",
                    "staging_cluster": "{{ hostvars['staging-worker-a-1'].nodewatch_cluster }}",
                    "staging_name": "{{ hostvars['staging-worker-a-1'].nodewatch_name }}"}}},
            ],
        }
        run = run_playbook(tmp_path, [play], args=["-i", str(source), "--limit", "image_pressure"])
    assert run.rc == 0, run
    ran = sorted(r["host"] for r in run.results if r["task"] == "who")
    expected = sorted(["prod-worker-a-3"] + ["staging-" + n for n in expected_pressure(staging_workers)])
    assert "staging-worker-a-1" in expected
    assert ran == expected
    for result in run.results:
        if result["task"] == "who":
            cluster_name, _slash, node_name = result["result"]["msg"].partition("/")
            assert result["host"] == "%s-%s" % (cluster_name, node_name)

    facts = run.result("inventory")["msg"]
    groups = facts["groups"]
    assert set(groups["cluster_prod"]) == set("prod-" + n["metadata"]["name"] for n in cluster)
    # The staging connection leaves control planes out with its own label selector.
    assert set(groups["cluster_staging"]) == set("staging-" + n["metadata"]["name"] for n in staging_workers)
    assert set(groups["image_pressure"]) == set(expected)
    assert facts["note"] == SNEAKY, "an annotation was rendered as a template"
    assert facts["staging_cluster"] == "staging" and facts["staging_name"] == "worker-a-1"


def test_documented_examples_run_as_written(fake_kube, cluster, kubeconfig, tmp_path):
    examples = [e for e in plugin_examples() if not e.get("connections")]
    sources = [write(tmp_path / ("example%d.nodes.yml" % i), e) for i, e in enumerate(examples)]
    proc = inventory(tmp_path, sources, "--list", env={"KUBECONFIG": kubeconfig,
                                                       "ANSIBLE_INVENTORY_UNPARSED_FAILED": "true"})
    groups, hostvars = listed(proc)
    assert "Failed to parse" not in proc.stderr
    workers = {"worker-a-1", "worker-a-2", "worker-b-1"}
    assert groups["big_images"] <= workers and groups["big_images"]
    assert groups.get("outdated_kubelet", set()) <= workers
    assert groups["arch_amd64"] <= workers and "type_m5_2xlarge" in groups
    assert hostvars["worker-a-1"]["kubelet_version"] and hostvars["worker-a-1"]["image_disk_use"].endswith("B")
    # The detailed example's hosts carry labels and taints (the other examples add none of these).
    assert hostvars["cp-1"]["nodewatch_labels"]["kubernetes.io/hostname"] == "cp-1"
    assert hostvars["cp-1"]["nodewatch_taints"]
    cache_dir = tmp_path / "home" / ".cache" / "nodewatch-inventory"
    assert len(list(cache_dir.iterdir())) == 1


def test_bad_configurations_fail_with_a_sentence(fake_kube, cluster, kubeconfig, tmp_path):
    bad = {
        "percent.nodes.yml": ({"kubeconfig": kubeconfig, "image_pressure_percent": "120"},
                              "image_pressure_percent: percentage '120' is out of range"),
        "context.nodes.yml": ({"kubeconfig": kubeconfig, "context": "nope"},
                              "cluster 'default': context 'nope' is not in"),
        "selector.nodes.yml": ({"kubeconfig": kubeconfig, "label_selectors": ["zone in (a"]},
                               "cluster 'default': the API server rejected the selector"),
        "collide.nodes.yml": ({"kubeconfig": kubeconfig, "connections": [{"name": "a"}, {"name": "b"}]},
                              "clusters 'a' and 'b' both produce the host name 'cp-1'"),
        "unknown.nodes.yml": ({"kubeconfig": kubeconfig, "connections": [{"name": "a", "namespace": "x"}]},
                              "connections[0]: unknown setting 'namespace'"),
        "address.nodes.yml": ({"kubeconfig": kubeconfig, "address_preference": ["PublicIP"]},
                              "address_preference: unknown address type 'PublicIP'"),
        "nofile.nodes.yml": ({"kubeconfig": str(tmp_path / "missing-kubeconfig")},
                             "cluster 'default': kubeconfig file %s does not exist" % (tmp_path / "missing-kubeconfig")),
    }
    sources = [write(tmp_path / name, dict(config, plugin="nodewatch.k8s.nodes")) for name, (config, _words) in bad.items()]
    proc = inventory(tmp_path, sources, "--list")
    text = squeezed(proc.stderr)
    for (name, (_config, words)), source in zip(bad.items(), sources):
        assert squeezed("nodewatch.k8s.nodes inventory %s: %s" % (source, words)) in text, (name, proc.stderr)
    assert "Traceback" not in proc.stderr
    _groups, hostvars = listed(proc)
    assert hostvars == {}
