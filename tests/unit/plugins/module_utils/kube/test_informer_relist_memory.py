# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A relist keeps the cached object of every node unchanged since: one copy in memory, not two.

Found by the soak (tests/benchmarks/soak.py): after an API server restart the daemon relisted
5,000 nodes beside its cache and its resident memory rose by two thirds for good.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError
from unit.plugins.module_utils.kube.test_informer import ScriptedClient, node, page, run_informer


@pytest.fixture
def informers():
    started = []
    yield started.append
    for informer, client in started:
        client.done.set()
        informer.stop()


def with_uid(obj, uid):
    obj["metadata"]["uid"] = uid
    return obj


class GatedClient(ScriptedClient):
    """The first watch ends with 410 only once ``gate`` is set: the test looks at the cache first."""

    def __init__(self, lists):
        ScriptedClient.__init__(self, lists, [])
        self.gate = threading.Event()
        self.gated = False

    def watch(self, path, **kwargs):
        if not self.gated:
            self.gated = True
            self.gate.wait(5)
            raise ApiError(410, reason="Expired", message="too old resource version")
        return ScriptedClient.watch(self, path, **kwargs)


def test_a_relist_keeps_the_cached_objects_of_unchanged_nodes(informers):
    first = [with_uid(node("a", 1), "ua"), with_uid(node("b", 2), "ub"), with_uid(node("c", 3), "uc")]
    # After the 410: a unchanged, b changed, c deleted and created again (same version text, new uid).
    second = [with_uid(node("a", 1), "ua"), with_uid(node("b", 9, 500), "ub"), with_uid(node("c", 3), "uc2")]
    client = GatedClient([[page(first, 3)], [page(second, 10)]])
    informer, rec = run_informer(client)
    informers((informer, client))
    rec.wait_for(lambda calls: len(calls) == 3)
    cached_a, cached_b, cached_c = (informer.store.get(name) for name in "abc")
    client.gate.set()
    calls = rec.wait_for(lambda calls: len(calls) == 6)
    assert sorted(calls[3:]) == [("add", "c", "3"), ("delete", "c", "3"), ("update", "b", "9")]
    assert informer.store.get("a") is cached_a
    assert informer.store.get("b") is not cached_b and informer.store.get("b")["metadata"]["resourceVersion"] == "9"
    assert informer.store.get("c") is not cached_c and informer.store.get("c")["metadata"]["uid"] == "uc2"


def test_objects_without_a_resource_version_are_never_taken_from_the_cache(informers):
    client = ScriptedClient([[page([{"metadata": {"name": "a"}, "v": 1}], 3)], [page([{"metadata": {"name": "a"}, "v": 2}], 4)]],
                            [([], ApiError(410, reason="Expired"))])
    informer, rec = run_informer(client)
    informers((informer, client))
    client.idle.wait(2)
    assert informer.store.get("a")["v"] == 2
