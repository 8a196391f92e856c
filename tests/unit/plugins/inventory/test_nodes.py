# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The nodes inventory: its pure half (module_utils/inventory/hosts.py) table by table, then the plugin class
in-process with a stub API client, to see hosts, groups, constructed vars and the cache.

The plugin is driven without Ansible's plugin loader: ``get_option`` answers from a dict holding
the documented defaults. ansible-inventory itself is exercised in
tests/integration/test_inventory.py.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible.errors import AnsibleParserError
from ansible.inventory.data import InventoryData
from ansible.parsing.dataloader import DataLoader

from ansible_collections.nodewatch.k8s.plugins.inventory import nodes as plugin_module
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.config import AUTH_OPTIONS
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError, ConfigError
from ansible_collections.nodewatch.k8s.plugins.module_utils.inventory.hosts import (
    CACHE_FORMAT,
    HOSTVARS_DETAIL,
    InventoryConfigError,
    cache_fingerprint,
    cache_payload,
    compact_node,
    default_groups,
    node_hostvars,
    normalize_settings,
    pick_address,
    plan_hosts,
    valid_cache_payload,
)

GI = 1 << 30
MI = 1 << 20


def digest(n):
    return "sha256:%064x" % n


def make_node(name, roles=("worker",), zone="eu-west-1a", ready="True", cordoned=False, images=None,
              capacity="100Gi", addresses=None, labels=None, annotations=None, taints=None):
    all_labels = {"kubernetes.io/hostname": name, "kubernetes.io/arch": "amd64"}
    all_labels.update(("node-role.kubernetes.io/%s" % r, "") for r in roles)
    if zone:
        all_labels["topology.kubernetes.io/zone"] = zone
    all_labels.update(labels or {})
    if images is None:
        images = [{"names": ["registry.k8s.io/pause@" + digest(1), "registry.k8s.io/pause:3.9"],
                   "sizeBytes": 321520}]
    if addresses is None:
        addresses = [{"type": "Hostname", "address": name}, {"type": "InternalIP", "address": "10.0.0.%d" % (len(name) + 1)}]
    spec = {}
    if cordoned:
        spec["unschedulable"] = True
    if taints:
        spec["taints"] = taints
    return {
        "metadata": {"name": name, "uid": "uid-" + name, "labels": all_labels,
                     "annotations": annotations or {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": spec,
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"},
                           {"type": "DiskPressure", "status": "False"},
                           {"type": "Ready", "status": ready, "reason": "KubeletReady"}],
            "addresses": addresses,
            "capacity": {"cpu": "4", "memory": "16Gi", "ephemeral-storage": capacity} if capacity else {"cpu": "4"},
            "allocatable": {"cpu": "3800m", "memory": "15Gi"},
            "nodeInfo": {"kubeletVersion": "v1.31.2", "architecture": "amd64",
                         "containerRuntimeVersion": "containerd://1.7.22"},
            "images": images,
        },
    }


def settings(**options):
    return normalize_settings(options)


# -- settings --------------------------------------------------------------------------------

def test_defaults_give_one_cluster_named_default():
    result = settings()
    assert result["image_pressure_percent"] == 80.0
    assert result["address_preference"] == ["InternalIP", "ExternalIP", "Hostname"]
    assert result["vars_prefix"] == "nodewatch_"
    assert [c["name"] for c in result["connections"]] == ["default"]
    assert result["connections"][0]["host_prefix"] == ""


def test_connections_inherit_top_level_auth_and_selectors():
    result = settings(kubeconfig="/k", label_selectors=["a=b"], connections=[
        {"name": "prod", "context": "prod-admin", "host_prefix": "prod-"},
        {"context": "staging", "kubeconfig": "/other", "label_selectors": [], "verify_ssl": False},
    ])
    prod, staging = result["connections"]
    assert prod["auth"] == {"kubeconfig": "/k", "context": "prod-admin"}
    assert prod["label_selectors"] == ["a=b"]
    assert staging["name"] == "staging"  # from its context
    assert staging["auth"] == {"kubeconfig": "/other", "context": "staging", "validate_certs": False}
    assert staging["label_selectors"] == []


