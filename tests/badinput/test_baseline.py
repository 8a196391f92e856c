# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every case of ``cases_baseline``, read by every reader of a baseline: the drift check (the
``node_image_drift`` module, asked to refresh the baseline when the check passes) and the watcher
daemon with ``--once``. Both refuse with the sentence, exit non-zero, and touch nothing."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib

import pytest
import yaml

from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.baseline import (
    ConfigMapBaselineStore,
    build_baseline,
    dump_baseline,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import node_image_facts
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import KubeClient

from badinput.cases_baseline import CASES
from badinput.common import Case, ClusterUnchanged, DiskUnchanged, check, params, run_module, write_files
from badinput.conftest import NAMESPACE
from badinput.test_daemon import run_main

READERS = ("drift_check", "daemon_once")


@pytest.fixture(scope="module")
def valid_doc(kube):
    facts = [node_image_facts(node, top=0, include_images=True) for node in kube.list("v1", "Node")]
    return build_baseline(facts, captured_at="2026-11-01T10:00:00Z", cluster="badinput")


@pytest.fixture(scope="module")
def client(kubeconfig):
    client = KubeClient.from_options({"kubeconfig": kubeconfig}, environ={})
    yield client
    client.close()


def configmap_name(case, reader):
    return "bl-" + hashlib.sha256((case.id + reader).encode()).hexdigest()[:12]


def place(case, reader, tmp_path, kube, client, doc):
    """Store the case's baseline; returns the reader settings (module options, daemon config)."""
    if case.source == "file":
        path = tmp_path / "baseline.json"
        write_files(tmp_path, {path.name: case.content(doc) if callable(case.content) else case.content})
        return {"baseline_source": "file", "baseline_path": str(path)}, {"file": str(path)}
    namespace = case.data.get("namespace", NAMESPACE)
    name = configmap_name(case, reader)
    if case.data.get("damage"):
        store = ConfigMapBaselineStore(client, namespace, name, max_bytes=4096 if case.split else 900000)
        store.write(doc)
        case.damage(store, doc, kube)
    return ({"baseline_source": "configmap", "baseline_configmap": {"namespace": namespace, "name": name}},
            {"configmap": "%s/%s" % (namespace, name)})


def read_with(reader, settings, kubeconfig, tmp_path):
    """``(failed, texts)`` of one reader."""
    module_options, daemon_baseline = settings
    if reader == "drift_check":
        # The check passes (no limit is crossed), so only the baseline can fail it; a successful
        # check would refresh the stored baseline: it must not be replaced by a refused one.
        args = dict(module_options, kubeconfig=kubeconfig, max_percent=100, update_baseline="on_success")
        result, stderr = run_module("node_image_drift", args)
        return bool(result.get("failed")), [result.get("msg"), result, stderr], "exit"
    config = tmp_path / "watcher.yml"
    config.write_text(yaml.safe_dump({"baseline": daemon_baseline, "thresholds": {"max_percent": 100}}))
    code, out, err = run_main(["--config", str(config), "--kubeconfig", kubeconfig, "--once", "--no-events",
                               "--no-stdout"], {})
    return code == 2, [err, out], code


@pytest.mark.parametrize("reader", READERS)
@pytest.mark.parametrize("case", params(CASES))
def test_baseline_case(case, reader, kube, kubeconfig, client, valid_doc, tmp_path):
    settings = place(case, reader, tmp_path, kube, client, valid_doc)
    cluster = ClusterUnchanged(kube)
    disk = DiskUnchanged(tmp_path)
    refused, outputs, code = read_with(reader, settings, kubeconfig, tmp_path)
    assert refused, "%s: %s accepted the baseline (%s): %s" % (case.id, reader, code, outputs[0])
    check(case, *outputs)
    cluster.assert_same(case)
    disk.assert_same(case, ignore=["watcher.yml"])


def test_a_missing_namespace_is_refused_by_every_reader(kube, kubeconfig, client, valid_doc, tmp_path):
    """The daemon names the missing namespace; the drift check fails when it would store there."""
    case = Case("configmap-in-missing-namespace",
                [r"nodewatch-absent/nodewatch-baseline", r"namespace .*nodewatch-absent .*(does not exist|exist\?)"])
    settings = ({"baseline_source": "configmap",
                 "baseline_configmap": {"namespace": "nodewatch-absent", "name": "nodewatch-baseline"}},
                {"configmap": "nodewatch-absent/nodewatch-baseline"})
    cluster = ClusterUnchanged(kube)
    for reader in READERS:
        refused, outputs, code = read_with(reader, settings, kubeconfig, tmp_path)
        assert refused, "%s accepted a baseline in a missing namespace: %s" % (reader, outputs[0])
        check(case, *outputs)
    cluster.assert_same(case)


def test_a_good_baseline_is_read_by_every_reader(kube, kubeconfig, client, valid_doc, tmp_path):
    """The other side of every case above: the same readers accept what nodewatch.k8s writes."""
    path = tmp_path / "baseline.json"
    path.write_text(dump_baseline(valid_doc))
    for reader in READERS:
        refused, outputs, code = read_with(reader, ({"baseline_source": "file", "baseline_path": str(path)},
                                                    {"file": str(path)}), kubeconfig, tmp_path)
        assert not refused and code in ("exit", 0), outputs


def test_a_running_daemon_keeps_the_last_good_baseline_and_says_so(kube, kubeconfig, valid_doc, tmp_path, caplog):
    """Long-running, a baseline that turns bad is logged as an error, the one in use is kept
    (growth rules go on comparing with it), and /readyz says which one and why."""
    from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher import config as watcher_config
    from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.daemon import Daemon, build_client
    import threading
    path = tmp_path / "baseline.json"
    path.write_text(dump_baseline(valid_doc))
    settings = tmp_path / "watcher.yml"
    settings.write_text(yaml.safe_dump({"kubeconfig": kubeconfig, "baseline": {"file": str(path), "reload_seconds": 1},
                                        "thresholds": {"max_growth_bytes": "1Gi"}, "http": {"address": ""},
                                        "sinks": {"events": {"enabled": False}, "stdout": {"enabled": False}}}))
    config, policy, dummy = watcher_config.load(["--config", str(settings)], {})
    daemon = Daemon(config, policy, build_client(config))
    thread = threading.Thread(target=daemon._baseline_loop)
    thread.start()
    try:
        _wait(lambda: daemon.baseline.in_use == valid_doc["captured_at"], "the good baseline to be used")
        path.write_text('{"format": "nodewatch.k8s/baseline", "version": 1, "nodes": ' + "[" * 500 + "]" * 500 + "}")
        _wait(lambda: daemon.baseline.problem is not None, "the bad baseline to be read")
    finally:
        daemon.stop_event.set()
        thread.join(10)
        daemon.client.close()
    case = Case("running-daemon-bad-baseline", [r"baseline file .*baseline.json is nested deeper than 64 levels",
                                                r"keeping the one captured at 2026-11-01T10:00:00Z"])
    check(case, caplog.text)
    assert any(r.levelname == "ERROR" and "keeping the one captured at" in r.getMessage() for r in caplog.records)
    assert daemon.baseline.in_use == valid_doc["captured_at"]
    assert daemon.engine._baseline is not None and daemon.engine._baseline["captured_at"] == valid_doc["captured_at"]
    status = daemon.baseline.status_text()
    check(Case("readyz-baseline-line", [r"^baseline: the last read failed at \S+Z: the baseline file .* nested deeper",
                                        r"still using the one captured at 2026-11-01T10:00:00Z"]), status)


def _wait(predicate, what, timeout=15.0):
    import time
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.05)
