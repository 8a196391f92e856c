# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Sinks: stdout lines, webhook delivery (retry, order, bounds, redaction), Event bodies."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import io
import json
import logging

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError, ConnectionFailure
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.alerts import make_alert
from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.sinks import (
    EventSink,
    Sinks,
    StdoutSink,
    WebhookSink,
)
from unit.plugins.module_utils.watcher.helpers import Receiver, free_port


def alert(n, kind="threshold_crossed", node="n1"):
    return make_alert(kind, node, "node %s: alert %d" % (node, n), new_id=lambda *_: "id%d" % n)


@pytest.fixture
def receiver():
    rec = Receiver().start()
    yield rec
    rec.stop()


def webhook(url, **kwargs):
    kwargs.setdefault("backoff_initial", 0.01)
    kwargs.setdefault("backoff_max", 0.05)
    return WebhookSink(url, timeout=2, **kwargs)


def test_stdout_writes_one_json_object_per_line():
    stream = io.StringIO()
    sink = StdoutSink(stream)
    sink.send(alert(1))
    sink.send(alert(2))
    lines = stream.getvalue().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["id1", "id2"]


def test_webhook_posts_slack_compatible_json(receiver):
    sink = webhook(receiver.url, headers={"X-Team": "infra"}).start()
    try:
        sink.send(alert(1))
        (body,) = receiver.wait_for(1)
    finally:
        sink.stop()
    assert body["text"] == "[nodewatch-watcher] WARNING node n1: alert 1"
    assert body["alert"]["id"] == "id1" and body["alert"]["kind"] == "threshold_crossed"
    path, headers, _body = receiver.requests[0]
    assert path == "/services/T0/B0/SECRETTOKEN?key=hidden"
    assert headers["Content-Type"] == "application/json" and headers["X-Team"] == "infra"


def test_webhook_retries_5xx_and_429_in_order_then_delivers_each_once(receiver, caplog):
    receiver.answers = [(503, {}), (429, {"Retry-After": "0.05"}), (500, {})]
    sink = webhook(receiver.url).start()
    try:
        for n in range(3):
            sink.send(alert(n))
        bodies = receiver.wait_for(3)
        assert sink.drain(2)
    finally:
        sink.stop()
    assert [b["alert"]["id"] for b in bodies] == ["id0", "id1", "id2"]
    assert sink.stats.failures == 3 and sink.stats.sent == 3 and sink.pending() == []
    assert "SECRETTOKEN" not in caplog.text and "hidden" not in caplog.text
    assert "http://127.0.0.1:%d/<redacted>" % receiver.port in caplog.text


def test_webhook_down_then_up_delivers_everything_exactly_once(caplog):
    caplog.set_level(logging.WARNING)
    port = free_port()
    receiver = Receiver(port)
    sink = webhook(receiver.url).start()
    try:
        for n in range(5):
            sink.send(alert(n))
        assert not sink.drain(0.2)  # nothing listens: connection refused, retried
        assert len(sink.pending()) == 5
        receiver.start()
        bodies = receiver.wait_for(5)
        assert sink.drain(2)
    finally:
        sink.stop()
        receiver.stop()
    assert [b["alert"]["id"] for b in bodies] == ["id%d" % n for n in range(5)]
    assert "cannot reach http://127.0.0.1:%d/<redacted>" % port in caplog.text
    assert "SECRETTOKEN" not in caplog.text


def test_webhook_4xx_is_permanent_and_dropped(receiver, caplog):
    receiver.answers = [(404, {})]
    sink = webhook(receiver.url).start()
    try:
        sink.send(alert(1))
        sink.send(alert(2))
        (body,) = receiver.wait_for(1)
        assert sink.drain(2)
    finally:
        sink.stop()
    assert body["alert"]["id"] == "id2"
    assert "rejected the threshold_crossed alert" in caplog.text and "HTTP 404" in caplog.text


