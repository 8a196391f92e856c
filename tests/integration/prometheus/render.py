"""Render the watcher's Prometheus rules from the role's template, as the role does.

    python tests/integration/prometheus/render.py               # print the rules with the role's defaults
    python tests/integration/prometheus/render.py --write       # ... into extras/prometheus/nodewatch-rules.yml
    python tests/integration/prometheus/render.py --max-percent 70 --horizon-hours 6

roles/watcher/templates/prometheus-rules.yml.j2 is the one source: the role renders it into its
PrometheusRule with watcher_thresholds.max_percent, and extras/prometheus/nodewatch-rules.yml is
this rendering with the role's default (tests/integration/test_prometheus_rules.py checks that the
committed file is exactly that).
"""
import argparse
import os
import sys

import jinja2
import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
TEMPLATE = os.path.join(ROOT, "roles", "watcher", "templates", "prometheus-rules.yml.j2")
EXTRAS = os.path.join(ROOT, "extras", "prometheus", "nodewatch-rules.yml")
DEFAULTS = os.path.join(ROOT, "roles", "watcher", "defaults", "main.yml")
_UNSET = object()


def role_default_max_percent():
    with open(DEFAULTS) as handle:
        return yaml.safe_load(handle)["watcher_thresholds"].get("max_percent")


def render(max_percent=_UNSET, horizon_hours=None):
    """The rules file as text; ``max_percent`` defaults to the role's default, None = no limit."""
    if max_percent is _UNSET:
        max_percent = role_default_max_percent()
    # The same delimiters as the role's lookup, and Ansible's trim_blocks.
    env = jinja2.Environment(variable_start_string="[[", variable_end_string="]]", trim_blocks=True,
                             keep_trailing_newline=True, undefined=jinja2.StrictUndefined)
    with open(TEMPLATE) as handle:
        template = env.from_string(handle.read())
    values = {"max_percent": max_percent}
    if horizon_hours is not None:
        values["horizon_hours"] = horizon_hours
    return template.render(**values)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", maxsplit=1)[0])
    parser.add_argument("--write", action="store_true", help="write extras/prometheus/nodewatch-rules.yml")
    parser.add_argument("--max-percent", default=_UNSET, help="the limit (default: the role's)")
    parser.add_argument("--horizon-hours", type=int, default=None)
    args = parser.parse_args()
    text = render(args.max_percent, args.horizon_hours)
    if args.write:
        with open(EXTRAS, "w") as handle:
            handle.write(text)
        print("wrote %s" % os.path.relpath(EXTRAS, ROOT))
    else:
        sys.stdout.write(text)


if __name__ == "__main__":
    main()
