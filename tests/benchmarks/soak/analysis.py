# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What the soak measured: alerts owed, delivered, lost, duplicated and wrong; when a replica was
alerting and when none was; resident memory over time. Reads only the run's files and records."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import calendar
import json
import os
import time

from scenario import GiB, Matcher


def parse_utc(text):
    """``2026-11-30T07:28:31.753496Z`` (alerts) or ``...31.753Z`` (logs) -> epoch seconds."""
    if not text:
        return None
    stamp, _dot, fraction = text.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(stamp, "%Y-%m-%dT%H:%M:%S"))
    return seconds + (float("0." + fraction) if fraction else 0.0)


def read_json_lines(path):
    """Every complete JSON line (a SIGKILL may leave the last one cut)."""
    out = []
    try:
        with open(path) as handle:
            for line in handle:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except FileNotFoundError:
        pass
    return out


# -- what each daemon process said ------------------------------------------------------------------

LEADERSHIP_MARKERS = (
    ("became the leader", "leader"),
    ("lost the leadership", "lost"),
    ("released the Lease", "released"),
    ("loaded the state from", "state_loaded"),
    ("first run: took", "state_loaded"),
    ("continuing from this process's own state", "state_loaded"),
    ("saved it with the oldest", "state_trimmed"),
    ("relisted nodes", "relist"),
    ("cannot write the state", "state_save_failed"),
    ("queue is full", "queue_full"),
    ("even without top images", "state_save_failed"),
)


def read_incarnation_logs(incarnation):
    """Timed markers, error lines and counts from one process's stderr; alert ids from its stdout."""
    markers = []
    errors = {}
    warnings = 0
    tracebacks = 0
    for entry in read_json_lines(incarnation["stderr"]):
        message = entry.get("message") or ""
        at = parse_utc(entry.get("time"))
        for text, marker in LEADERSHIP_MARKERS:
            if text in message:
                markers.append((at, marker, message[:200]))
        level = entry.get("level")
        if entry.get("exception"):
            tracebacks += 1
        if level == "error":
            key = message[:90]
            errors[key] = errors.get(key, 0) + 1
        elif level == "warning":
            warnings += 1
    alerts = read_json_lines(incarnation["stdout"])
    return {"markers": markers, "errors": errors, "warnings": warnings, "tracebacks": tracebacks,
            # A repeat after a failover has the first copy's id but its own decision time.
            "alert_keys": [(alert.get("id"), alert.get("time")) for alert in alerts], "alerts": len(alerts)}


def active_periods(incarnations, logs, end):
    """When each process was alerting: from the moment it led, had loaded the state and had
    listed every node (whichever came last) to when it stopped leading or died."""
    periods = []
    for inc in incarnations:
        events = sorted(logs[inc["key"]]["markers"], key=lambda m: m[0])
        died = inc.get("ended") or end
        leading_since = None
        loaded_at = None
        for at, marker, _message in events:
            if marker == "leader":
                leading_since, loaded_at = at, None
            elif marker == "state_loaded" and leading_since is not None:
                loaded_at = at
            elif marker in ("lost", "released") and leading_since is not None:
                if loaded_at is not None:
                    start = max(loaded_at, inc.get("synced_at") or loaded_at)
                    if start < at:
                        periods.append({"process": inc["key"], "start": start, "end": at, "how": marker})
                leading_since = loaded_at = None
        if leading_since is not None and loaded_at is not None:
            start = max(loaded_at, inc.get("synced_at") or loaded_at)
            if start < died:
                periods.append({"process": inc["key"], "start": start, "end": died,
                                "how": inc.get("end_how") or "running"})
    periods.sort(key=lambda p: p["start"])
    return periods


def blind_windows(periods, start, end):
    """Stretches of [start, end] with no process alerting."""
    windows = []
    cursor = start
    for period in periods:
        if period["start"] > cursor:
            windows.append({"from": cursor, "to": period["start"], "seconds": period["start"] - cursor})
        cursor = max(cursor, period["end"])
    if end > cursor:
        windows.append({"from": cursor, "to": end, "seconds": end - cursor})
    return windows


# -- alerts ----------------------------------------------------------------------------------------------

def faults_between(injected, path, start, end):
    """Kinds of the faults injected on requests to ``path`` between ``start`` and ``end``."""
    return sorted(set(f["kind"] for f in injected if f["path"] == path and start <= f["time"] <= end))


