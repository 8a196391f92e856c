# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Test-only callback: appends every task result as a JSON line to $NODEWATCH_CAPTURE."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: nodewatch_capture
type: aggregate
short_description: Record task results for the test suite
description: Writes one JSON line per task result to the file named by E(NODEWATCH_CAPTURE).
"""

import json
import os

from ansible.plugins.callback import CallbackBase


class CallbackModule(CallbackBase):
    CALLBACK_VERSION = 2.0
    CALLBACK_TYPE = "aggregate"
    CALLBACK_NAME = "nodewatch_capture"
    CALLBACK_NEEDS_ENABLED = False

    def _record(self, result, status):
        path = os.environ.get("NODEWATCH_CAPTURE")
        if not path:
            return
        entry = {
            "task": result._task.get_name(),
            "host": result._host.get_name(),
            "status": status,
            "result": _plain(result._result),
        }
        with open(path, "a") as handle:
            handle.write(json.dumps(entry, default=str) + "\n")

    def v2_runner_on_ok(self, result):
        self._record(result, "ok")

    def v2_runner_on_failed(self, result, ignore_errors=False):
        self._record(result, "failed")

    def v2_runner_on_skipped(self, result):
        self._record(result, "skipped")

    def v2_runner_on_unreachable(self, result):
        self._record(result, "unreachable")


def _plain(value):
    """Tagged/trusted values of ansible-core 2.19 are subclasses of builtins; flatten them."""
    if isinstance(value, dict):
        return dict((str(k), _plain(v)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value)
    if isinstance(value, str):
        return str(value)
    return str(value)
