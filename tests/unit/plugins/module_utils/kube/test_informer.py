# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The informer's loop against a scripted client: every path through list/watch/relist/backoff."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import random
import threading
import time

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError, ConnectionFailure
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.informer import (
    Backoff,
    Informer,
    Store,
    object_key,
)
from unit.plugins.module_utils.watcher.helpers import Calls


def node(name, rv, size=100):
    return {"metadata": {"name": name, "resourceVersion": str(rv)},
            "status": {"images": [{"names": ["img-%s" % name], "sizeBytes": size}]}}


def event(kind, obj):
    return {"type": kind, "object": obj}


def bookmark(rv):
    return {"type": "BOOKMARK", "object": {"kind": "Node", "metadata": {"resourceVersion": str(rv)}}}


class ScriptedClient:
    """``lists``: list of page lists; ``watches``: list of (events, exception-or-None).

    Once the scripts run out, a watch idles until the test ends it (like a quiet cluster).
    """

    def __init__(self, lists, watches):
        self.lists = list(lists)
        self.watches = list(watches)
        self.list_calls = 0
        self.watch_calls = []
        self.idle = threading.Event()
        self.done = threading.Event()

    def list_pages(self, path, label_selector=None, field_selector=None, limit=500):
        self.list_calls += 1
        pages = self.lists.pop(0)
        if isinstance(pages, Exception):
            raise pages
        yield from pages

    def watch(self, path, resource_version=None, label_selector=None, field_selector=None,
              timeout_seconds=300, allow_bookmarks=True, inactivity_timeout=70.0, on_open=None):
        self.watch_calls.append({"rv": resource_version, "timeout_seconds": timeout_seconds,
                                 "bookmarks": allow_bookmarks, "inactivity": inactivity_timeout,
                                 "label_selector": label_selector})
        if not self.watches:
            self.idle.set()
            self.done.wait(5)
            return
        events, error = self.watches.pop(0)
        yield from events
        if error is not None:
            raise error


def page(items, rv, cont=None, restarted=False):
    metadata = {"resourceVersion": str(rv)}
    if cont:
        metadata["continue"] = cont
    if restarted:
        metadata["nodewatch.k8s/restarted"] = True
    return {"kind": "NodeList", "metadata": metadata, "items": items}


class Recorder(Calls):
    """Informer handlers recording ``(kind, name, resourceVersion)``."""

    def add(self, obj):
        self.record("add", obj["metadata"]["name"], obj["metadata"]["resourceVersion"])

    def update(self, old, new):
        kind = "resync" if old is new else "update"
        self.record(kind, new["metadata"]["name"], new["metadata"]["resourceVersion"])

    def delete(self, obj):
        self.record("delete", obj["metadata"]["name"], obj["metadata"]["resourceVersion"])


def run_informer(client, **kwargs):
    kwargs.setdefault("resync_period", 0)
    kwargs.setdefault("backoff_initial", 0.001)
    kwargs.setdefault("backoff_max", 0.01)
    informer = Informer(client, "/api/v1/nodes", **kwargs)
    recorder = Recorder()
    informer.add_handlers(recorder.add, recorder.update, recorder.delete)
    informer.start()
    return informer, recorder


@pytest.fixture
def cleanup():
    started = []
    yield started.append
    for informer, client in started:
        client.done.set()
        informer.stop()


def test_lists_all_pages_then_watches_from_the_list_resource_version(cleanup):
    client = ScriptedClient(
        [[page([node("a", 1)], 5, cont="t1"), page([node("b", 2)], 5)]],
        [([event("MODIFIED", node("a", 6, 200)), event("ADDED", node("c", 7))], None)])
    informer, rec = run_informer(client, label_selector="role=worker")
    cleanup((informer, client))
    calls = rec.wait_for(lambda c: len(c) == 4)
    assert calls == [("add", "a", "1"), ("add", "b", "2"), ("update", "a", "6"), ("add", "c", "7")]
    assert informer.wait_for_sync(1)
    assert client.watch_calls[0]["rv"] == "5"
    assert client.watch_calls[0]["bookmarks"] is True
    assert client.watch_calls[0]["label_selector"] == "role=worker"
    # A normal end resumes from the last event's version, without listing again.
    client.idle.wait(2)
    assert client.watch_calls[1]["rv"] == "7"
    assert client.list_calls == 1
    assert sorted(informer.store.keys()) == ["a", "b", "c"]
    assert informer.store.get("a")["metadata"]["resourceVersion"] == "6"


