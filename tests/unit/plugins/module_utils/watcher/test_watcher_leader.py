# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Lease-based leader election: compare-and-swap, expiry by the local clock, release."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import threading

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError, ConnectionFailure
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.leader import LeaderElector, micro_time
from unit.plugins.module_utils.watcher.helpers import MemoryApi

LEASE = "/apis/coordination.k8s.io/v1/namespaces/ops/leases/nodewatch-watcher"


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def elector(api, identity, clock, **kwargs):
    kwargs.setdefault("lease_duration", 15)
    kwargs.setdefault("renew_deadline", 10)
    kwargs.setdefault("retry_period", 2)
    return LeaderElector(api, "ops", "nodewatch-watcher", identity, clock=clock, wall=lambda: 1700000000.0,
                         **kwargs)


def test_first_candidate_creates_the_lease():
    api, clock = MemoryApi(), Clock()
    a = elector(api, "a", clock)
    assert a.try_acquire_or_renew()
    spec = api.objects[LEASE]["spec"]
    assert spec["holderIdentity"] == "a" and spec["leaseDurationSeconds"] == 15
    assert spec["leaseTransitions"] == 0
    assert spec["renewTime"] == spec["acquireTime"] == "2023-11-14T22:13:20.000000Z"


def test_a_held_lease_is_respected_until_it_expires_by_our_own_clock():
    api, clock = MemoryApi(), Clock()
    a, b = elector(api, "a", clock), elector(api, "b", clock)
    assert a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()  # b starts observing now
    clock.now += 14
    assert not b.try_acquire_or_renew()
    clock.now += 2  # 16 s without a change in the record: expired
    assert b.try_acquire_or_renew()
    spec = api.objects[LEASE]["spec"]
    assert spec["holderIdentity"] == "b" and spec["leaseTransitions"] == 1
    assert b.transitions == 1


def test_renewals_keep_followers_out_and_keep_acquire_time():
    api, clock = MemoryApi(), Clock()
    a, b = elector(api, "a", clock), elector(api, "b", clock)
    a.try_acquire_or_renew()
    acquired = api.objects[LEASE]["spec"]["acquireTime"]
    for _renewal in range(10):
        clock.now += 5
        a._wall = lambda: 1700000000.0 + clock.now  # the renewTime moves: followers see a change
        assert a.try_acquire_or_renew()
        assert not b.try_acquire_or_renew()
    assert api.objects[LEASE]["spec"]["acquireTime"] == acquired
    assert api.objects[LEASE]["spec"]["leaseTransitions"] == 0


def test_compare_and_swap_loses_to_a_concurrent_writer():
    api, clock = MemoryApi(), Clock()
    a = elector(api, "a", clock)
    a.try_acquire_or_renew()
    api.fail["replace"].append(ApiError(409, reason="Conflict"))
    assert not a.try_acquire_or_renew()
    api.fail["create"].append(ApiError(409, reason="AlreadyExists"))
    del api.objects[LEASE]
    assert not elector(api, "c", clock).try_acquire_or_renew()


def test_release_lets_a_follower_take_over_at_once():
    api, clock = MemoryApi(), Clock()
    a, b = elector(api, "a", clock), elector(api, "b", clock)
    a.try_acquire_or_renew()
    assert not b.try_acquire_or_renew()
    assert a.release()
    spec = api.objects[LEASE]["spec"]
    assert spec["holderIdentity"] == "" and spec["leaseDurationSeconds"] == 1
    assert b.try_acquire_or_renew()
    assert not a.release()  # not the holder any more: leaves it alone


def test_the_loop_calls_back_and_steps_down_when_renewals_fail():
    api = MemoryApi()
    started, stopped = threading.Event(), threading.Event()
    a = LeaderElector(api, "ops", "nodewatch-watcher", "a", lease_duration=0.6, renew_deadline=0.3,
                      retry_period=0.05, on_started=started.set, on_stopped=stopped.set)
    a.start()
    try:
        assert started.wait(2) and a.is_leader
        api.fail["get"].extend([ConnectionFailure("partition")] * 1000)
        assert stopped.wait(2)
        assert not a.is_leader
    finally:
        api.fail["get"][:] = []
        a.stop(release=True)


def test_invalid_timings_are_refused():
    with pytest.raises(ValueError):
        LeaderElector(MemoryApi(), "ops", "x", "a", lease_duration=5, renew_deadline=10, retry_period=2)


def test_micro_time_format():
    assert micro_time(0.25) == "1970-01-01T00:00:00.250000Z"
