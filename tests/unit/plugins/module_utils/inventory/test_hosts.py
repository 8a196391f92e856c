# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What a host carries (hostvars_detail), what the constructed options see, and the cache payload.

The rest of module_utils/inventory/hosts.py (settings, records, groups) is covered table by table in
tests/unit/plugins/inventory/test_nodes.py, beside the plugin that uses it.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.inventory.hosts import (
    CACHE_FORMAT,
    HOSTVARS_DETAIL,
    InventoryConfigError,
    cache_fingerprint,
    cache_payload,
    cached_clusters,
    compact_node,
    node_hostvars,
    normalize_settings,
    plan_hosts,
    pressure_conditions,
    valid_cache_payload,
)

LEAN = {"ansible_host", "nodewatch_name", "nodewatch_cluster", "nodewatch_roles", "nodewatch_zone", "nodewatch_ready",
        "nodewatch_schedulable", "nodewatch_pressure", "nodewatch_images"}
LEAN_IMAGES = {"count", "total_bytes", "total_human", "capacity_bytes", "percent_of_capacity", "truncated"}


def node(name="w-1", disk_pressure="False", taints=None):
    return {
        "metadata": {"name": name,
                     "labels": {"node-role.kubernetes.io/worker": "", "topology.kubernetes.io/zone": "z1",
                                "node.kubernetes.io/instance-type": "m5.large"},
                     "annotations": {"node.alpha.kubernetes.io/ttl": "0"}},
        "spec": {"taints": taints or []},
        "status": {
            "conditions": [{"type": "MemoryPressure", "status": "False"},
                           {"type": "DiskPressure", "status": disk_pressure},
                           {"type": "PIDPressure", "status": "True"},
                           {"type": "Ready", "status": "True"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.7"}, {"type": "Hostname", "address": name}],
            "capacity": {"cpu": "4", "ephemeral-storage": "100Gi", "hugepages-2Mi": "0"},
            "allocatable": {"cpu": "3800m"},
            "nodeInfo": {"kubeletVersion": "v1.31.2", "architecture": "arm64"},
            "images": [{"names": ["docker.io/library/nginx@sha256:" + "a" * 64, "docker.io/library/nginx:1.27"],
                        "sizeBytes": 70 * 2 ** 20},
                       {"names": ["registry.k8s.io/pause:3.9"], "sizeBytes": 321520}],
        },
    }


# -- settings ------------------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (None, ()),
    ([], ()),
    (["labels"], ("labels",)),
    # The documented order, whatever the order asked, and each family once.
    (["top_images", "labels", "labels"], ("labels", "top_images")),
    (["all"], HOSTVARS_DETAIL),
    (["labels", "all"], HOSTVARS_DETAIL),
    ("all", HOSTVARS_DETAIL),
])
def test_hostvars_detail_is_read_into_families(value, expected):
    assert normalize_settings({"hostvars_detail": value})["hostvars_detail"] == expected


@pytest.mark.parametrize("value, words", [
    (["label"], "hostvars_detail: unknown family 'label'; use labels, annotations, taints, conditions, capacity, "
                "allocatable, node_info, addresses, top_images, or all for every one"),
    ({"labels": True}, "hostvars_detail must be a list of labels"),
])
def test_bad_hostvars_detail_names_the_option_and_the_choices(value, words):
    with pytest.raises(InventoryConfigError) as caught:
        normalize_settings({"hostvars_detail": value})
    assert words in str(caught.value)


# -- what a host carries -----------------------------------------------------------------------

def test_default_hostvars_are_what_people_group_and_limit_by():
    hostvars = node_hostvars(compact_node(node(disk_pressure="True")), "prod")
    assert set(hostvars) == LEAN
    assert set(hostvars["nodewatch_images"]) == LEAN_IMAGES
    assert hostvars["nodewatch_pressure"] == ["DiskPressure", "PIDPressure"]
    assert hostvars["nodewatch_roles"] == ["worker"] and hostvars["nodewatch_zone"] == "z1"
    assert hostvars["nodewatch_images"]["count"] == 2
    assert hostvars["nodewatch_images"]["total_bytes"] == 70 * 2 ** 20 + 321520


