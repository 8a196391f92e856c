# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The manifests engine: reading definitions, comparing desired with live, merge patches, and the
apply/remove flow against a scripted client (409 races, missing CRDs, waits)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakekube.patch import merge_patch as rfc7386_apply

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError, WaitTimeout
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.manifests import (
    KINDS,
    MANAGED_BY_LABEL,
    ManifestError,
    apply_manifests,
    collect_definitions,
    deployment_available,
    differences,
    format_path,
    merge_patch,
    prepare,
    project,
    secret_values,
    supported_kinds,
)


def cm(name="settings", namespace="apps", **data):
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": namespace},
            "data": dict(data)}


# -- reading definitions ------------------------------------------------------------------------

def test_definitions_from_lists_dicts_yaml_text_and_kubectl_lists():
    text = "---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n\n---\n" \
           "apiVersion: v1\nkind: List\nitems:\n- {apiVersion: v1, kind: Namespace, metadata: {name: b}}\n"
    objects = collect_definitions([cm(), None, text], src_text="apiVersion: v1\nkind: Namespace\nmetadata: {name: z}\n")
    assert [o["metadata"]["name"] for o in objects] == ["z", "settings", "a", "b"]
    assert collect_definitions(cm()) == [cm()]
    assert collect_definitions(text)[1]["metadata"]["name"] == "b"


@pytest.mark.parametrize("definitions, message", [
    (["- just\n- a list\n"], "definition #1 must be a mapping"),
    ("kind: [unclosed", "are not valid YAML"),
    ([42], "definition #1 must be a mapping"),
])
def test_malformed_definitions_are_named(definitions, message):
    with pytest.raises(ManifestError, match=message):
        collect_definitions(definitions)


def test_unknown_kind_lists_the_supported_kinds():
    with pytest.raises(ManifestError) as info:
        prepare({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "x"}})
    text = str(info.value)
    assert "Pod x/p: apiVersion v1 kind Pod is not supported" in text
    for kind in ("v1/Namespace", "apps/v1/Deployment", "batch/v1/CronJob", "monitoring.coreos.com/v1/PrometheusRule"):
        assert kind in text


def test_a_known_kind_with_another_api_version_says_which_is_supported():
    with pytest.raises(ManifestError, match=r"Deployment is supported as apiVersion apps/v1"):
        prepare({"apiVersion": "extensions/v1beta1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "x"}})


def test_the_table_holds_exactly_the_kinds_the_role_needs():
    assert supported_kinds() == [
        "v1/Namespace", "v1/ServiceAccount", "v1/ConfigMap", "v1/Secret", "v1/Service",
        "rbac.authorization.k8s.io/v1/ClusterRole", "rbac.authorization.k8s.io/v1/ClusterRoleBinding",
        "rbac.authorization.k8s.io/v1/Role", "rbac.authorization.k8s.io/v1/RoleBinding", "apps/v1/Deployment",
        "batch/v1/CronJob", "batch/v1/Job", "coordination.k8s.io/v1/Lease",
        "monitoring.coreos.com/v1/ServiceMonitor", "monitoring.coreos.com/v1/PrometheusRule"]
    assert KINDS[("apps/v1", "Deployment")].path("ns", "d") == "/apis/apps/v1/namespaces/ns/deployments/d"
    assert KINDS[("v1", "Namespace")].path(None, "ns") == "/api/v1/namespaces/ns"
    assert KINDS[("rbac.authorization.k8s.io/v1", "ClusterRole")].path() == "/apis/rbac.authorization.k8s.io/v1/clusterroles"


# -- preparing ----------------------------------------------------------------------------------

def test_prepare_strips_server_fields_labels_and_defaults_the_namespace():
    live_copy = cm(namespace=None, a="1")
    live_copy["metadata"].update(uid="u", resourceVersion="7", creationTimestamp="2026-01-01T00:00:00Z",
                                 managedFields=[{}], labels={"team": "x"})
    live_copy["status"] = {"phase": "x"}
    kind, desired = prepare(live_copy, default_namespace="apps")
    assert kind.kind == "ConfigMap"
    assert desired["metadata"] == {"name": "settings", "namespace": "apps",
                                   "labels": {"team": "x", MANAGED_BY_LABEL: "nodewatch.k8s"}}
    assert "status" not in desired
    assert live_copy["metadata"]["uid"] == "u", "the caller's object is not modified"


def test_prepare_drops_a_namespace_on_cluster_scoped_kinds_and_requires_one_on_namespaced():
    kind, desired = prepare({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "namespace": "b"}})
    assert "namespace" not in desired["metadata"]
    with pytest.raises(ManifestError, match="metadata.namespace is required"):
        prepare(cm(namespace=None))
    with pytest.raises(ManifestError, match="metadata.name is required"):
        prepare({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "x-", "namespace": "a"}})