def classify_duplicate(first, emitter, periods, run, injected, slack=1.0):
    """Why a logical alert was delivered again.

    A new leader continues from the last state *saved*: what its predecessor delivered (same id,
    resent from the saved queue) or decided (a new id) after that save comes again. So: what
    ended the leadership of the process that delivered the first copy, how long after that
    delivery, and whether a fault held up the state saves (or the Lease renewals) in between.
    """
    if emitter is None:
        return "unknown emitter", None
    ends = [p for p in periods if p["process"] == emitter and p["start"] - slack <= first["received"] <= p["end"] + slack]
    if not ends:
        return "sent outside its leadership", None
    period = ends[0]
    before = period["end"] - first["received"]
    how = period["how"]
    if how == "SIGKILL":
        if before <= run["flush_seconds"] + slack:
            return "SIGKILL within flush_seconds", before
        held_up = faults_between(injected, run["state_path"], first["received"] - run["flush_seconds"] - slack, period["end"])
        if held_up:
            return "SIGKILL while a state save was held up (%s)" % "+".join(held_up), before
        return "SIGKILL, state older than flush_seconds, no fault on the state", before
    if how == "lost":
        held_up = faults_between(injected, run["lease_path"], period["end"] - 15.0, period["end"])
        return "Lease renewal failed (%s)" % ("+".join(held_up) or "no fault on the Lease"), before
    return "after %s" % how, before


def analyse_alerts(expected, records, applied_at, emitted_by, periods, run, injected):
    matcher = Matcher(expected, applied_at)
    deliveries = {}
    wrong = []
    for record in sorted(records, key=lambda r: r["received"]):
        raised_at = parse_utc(record.get("time")) or record["received"]
        index, why = matcher.match(record, raised_at)
        if index is None:
            wrong.append(dict(record, why=why))
            continue
        deliveries.setdefault(index, []).append(record)
    lost = [expected[i] for i in range(len(expected)) if i not in deliveries]
    duplicates = []
    for index, copies in deliveries.items():
        if len(copies) < 2:
            continue
        first = copies[0]
        emitter = emitted_by.get((first["id"], first.get("time")))
        why, before = classify_duplicate(first, emitter, periods, run, injected)
        for again in copies[1:]:
            duplicates.append({"kind": first["kind"], "node": first["node"], "same_id": again["id"] == first["id"],
                               "first_received": round(first["received"] - run["t0"], 3),
                               "again_received": round(again["received"] - run["t0"], 3),
                               "first_by": emitter, "again_by": emitted_by.get((again["id"], again.get("time"))),
                               "why": why, "seconds_before_end": None if before is None else round(before, 3)})
    latency = sorted(r["received"] - parse_utc(r["time"]) for r in records if r.get("time"))
    return {"expected": len(expected), "delivered_unique": len(deliveries), "deliveries": len(records),
            "unique_ids": len(set(r["id"] for r in records)), "lost": lost, "duplicates": duplicates,
            "wrong": wrong, "latency": latency}


def expected_by_kind(expected):
    counts = {}
    for alert in expected:
        counts[alert["kind"]] = counts.get(alert["kind"], 0) + 1
    return counts


# -- memory -------------------------------------------------------------------------------------------------

def rss_summary(samples, started, warmup, min_span):
    """``samples``: [(time, MiB)] of one process. After ``warmup`` seconds from ``started``:
    min, max, first, last, spread (max/min - 1), the slope of a least-squares line."""
    kept = [(t, v) for t, v in samples if t >= started + warmup]
    if len(kept) < 3:
        return None
    values = [v for _t, v in kept]
    span = kept[-1][0] - kept[0][0]
    mean_t = sum(t for t, _v in kept) / len(kept)
    mean_v = sum(values) / len(values)
    var_t = sum((t - mean_t) ** 2 for t, _v in kept)
    slope = sum((t - mean_t) * (v - mean_v) for t, v in kept) / var_t if var_t else 0.0
    return {"samples": len(kept), "span_seconds": round(span, 1), "min": round(min(values), 1),
            "max": round(max(values), 1), "first": round(values[0], 1), "last": round(values[-1], 1),
            "spread_percent": round(100.0 * (max(values) / min(values) - 1.0), 1),
            "slope_mib_per_minute": round(60.0 * slope, 2), "judged": span >= min_span}


def percentile(values, p):
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100.0 * (len(ordered) - 1))))]


# -- the report -------------------------------------------------------------------------------------------

def _load(path):
    with open(path) as handle:
        return json.load(handle)


