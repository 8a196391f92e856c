"""Pure node logic: summaries, Kubernetes validation rules, desired-state planning."""
import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ValidationError
from ansible_collections.nodewatch.k8s.plugins.module_utils.nodes.model import (
    desired_mapping,
    desired_taints,
    node_roles,
    normalize_taint,
    plan_node_update,
    summarize_node,
    validate_label_value,
    validate_node_definition,
    validate_qualified_name,
)


def make_node(labels=None, annotations=None, taints=None, unschedulable=None, rv="7"):
    node = {
        "metadata": {"name": "worker-1", "resourceVersion": rv, "labels": labels or {},
                     "annotations": annotations or {}},
        "spec": {},
        "status": {
            "conditions": [
                {"type": "MemoryPressure", "status": "False"},
                {"type": "DiskPressure", "status": "True"},
                {"type": "Ready", "status": "True"},
            ],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.5"},
                          {"type": "Hostname", "address": "worker-1"}],
            "nodeInfo": {"kubeletVersion": "v1.31.2"},
            "capacity": {"cpu": "4", "ephemeral-storage": "100Gi"},
        },
    }
    if taints is not None:
        node["spec"]["taints"] = taints
    if unschedulable is not None:
        node["spec"]["unschedulable"] = unschedulable
    return node


def test_summary_shows_what_people_ask_first():
    node = make_node(labels={"node-role.kubernetes.io/worker": "", "kubernetes.io/role": "gpu",
                             "topology.kubernetes.io/zone": "z1"},
                     taints=[{"key": "a", "effect": "NoSchedule"}], unschedulable=True)
    summary = summarize_node(node)
    assert summary["name"] == "worker-1"
    assert summary["roles"] == ["gpu", "worker"]
    assert summary["ready"] is True
    assert summary["schedulable"] is False
    assert summary["conditions_true"] == ["DiskPressure"]
    assert summary["taints"] == [{"key": "a", "effect": "NoSchedule"}]
    assert summary["addresses"] == {"InternalIP": "10.0.0.5", "Hostname": "worker-1"}
    assert summary["kubelet_version"] == "v1.31.2"
    assert summary["zone"] == "z1"


def test_lighter_summary_for_node_info_keeps_what_matters():
    node = make_node(labels={"node-role.kubernetes.io/worker": ""})
    node["metadata"]["creationTimestamp"] = "2026-01-02T03:04:05Z"
    node["status"]["capacity"].update({"hugepages-2Mi": "0", "nvidia.com/gpu": "1", "memory": "16Gi"})
    node["status"]["allocatable"] = {"cpu": "3800m"}
    node["status"]["nodeInfo"]["containerRuntimeVersion"] = "containerd://1.7.22"
    complete = summarize_node(node)
    compact = summarize_node(node, complete=False)
    assert set(complete) - set(compact) == {"allocatable", "container_runtime", "created"}
    assert compact["capacity"] == {"cpu": "4", "ephemeral-storage": "100Gi", "nvidia.com/gpu": "1", "memory": "16Gi"}
    assert complete["capacity"]["hugepages-2Mi"] == "0" and complete["allocatable"] == {"cpu": "3800m"}
    assert complete["created"] == "2026-01-02T03:04:05Z" and complete["container_runtime"] == "containerd://1.7.22"
    assert dict((k, v) for k, v in complete.items() if k in compact and k != "capacity") == \
        dict((k, v) for k, v in compact.items() if k != "capacity")


def test_node_without_ready_condition_is_not_ready():
    node = make_node()
    node["status"]["conditions"] = [{"type": "Ready", "status": "Unknown"}]
    assert summarize_node(node)["ready"] is False
    assert node_roles({}) == []


@pytest.mark.parametrize("key", [
    "app", "example.com/team", "a.b-c.d/x_y.z", "node-role.kubernetes.io/control-plane", "a" * 63,
    "x/" + "a" * 63, ("d" * 63 + ".") * 3 + "d" * 61 + "/n",
])
def test_valid_qualified_names(key):
    validate_qualified_name(key)


@pytest.mark.parametrize("key,fragment", [
    ("", "non-empty"),
    ("-app", "name part"),
    ("app-", "name part"),
    ("a" * 64, "name part"),
    ("Example.com/x", "prefix"),
    ("/x", "prefix before '/' must not be empty"),
    ("a/b/c", "prefix"),
    ("exa mple/x", "prefix"),
    ("ok/", "name part"),
])
def test_invalid_qualified_names_are_named(key, fragment):
    with pytest.raises(ValidationError) as err:
        validate_qualified_name(key)
    assert fragment in str(err.value)