@pytest.mark.parametrize("options, words", [
    ({"image_pressure_percent": "120"}, "image_pressure_percent: percentage '120' is out of range"),
    ({"image_pressure_percent": "lots"}, "image_pressure_percent: invalid percentage 'lots'"),
    ({"address_preference": ["InternalIP", "Public"]}, "address_preference: unknown address type 'Public'"),
    ({"address_preference": "InternalIP"}, "address_preference must be a list"),
    ({"vars_prefix": "9bad"}, "vars_prefix '9bad'"),
    ({"top_images": -1}, "top_images must be an integer of at least 0"),
    ({"max_images": "50"}, "max_images must be an integer"),
    ({"label_selectors": ["ok", ""]}, "label_selectors must be a list of non-empty strings"),
    ({"connections": {"name": "x"}}, "connections must be a list"),
    ({"connections": ["prod"]}, "connections[0] must be a mapping"),
    ({"connections": [{"name": "a", "namespace": "x"}]}, "connections[0]: unknown setting 'namespace'"),
    ({"connections": [{"name": "a"}, {"host": "https://x"}]}, "connections[1]: name must be set"),
    ({"connections": [{"name": "a b"}]}, "connections[0]: name must be set to a short cluster name"),
    ({"connections": [{"name": "a"}, {"name": "a", "host_prefix": "x-"}]}, "two connections are named 'a'"),
    ({"connections": [{"name": "a", "host_prefix": 3}]}, "host_prefix must be a string"),
])
def test_bad_settings_name_the_option(options, words):
    with pytest.raises(InventoryConfigError) as caught:
        normalize_settings(options)
    assert words in str(caught.value)


def test_percent_accepts_the_forms_people_write():
    for value, expected in ((80, 80.0), ("80%", 80.0), ("72.5", 72.5), (0, 0.0)):
        assert settings(image_pressure_percent=value)["image_pressure_percent"] == expected


def test_fingerprint_changes_with_what_the_records_depend_on_only():
    base = settings()
    assert cache_fingerprint(base) == cache_fingerprint(settings())
    assert cache_fingerprint(base) != cache_fingerprint(settings(top_images=3))
    assert cache_fingerprint(base) != cache_fingerprint(settings(label_selectors=["a"]))
    assert cache_fingerprint(base) != cache_fingerprint(settings(context="other"))
    # Applied when hosts are built: no refetch needed.
    assert cache_fingerprint(base) == cache_fingerprint(settings(image_pressure_percent=50, vars_prefix="k8s_"))
    assert cache_fingerprint(base) == cache_fingerprint(settings(hostvars_detail=["all"]))
    payload = cache_payload(cache_fingerprint(base), [])
    assert payload["format"] == CACHE_FORMAT
    assert valid_cache_payload(payload, cache_fingerprint(base))
    assert not valid_cache_payload(dict(payload, format=0), cache_fingerprint(base))
    assert not valid_cache_payload(payload, cache_fingerprint(settings(top_images=1)))
    assert not valid_cache_payload(["not", "a", "payload"], cache_fingerprint(base))


# -- records and hosts -------------------------------------------------------------------------

def test_compact_node_is_small_json_and_keeps_what_hostvars_need():
    node = make_node("w-1", taints=[{"key": "gpu", "value": "true", "effect": "NoSchedule",
                                     "timeAdded": "2026-01-01T00:00:00Z"}], cordoned=True)
    record = compact_node(node, top_images=2)
    assert json.loads(json.dumps(record)) == record
    assert record["taints"] == [{"key": "gpu", "value": "true", "effect": "NoSchedule"}]
    assert record["conditions"] == {"MemoryPressure": "False", "DiskPressure": "False", "Ready": "True"}
    assert record["unschedulable"] is True
    assert record["images"]["count"] == 1 and record["images"]["total_bytes"] == 321520
    assert record["images"]["top_images"][0]["name"] == "registry.k8s.io/pause"
    assert "status" not in record and "metadata" not in record


