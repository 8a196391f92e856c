# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""What every bad-input case promises, checked in one place, and the ways cases are run.

A case is refused with a sentence that names the input (an option, a key, a file) and says what
is wrong; no output shows a traceback or a Python error; nothing changes in the cluster or on
disk; no secret marker appears anywhere. The tables (``cases_*.py``) say what each case feeds
and which words the sentence must hold; the runners (``test_*.py``) feed it and call ``check``.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import hashlib
import importlib
import io
import json
import os
import re

import pytest

# Marker values put where secrets go. Any of them in any output, log, file or object is a leak.
SECRETS = {
    "api_key": "SECRET-MARKER-api-key-7f3a",
    "password": "SECRET-MARKER-password-91c2",
    "token": "SECRET-MARKER-token-5d0e",
    "proxy_auth": "SECRET-MARKER-proxy-auth-c41f",
    "client_key": "SECRET-MARKER-client-key-e6a9",
    "webhook": "SECRET-MARKER-webhook-3b8d",
    "header": "SECRET-MARKER-header-0a7b",
}
WEBHOOK_URL = "https://hooks.example.com/services/T0/B0/" + SECRETS["webhook"]

# What a user must never see for bad input: Python's own words instead of a sentence. ("Module
# failed:" alone is not one: ansible-core 2.19 puts it before every module's failure message.)
PYTHON_ERROR = re.compile(
    r"Traceback \(most recent call last\)|MODULE FAILURE|failed unexpectedly \([A-Z]\w*(?:Error|Exception)"
    r"|File \"[^\"]+\.py\", line \d+"
    r"|\b(?:TypeError|AttributeError|KeyError|IndexError|NameError|UnboundLocalError|RecursionError"
    r"|ZeroDivisionError|OverflowError|UnicodeDecodeError|AssertionError)\b"
    r"|object has no attribute|object is not (?:iterable|subscriptable)|embedded null byte"
    r"|maximum recursion depth|timestamp out of range")


class Case:
    """One bad input: ``id``, the regexes the refusal must match (``expect``), and its data."""

    def __init__(self, case_id, expect, marks=(), **data):
        self.id = case_id
        self.expect = [expect] if isinstance(expect, str) else list(expect)
        self.marks = marks
        self.data = data

    def __getattr__(self, name):
        try:
            return self.__dict__["data"][name]
        except KeyError:
            raise AttributeError(name)

    def __repr__(self):
        return "Case(%s)" % self.id


def params(cases):
    return [pytest.param(case, id=case.id, marks=case.marks) for case in cases]


def known_bug(fix):
    """A case that fails until ``fix`` (in a file this suite's authors do not own) is made."""
    return (pytest.mark.xfail(strict=True, reason="needs: " + fix),)


def check(case, *outputs, expect=None):
    """The promises every case makes about what a person sees."""
    text = "\n".join(_text(o) for o in outputs if o is not None)
    for pattern in (case.expect if expect is None else expect):
        assert re.search(pattern, text, re.I | re.S), (
            "%s: the refusal does not match %r:\n%s" % (case.id, pattern, text[-3000:]))
    no_python_error(case, text)
    no_secret(case, text)
    return text


def no_python_error(case, text):
    found = PYTHON_ERROR.search(text)
    assert not found, "%s: a Python error reached the user (%r):\n%s" % (case.id, found.group(0), text[-3000:])


def no_secret(case, *outputs):
    text = "\n".join(_text(o) for o in outputs if o is not None)
    for name, marker in SECRETS.items():
        assert marker not in text, "%s: the %s marker leaked:\n%s" % (case.id, name, text[-3000:])


def _text(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str, sort_keys=True)


# -- building a case's inputs -------------------------------------------------------------------

def deep(levels):
    value = {}
    for dummy in range(levels):
        value = {"x": value}
    return value


def materialize(value, tmp_path, good):
    """The table's placeholders made real: ``@good`` (a working kubeconfig), ``@dir`` (a directory),
    ``@file:NAME`` (a file of the case), ``@deep`` (a mapping nested 100 levels)."""
    if isinstance(value, dict):
        return dict((k, materialize(v, tmp_path, good)) for k, v in value.items())
    if isinstance(value, list):
        return [materialize(v, tmp_path, good) for v in value]
    if value == "@good":
        return good
    if value == "@dir":
        return str(tmp_path)
    if value == "@deep":
        return deep(100)
    if isinstance(value, str) and value.startswith("@file:"):
        return str(tmp_path / value[len("@file:"):])
    return value


