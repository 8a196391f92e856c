"""Label and field selectors (parser ported from k8s.io/apimachinery) and their HTTP errors."""
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fakekube import errors
from fakekube.selectors import parse_field_selector, parse_label_selector

LABELS = {"app": "web", "tier": "front", "n": "5"}


@pytest.mark.parametrize("sel,expect", [
    ("", True), ("app=web", True), ("app==web", True), ("app!=web", False),
    ("app in (web,db)", True), ("app notin (web)", False), ("app", True), ("!app", False),
    ("!missing", True), ("missing!=x", True), ("missing notin (x)", True), ("missing in (x)", False),
    ("app=web,tier=front", True), ("app=web,tier=back", False), ("app in (db, web ),tier", True),
    ("n>4", True), ("n<5", False), ("app>1", False), ("tier=", False), ("gone=", False),
    ("app in (web,)", True), ("  app = web ", True),
])
def test_label_selector_matching(sel, expect):
    assert parse_label_selector(sel).matches(LABELS) is expect


@pytest.mark.parametrize("sel,message", [
    ("app=(", "unable to parse requirement: found '(', expected: identifier"),
    ("app in web", "unable to parse requirement: found 'web' expected: '('"),
    ("app in (web", "unable to parse requirement: found '', expected: ',' or ')'"),
    (",app", "found ',', expected: !, identifier, or 'end of string'"),
    ("app=web,", "found '', expected: identifier after ','"),
    ("app=web tier=x", "found 'tier', expected: ',' or 'end of string'"),
    ("a b", "unable to parse requirement: found 'b', expected: in, notin, =, ==, !=, gt, lt"),
    ("app=a b", "found 'b', expected: ',' or 'end of string'"),
    ("=x", "found '=', expected: !, identifier, or 'end of string'"),
])
def test_label_selector_errors(sel, message):
    with pytest.raises(errors.ApiError) as e:
        parse_label_selector(sel)
    assert e.value.code == 400 and e.value.status["reason"] == "BadRequest"
    assert e.value.status["message"] == message


def test_label_selector_invalid_key_and_value():
    with pytest.raises(errors.ApiError) as e:
        parse_label_selector("bad_key_!=x")
    assert e.value.status["message"].startswith("found '!=', expected") or "Invalid value" in e.value.status["message"]
    with pytest.raises(errors.ApiError) as e:
        parse_label_selector("-bad=x")
    assert e.value.status["message"].startswith('unable to parse requirement: <nil>: Invalid value: "-bad": name part must consist of')
    with pytest.raises(errors.ApiError) as e:
        parse_label_selector("app=" + "v" * 64)
    assert 'values[0][app]: Invalid value: "' in e.value.status["message"]
    assert "must be no more than 63 bytes" in e.value.status["message"]


def _conv(label):
    if label not in ("metadata.name", "spec.unschedulable"):
        raise errors.bad_request("field label not supported: %s" % label)
    return label


def test_field_selector_parse_and_match():
    fs = parse_field_selector("spec.unschedulable=false,metadata.name!=a", _conv)
    assert fs.matches({"metadata.name": "b", "spec.unschedulable": "false"})
    assert not fs.matches({"metadata.name": "a", "spec.unschedulable": "false"})
    with pytest.raises(errors.ApiError) as e:
        parse_field_selector("spec.foo=1", _conv)
    assert e.value.status["message"] == "field label not supported: spec.foo"
    with pytest.raises(errors.ApiError) as e:
        parse_field_selector("metadata.name", _conv)
    assert e.value.status["message"] == "invalid selector: 'metadata.name'; can't understand 'metadata.name'"
    assert parse_field_selector(r"metadata.name=a\,b", _conv).matches({"metadata.name": "a,b"})