@pytest.mark.parametrize("preference, expected", [
    (["InternalIP", "ExternalIP", "Hostname"], "10.0.0.2"),
    (["ExternalIP", "InternalIP"], "203.0.113.9"),
    (["ExternalIP"], "203.0.113.9"),
    (["InternalDNS", "Hostname"], "n1.internal"),
    (["ExternalDNS"], None),
])
def test_pick_address_follows_the_preference(preference, expected):
    addresses = [{"type": "Hostname", "address": "n1.internal"}, {"type": "InternalIP", "address": "10.0.0.2"},
                 {"type": "InternalIP", "address": "fd00::2"}, {"type": "ExternalIP", "address": "203.0.113.9"}]
    assert pick_address(addresses, preference) == expected


def test_hostvars_under_the_prefix():
    record = compact_node(make_node("w-1", roles=("worker", "gpu")))
    # By default a host carries what people group and limit by, nothing more.
    lean = node_hostvars(record, "prod", "k8s_", ["InternalIP"])
    assert lean["ansible_host"] == "10.0.0.4"
    assert lean["k8s_name"] == "w-1" and lean["k8s_cluster"] == "prod"
    assert lean["k8s_roles"] == ["gpu", "worker"]
    assert lean["k8s_ready"] is True and lean["k8s_schedulable"] is True
    assert lean["k8s_zone"] == "eu-west-1a"
    assert lean["k8s_pressure"] == []
    assert set(lean) == {"ansible_host", "k8s_name", "k8s_cluster", "k8s_roles", "k8s_ready", "k8s_schedulable",
                         "k8s_zone", "k8s_pressure", "k8s_images"}
    assert set(lean["k8s_images"]) == {"count", "total_bytes", "total_human", "capacity_bytes",
                                       "percent_of_capacity", "truncated"}
    # Every family on request: the variables of 0.1.0, and the same values.
    hostvars = node_hostvars(record, "prod", "k8s_", ["InternalIP"], HOSTVARS_DETAIL)
    assert hostvars["ansible_host"] == "10.0.0.4"
    assert hostvars["k8s_addresses"] == {"Hostname": "w-1", "InternalIP": "10.0.0.4"}
    assert hostvars["k8s_conditions"]["Ready"] == "True"
    assert hostvars["k8s_node_info"]["kubeletVersion"] == "v1.31.2"
    assert hostvars["k8s_labels"] == record["labels"] and hostvars["k8s_annotations"] == record["annotations"]
    assert hostvars["k8s_capacity"] == record["capacity"] and hostvars["k8s_allocatable"] == record["allocatable"]
    assert hostvars["k8s_taints"] == []
    assert set(hostvars["k8s_images"]) == {"count", "total_bytes", "total_human", "capacity_bytes",
                                           "percent_of_capacity", "truncated", "top_images"}
    assert hostvars["k8s_images"]["top_images"] == record["images"]["top_images"]
    assert dict((k, v) for k, v in hostvars.items() if k in lean and k != "k8s_images") == \
        dict((k, v) for k, v in lean.items() if k != "k8s_images")
    assert dict((k, v) for k, v in hostvars["k8s_images"].items() if k != "top_images") == lean["k8s_images"]
    assert all(k == "ansible_host" or k.startswith("k8s_") for k in hostvars)


def test_no_address_means_no_ansible_host():
    record = compact_node(make_node("w-1", addresses=[]))
    assert "ansible_host" not in node_hostvars(record, "default")


@pytest.mark.parametrize("node, threshold, expected", [
    (make_node("a"), 80.0, ["cluster_c", "role_worker", "zone_eu-west-1a", "ready"]),
    (make_node("b", roles=("control-plane",), zone=None, ready="Unknown", cordoned=True), 80.0,
     ["cluster_c", "role_control-plane", "not_ready", "cordoned"]),
    (make_node("c", roles=(), images=[{"names": ["big:1"], "sizeBytes": 90 * GI}]), 80.0,
     ["cluster_c", "zone_eu-west-1a", "ready", "image_pressure"]),
    (make_node("d", images=[{"names": ["big:1"], "sizeBytes": 80 * GI}]), 80.0,
     ["cluster_c", "role_worker", "zone_eu-west-1a", "ready"]),  # exactly at the threshold: not over
    (make_node("e", images=[{"names": ["big:1"], "sizeBytes": 80 * GI}]), 79.5,
     ["cluster_c", "role_worker", "zone_eu-west-1a", "ready", "image_pressure"]),
    (make_node("f", capacity=None, images=[{"names": ["big:1"], "sizeBytes": 900 * GI}]), 0.0,
     ["cluster_c", "role_worker", "zone_eu-west-1a", "ready"]),  # no capacity, no percentage
])
def test_default_groups(node, threshold, expected):
    assert default_groups(compact_node(node), "c", threshold) == expected


