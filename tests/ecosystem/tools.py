# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Running the ecosystem's tools from tests; importable as ``ecosystem.tools`` (``tests/`` is on sys.path).

ansible-lint, yamllint, antsibull-changelog, antsibull-docs and ansible-builder live in .venv-lint
with their own pins (tests/requirements/lint.txt); ./dev test creates it. Without it a developer's
run skips these tests, saying how to get it; CI (CI=true) fails instead.
"""
import os
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LINT_VENV = os.path.join(ROOT, ".venv-lint")
LINT_BIN = os.path.join(LINT_VENV, "bin")


def lint_tool(name):
    """Path of a tool in .venv-lint."""
    path = os.path.join(LINT_BIN, name)
    if os.access(path, os.X_OK):
        return path
    reason = ("%s is not in .venv-lint: ./dev test creates it, or run "
              "python3 -m venv .venv-lint && .venv-lint/bin/pip install -r tests/requirements/lint.txt" % name)
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(reason)
    pytest.skip(reason)


def run_tool(argv, cwd=ROOT, env=None, timeout=900):
    """Run a .venv-lint tool with that venv first on PATH (the tools call ansible-doc, ansible-playbook,
    ansible-galaxy) and this checkout as the only collection."""
    full_env = dict(os.environ)
    for name in list(full_env):
        if name.startswith(("ANSIBLE_", "K8S_AUTH_")):
            del full_env[name]
    full_env.update({
        "PATH": LINT_BIN + os.pathsep + full_env.get("PATH", ""),
        "ANSIBLE_COLLECTIONS_PATH": os.path.join(ROOT, ".build", "collections"),
        "ANSIBLE_NOCOLOR": "1",
        "NO_COLOR": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    full_env.update(env or {})
    return subprocess.run(argv, cwd=str(cwd), env=full_env, stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=timeout, check=False)


def report(proc, limit=12000):
    """What a tool said, for an assertion message."""
    return "exit code %s\n--- stdout\n%s\n--- stderr\n%s" % (proc.returncode, proc.stdout[-limit:], proc.stderr[-limit:])