def test_watch_timeout_is_jittered_between_the_setting_and_twice_it(cleanup):
    client = ScriptedClient([[page([], 1)]], [])
    informer, rec = run_informer(client, watch_timeout=100, rand=lambda: 0.5)
    cleanup((informer, client))
    client.idle.wait(2)
    assert client.watch_calls[0]["timeout_seconds"] == 150


def test_bookmarks_move_the_resource_version_without_events(cleanup):
    client = ScriptedClient([[page([node("a", 1)], 3)]], [([bookmark(40)], None)])
    informer, rec = run_informer(client)
    cleanup((informer, client))
    client.idle.wait(2)
    assert client.watch_calls[1]["rv"] == "40"
    assert informer.stats.events["BOOKMARK"] == 1
    assert rec.calls == [("add", "a", "1")]


def test_410_relists_and_delivers_only_what_changed_while_away(cleanup):
    first = [node("a", 1), node("b", 2), node("c", 3)]
    second = [node("a", 1), node("b", 9, 500), node("d", 10)]  # c deleted, d added, b changed
    client = ScriptedClient(
        [[page(first, 3)], [page(second, 10)]],
        [([], ApiError(410, reason="Expired", message="too old resource version"))])
    informer, rec = run_informer(client)
    cleanup((informer, client))
    calls = rec.wait_for(lambda c: len(c) == 6)
    assert calls[:3] == [("add", "a", "1"), ("add", "b", "2"), ("add", "c", "3")]
    assert calls[3] == ("delete", "c", "3")
    assert sorted(calls[4:]) == [("add", "d", "10"), ("update", "b", "9")]
    client.idle.wait(2)
    assert client.watch_calls[-1]["rv"] == "10"
    assert informer.stats.relists == 1
    assert informer.stats.watch_restarts["expired"] == 1
    assert sorted(informer.store.keys()) == ["a", "b", "d"]


def test_a_broken_connection_resumes_the_watch_without_relisting(cleanup):
    client = ScriptedClient(
        [[page([node("a", 1)], 1)]],
        [([event("MODIFIED", node("a", 2))], ConnectionFailure("the watch connection broke")),
         ([event("MODIFIED", node("a", 3))], None)])
    informer, rec = run_informer(client)
    cleanup((informer, client))
    rec.wait_for(lambda c: ("update", "a", "3") in c)
    assert [c["rv"] for c in client.watch_calls[:2]] == ["1", "2"]
    assert client.list_calls == 1
    assert informer.stats.watch_restarts["connection"] == 1


def test_errors_back_off_honouring_retry_after_then_recover(cleanup):
    slept = []
    client = ScriptedClient(
        [ApiError(429, reason="TooManyRequests", retry_after=7), ConnectionFailure("refused"),
         [page([node("a", 1)], 1)]],
        [])
    informer = Informer(client, "/api/v1/nodes", resync_period=0, backoff_initial=1, backoff_max=30,
                        sleep=slept.append)
    rec = Recorder()
    informer.add_handlers(rec.add)
    informer.start()
    cleanup((informer, client))
    rec.wait_for(lambda c: len(c) == 1)
    assert slept[0] == 7  # the server's Retry-After
    assert 1.0 <= slept[1] <= 2.0  # second attempt: between half and all of 2 s
    assert client.list_calls == 3


def test_malformed_objects_are_skipped_and_the_watch_goes_on(cleanup, caplog):
    client = ScriptedClient(
        [[page([node("a", 1), {"metadata": {}}, "garbage"], 1)]],
        [([event("MODIFIED", {"metadata": {"resourceVersion": "2"}}), event("ADDED", None),
           {"type": "WEIRD", "object": {}}, event("ADDED", node("b", 4))], None)])
    informer, rec = run_informer(client)
    cleanup((informer, client))
    rec.wait_for(lambda c: ("add", "b", "4") in c)
    assert informer.stats.malformed == 5
    assert "malformed" in caplog.text


def test_transform_failure_marks_the_object_malformed(cleanup):
    def transform(obj):
        if obj["metadata"]["name"] == "bad":
            raise KeyError("status")
        return {"metadata": obj["metadata"]}

    client = ScriptedClient([[page([node("bad", 1), node("good", 2)], 2)]], [])
    informer, rec = run_informer(client, transform=transform)
    cleanup((informer, client))
    rec.wait_for(lambda c: len(c) == 1)
    assert informer.store.keys() == ["good"]
    assert "status" not in informer.store.get("good")