def write_files(tmp_path, files):
    for name, content in (files or {}).items():
        path = tmp_path / name
        if isinstance(content, tuple) and content[0] == "sparse":
            with open(str(path), "wb") as handle:
                handle.truncate(content[1])
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)


# -- nothing changed --------------------------------------------------------------------------

class ClusterUnchanged:
    """The fake API server's objects before a case; ``assert_same()`` after it.

    Every write bumps the server's global resourceVersion, Events included, so an unchanged
    resourceVersion means no object was created, changed or deleted.
    """

    def __init__(self, kube):
        self.kube = kube
        self.version = kube.resource_version

    def assert_same(self, case):
        assert self.kube.resource_version == self.version, (
            "%s: the cluster changed (resourceVersion %s -> %s)" % (case.id, self.version, self.kube.resource_version))


class DiskUnchanged:
    """The files under ``root`` (names and contents) before a case; ``assert_same()`` after it."""

    def __init__(self, root):
        self.root = str(root)
        self.files = self._scan()

    def _scan(self):
        found = {}
        for directory, dirs, files in os.walk(self.root):
            dirs.sort()
            for name in files:
                path = os.path.join(directory, name)
                if os.path.islink(path) or not os.path.isfile(path):
                    continue
                digest = hashlib.sha256()
                with open(path, "rb") as handle:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
                found[os.path.relpath(path, self.root)] = digest.hexdigest()
        return found

    def assert_same(self, case, ignore=()):
        now = self._scan()
        for name in ignore:
            now.pop(name, None)
        before = dict((k, v) for k, v in self.files.items() if k not in ignore)
        assert now == before, "%s: files changed under %s: %s" % (
            case.id, self.root, sorted(set(now.items()) ^ set(before.items())))


# -- running a module in this process ------------------------------------------------------------

MODULES = "ansible_collections.nodewatch.k8s.plugins.modules."


def run_module(name, args, check_mode=False, diff=False):
    """Run module ``name``'s ``main()`` as Ansible would, here: ``(result, stderr)``.

    The module builds its real ``AnsibleModule`` from ``args`` (argument spec, no_log masking,
    fail_json/exit_json), so the result is what a play shows for the task.
    """
    from ansible.module_utils import basic
    from ansible.module_utils.common import warnings as module_warnings
    module = importlib.import_module(MODULES + name)
    # A module process starts with no warnings; in this process they would pile up across runs.
    for name_ in ("_global_warnings", "_global_deprecations"):
        getattr(module_warnings, name_, {}).clear()
    payload = dict(args, _ansible_module_name="nodewatch.k8s." + name, _ansible_check_mode=check_mode,
                   _ansible_diff=diff, _ansible_verbosity=0, _ansible_no_log=False)
    out = io.StringIO()
    err = io.StringIO()
    with _module_args(basic, payload), contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            module.main()
        except SystemExit:
            pass
    text = out.getvalue()
    try:
        return json.loads(text), err.getvalue()
    except ValueError:
        return {"failed": True, "msg": "MODULE FAILURE (no JSON on stdout)", "module_stdout": text}, err.getvalue()


@contextlib.contextmanager
def _module_args(basic, payload):
    try:
        from ansible.module_utils.testing import patch_module_args
    except ImportError:  # ansible-core before 2.19
        saved = basic._ANSIBLE_ARGS
        basic._ANSIBLE_ARGS = json.dumps({"ANSIBLE_MODULE_ARGS": payload}).encode("utf-8")
        try:
            yield
        finally:
            basic._ANSIBLE_ARGS = saved
        return
    # A module runs in its own process, where warnings go into the result; once anything in this
    # process has imported the controller (inventory, lookup and playbook tests do), ansible-core
    # would send them to the controller's display instead.
    from ansible.module_utils import _internal
    was_controller = _internal.is_controller
    _internal.is_controller = False
    try:
        with patch_module_args(payload):
            yield
    finally:
        _internal.is_controller = was_controller