def test_secret_string_data_is_compared_as_the_base64_data_the_server_keeps():
    kind, desired = prepare({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "s", "namespace": "a"},
                             "data": {"old": "eA=="}, "stringData": {"url": "https://hooks/é"}})
    assert "stringData" not in desired
    assert desired["data"] == {"old": "eA==", "url": base64.b64encode("https://hooks/é".encode("utf-8")).decode()}


# -- comparing ----------------------------------------------------------------------------------

LIVE = {
    "metadata": {"name": "d", "uid": "1", "labels": {"a": "1", "b": "2"}},
    "spec": {"replicas": 2, "paused": False,
             "template": {"spec": {"containers": [
                 {"name": "c", "image": "x:1", "imagePullPolicy": "IfNotPresent",
                  "resources": {"requests": {"cpu": "500m", "memory": "64Mi"}, "limits": {"memory": "1Gi"}}}]}}},
    "data": {"size": "1000"},
}


@pytest.mark.parametrize("desired, paths", [
    ({"metadata": {"labels": {"a": "1"}}}, []),                                   # a subset
    ({"metadata": {"labels": {"a": "2"}}}, [("metadata", "labels", "a")]),
    ({"metadata": {"labels": {"c": "3"}}}, [("metadata", "labels", "c")]),        # missing key
    ({"metadata": {"labels": {"b": None}}}, [("metadata", "labels", "b")]),       # null = must be absent
    ({"metadata": {"labels": {"zz": None}}}, []),
    ({"spec": {"replicas": "2"}}, [("spec", "replicas")]),                        # types matter
    ({"spec": {"paused": 0}}, [("spec", "paused")]),                              # bool is not int
    ({"spec": {"replicas": 2.0}}, []),                                            # JSON numbers
    ({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:1"}]}}}}, []),  # server defaults
    ({"spec": {"template": {"spec": {"containers": [{"name": "c", "image": "x:2"}]}}}},
     [("spec", "template", "spec", "containers")]),                               # lists: whole path
    ({"spec": {"template": {"spec": {"containers": []}}}}, [("spec", "template", "spec", "containers")]),
    ({"spec": {"template": {"spec": {"containers": [{"name": "c", "resources": {
        "requests": {"cpu": "0.5", "memory": "67108864"}, "limits": {"memory": "1024Mi"}}}]}}}}, []),  # quantities
    ({"spec": {"template": {"spec": {"containers": [{"name": "c", "resources": {
        "requests": {"cpu": "0.6"}}}]}}}}, [("spec", "template", "spec", "containers")]),
    ({"data": {"size": "1k"}}, [("data", "size")]),                               # quantities only in resources
    ({"spec": "replace"}, [("spec",)]),
])
def test_differences(desired, paths):
    assert differences(desired, LIVE) == paths


def test_merge_patch_is_minimal_and_replaces_lists():
    desired = {"metadata": {"labels": {"a": "1", "b": None, "c": "3"}},
               "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "c", "image": "x:2"}]}}},
               "data": {"size": "1000"}}
    assert merge_patch(desired, LIVE) == {
        "metadata": {"labels": {"b": None, "c": "3"}},
        "spec": {"replicas": 3, "template": {"spec": {"containers": [{"name": "c", "image": "x:2"}]}}}}
    assert merge_patch({"metadata": {"labels": {"a": "1"}}}, LIVE) is None
    assert merge_patch({"data": {"new": {"x": None, "y": 1}}}, LIVE) == {"data": {"new": {"y": 1}}}


def test_project_cuts_the_live_object_to_the_shape_of_a_patch():
    assert project(LIVE, {"metadata": {"labels": {"a": None, "zz": "1"}}, "spec": {"replicas": 3}}) == \
        {"metadata": {"labels": {"a": "1"}}, "spec": {"replicas": 2}}


def test_format_path():
    assert format_path(("spec", "template", "spec", "containers", 0, "image")) == "spec.template.spec.containers[0].image"
    assert format_path(()) == "(the whole object)"


_scalars = st.one_of(st.booleans(), st.integers(-5, 5), st.text(alphabet="ab", max_size=2))
_keys = st.sampled_from(["a", "b", "c"])
_json = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_keys, inner, max_size=3)), max_leaves=12)
_desired = st.recursive(_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(_keys, st.one_of(st.none(), inner), max_size=3)), max_leaves=12)