def test_plan_hosts_prefixes_hosts_per_cluster():
    clusters = [
        {"name": "prod", "host_prefix": "prod-", "nodes": [compact_node(make_node("n1"))]},
        {"name": "staging", "host_prefix": "staging-", "nodes": [compact_node(make_node("n1"))]},
    ]
    planned = list(plan_hosts(clusters, settings()))
    assert [entry[0] for entry in planned] == ["prod-n1", "staging-n1"]
    assert planned[0][3] is None  # no constructed options: nothing more is built
    assert planned[1][1]["nodewatch_name"] == "n1" and planned[1][1]["nodewatch_cluster"] == "staging"
    assert "cluster_staging" in planned[1][2]


def test_plan_hosts_refuses_colliding_host_names():
    clusters = [
        {"name": "prod", "host_prefix": "", "nodes": [compact_node(make_node("n1"))]},
        {"name": "staging", "host_prefix": "", "nodes": [compact_node(make_node("n1"))]},
    ]
    with pytest.raises(InventoryConfigError) as caught:
        next(plan_hosts(clusters, settings()))
    assert "clusters 'prod' and 'staging' both produce the host name 'n1'" in str(caught.value)
    assert "host_prefix" in str(caught.value)


def test_default_groups_can_be_turned_off():
    clusters = [{"name": "c", "host_prefix": "", "nodes": [compact_node(make_node("n1"))]}]
    assert list(plan_hosts(clusters, settings(default_groups=False)))[0][2] == []


@given(st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=30), max_size=5))
def test_any_labels_give_json_records_and_string_group_names(extra_labels):
    record = compact_node(make_node("n", labels=extra_labels))
    assert json.loads(json.dumps(record)) == record
    for group in default_groups(record, "c"):
        assert isinstance(group, str) and group


# -- the plugin, in-process ---------------------------------------------------------------------

PLUGIN_DEFAULTS = {
    "plugin": "nodewatch.k8s.nodes", "connections": None, "label_selectors": [], "field_selectors": [],
    "address_preference": ["InternalIP", "ExternalIP", "Hostname"], "vars_prefix": "nodewatch_",
    "hostvars_detail": [], "top_images": 5, "max_images": 50, "image_pressure_percent": 80, "default_groups": True,
    "strict": False, "compose": {}, "groups": {}, "keyed_groups": [], "use_extra_vars": False,
    "leading_separator": True, "cache": False, "cache_plugin": "memory", "cache_timeout": 3600,
    "cache_connection": None, "cache_prefix": "ansible_inventory_",
}


class StubConfiguration:
    host = "https://127.0.0.1:6443"
    verify_ssl = True


class StubClient:
    configuration = StubConfiguration()

    def __init__(self, nodes, calls):
        self.nodes = nodes
        self.calls = calls

    def iter_items(self, path, label_selector=None, field_selector=None, limit=500):
        self.calls.append((label_selector, field_selector))
        if label_selector == "!!":
            raise ApiError(400, reason="BadRequest", message="unable to parse requirement: found '!'")
        return iter(copy.deepcopy(self.nodes))

    def close(self):
        pass


class DictCache(dict):
    """What Cacheable's adjudicator offers the plugin: item access."""


def trusted(value):
    """What _read_config_data does to the inventory file's strings on ansible-core 2.19."""
    if not plugin_module.HAS_DATA_TAGGING:
        return value
    from ansible.template import trust_as_template
    if isinstance(value, str):
        return trust_as_template(value)
    if isinstance(value, dict):
        return dict((k, trusted(v)) for k, v in value.items())
    if isinstance(value, list):
        return [trusted(v) for v in value]
    return value