def test_webhook_redirect_is_not_followed(receiver):
    receiver.answers = [(302, {"Location": "http://127.0.0.1:1/elsewhere"})]
    sink = webhook(receiver.url).start()
    try:
        sink.send(alert(1))
        assert sink.drain(2)
    finally:
        sink.stop()
    assert sink.stats.failures == 1 and len(receiver.requests) == 1


def test_bounded_queue_drops_the_oldest():
    sink = webhook("http://127.0.0.1:9/x", queue_size=3)  # not started: nothing is sent
    for n in range(5):
        sink.send(alert(n))
    assert [a["id"] for a in sink.pending()] == ["id2", "id3", "id4"]
    assert sink.stats.dropped == 2


def test_restore_puts_saved_alerts_first_without_duplicates():
    sink = webhook("http://127.0.0.1:9/x")
    sink.send(alert(3))
    sink.restore([alert(1), alert(2), alert(3)])
    assert [a["id"] for a in sink.pending()] == ["id1", "id2", "id3"]


def test_max_attempts_gives_up():
    sink = webhook("http://127.0.0.1:%d/x" % free_port(), max_attempts=2).start()
    try:
        sink.send(alert(1))
        assert sink.drain(3)
    finally:
        sink.stop()
    assert sink.stats.failures == 2 and sink.stats.dropped == 1 and sink.pending() == []


class EventApi:
    def __init__(self, errors=()):
        self.created = []
        self.errors = list(errors)

    def create(self, path, body):
        error = self.errors.pop(0) if self.errors else None
        if error is not None:
            raise error
        self.created.append((path, body))
        return body


def test_event_body_is_a_core_v1_event_on_the_node():
    sink = EventSink(EventApi(), namespace="default", instance="pod-1", node_uid=lambda n: "uid-" + n)
    body = sink.event_body(alert(1), now=1700000000.5)
    assert body["involvedObject"] == {"apiVersion": "v1", "kind": "Node", "name": "n1", "uid": "uid-n1"}
    assert body["type"] == "Warning" and body["reason"] == "ImageStorageThreshold"
    assert body["metadata"]["namespace"] == "default" and body["metadata"]["name"].startswith("n1.")
    assert body["source"] == {"component": "nodewatch-watcher"}
    assert body["reportingComponent"] == "nodewatch-watcher" and body["reportingInstance"] == "pod-1"
    assert body["firstTimestamp"] == body["lastTimestamp"] == "2023-11-14T22:13:20Z" and body["count"] == 1
    changed = sink.event_body(make_alert("image_storage_changed", "n1", "x" * 5000))
    assert changed["type"] == "Normal" and changed["reason"] == "ImageStorageChanged"
    assert len(changed["message"]) == 1024
    assert EventSink(EventApi()).event_body(alert(1))["involvedObject"]["uid"] == "n1"


def test_event_sink_retries_transient_errors_and_drops_forbidden():
    api = EventApi([ConnectionFailure("down"), ApiError(503, reason="ServiceUnavailable"), None,
                    ApiError(403, reason="Forbidden", message="events is forbidden")])
    sink = EventSink(api, backoff_initial=0.001, backoff_max=0.01).start()
    try:
        sink.send(alert(1))  # fails twice, then created
        sink.send(alert(2))  # forbidden: dropped
        sink.send(alert(3))
        assert sink.drain(3)
    finally:
        sink.stop()
    assert [body["message"] for _path, body in api.created] == ["node n1: alert 1", "node n1: alert 3"]
    assert api.created[0][0] == "/api/v1/namespaces/default/events"
    assert sink.stats.failures == 3


def test_fan_out_respects_each_sinks_kinds():
    out = io.StringIO()
    only_changes = StdoutSink(out, kinds=["image_storage_changed"])
    everything = StdoutSink(io.StringIO())
    sinks = Sinks([only_changes, everything])
    sinks.emit(alert(1))
    sinks.emit(alert(2, kind="image_storage_changed"))
    assert only_changes.stats.sent == 1 and everything.stats.sent == 2
    assert sinks.get("stdout") is only_changes and sinks.get("webhook") is None