@settings(max_examples=300, deadline=None)
@given(desired=st.dictionaries(_keys, st.one_of(st.none(), _desired), max_size=3),
       live=st.dictionaries(_keys, _json, max_size=3))
def test_the_merge_patch_brings_live_to_contain_desired(desired, live):
    """Applying the computed patch with RFC 7386 (the fake server's implementation) always yields
    an object that contains the definition; and no patch is computed when it already does."""
    patch = merge_patch(desired, live)
    if not differences(desired, live):
        assert patch is None
        return
    assert patch is not None
    patched = rfc7386_apply(copy.deepcopy(live), patch)
    assert differences(desired, patched) == []


# -- the apply/remove flow against a scripted client --------------------------------------------

class ScriptedClient:
    """A dict of objects by path, with programmable failures; records every call."""

    def __init__(self, objects=None, served=("/api/v1", "/apis/apps/v1")):
        self.objects = dict(objects or {})
        self.served = set(served)
        self.calls = []
        self.fail = {}          # (verb, path) -> list of ApiError to raise first
        self.on_get = {}        # path -> callable(obj) mutating/returning the object, per GET

    def _raise(self, verb, path):
        queue = self.fail.get((verb, path))
        if queue:
            raise queue.pop(0)

    def get(self, path, query=None):
        self.calls.append(("GET", path))
        parts = path.strip("/").split("/")
        if len(parts) == (2 if parts[0] == "api" else 3):  # a group/version: is it served?
            if path in self.served:
                return {"kind": "APIResourceList"}
            raise ApiError(404, reason="NotFound")
        self._raise("GET", path)
        obj = self.objects.get(path)
        if path in self.on_get and obj is not None:
            obj = self.on_get[path](obj)  # None: the object is gone now
            if obj is None:
                del self.objects[path]
            else:
                self.objects[path] = obj
        if obj is None:
            raise ApiError(404, reason="NotFound")
        return copy.deepcopy(obj)

    def get_or_none(self, path, query=None):
        try:
            return self.get(path, query)
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise

    def create(self, path, body, dry_run=False):
        self.calls.append(("POST", path))
        self._raise("POST", path)
        full = path + "/" + body["metadata"]["name"]
        if full in self.objects:
            raise ApiError(409, reason="AlreadyExists")
        obj = copy.deepcopy(body)
        obj["metadata"].update(uid="uid-" + body["metadata"]["name"], resourceVersion="1")
        self.objects[full] = obj
        return obj

    def patch(self, path, patch, patch_type="merge", dry_run=False):
        self.calls.append(("PATCH", path, copy.deepcopy(patch)))
        self._raise("PATCH", path)
        obj = self.objects[path]
        if patch["metadata"]["resourceVersion"] != obj["metadata"]["resourceVersion"]:
            raise ApiError(409, reason="Conflict")
        body = copy.deepcopy(patch)
        del body["metadata"]["resourceVersion"]
        obj = rfc7386_apply(obj, body)
        obj["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
        self.objects[path] = obj
        return obj

    def delete(self, path, grace_period=None, propagation_policy=None, preconditions=None):
        self.calls.append(("DELETE", path))
        self._raise("DELETE", path)
        if path not in self.objects:
            raise ApiError(404, reason="NotFound")
        del self.objects[path]
        return {}

    def writes(self):
        return [c for c in self.calls if c[0] in ("POST", "PATCH", "DELETE")]


CM_PATH = "/api/v1/namespaces/apps/configmaps/settings"
NS = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "apps"}}