class Harness:
    def __init__(self, monkeypatch, clusters):
        self.clusters = clusters  # context -> nodes; None context is the default
        self.calls = []
        self.auth_seen = []
        monkeypatch.setattr(plugin_module.KubeClient, "from_options", classmethod(self._client))

    def _client(self, _cls, options):
        self.auth_seen.append(dict(options))
        context = options.get("context")
        if context not in self.clusters:
            raise ConfigError("context '%s' is not in the kubeconfig" % context)
        return StubClient(self.clusters[context], self.calls)

    def run(self, options, cache_store=None, cache=True):
        values = dict(PLUGIN_DEFAULTS)
        values.update(options)

        class Plugin(plugin_module.InventoryModule):
            def _read_config_data(self, path):
                return values

            def get_option(self, option, hostvars=None):
                if option in AUTH_OPTIONS:
                    return values.get(option)
                return values[option]

            def get_cache_key(self, path):
                return "key"

        plugin = Plugin()
        plugin._cache = cache_store if cache_store is not None else DictCache()
        inventory = InventoryData()
        plugin.parse(inventory, DataLoader(), "/tmp/test.nodes.yml", cache=cache)
        return inventory


def groups_of(inventory, host):
    return sorted(g.name for g in inventory.get_host(host).get_groups() if g.name != "all")


def hostvars(inventory, host):
    return inventory.get_host(host).get_vars()


def test_plugin_builds_hosts_groups_and_vars(monkeypatch):
    nodes = [make_node("cp-1", roles=("control-plane",)), make_node("w-1", cordoned=True, ready="False"),
             make_node("w-2", images=[{"names": ["big:1"], "sizeBytes": 95 * GI}])]
    inventory = Harness(monkeypatch, {None: nodes}).run({})
    assert sorted(inventory.hosts) == ["cp-1", "w-1", "w-2"]
    assert groups_of(inventory, "cp-1") == ["cluster_default", "ready", "role_control_plane", "zone_eu_west_1a"]
    assert groups_of(inventory, "w-1") == ["cluster_default", "cordoned", "not_ready", "role_worker", "zone_eu_west_1a"]
    assert "image_pressure" in groups_of(inventory, "w-2")
    assert hostvars(inventory, "w-2")["nodewatch_images"]["percent_of_capacity"] == 95.0
    assert hostvars(inventory, "cp-1")["ansible_host"] == "10.0.0.5"


def test_plugin_constructs_from_trusted_templates(monkeypatch):
    nodes = [make_node("w-1", labels={"node.kubernetes.io/instance-type": "m5.large"}), make_node("w-2")]
    inventory = Harness(monkeypatch, {None: nodes}).run(trusted({
        "compose": {"kubelet": "nodewatch_node_info.kubeletVersion", "ansible_connection": "'local'"},
        "groups": {"has_type": "'node.kubernetes.io/instance-type' in nodewatch_labels"},
        "keyed_groups": [{"prefix": "type", "key": "nodewatch_labels['node.kubernetes.io/instance-type'] | default('none')"}],
    }))
    assert hostvars(inventory, "w-1")["kubelet"] == "v1.31.2"
    assert hostvars(inventory, "w-1")["ansible_connection"] == "local"
    assert "has_type" in groups_of(inventory, "w-1") and "has_type" not in groups_of(inventory, "w-2")
    assert "type_m5_large" in groups_of(inventory, "w-1") and "type_none" in groups_of(inventory, "w-2")


