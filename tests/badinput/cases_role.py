# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The watcher role's variables, in check mode: what the daemon would refuse, the role refuses
before anything is deployed - one definition (the daemon's) of a valid configuration, webhook
URL included. ``vars`` are the role variables of the case; ``expect`` the failure's words.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from badinput.common import SECRETS, Case

HOOK = "hooks.example.com/services/T0/B0/" + SECRETS["webhook"]
HOW_TO = r"\(check watcher_thresholds, watcher_rule_sets and the other watcher_\* variables\)"


def case(case_id, expect, **role_vars):
    return Case(case_id, expect, vars=role_vars)


CASES = [
    # Each of these passed the role's old pattern ('^https?://[^/\s]+') and was refused by the daemon.
    case("webhook-space-in-path", r"watcher_webhook_url must be an http:// or https:// URL without spaces",
         watcher_webhook_url="https://" + HOOK + " extra"),
    case("webhook-no-host", r"watcher_webhook_url must be an http:// or https:// URL with a host",
         watcher_webhook_url="https://:8443/" + HOOK),
    case("webhook-port-out-of-range", r"watcher_webhook_url must be an http:// or https:// URL with a valid host and port",
         watcher_webhook_url="https://hooks.example.com:99999/" + HOOK),
    case("webhook-trailing-newline", r"watcher_webhook_url must be an http:// or https:// URL without spaces or control",
         watcher_webhook_url="https://" + HOOK + "\n"),
    case("webhook-no-scheme", r"watcher_webhook_url must be an http:// or https:// URL", watcher_webhook_url=HOOK),
    case("webhook-ftp", r"watcher_webhook_url must be an http:// or https:// URL", watcher_webhook_url="ftp://" + HOOK),
    # The daemon's own validation of the rest of its configuration.
    case("thresholds-percent-nan", [r"thresholds.max_percent.*nan", HOW_TO], watcher_thresholds={"max_percent": "nan"}),
    case("rule-set-selector", [r"rule_sets\[0\] \(gpu\)\.selector", HOW_TO],
         watcher_rule_sets=[{"name": "gpu", "selector": "pool in (a", "thresholds": {}}]),
    case("min-change-bytes-word", [r"min_change_bytes is not a size", HOW_TO], watcher_min_change_bytes="lots"),
    case("label-selector-unclosed", [r"label_selector is invalid", HOW_TO], watcher_label_selector="a in ("),
    case("alert-on-unknown", r"value of watcher_alert_on must be one or more of: .*Got no match for: disk_full",
         watcher_alert_on=["disk_full"]),
    case("resync-negative", [r"resync_seconds must be at least 0 seconds, got -5", HOW_TO], watcher_resync_seconds=-5),
    # The role's own checks (the others are in tests/integration/test_role_watcher.py).
    case("name-not-dns", r"watcher_name 'Bad_Name' must be a DNS-1123 label", watcher_name="Bad_Name"),
    case("metrics-port", r"watcher_metrics_port must be a TCP port \(1-65535\), got 70000", watcher_metrics_port=70000),
    case("k8s-auth-unknown", r"watcher_k8s_auth has unknown option\(s\) token", watcher_k8s_auth={"token": SECRETS["token"]}),
]
