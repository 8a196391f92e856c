"""Run ansible-playbook / ansible-inventory the way a user does, and read what happened."""
import json
import os
import subprocess
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
BIN = os.path.dirname(sys.executable)


class PlaybookRun:
    def __init__(self, rc, stdout, stderr, results):
        self.rc = rc
        self.stdout = stdout
        self.stderr = stderr
        self.results = results

    def _named(self, task_name):
        # A role's task is recorded as "role : name"; the playbooks' tasks live in roles.
        return [r for r in self.results if r["task"] == task_name or r["task"].endswith(" : " + task_name)]

    def result(self, task_name):
        """The result of the last task with this name."""
        matches = self._named(task_name)
        assert matches, "no task named %r ran; tasks: %s\n%s\n%s" % (
            task_name, [r["task"] for r in self.results], self.stdout[-3000:], self.stderr[-3000:])
        return matches[-1]["result"]

    def status(self, task_name):
        return self._named(task_name)[-1]["status"]

    def __repr__(self):
        return "PlaybookRun(rc=%s)\nSTDOUT:\n%s\nSTDERR:\n%s" % (self.rc, self.stdout[-4000:], self.stderr[-2000:])


def ansible_env(tmp_path, extra=None):
    env = dict(os.environ)
    env.update({
        "ANSIBLE_CALLBACK_PLUGINS": os.path.join(HERE, "callback_plugins"),
        "ANSIBLE_CALLBACKS_ENABLED": "nodewatch_capture",
        "ANSIBLE_NOCOLOR": "1",
        "ANSIBLE_FORCE_COLOR": "0",
        "ANSIBLE_RETRY_FILES_ENABLED": "0",
        "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
        "ANSIBLE_REMOTE_TEMP": str(tmp_path / "ansible-remote"),
        "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
        "ANSIBLE_INVENTORY_UNPARSED_WARNING": "0",
        "ANSIBLE_LOCALHOST_WARNING": "0",
        "ANSIBLE_DEPRECATION_WARNINGS": "0",
        "NODEWATCH_CAPTURE": str(tmp_path / "results.jsonl"),
    })
    # Tests must never reach a real cluster through the developer's own configuration.
    for name in list(env):
        if name.startswith("K8S_AUTH_"):
            del env[name]
    env["KUBECONFIG"] = str(tmp_path / "no-such-kubeconfig")
    env["HOME"] = str(tmp_path / "home")
    os.makedirs(env["HOME"], exist_ok=True)
    env.update(extra or {})
    return env


def run_playbook(tmp_path, plays, args=(), env=None, check=False, diff=False, extra_vars=None):
    """``plays`` is a list of plays (dicts) or a path to a playbook file."""
    if isinstance(plays, str) and not os.path.exists(plays) and "." in plays and "/" not in plays:
        playbook = plays  # FQCN such as nodewatch.k8s.audit
    elif isinstance(plays, str):
        playbook = plays
    else:
        playbook = str(tmp_path / "playbook.yml")
        with open(playbook, "w") as handle:
            yaml.safe_dump(plays, handle, sort_keys=False)
    capture = tmp_path / "results.jsonl"
    if capture.exists():
        capture.unlink()
    # No -i: the implicit localhost runs modules with this very interpreter.
    command = [os.path.join(BIN, "ansible-playbook"), playbook, *args]
    if check:
        command.append("--check")
    if diff:
        command.append("--diff")
    if extra_vars:
        command += ["-e", json.dumps(extra_vars)]
    proc = subprocess.run(command, cwd=str(tmp_path), env=ansible_env(tmp_path, env),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=600,
                          check=False)
    results = []
    if capture.exists():
        results = [json.loads(line) for line in capture.read_text().splitlines() if line.strip()]
    return PlaybookRun(proc.returncode, proc.stdout, proc.stderr, results)


def local_play(tasks, kubeconfig=None, module_defaults=None, vars=None):
    """A play on localhost whose nodewatch.k8s modules talk to the given kubeconfig."""
    defaults = dict(module_defaults or {})
    if kubeconfig:
        defaults.setdefault("kubeconfig", str(kubeconfig))
    play = {
        "hosts": "localhost",
        "connection": "local",
        "gather_facts": False,
        "vars": dict(vars or {}),
        "tasks": tasks,
    }
    if defaults:
        play["module_defaults"] = {"group/nodewatch.k8s.nodes": defaults}
    return [play]


def plain(value):
    """ansible-inventory writes data it does not trust as {"__ansible_unsafe": ...}; read it back."""
    if isinstance(value, dict):
        if set(value) == {"__ansible_unsafe"}:
            return value["__ansible_unsafe"]
        return dict((k, plain(v)) for k, v in value.items())
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value