def test_constructed_options_see_data_the_hosts_do_not_carry(monkeypatch):
    """hostvars_detail off (the default): labels, node info and conditions are not host variables,
    yet keyed_groups on a label, compose from node info and groups from a condition all work."""
    pressured = make_node("w-2", labels={"node.kubernetes.io/instance-type": "m5.large"})
    pressured["status"]["conditions"][1]["status"] = "True"  # DiskPressure
    nodes = [make_node("w-1", labels={"node.kubernetes.io/instance-type": "c6i.xlarge"}), pressured]
    inventory = Harness(monkeypatch, {None: nodes}).run(trusted({
        "compose": {"kubelet": "nodewatch_node_info.kubeletVersion"},
        "groups": {"disk_full": "nodewatch_conditions.DiskPressure == 'True'"},
        "keyed_groups": [{"prefix": "type", "key": "nodewatch_labels['node.kubernetes.io/instance-type']"},
                         {"prefix": "kubelet", "key": "kubelet"}],  # a composed variable
        "strict": True,
    }))
    for host in ("w-1", "w-2"):
        variables = hostvars(inventory, host)
        assert variables["kubelet"] == "v1.31.2"
        for family in ("labels", "annotations", "taints", "conditions", "capacity", "allocatable", "node_info",
                       "addresses"):
            assert "nodewatch_" + family not in variables
        assert "top_images" not in variables["nodewatch_images"]
    assert "type_c6i_xlarge" in groups_of(inventory, "w-1") and "type_m5_large" in groups_of(inventory, "w-2")
    assert "disk_full" in groups_of(inventory, "w-2") and "disk_full" not in groups_of(inventory, "w-1")
    assert "kubelet_v1_31_2" in groups_of(inventory, "w-1")
    assert hostvars(inventory, "w-2")["nodewatch_pressure"] == ["DiskPressure"]


def test_hostvars_detail_all_gives_the_old_variables_back(monkeypatch):
    node = make_node("w-1", taints=[{"key": "gpu", "value": "true", "effect": "NoSchedule"}])
    inventory = Harness(monkeypatch, {None: [node]}).run({"hostvars_detail": ["all"]})
    variables = hostvars(inventory, "w-1")
    assert variables["nodewatch_labels"] == node["metadata"]["labels"]
    assert variables["nodewatch_annotations"] == node["metadata"]["annotations"]
    assert variables["nodewatch_taints"] == [{"key": "gpu", "value": "true", "effect": "NoSchedule"}]
    assert variables["nodewatch_conditions"] == {"MemoryPressure": "False", "DiskPressure": "False", "Ready": "True"}
    assert variables["nodewatch_capacity"] == node["status"]["capacity"]
    assert variables["nodewatch_allocatable"] == node["status"]["allocatable"]
    assert variables["nodewatch_node_info"] == node["status"]["nodeInfo"]
    assert variables["nodewatch_addresses"] == {"Hostname": "w-1", "InternalIP": "10.0.0.4"}
    assert variables["nodewatch_images"]["top_images"][0]["name"] == "registry.k8s.io/pause"


def test_bad_hostvars_detail_is_a_parser_error_with_a_sentence(monkeypatch):
    with pytest.raises(AnsibleParserError) as caught:
        Harness(monkeypatch, {None: [make_node("n1")]}).run({"hostvars_detail": ["lables"]})
    assert "hostvars_detail: unknown family 'lables'" in str(caught.value)


@pytest.mark.skipif(not plugin_module.HAS_DATA_TAGGING, reason="data tagging is ansible-core 2.19+")
def test_untrusted_templates_do_nothing_on_2_19(monkeypatch):
    """Why the plugin must take compose/groups from _read_config_data (which trusts the file):
    the same expressions, untrusted, silently construct nothing."""
    inventory = Harness(monkeypatch, {None: [make_node("w-1")]}).run({
        "compose": {"kubelet": "nodewatch_node_info.kubeletVersion"},
        "groups": {"everyone": "true"},
    })
    assert hostvars(inventory, "w-1").get("kubelet") != "v1.31.2"
    assert "everyone" not in groups_of(inventory, "w-1")


def test_api_values_are_never_templates(monkeypatch):
    sneaky = "{{ 6 * 7 }}"
    nodes = [make_node("w-1", labels={"team": "x"}, annotations={"note": sneaky})]
    inventory = Harness(monkeypatch, {None: nodes}).run(trusted({"compose": {"copied": "nodewatch_annotations.note"}}))
    host = inventory.get_host("w-1")
    from ansible.template import Templar
    templar = Templar(loader=DataLoader(), variables=host.get_vars())
    if plugin_module.HAS_DATA_TAGGING:
        from ansible.template import trust_as_template
        rendered = templar.template(trust_as_template("{{ copied }}"))
    else:
        rendered = templar.template("{{ copied }}")
    assert rendered == sneaky


