# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Run many inventory sources through Ansible's own InventoryManager, in one process.

``python inventory_driver.py CASES.json RESULTS.json``: each case is ``{"id", "source", "cache"
(bool: parse with the cache), "damage" (optional: how to damage the cache between a first, good
run and the run that is recorded)}``. What ansible-inventory would print on stderr (warnings,
errors) is captured per case, with the hosts and a few host variables the inventory ended up with.
One process for every case: ansible-inventory per case would cost a second of start-up each.
"""
from __future__ import absolute_import, division, print_function

import glob
import json
import os
import sys
import tempfile
import traceback


def captured_stderr(function):
    """Run ``function``; return ``(its result or exception, what reached file descriptor 2)``."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            try:
                outcome = function()
            except BaseException as exc:  # recorded, and judged by the test
                outcome = exc
            sys.stderr.flush()
        finally:
            os.dup2(saved, 2)
            os.close(saved)
        capture.seek(0)
        return outcome, capture.read().decode("utf-8", "replace")


def cache_files(case):
    directory = case.get("cache_dir")
    return sorted(glob.glob(os.path.join(directory, "*"))) if directory else []


def damage_cache(case):
    """Apply the case's damage to every cache file its first run wrote."""
    damage = case["damage"]
    for path in cache_files(case):
        if damage["kind"] == "text":
            with open(path, "w") as handle:
                handle.write(damage["text"])
            continue
        with open(path) as handle:
            stored = json.load(handle)
        # ansible-core 2.19 wraps what a cache plugin stores: {"__payload__": "<JSON text>"}
        wrapped = isinstance(stored, dict) and "__payload__" in stored
        payload = json.loads(stored["__payload__"]) if wrapped else stored
        if damage["kind"] == "payload":
            payload = damage["value"]
        elif damage["kind"] == "set":
            payload[damage["key"]] = damage["value"]
        elif damage["kind"] == "clusters":
            payload["clusters"] = damage["value"] if isinstance(damage["value"], str) else json.dumps(damage["value"])
        elif damage["kind"] == "records":
            clusters = json.loads(payload["clusters"])
            for cluster in clusters:
                for record in cluster["nodes"]:
                    record.update(damage["value"])
            payload["clusters"] = json.dumps(clusters)
        with open(path, "w") as handle:
            json.dump({"__payload__": json.dumps(payload)} if wrapped else payload, handle)


def main(cases_path, results_path):
    from ansible.plugins.loader import init_plugin_loader
    init_plugin_loader()
    from ansible.inventory.manager import InventoryManager
    from ansible.parsing.dataloader import DataLoader
    from ansible.utils.display import Display

    display = Display()

    def parse(source, cache):
        for name in ("_warns", "_errors", "_deprecations"):  # one process, many cases: no dedup
            if isinstance(getattr(display, name, None), (set, dict)):
                getattr(display, name).clear()
        manager = InventoryManager(loader=DataLoader(), sources=None)
        manager._sources = [source]
        manager.parse_sources(cache=cache)
        return manager

    with open(cases_path) as handle:
        cases = json.load(handle)
    results = []
    for case in cases:
        if case.get("damage"):
            first, first_err = captured_stderr(lambda: parse(case["source"], False))
            if isinstance(first, BaseException) or not cache_files(case):
                results.append({"id": case["id"], "setup_failed": "%r %s" % (first, first_err)})
                continue
            damage_cache(case)
        outcome, stderr = captured_stderr(lambda: parse(case["source"], case.get("cache", True)))
        result = {"id": case["id"], "stderr": stderr}
        if isinstance(outcome, BaseException):
            result["error_type"] = type(outcome).__name__
            result["error"] = str(outcome)
            result["python_error"] = not type(outcome).__module__.startswith("ansible")
            result["traceback"] = "".join(traceback.format_exception(type(outcome), outcome, outcome.__traceback__))
        else:
            hosts = sorted(h.name for h in outcome.get_hosts())
            result["hosts"] = hosts
            result["hostvars"] = dict((h, dict((k, str(v)) for k, v in outcome.get_host(h).get_vars().items()))
                                      for h in hosts[:3])
        result["cache_files"] = []
        for path in cache_files(case):
            with open(path) as handle:
                result["cache_files"].append(handle.read())
        results.append(result)
    with open(results_path, "w") as handle:
        json.dump(results, handle)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