@pytest.mark.parametrize("value,ok", [("", True), ("v1.2_3-x", True), ("a" * 63, True),
                                      ("a" * 64, False), ("-a", False), ("a b", False), (True, False)])
def test_label_values(value, ok):
    if ok:
        validate_label_value("k", value)
    else:
        with pytest.raises(ValidationError):
            validate_label_value("k", value)


def test_taint_validation():
    assert normalize_taint({"key": "gpu", "effect": "NoSchedule", "value": "yes"}) == \
        {"key": "gpu", "effect": "NoSchedule", "value": "yes", "state": "present"}
    with pytest.raises(ValidationError, match="effect 'NoRun' is not valid"):
        normalize_taint({"key": "gpu", "effect": "NoRun"})
    with pytest.raises(ValidationError, match="effect is required"):
        normalize_taint({"key": "gpu"})
    assert normalize_taint({"key": "gpu", "state": "absent"}) == {"key": "gpu", "state": "absent"}
    with pytest.raises(ValidationError, match="unknown field"):
        normalize_taint({"key": "gpu", "effect": "NoSchedule", "operator": "Exists"})


def test_merge_and_replace_of_labels_keep_kubernetes_owned_keys():
    current = {"kubernetes.io/hostname": "w1", "topology.kubernetes.io/zone": "z",
               "node-role.kubernetes.io/old": "", "team": "a", "keep": "x"}
    merged = desired_mapping(current, {"team": "b", "keep": None}, "merge")
    assert merged == {"kubernetes.io/hostname": "w1", "topology.kubernetes.io/zone": "z",
                      "node-role.kubernetes.io/old": "", "team": "b"}
    replaced = desired_mapping(current, {"new": "1"}, "replace")
    assert replaced == {"kubernetes.io/hostname": "w1", "topology.kubernetes.io/zone": "z", "new": "1"}


def test_taints_merge_update_remove_and_replace():
    current = [{"key": "a", "effect": "NoSchedule", "value": "1"},
               {"key": "a", "effect": "NoExecute"},
               {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]
    merged = desired_taints(current, [normalize_taint({"key": "a", "effect": "NoSchedule", "value": "2"})], "merge")
    assert merged[0] == {"key": "a", "effect": "NoSchedule", "value": "2"}
    assert len(merged) == 3
    removed = desired_taints(current, [normalize_taint({"key": "a", "state": "absent"})], "merge")
    assert removed == [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}]
    exact = desired_taints(current, [normalize_taint({"key": "b", "effect": "NoExecute"})], "replace")
    assert exact == [{"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"},
                     {"key": "b", "effect": "NoExecute"}]


def test_plan_is_none_when_already_in_state():
    node = make_node(labels={"team": "a"}, taints=[{"key": "x", "effect": "NoSchedule"}], unschedulable=True)
    patch, before, after = plan_node_update(
        node, labels={"team": "a"}, taints=[normalize_taint({"key": "x", "effect": "NoSchedule"})],
        cordoned=True)
    assert patch is None
    assert before == after


def test_plan_builds_a_minimal_merge_patch_with_resource_version():
    node = make_node(labels={"team": "a", "old": "1"}, taints=[{"key": "x", "effect": "NoSchedule"}])
    patch, before, after = plan_node_update(
        node, labels={"team": "b", "old": None},
        taints=[normalize_taint({"key": "x", "state": "absent"})], cordoned=True)
    assert patch == {"metadata": {"labels": {"team": "b", "old": None}, "resourceVersion": "7"},
                     "spec": {"taints": None, "unschedulable": True}}
    assert before["labels"] == {"team": "a", "old": "1"}
    assert after["labels"] == {"team": "b"}
    assert after["unschedulable"] is True


def test_uncordon_removes_the_field():
    node = make_node(unschedulable=True)
    patch, dummy, after = plan_node_update(node, cordoned=False)
    assert patch["spec"] == {"unschedulable": None}
    assert after["unschedulable"] is False


def test_definition_must_be_a_node_with_the_same_name():
    body = validate_node_definition({"metadata": {"labels": {"a": "b"}}}, "edge-1")
    assert body["metadata"]["name"] == "edge-1" and body["kind"] == "Node"
    with pytest.raises(ValidationError, match="differs"):
        validate_node_definition({"metadata": {"name": "other"}}, "edge-1")
    with pytest.raises(ValidationError, match="kind: Node"):
        validate_node_definition({"kind": "Pod"}, "edge-1")
    with pytest.raises(ValidationError, match="node name"):
        validate_node_definition({}, "Edge_1")