def test_create_then_unchanged_then_patched_with_the_read_resource_version():
    client = ScriptedClient()
    first = apply_manifests(client, [NS, cm(a="1")])
    assert first["changed"] and [r["action"] for r in first["results"]] == ["created", "created"]
    assert client.objects[CM_PATH]["metadata"]["labels"] == {MANAGED_BY_LABEL: "nodewatch.k8s"}
    client.calls[:] = []
    again = apply_manifests(client, [NS, cm(a="1")])
    assert not again["changed"] and client.writes() == []
    changed = apply_manifests(client, [NS, cm(a="2", b="3")])
    entry = changed["results"][1]
    assert entry["action"] == "patched" and entry["changes"] == ["data.a", "data.b"]
    assert client.writes() == [("PATCH", CM_PATH, {"data": {"a": "2", "b": "3"}, "metadata": {"resourceVersion": "1"}})]
    assert changed["diff"] == [{"before_header": "ConfigMap apps/settings", "after_header": "ConfigMap apps/settings",
                                "before": {"data": {"a": "1"}}, "after": {"data": {"a": "2", "b": "3"}}}]


def test_a_conflict_is_read_again_and_recomputed():
    client = ScriptedClient()
    apply_manifests(client, [NS, cm(a="1")])
    bumped = []

    def someone_else_writes(obj):
        # Between our read and our patch another writer changes the object once.
        if not bumped:
            bumped.append(True)
            obj = copy.deepcopy(obj)
            obj["data"]["other"] = "theirs"
            obj["metadata"]["resourceVersion"] = "5"
            return obj
        return obj

    client.fail[("PATCH", CM_PATH)] = [ApiError(409, reason="Conflict")]
    client.on_get[CM_PATH] = someone_else_writes
    result = apply_manifests(client, [cm(a="2")])
    assert result["results"][0]["action"] == "patched"
    patches = [c for c in client.calls if c[0] == "PATCH"]
    assert len(patches) == 2 and patches[-1][2]["metadata"]["resourceVersion"] == "5"
    assert client.objects[CM_PATH]["data"] == {"a": "2", "other": "theirs"}


def test_endless_conflicts_give_up_with_a_sentence():
    client = ScriptedClient()
    apply_manifests(client, [NS, cm(a="1")])
    client.fail[("PATCH", CM_PATH)] = [ApiError(409, reason="Conflict") for dummy in range(9)]
    with pytest.raises(ApiError, match="ConfigMap apps/settings kept changing while being applied; gave up after 5"):
        apply_manifests(client, [cm(a="2")])


def test_created_meanwhile_is_compared_instead_of_failing():
    namespace = dict(NS, metadata={"name": "apps", "resourceVersion": "1", "labels": {MANAGED_BY_LABEL: "nodewatch.k8s"}})
    client = ScriptedClient({"/api/v1/namespaces/apps": namespace})
    # The first GET says missing, the create says AlreadyExists: someone else created it meanwhile.
    client.fail[("GET", CM_PATH)] = [ApiError(404, reason="NotFound")]
    client.objects[CM_PATH] = prepare(cm(a="1"))[1]
    client.objects[CM_PATH]["metadata"]["resourceVersion"] = "3"
    result = apply_manifests(client, [NS, cm(a="1")])
    assert [r["action"] for r in result["results"]] == ["unchanged", "unchanged"]


def test_check_mode_writes_nothing_and_reports_what_would_change():
    client = ScriptedClient()
    apply_manifests(client, [NS, cm(a="1")])
    client.calls[:] = []
    result = apply_manifests(client, [NS, cm(a="2"), cm(name="new", x="1")], check_mode=True)
    assert [r["action"] for r in result["results"]] == ["unchanged", "patched", "created"]
    assert result["changed"] and client.writes() == []
    removed = apply_manifests(client, [NS, cm(a="2")], state="absent", check_mode=True)
    assert [r["action"] for r in removed["results"]] == ["deleted", "deleted"] and client.writes() == []


def test_absent_deletes_in_reverse_order_and_404_is_fine():
    client = ScriptedClient()
    apply_manifests(client, [NS, cm(a="1"), cm(name="other")])
    client.calls[:] = []
    client.fail[("DELETE", "/api/v1/namespaces/apps/configmaps/other")] = [ApiError(404, reason="NotFound")]
    result = apply_manifests(client, [NS, cm(a="1"), cm(name="other")], state="absent")
    assert [r["name"] for r in result["results"]] == ["other", "settings", "apps"]
    assert [r["action"] for r in result["results"]] == ["absent", "deleted", "deleted"]
    assert [c[1] for c in client.writes()] == ["/api/v1/namespaces/apps/configmaps/other", CM_PATH,
                                               "/api/v1/namespaces/apps"]
    assert not apply_manifests(client, [NS, cm()], state="absent")["changed"]