def test_a_failing_handler_is_logged_and_later_events_still_arrive(cleanup, caplog):
    client = ScriptedClient([[page([node("a", 1), node("b", 2)], 2)]], [])
    informer = Informer(client, "/api/v1/nodes", resync_period=0)
    rec = Recorder()

    def add(obj):
        if obj["metadata"]["name"] == "a":
            raise RuntimeError("boom")
        rec.add(obj)

    informer.add_handlers(add)
    informer.start()
    cleanup((informer, client))
    rec.wait_for(lambda c: c == [("add", "b", "2")])
    assert informer.stats.handler_errors == 1
    assert "boom" in caplog.text


def test_resync_redelivers_the_cache_as_updates(cleanup):
    client = ScriptedClient([[page([node("a", 1), node("b", 2)], 2)]], [])
    informer, rec = run_informer(client, resync_period=0.05)
    cleanup((informer, client))
    calls = rec.wait_for(lambda c: len([x for x in c if x[0] == "resync"]) >= 4)
    assert ("resync", "a", "1") in calls and ("resync", "b", "2") in calls
    assert informer.stats.resyncs >= 2


def test_resync_now_and_sync_marker(cleanup):
    client = ScriptedClient([[page([node("a", 1)], 1)]], [])
    informer, rec = run_informer(client)
    cleanup((informer, client))
    assert informer.wait_for_sync(2)
    informer.resync_now()
    rec.wait_for(lambda c: ("resync", "a", "1") in c)


def test_list_restarted_after_expired_continue_token_discards_earlier_pages(cleanup):
    client = ScriptedClient(
        [[page([node("old", 1)], 5, cont="t"), page([node("a", 6)], 6, cont="t2", restarted=True),
          page([node("b", 6)], 6)]], [])
    informer, rec = run_informer(client)
    cleanup((informer, client))
    rec.wait_for(lambda c: len(c) == 2)
    assert sorted(informer.store.keys()) == ["a", "b"]
    client.idle.wait(2)
    assert client.watch_calls[0]["rv"] == "6"


def test_deleted_event_for_an_unknown_object_still_notifies(cleanup):
    client = ScriptedClient([[page([], 1)]], [([event("DELETED", node("ghost", 2))], None)])
    informer, rec = run_informer(client)
    cleanup((informer, client))
    assert rec.wait_for(lambda c: len(c) == 1) == [("delete", "ghost", "2")]


def test_run_once_lists_and_delivers_on_the_calling_thread():
    client = ScriptedClient([[page([node("a", 1), node("b", 2)], 2)]], [])
    informer = Informer(client, "/api/v1/nodes")
    rec = Recorder()
    informer.add_handlers(rec.add)
    assert informer.run_once() == 2
    assert rec.calls == [("add", "a", "1"), ("add", "b", "2")]
    assert informer.has_synced
    assert client.watch_calls == []


def test_stop_ends_a_backoff_sleep_at_once():
    client = ScriptedClient([ConnectionFailure("refused")] * 5, [])
    informer = Informer(client, "/api/v1/nodes", backoff_initial=60, backoff_max=60)
    informer.start()
    time.sleep(0.05)
    started = time.monotonic()
    assert informer.stop(timeout=2)
    informer._watch_thread.join(2)
    assert not informer._watch_thread.is_alive()
    assert time.monotonic() - started < 2


def test_store_replace_diff_and_keys():
    store = Store()
    store._put("a", node("a", 1))
    store._put("b", node("b", 2))
    added, updated, deleted = store._replace({"b": node("b", 3), "c": node("c", 4)})
    assert [o["metadata"]["name"] for o in added] == ["c"]
    assert [(o["metadata"]["resourceVersion"], n["metadata"]["resourceVersion"]) for o, n in updated] == [("2", "3")]
    assert [o["metadata"]["name"] for o in deleted] == ["a"]
    assert len(store) == 2 and "c" in store and "a" not in store
    assert object_key({"metadata": {"name": "x", "namespace": "ns"}}) == "ns/x"


def test_backoff_grows_caps_and_resets(monkeypatch):
    monkeypatch.setattr(random, "uniform", lambda low, high: high)
    backoff = Backoff(initial=1, maximum=8)
    assert [backoff.next() for _attempt in range(6)] == [1, 2, 4, 8, 8, 8]
    backoff.reset()
    assert backoff.next() == 1
    assert backoff.next(retry_after=5) == 5
    assert backoff.next(retry_after=600) == 60  # a Retry-After is honoured up to a minute