@pytest.mark.parametrize("family, variable, expected", [
    ("labels", "nodewatch_labels", {"node-role.kubernetes.io/worker": "", "topology.kubernetes.io/zone": "z1",
                                    "node.kubernetes.io/instance-type": "m5.large"}),
    ("annotations", "nodewatch_annotations", {"node.alpha.kubernetes.io/ttl": "0"}),
    ("taints", "nodewatch_taints", [{"key": "gpu", "effect": "NoSchedule"}]),
    ("conditions", "nodewatch_conditions", {"MemoryPressure": "False", "DiskPressure": "False",
                                            "PIDPressure": "True", "Ready": "True"}),
    ("capacity", "nodewatch_capacity", {"cpu": "4", "ephemeral-storage": "100Gi", "hugepages-2Mi": "0"}),
    ("allocatable", "nodewatch_allocatable", {"cpu": "3800m"}),
    ("node_info", "nodewatch_node_info", {"kubeletVersion": "v1.31.2", "architecture": "arm64"}),
    ("addresses", "nodewatch_addresses", {"InternalIP": "10.0.0.7", "Hostname": "w-1"}),
])
def test_each_family_adds_its_variable_and_nothing_else(family, variable, expected):
    record = compact_node(node(taints=[{"key": "gpu", "effect": "NoSchedule"}]))
    hostvars = node_hostvars(record, "prod", detail=(family,))
    assert set(hostvars) == LEAN | {variable}
    assert hostvars[variable] == expected
    assert set(hostvars["nodewatch_images"]) == LEAN_IMAGES


def test_top_images_family_adds_the_largest_images_to_the_image_summary():
    hostvars = node_hostvars(compact_node(node(), top_images=1), "prod", detail=("top_images",))
    assert set(hostvars) == LEAN
    assert [image["name"] for image in hostvars["nodewatch_images"]["top_images"]] == ["docker.io/library/nginx"]


def test_pressure_is_every_true_condition_but_ready():
    assert pressure_conditions({"Ready": "True", "DiskPressure": "True", "MemoryPressure": "Unknown"}) == ["DiskPressure"]
    assert pressure_conditions({}) == [] and pressure_conditions(None) == []


# -- what the constructed options see ------------------------------------------------------------

def test_constructed_options_see_every_family_while_hosts_stay_lean():
    clusters = [{"name": "prod", "host_prefix": "", "nodes": [compact_node(node())]}]
    (host, hostvars, _groups, constructed), = plan_hosts(clusters, normalize_settings({}), constructed_vars=True)
    assert host == "w-1" and set(hostvars) == LEAN
    assert constructed["nodewatch_labels"]["node.kubernetes.io/instance-type"] == "m5.large"
    assert constructed["nodewatch_node_info"]["architecture"] == "arm64"
    assert constructed["nodewatch_conditions"]["PIDPressure"] == "True"
    assert constructed["nodewatch_images"]["top_images"]
    # The host's own variables are among them, with the same values.
    assert dict((k, v) for k, v in constructed.items() if k in hostvars and k != "nodewatch_images") == \
        dict((k, v) for k, v in hostvars.items() if k != "nodewatch_images")


def test_hostvars_detail_chooses_what_hosts_carry():
    clusters = [{"name": "prod", "host_prefix": "", "nodes": [compact_node(node())]}]
    (_host, hostvars, _groups, constructed), = plan_hosts(clusters, normalize_settings({"hostvars_detail": ["all"]}))
    assert constructed is None
    assert set(hostvars) == LEAN | set("nodewatch_" + f for f in HOSTVARS_DETAIL if f != "top_images")


# -- the cache payload -------------------------------------------------------------------------

def test_cache_payload_round_trips_through_json_as_one_text():
    clusters = [{"name": "prod", "host_prefix": "p-", "nodes": [compact_node(node())]}]
    fingerprint = cache_fingerprint(normalize_settings({}))
    payload = cache_payload(fingerprint, clusters)
    assert payload["format"] == CACHE_FORMAT and isinstance(payload["clusters"], str)
    stored = json.loads(json.dumps(payload))  # what ansible.builtin.jsonfile writes and reads back
    assert valid_cache_payload(stored, fingerprint)
    assert cached_clusters(stored) == clusters


@pytest.mark.parametrize("clusters_text", ["[{\"name\": \"prod\", \"nodes\": [", "{\"name\": \"prod\"}",
                                           "[{\"name\": \"prod\"}]", "[\"prod\"]"])
def test_damaged_cache_text_is_a_miss_not_a_crash(clusters_text):
    fingerprint = cache_fingerprint(normalize_settings({}))
    payload = {"format": CACHE_FORMAT, "fingerprint": fingerprint, "clusters": clusters_text}
    assert valid_cache_payload(payload, fingerprint)
    assert cached_clusters(payload) is None


def test_records_of_an_older_format_are_not_read():
    fingerprint = cache_fingerprint(normalize_settings({}))
    old = {"format": 1, "fingerprint": fingerprint, "clusters": [{"name": "default", "nodes": []}]}
    assert not valid_cache_payload(old, fingerprint)
    assert not valid_cache_payload(dict(old, format=CACHE_FORMAT), fingerprint)  # records not as one text