def test_kinds_of_a_missing_crd_are_skipped_with_a_note_and_asked_about_once():
    client = ScriptedClient()
    monitors = [{"apiVersion": "monitoring.coreos.com/v1", "kind": kind, "metadata": {"name": "m", "namespace": "apps"},
                 "spec": {}} for kind in ("ServiceMonitor", "PrometheusRule")]
    result = apply_manifests(client, [NS] + monitors)
    assert [r["action"] for r in result["results"]] == ["created", "skipped", "skipped"]
    assert "monitoring.coreos.com/v1 API is not served" in result["results"][1]["note"]
    assert client.calls.count(("GET", "/apis/monitoring.coreos.com/v1")) == 1
    client.served.add("/apis/monitoring.coreos.com/v1")
    result = apply_manifests(client, [NS] + monitors)
    assert [r["action"] for r in result["results"]] == ["unchanged", "created", "created"]


def test_duplicates_are_refused_before_any_call():
    client = ScriptedClient()
    with pytest.raises(ManifestError, match="ConfigMap apps/settings is defined twice"):
        apply_manifests(client, [cm(), cm(a="2")])
    assert client.calls == []


DEPLOYMENT = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d", "namespace": "apps"},
              "spec": {"replicas": 2}}
DEPLOYMENT_PATH = "/apis/apps/v1/namespaces/apps/deployments/d"


@pytest.mark.parametrize("status, generation, ready", [
    ({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}, 1, True),
    ({"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}, 2, False),
    ({"observedGeneration": 2, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 3}, 2, False),
    ({"observedGeneration": 2, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 1}, 2, False),
    ({}, 1, False),
])
def test_deployment_available(status, generation, ready):
    assert deployment_available({"metadata": {"generation": generation}, "spec": {"replicas": 2},
                                 "status": status}) is ready


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        self.now += seconds


def test_wait_returns_when_the_rollout_completes():
    client = ScriptedClient()
    clock = FakeClock()
    polls = []

    def rollout(obj):
        polls.append(clock.now)
        obj = copy.deepcopy(obj)
        obj["metadata"]["generation"] = 1
        if len(polls) >= 4:
            obj["status"] = {"observedGeneration": 1, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}
        return obj

    client.on_get[DEPLOYMENT_PATH] = rollout
    result = apply_manifests(client, [NS, DEPLOYMENT], wait=True, wait_timeout=60, sleep=clock.sleep, clock=clock)
    assert result["changed"] and len(polls) >= 4 and clock.now < 60


def test_wait_times_out_with_the_progress_and_what_to_look_at():
    client = ScriptedClient()
    clock = FakeClock()
    with pytest.raises(WaitTimeout, match=r"Deployment apps/d is not available after 10 seconds: 0 of 2 replicas "
                                          r"updated, 0 available; check its pods with kubectl -n apps describe deployment d"):
        apply_manifests(client, [NS, DEPLOYMENT], wait=True, wait_timeout=10, sleep=clock.sleep, clock=clock)


def test_an_object_being_deleted_is_waited_for_then_created_again():
    client = ScriptedClient()
    apply_manifests(client, [NS])
    ns_path = "/api/v1/namespaces/apps"
    client.objects[ns_path]["metadata"]["deletionTimestamp"] = "2026-11-25T10:00:00Z"
    clock = FakeClock()
    reads = []

    def terminating(obj):
        reads.append(clock.now)
        return None if len(reads) >= 3 else obj  # the namespace controller finishes after a while

    client.on_get[ns_path] = terminating
    result = apply_manifests(client, [NS], sleep=clock.sleep, clock=clock)
    assert result["results"][0]["action"] == "created" and len(reads) == 3
    assert client.writes()[-1] == ("POST", "/api/v1/namespaces")
    assert "deletionTimestamp" not in client.objects[ns_path]["metadata"]


def test_secret_values_are_collected_for_masking_in_both_forms():
    objects = [
        {"kind": "Secret", "metadata": {"name": "hook"}, "stringData": {"url": "https://hooks/t0ken"},
         "data": {"old": "eA=="}},
        {"kind": "ConfigMap", "metadata": {"name": "c"}, "data": {"plain": "visible"}},
    ]
    assert secret_values(objects) == {"https://hooks/t0ken", base64.b64encode(b"https://hooks/t0ken").decode(), "eA=="}