def test_plugin_two_clusters_with_prefixes(monkeypatch):
    harness = Harness(monkeypatch, {"prod-admin": [make_node("n1")], "staging-admin": [make_node("n1", zone="b")]})
    inventory = harness.run({"kubeconfig": "/k", "connections": [
        {"name": "prod", "context": "prod-admin", "host_prefix": "prod-"},
        {"name": "staging", "context": "staging-admin", "host_prefix": "staging-", "label_selectors": ["x=y"]},
    ]})
    assert sorted(inventory.hosts) == ["prod-n1", "staging-n1"]
    assert "cluster_prod" in groups_of(inventory, "prod-n1") and "zone_b" in groups_of(inventory, "staging-n1")
    assert harness.calls == [(None, None), ("x=y", None)]
    assert [a["kubeconfig"] for a in harness.auth_seen] == ["/k", "/k"]


@pytest.mark.parametrize("options, words", [
    ({"image_pressure_percent": "101%"}, "image_pressure_percent: percentage '101%' is out of range"),
    ({"context": "nope"}, "cluster 'default': context 'nope' is not in the kubeconfig"),
    ({"label_selectors": ["!!"]}, "cluster 'default': the API server rejected the selector"),
    ({"connections": [{"name": "a"}, {"name": "b"}]}, "clusters 'a' and 'b' both produce the host name 'n1'"),
])
def test_plugin_errors_are_parser_errors_with_a_sentence(monkeypatch, options, words):
    harness = Harness(monkeypatch, {None: [make_node("n1")]})
    with pytest.raises(AnsibleParserError) as caught:
        harness.run(options)
    assert "nodewatch.k8s.nodes inventory /tmp/test.nodes.yml: " in str(caught.value)
    assert words in str(caught.value)


def test_plugin_cache_round_trip(monkeypatch):
    store = DictCache()
    harness = Harness(monkeypatch, {None: [make_node("w-1"), make_node("w-2")]})
    options = trusted({"cache": True, "groups": {"first": "nodewatch_name == 'w-1'"}})
    harness.run(options, cache_store=store, cache=False)  # --flush-cache: fetch and write
    assert len(harness.calls) == 1
    payload = store["key"]
    # The records travel as one JSON text: Ansible's cache layer decodes it in one piece.
    records = json.loads(payload["clusters"])
    assert payload["format"] == CACHE_FORMAT and [r["name"] for r in records[0]["nodes"]] == ["w-1", "w-2"]
    assert json.loads(json.dumps(payload)) == payload  # what a jsonfile cache stores

    inventory = harness.run(options, cache_store=store, cache=True)
    assert len(harness.calls) == 1  # served from the cache
    assert "first" in groups_of(inventory, "w-1") and "zone_eu_west_1a" in groups_of(inventory, "w-2")

    # What hosts carry is chosen when they are built: more detail comes from the same records.
    detailed = harness.run(dict(options, hostvars_detail=["labels"]), cache_store=store, cache=True)
    assert len(harness.calls) == 1
    assert hostvars(detailed, "w-1")["nodewatch_labels"]["kubernetes.io/hostname"] == "w-1"

    # Different selectors are a different question: the cache entry is not reused.
    harness.run(dict(options, label_selectors=["a=b"]), cache_store=store, cache=True)
    assert len(harness.calls) == 2


def test_plugin_cache_miss_fetches_and_stores(monkeypatch):
    store = DictCache()
    harness = Harness(monkeypatch, {None: [make_node("w-1")]})
    harness.run({"cache": True}, cache_store=store, cache=True)
    assert len(harness.calls) == 1 and "key" in store


def test_verify_file_wants_a_nodes_yaml_name(tmp_path):
    plugin = plugin_module.InventoryModule()
    for name, ok in (("prod.nodes.yml", True), ("nodes.yaml", True), ("prod.yml", False), ("nodes.json", False)):
        path = tmp_path / name
        path.write_text("plugin: nodewatch.k8s.nodes\n")
        assert plugin.verify_file(str(path)) is ok, name


def test_group_names_are_always_valid_variable_names():
    assert plugin_module.InventoryModule._sanitize_group_name("zone_eu-west-1a") == "zone_eu_west_1a"
    assert plugin_module.InventoryModule._sanitize_group_name("role_control-plane") == "role_control_plane"
