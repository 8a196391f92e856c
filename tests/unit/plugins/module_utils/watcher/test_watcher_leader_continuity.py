# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""A leader that steps down because a renewal failed, and wins its own Lease back with nobody
else having held it, continues from its memory: it does not alert again what it decided after
its last state save. A Lease won from someone else (or from nobody) still reloads the state.

Found by the soak (tests/benchmarks/soak.py): a Lease PUT stalled past the request timeout, the
leader stepped down, took its own Lease back two seconds later, reloaded the saved state and
alerted again what it had already sent since that save.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import time

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher import config as watcher_config
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.daemon import Daemon
from unit.plugins.module_utils.watcher.helpers import MemoryApi

GI = 1024 ** 3
LEASE = "/apis/coordination.k8s.io/v1/namespaces/ops/leases/nodewatch-watcher"


def node(rv, gib):
    return {"metadata": {"name": "n1", "resourceVersion": str(rv), "uid": "u1", "labels": {}},
            "status": {"images": [{"names": ["registry.example.com/app:1"], "sizeBytes": gib * GI}]}}


def changes(out):
    lines = out.getvalue().splitlines()
    out.seek(0)
    out.truncate()
    return [(a["old_bytes"] // GI, a["new_bytes"] // GI) for a in map(json.loads, lines)]


def wait_active(engine, active=True):
    deadline = time.monotonic() + 10
    while engine.active != active:
        assert time.monotonic() < deadline, "the engine did not become %s" % ("active" if active else "inactive")
        time.sleep(0.01)


@pytest.mark.parametrize("someone_else_in_between, alerted_again", [(False, []), (True, [(12, 14)])])
def test_a_leader_winning_back_its_own_lease_continues_from_memory(tmp_path, someone_else_in_between, alerted_again):
    path = tmp_path / "watcher.json"
    path.write_text(json.dumps({
        "http": {"address": ""}, "sinks": {"events": {"enabled": False}}, "min_change_bytes": "1Gi",
        "leader_election": {"enabled": True, "namespace": "ops", "identity": "me"},
        "state": {"backend": "configmap", "namespace": "ops"}}))
    config, policy, _check = watcher_config.load(["--config", str(path)], environ={})
    api = MemoryApi()
    out = io.StringIO()
    daemon = Daemon(config, policy, api, stdout=out)
    daemon.sinks.start()
    engine, elector = daemon.engine, daemon.elector
    engine.on_add(node(1, 10))
    engine.on_synced()
    assert elector.try_acquire_or_renew()
    elector._set_leader(True)
    wait_active(engine)
    engine.on_update(node(1, 10), node(2, 12))
    assert daemon.save_state()
    engine.on_update(node(2, 12), node(3, 14))  # decided and sent, not saved yet
    assert changes(out) == [(10, 12), (12, 14)]

    elector._set_leader(False)  # a renewal failed for renew_deadline
    wait_active(engine, False)
    if someone_else_in_between:  # another replica led, then released the Lease
        lease = api.objects[LEASE]
        lease["spec"]["holderIdentity"] = ""
    assert elector.try_acquire_or_renew()
    assert elector.kept_own_lease is not someone_else_in_between
    elector._set_leader(True)
    wait_active(engine)
    assert changes(out) == alerted_again
    engine.on_update(node(3, 14), node(4, 16))
    assert changes(out) == [(14, 16)]
    daemon.sinks.stop(timeout=1)