def test_node_field_selectors_over_http(kube, api):
    kube.patch("v1", "Node", "worker-a-1", {"spec": {"unschedulable": True}})
    cordoned = {i["metadata"]["name"] for i in api.get("/api/v1/nodes?fieldSelector=spec.unschedulable%3Dtrue").json["items"]}
    schedulable = api.get("/api/v1/nodes?fieldSelector=spec.unschedulable%3Dfalse").json["items"]
    assert "worker-a-1" in cordoned
    # nodes without spec.unschedulable match spec.unschedulable=false
    assert any("unschedulable" not in i["spec"] for i in schedulable)
    assert len(cordoned) + len(schedulable) == 12
    r = api.get("/api/v1/nodes?fieldSelector=metadata.name%3Dcp-2")
    assert [i["metadata"]["name"] for i in r.json["items"]] == ["cp-2"]
    r = api.get("/api/v1/nodes?fieldSelector=status.phase%3DReady")
    assert r.status == 400 and r.json["message"] == "field label not supported: status.phase"
    # Node's conversion func does not accept metadata.namespace
    assert api.get("/api/v1/nodes?fieldSelector=metadata.namespace%3D").status == 400
    # types without a custom conversion use the generic message
    r = api.get("/api/v1/configmaps?fieldSelector=data.x%3D1")
    assert r.json["message"] == '"data.x" is not a known field selector: only "metadata.name", "metadata.namespace"'


def test_label_selector_over_http(api):
    r = api.get("/api/v1/nodes?labelSelector=node-role.kubernetes.io/control-plane")
    assert [i["metadata"]["name"] for i in r.json["items"]] == ["cp-1", "cp-2", "cp-3"]
    r = api.get("/api/v1/nodes?labelSelector=!node-role.kubernetes.io/control-plane,kubernetes.io/arch%20in%20(arm64)")
    assert r.status == 200 and all(i["metadata"]["labels"]["kubernetes.io/arch"] == "arm64" for i in r.json["items"])
    r = api.get("/api/v1/nodes?labelSelector=a%3D%3D%3Db")
    assert r.status == 400 and r.json["reason"] == "BadRequest"


def test_event_field_selectors(kube, api):
    kube.create({"apiVersion": "v1", "kind": "Event",
                 "metadata": {"name": "e1", "namespace": "default"},
                 "involvedObject": {"kind": "Node", "name": "worker-a-1"},
                 "reason": "ImageGCFailed", "type": "Warning", "source": {"component": "kubelet"}})
    for q in ("involvedObject.name%3Dworker-a-1", "involvedObject.kind%3DNode,reason%3DImageGCFailed",
              "type%3DWarning", "source%3Dkubelet"):
        assert len(api.get("/api/v1/namespaces/default/events?fieldSelector=" + q).json["items"]) == 1, q
    assert api.get("/api/v1/events?fieldSelector=type%3DNormal").json["items"] == []
    r = api.get("/apis/events.k8s.io/v1/events?fieldSelector=regarding.name%3Dworker-a-1")
    assert len(r.json["items"]) == 1
    r = api.get("/apis/events.k8s.io/v1/events?fieldSelector=involvedObject.name%3Dworker-a-1")
    assert r.status == 400 and r.json["message"] == "field label not supported: involvedObject.name"


_key = st.from_regex(r"[a-z][a-z0-9]{0,5}", fullmatch=True)
_val = st.from_regex(r"[a-z0-9]{0,4}", fullmatch=True)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(_key, _val, max_size=4), _key, st.lists(_val, min_size=1, max_size=3))
def test_set_based_selectors_agree_with_definition(labels, key, values):
    vals = ",".join(values)
    has = key in labels
    assert parse_label_selector("%s in (%s)" % (key, vals)).matches(labels) == (has and labels[key] in values)
    assert parse_label_selector("%s notin (%s)" % (key, vals)).matches(labels) == (not has or labels[key] not in values)
    assert parse_label_selector(key).matches(labels) == has
    assert parse_label_selector("!" + key).matches(labels) == (not has)