def report(out):
    """result.json and the printed table, from the files of the run in ``out``."""
    run = _load(os.path.join(out, "run.json"))
    t0 = run["t0"]
    applied = _load(os.path.join(out, "changes-applied.json"))
    applied_at = dict((entry["i"], entry["applied"]) for entry in applied["applied"])
    expected = _load(os.path.join(out, "expected.json"))
    plan = _load(os.path.join(out, "faults.json"))
    records = read_json_lines(os.path.join(out, "webhook-received.jsonl"))
    incarnations = run["incarnations"]
    for inc in incarnations:  # the run may have been moved
        for key in ("stdout", "stderr"):
            inc[key] = os.path.join(out, os.path.basename(inc[key]))
    logs = dict((inc["key"], read_incarnation_logs(inc)) for inc in incarnations)
    emitted_by = {}
    for inc in incarnations:
        for alert_key in logs[inc["key"]]["alert_keys"]:
            emitted_by.setdefault(alert_key, inc["key"])
    periods = active_periods(incarnations, logs, run["quiesced"])
    windows = blind_windows(periods, t0, run["end_of_changes"])
    alerts = analyse_alerts(expected, records, applied_at, emitted_by, periods, run, plan["injected"])
    scripted = {}
    for record in run["faults_done"]:
        if record["kind"] != "restart_replica" and not record.get("skipped"):
            scripted[record["kind"]] = scripted.get(record["kind"], 0) + 1
    changes = run["receiver"]["changes"]
    outage = {"down": 0.0, "failing": 0.0}
    for (at, mode), (at_next, _next) in zip(changes, changes[1:] + [[run["quiesced"], "up"]]):
        if mode in outage and at >= t0:
            outage[mode] += at_next - at
    started = dict((inc["key"], inc["started"]) for inc in incarnations)
    args = run["args"]
    rss = {}
    for key, samples in run["samples"].items():
        rss[key] = {"summary": rss_summary(samples, started.get(key, run["begun"]), args["warmup"], args["min_span"]),
                    "samples": [(round(at - t0, 1), round(value, 1)) for at, value in samples]}
    why = {}
    for dup in alerts["duplicates"]:
        label = "%s, %s id" % (dup["why"], "same" if dup["same_id"] else "new")
        why[label] = why.get(label, 0) + 1
    errors = {}
    for entry in logs.values():
        for message, count in entry["errors"].items():
            errors[message] = errors.get(message, 0) + count
    loads = [value for _at, value in run["loads"]]
    machine = dict(run["machine"], load_during_mean=round(sum(loads) / max(1, len(loads)), 2),
                   load_during_max=round(max(loads or [0]), 2))
    scenario = dict(run["scenario"], changes_applied=len(applied["applied"]), change_errors=applied["errors"][:10],
                    schedule_late_max_seconds=round(applied["late_max"], 3))
    result = {
        "command": " ".join(run["argv"]),
        "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(run["begun"])),
        "machine": machine,
        "scenario": scenario,
        "alerts": {"expected": alerts["expected"], "expected_by_kind": expected_by_kind(expected),
                   "delivered_unique": alerts["delivered_unique"], "deliveries": alerts["deliveries"],
                   "unique_ids": alerts["unique_ids"], "lost": len(alerts["lost"]), "lost_examples": alerts["lost"][:20],
                   "duplicated": len(alerts["duplicates"]), "duplicates_by_cause": why,
                   "duplicates": alerts["duplicates"], "wrong": len(alerts["wrong"]),
                   "wrong_examples": alerts["wrong"][:20],
                   "latency_seconds": {"p50": percentile(alerts["latency"], 50), "p99": percentile(alerts["latency"], 99),
                                       "max": percentile(alerts["latency"], 100)},
                   "final_open_breaches": {"daemon": run["final_open_breaches"], "scenario": scenario["final_open"]},
                   "receiver_refused_503": run["receiver"]["refused"]},
        "leadership": {"active_periods": [dict(p, start=round(p["start"] - t0, 1), end=round(p["end"] - t0, 1)) for p in periods],
                       "blind_windows": [{"from": round(w["from"] - t0, 1), "to": round(w["to"] - t0, 1),
                                          "seconds": round(w["seconds"], 1)} for w in windows],
                       "longest_blind_window_seconds": round(max([w["seconds"] for w in windows] or [0]), 1)},
        "faults": {"plan_rates": plan["rates"], "plan_counts": plan["counts"], "scripted": scripted,
                   "webhook_outage_seconds": dict((k, round(v, 1)) for k, v in outage.items()),
                   "api_server_restarts": len(applied["restarts"]),
                   "timeline": [dict(r, time=round(r["time"] - t0, 1)) for r in run["faults_done"]]},
        "daemons": dict((inc["key"], {
            "identity": inc["identity"], "started": round(inc["started"] - t0, 1),
            "ready_after": round(inc["synced_at"] - inc["started"], 1) if inc["synced_at"] else None,
            "ended": round(inc["ended"] - t0, 1) if inc["ended"] else None, "end_how": inc["end_how"],
            "alerts_written": logs[inc["key"]]["alerts"],
            "relists": sum(1 for m in logs[inc["key"]]["markers"] if m[1] == "relist"),
            "leadership_lost": sum(1 for m in logs[inc["key"]]["markers"] if m[1] == "lost"),
            "state_save_failures": sum(1 for m in logs[inc["key"]]["markers"] if m[1] == "state_save_failed"),
            "state_saves_trimmed": sum(1 for m in logs[inc["key"]]["markers"] if m[1] == "state_trimmed"),
            "warnings": logs[inc["key"]]["warnings"], "tracebacks": logs[inc["key"]]["tracebacks"]})
            for inc in incarnations),
        "errors_logged": errors,
        "rss_mib": rss,
        "settle_seconds": round(run["quiesced"] - run["end_of_changes"], 1),
    }
    path = os.path.join(out, "result.json")
    with open(path, "w") as handle:
        json.dump(result, handle, indent=1, default=str)
    print_table(result, path)
    return result


