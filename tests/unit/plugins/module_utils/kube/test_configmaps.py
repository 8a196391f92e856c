"""OwnedConfigMaps: ownership, compare-and-swap with conflicts retried, and the one codec."""
import base64
import gzip

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.configmaps import (
    ABSENT,
    NotManagedError,
    OwnedConfigMaps,
    UndecodableError,
    configmap_data_size,
    decode_text,
    encode_text,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.names import MANAGED_BY, MANAGED_BY_LABEL
from unit.plugins.module_utils.watcher.helpers import MemoryApi

PATH = "/api/v1/namespaces/ops/configmaps/cfg"


def store(api, **kwargs):
    return OwnedConfigMaps(api, "ops", labels={"app.kubernetes.io/component": "test"}, **kwargs)


def test_update_creates_then_replaces_with_the_resource_version_and_keeps_others_labels():
    api = MemoryApi()
    configmaps = store(api)
    action, obj = configmaps.update("cfg", lambda current: ({"data": {"k": "1"}}, {"role": "a"}))
    assert action == "created"
    labels = api.objects[PATH]["metadata"]["labels"]
    assert labels == {MANAGED_BY_LABEL: MANAGED_BY, "app.kubernetes.io/component": "test", "role": "a"}
    api.objects[PATH]["metadata"]["labels"]["team"] = "ops"  # someone else's label
    action, obj = configmaps.update("cfg", lambda current: ({"data": {"k": "2"}}, None))
    assert action == "updated" and api.objects[PATH]["data"] == {"k": "2"}
    assert api.objects[PATH]["metadata"]["labels"]["team"] == "ops"
    assert [c[0] for c in api.calls] == ["get", "create", "get", "replace"]


def test_same_content_writes_nothing():
    api = MemoryApi()
    configmaps = store(api)
    configmaps.update("cfg", lambda current: ({"data": {"k": "1"}}, None))
    api.calls.clear()
    action, dummy = configmaps.update("cfg", lambda current: ({"data": {"k": "1"}}, None))
    assert action == "unchanged" and [c[0] for c in api.calls] == ["get"]


def test_a_conflict_reads_and_computes_again_on_the_current_object():
    api = MemoryApi()
    configmaps = store(api)
    dummy, first = configmaps.update("cfg", lambda current: ({"data": {"n": "1"}}, None))
    api.objects[PATH]["data"] = {"n": "5"}  # another writer, unseen by ``first``
    api.objects[PATH]["metadata"]["resourceVersion"] = "99"
    seen = []

    def increment(current):
        seen.append(current["data"]["n"])
        return {"data": {"n": str(int(current["data"]["n"]) + 1)}}, None

    action, dummy = configmaps.update("cfg", increment, known=first, sleep=lambda s: None)
    assert action == "updated" and seen == ["1", "5"] and api.objects[PATH]["data"] == {"n": "6"}


def test_known_absent_skips_the_read_and_a_deleted_object_is_created_again():
    api = MemoryApi()
    configmaps = store(api)
    configmaps.update("cfg", lambda current: ({"data": {"k": "1"}}, None), known=ABSENT)
    assert [c[0] for c in api.calls] == ["create"]
    stale = dict(api.objects[PATH])
    del api.objects[PATH]
    action, dummy = configmaps.update("cfg", lambda current: ({"data": {"k": "2"}}, None), known=stale,
                                      sleep=lambda s: None)
    assert action == "created" and api.objects[PATH]["data"] == {"k": "2"}


def test_a_foreign_configmap_is_refused_for_writing_and_may_be_read_when_asked():
    api = MemoryApi()
    api.objects[PATH] = {"metadata": {"name": "cfg", "namespace": "ops", "resourceVersion": "1"}, "data": {"x": "y"}}
    configmaps = store(api, refuse_advice="pick another name")
    with pytest.raises(NotManagedError) as info:
        configmaps.update("cfg", lambda current: ({"data": {"k": "1"}}, None))
    assert str(info.value) == ("ConfigMap ops/cfg exists but is not managed by nodewatch.k8s (label "
                               "app.kubernetes.io/managed-by=nodewatch.k8s is missing); refusing to overwrite it - "
                               "pick another name")
    assert api.objects[PATH]["data"] == {"x": "y"}
    assert configmaps.get("cfg", owned=False)["data"] == {"x": "y"}


@pytest.mark.parametrize("compress", [False, True])
def test_codec_round_trip(compress):
    text = '{"nodes": {"n\u00e9": 1}}' * 50
    field, value = encode_text(text, compress=compress)
    assert field == ("binaryData" if compress else "data")
    assert decode_text({field: {"k": value}}, "k", "the test ConfigMap") == text
    if compress:
        assert gzip.decompress(base64.b64decode(value)).decode("utf-8") == text


@pytest.mark.parametrize("value", ["not base64 !", base64.b64encode(b"not gzip").decode(),
                                   base64.b64encode(gzip.compress(b"\xff\xfe", mtime=0)).decode()],
                         ids=["not-base64", "not-gzip", "not-utf8"])
def test_codec_refuses_damage_with_a_sentence(value):
    with pytest.raises(UndecodableError, match=r"the test ConfigMap (is damaged: its k cannot be decoded|"
                                               r"is not valid gzip data)"):
        decode_text({"binaryData": {"k": value}}, "k", "the test ConfigMap")


def test_codec_refuses_a_gzip_bomb_before_decompressing_it_all():
    bomb = base64.b64encode(gzip.compress(b"0" * (8 << 20), mtime=0)).decode()  # 8 MiB of zeros, 8 KiB packed
    with pytest.raises(UndecodableError, match=r"decompresses to more than 1 MiB \(the limit for it\)"):
        decode_text({"binaryData": {"k": bomb}}, "k", "the test ConfigMap", max_bytes=1 << 20)


def test_data_size_counts_keys_and_values_in_utf8():
    assert configmap_data_size({"a": "\u00e9"}, {"b": "xy"}) == 1 + 2 + 1 + 2


def test_a_write_whose_answer_was_lost_is_reported_as_written():
    from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import WriteOutcomeUnknown
    api = MemoryApi()
    configmaps = store(api)
    configmaps.update("cfg", lambda current: ({"data": {"k": "1"}}, None))
    real_replace = api.replace

    def replace_then_lose_the_answer(path, body):
        real_replace(path, body)
        raise WriteOutcomeUnknown("the connection broke during PUT; the API server may have applied it")

    api.replace = replace_then_lose_the_answer
    action, obj = configmaps.update("cfg", lambda current: ({"data": {"k": "2"}}, None), sleep=lambda s: None)
    assert action == "updated" and obj["data"] == {"k": "2"}
    assert [c[0] for c in api.calls][-3:] == ["get", "replace", "get"]