def print_table(result, path):
    alerts = result["alerts"]
    machine = result["machine"]
    lines = ["", "== soak: %s, %s, %d CPUs, load %s before, %.2f mean during ==" % (
        result["date"], machine["platform"], machine["cpus"], " ".join("%.2f" % v for v in machine["load_before"]),
        machine["load_during_mean"])]
    scenario = result["scenario"]
    lines.append("scenario   %d nodes x %d images, %d changes in %s min on %d nodes (%s), limit %d GiB"
                 % (scenario["nodes"], scenario["images"], scenario["changes_applied"], scenario["minutes"],
                    scenario["active_nodes"], ", ".join("%s %d" % kv for kv in sorted(scenario["categories"].items())),
                    scenario["limit_bytes"] // GiB))
    lines.append("alerts     expected %d (%s)" % (alerts["expected"], ", ".join(
        "%s %d" % kv for kv in sorted(alerts["expected_by_kind"].items()))))
    lines.append("           delivered %d (unique ids %d, deliveries %d), LOST %d, duplicated %d, wrong %d"
                 % (alerts["delivered_unique"], alerts["unique_ids"], alerts["deliveries"], alerts["lost"],
                    alerts["duplicated"], alerts["wrong"]))
    for label, count in sorted(alerts["duplicates_by_cause"].items()):
        lines.append("           duplicate: %-70s %d" % (label, count))
    latency = alerts["latency_seconds"]
    if latency["p50"] is not None:
        lines.append("           raised -> received: p50 %.2fs, p99 %.1fs, max %.1fs (outages included)"
                     % (latency["p50"], latency["p99"], latency["max"]))
    lines.append("           open breaches at the end: daemon %s, scenario %d" % (
        alerts["final_open_breaches"]["daemon"], alerts["final_open_breaches"]["scenario"]))
    leadership = result["leadership"]
    lines.append("leadership %d alerting periods; longest time without an alerting leader %.1fs (a node changes at most "
                 "every %.0fs)" % (len(leadership["active_periods"]), leadership["longest_blind_window_seconds"],
                                   scenario["min_gap_seconds"]))
    faults = result["faults"]
    lines.append("faults     plan: %s" % ", ".join("%s %d" % kv for kv in sorted(faults["plan_counts"].items()) if kv[1]))
    lines.append("           scripted: %s; webhook refused %.0fs, 503 %.0fs" % (
        ", ".join("%s %d" % kv for kv in sorted(faults["scripted"].items())),
        faults["webhook_outage_seconds"]["down"], faults["webhook_outage_seconds"]["failing"]))
    lines.append("memory     RSS MiB after warm-up (min / max / spread / slope per minute):")
    for key, entry in sorted(result["rss_mib"].items()):
        summary = entry["summary"]
        if summary is None:
            lines.append("           %-10s too short-lived to judge" % key)
            continue
        lines.append("           %-10s %6.1f / %6.1f / %5.1f%% / %+.2f  over %4.0fs%s" % (
            key, summary["min"], summary["max"], summary["spread_percent"], summary["slope_mib_per_minute"],
            summary["span_seconds"], "" if summary["judged"] else "  (too short to judge)"))
    for key, daemon in sorted(result["daemons"].items()):
        lines.append("daemon     %-4s %-14s ready after %5ss, %s at %s; %d alerts written, %d relists, %d leadership "
                     "losses, %d state saves failed, %d trimmed, %d tracebacks" % (
                         key, daemon["identity"], daemon["ready_after"], daemon["end_how"] or "running", daemon["ended"],
                         daemon["alerts_written"], daemon["relists"], daemon["leadership_lost"],
                         daemon["state_save_failures"], daemon["state_saves_trimmed"], daemon["tracebacks"]))
    lines.append("result     %s" % path)
    print("\n".join(lines))
