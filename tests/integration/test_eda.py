# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Event-Driven Ansible for real: ansible-rulebook (from PyPI, in ``.venv-eda``) runs the
collection's rulebooks with the collection installed by ``ansible-galaxy collection install``,
against the fake API server, a real containerd and a webhook receiver on 127.0.0.1.

Each rulebook run starts a JVM (Drools), so there are three: the event source firing the prune
playbook, the daemon's webhook firing it through ``eda.builtin.webhook``, and changes forwarded
to a webhook. Rulebooks that must end on their own are run from a copy whose rule also shuts the
rulebook down once its playbook has run, so the source's clean stop is checked too.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import os
import shutil
import socket
import subprocess
import sys
import time

import pytest
import yaml

from containerd_fixture import SANDBOX_IMAGE, OciImage, containerd, layer_payload  # noqa: F401 # pylint: disable=unused-import
from fakekube import FakeKube
from unit.plugins.module_utils.watcher.helpers import Receiver, free_port, make_node, set_images

from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.alerts import alert_text

pytestmark = pytest.mark.integration

GI = 1024 ** 3
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EDA_BIN = os.path.join(ROOT, ".venv-eda", "bin")
RULEBOOK = os.path.join(EDA_BIN, "ansible-rulebook")
EDA_PYTHON = os.path.join(EDA_BIN, "python")
RUN_TIMEOUT = 300


# -- what the tests need ---------------------------------------------------------------------------

@pytest.fixture(scope="module")
def rulebook_cli():
    """ansible-rulebook and Java; in CI their absence is a failure, elsewhere a skip."""
    missing = []
    if not os.access(RULEBOOK, os.X_OK):
        missing.append("ansible-rulebook (python3 -m venv .venv-eda && .venv-eda/bin/pip install -r "
                       "tests/requirements/eda.txt; ./dev test does it)")
    if not shutil.which("java"):
        missing.append("Java 17 or newer (Debian package openjdk-17-jre-headless)")
    if missing:
        message = "EDA tests need " + " and ".join(missing)
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return RULEBOOK


@pytest.fixture(scope="module")
def installed_collection(tmp_path_factory, rulebook_cli):
    """The collection built and installed as users do; returns its collections path."""
    work = tmp_path_factory.mktemp("collection")
    # Only the fresh install may be visible: the test run itself links this checkout as a collection.
    env = dict(os.environ, HOME=str(work), ANSIBLE_HOME=str(work / "ansible-home"),
               ANSIBLE_COLLECTIONS_PATH=str(work / "collections"))
    galaxy = os.path.join(EDA_BIN, "ansible-galaxy")
    galaxy_run([galaxy, "collection", "build", ROOT, "--output-path", str(work / "dist")], env)
    tarball = next((work / "dist").glob("nodewatch-k8s-*.tar.gz"))
    galaxy_run([galaxy, "collection", "install", str(tarball), "-p", str(work / "collections")], env)
    return str(work / "collections")


def galaxy_run(command, env):
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300, check=False,
                          stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, "%s failed:\n%s\n%s" % (" ".join(command), proc.stdout[-3000:], proc.stderr[-3000:])


def installed_path(collections, *parts):
    return os.path.join(collections, "ansible_collections", "nodewatch", "k8s", *parts)


@pytest.fixture
def kube():
    server = FakeKube(tls=True, bookmark_interval=0.5).start()
    server.add_nodes([make_node("node-a", [GI]), make_node("node-b", [2 * GI])])
    yield server
    server.stop()


class NodeScene:
    """A node's containerd: an image a stopped container uses, the sandbox image, an image the
    keep pattern protects, and an unused one (the only one a prune may remove)."""

    KEEP = "registry.test/keep/*"

    def __init__(self, daemon):
        daemon.reset()
        self.daemon = daemon
        daemon.import_image(OciImage([("pause", layer_payload("eda-pause", 700))]), [SANDBOX_IMAGE])
        daemon.import_image(OciImage([("app.bin", layer_payload("eda-app", 6000))]), ["registry.test/shop/app:2"])
        daemon.create_container("registry.test/shop/app:2", "app-stopped")
        daemon.import_image(OciImage([("tool", layer_payload("eda-tool", 3000))]), ["registry.test/keep/tool:1"])
        self.unused = daemon.import_image(OciImage([("cache", layer_payload("eda-cache", 9000))]),
                                          ["registry.test/batch/cache:7"])
        self.refs_before = daemon.refs()

    def refs_after_prune(self):
        return set(ref for ref in self.refs_before
                   if ref not in ("registry.test/batch/cache:7", self.unused.image_id))


def nodes_inventory(tmp_path, kubeconfig, daemon):
    """The nodes inventory of the fake cluster; every "node" is this machine, its containerd ours."""
    path = tmp_path / "cluster.nodes.yml"
    path.write_text(yaml.safe_dump({
        "plugin": "nodewatch.k8s.nodes",
        "kubeconfig": kubeconfig,
        "compose": {
            "ansible_connection": "'local'",
            "ansible_python_interpreter": repr(EDA_PYTHON),
            "nodewatch_prune_address": repr(daemon.socket),
            "nodewatch_prune_become": "false",
        },
    }))
    return str(path)


class RulebookRun:
    """``ansible-rulebook`` as a user starts it, output in a file."""

    def __init__(self, tmp_path, collections, rulebook, inventory, variables):
        self.tmp_path = tmp_path
        vars_file = tmp_path / "eda-vars.yml"
        vars_file.write_text(yaml.safe_dump(variables))
        self.log_path = tmp_path / "rulebook.log"
        env = dict(os.environ)
        for name in list(env):
            if name.startswith(("K8S_AUTH_", "ANSIBLE_")) or name in ("KUBECONFIG", "PYTHONPATH"):
                del env[name]
        env.update({
            # ansible-rulebook runs ansible-galaxy and ansible-playbook from PATH.
            "PATH": EDA_BIN + os.pathsep + env.get("PATH", ""),
            "ANSIBLE_COLLECTIONS_PATH": collections,
            "HOME": str(tmp_path / "home"),
            "ANSIBLE_HOME": str(tmp_path / "ansible-home"),
            "ANSIBLE_LOCAL_TEMP": str(tmp_path / "ansible-local"),
            "ANSIBLE_NOCOLOR": "1",
            "KUBECONFIG": str(tmp_path / "no-such-kubeconfig"),
        })
        os.makedirs(env["HOME"], exist_ok=True)
        self.started = time.monotonic()
        with open(str(self.log_path), "wb") as log:
            self.process = subprocess.Popen(
                [RULEBOOK, "--rulebook", rulebook, "--inventory", inventory, "--vars", str(vars_file), "-v"],
                cwd=str(tmp_path), env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)

    @property
    def output(self):
        return self.log_path.read_text(errors="replace")

    def check_alive(self):
        assert self.process.poll() is None, "ansible-rulebook ended (rc %s):\n%s" % (
            self.process.returncode, self.output[-6000:])

    def wait_until(self, predicate, what, timeout=RUN_TIMEOUT):
        deadline = time.monotonic() + timeout
        while not predicate():
            self.check_alive()
            assert time.monotonic() < deadline, "timed out waiting for %s:\n%s" % (what, self.output[-6000:])
            time.sleep(0.1)

    def wait(self, timeout=RUN_TIMEOUT):
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError("ansible-rulebook did not end:\n%s" % self.output[-6000:])

    def stop(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(30)

    def __repr__(self):
        return "RulebookRun(rc=%s, %.0fs)\n%s" % (self.process.poll(), time.monotonic() - self.started,
                                                  self.output[-6000:])


def ending_copy(tmp_path, collections, name):
    """The shipped rulebook, its rule followed by a shutdown: the run ends once the playbook ran."""
    with open(installed_path(collections, "extensions", "eda", "rulebooks", name)) as handle:
        rulesets = yaml.safe_load(handle)
    rule = rulesets[0]["rules"][0]
    rule["actions"] = [rule.pop("action"), {"shutdown": {"message": "test done", "delay": 5}}]
    path = tmp_path / ("ending-" + name)
    path.write_text(yaml.safe_dump(rulesets, sort_keys=False))
    return str(path)


def pruned_hosts(output):
    """Hosts of the prune playbook's recap lines (the play runs only on the event's node)."""
    recap = output.split("PLAY RECAP", 1)[1] if "PLAY RECAP" in output else ""
    return sorted(line.split()[0] for line in recap.splitlines()
                  if " : ok=" in line and "localhost" not in line.split()[0])


def assert_stopped_cleanly(run):
    output = run.output
    assert "Traceback" not in output, run
    assert "nodewatch.watcher - INFO - stopped" in output, run
    assert "nodewatch.eda.node_images - WARNING - still running" not in output, run


# -- the rulebooks --------------------------------------------------------------------------------

def test_prune_on_breach_prunes_the_node_that_crossed_a_limit(kube, containerd, installed_collection,  # noqa: F811
                                                              tmp_path):
    scene = NodeScene(containerd)
    kubeconfig = kube.write_kubeconfig(str(tmp_path / "kubeconfig"))
    run = RulebookRun(tmp_path, installed_collection, ending_copy(tmp_path, installed_collection, "prune_on_breach.yml"),
                      nodes_inventory(tmp_path, kubeconfig, containerd),
                      {"kubeconfig": kubeconfig, "nodewatch_thresholds": {"max_total_bytes": "5Gi"},
                       "nodewatch_prune_keep": [NodeScene.KEEP]})
    try:
        run.wait_until(kube.open_watches, "the event source to watch the nodes")
        assert scene.daemon.refs() == scene.refs_before  # no node is over the limit yet: nothing ran
        set_images(kube, "node-b", [4 * GI, 3 * GI])
        rc = run.wait()
    finally:
        run.stop()
    assert rc == 0, run
    output = run.output
    assert "node node-b: images occupy 7.0 GiB (limit 5.0 GiB)" in output, run
    assert "PLAY [Prune the container images no container uses]" in output, run
    assert pruned_hosts(output) == ["node-b"], run
    assert "Removed 1 images on 1 nodes" in output, run
    assert "Kubernetes API, read again: node node-b reports 2 images, 7.0 GiB" in output, run
    # Exactly the unused image went; the one in use, the sandbox and the kept pattern stayed.
    assert containerd.refs() == scene.refs_after_prune()
    assert_stopped_cleanly(run)


def test_the_daemons_webhook_drives_the_same_rule_through_the_webhook_source(kube, containerd,  # noqa: F811
                                                                              installed_collection, tmp_path):
    """``eda.builtin.webhook`` (shipped with ansible-rulebook; ansible.eda's webhook is the same
    code, but that collection is on no PyPI package) takes the daemon's POST as it is."""
    scene = NodeScene(containerd)
    kubeconfig = kube.write_kubeconfig(str(tmp_path / "kubeconfig"))
    set_images(kube, "node-a", [6 * GI])
    port = free_port()
    token = "eda-token-5f0c"
    run = RulebookRun(tmp_path, installed_collection, ending_copy(tmp_path, installed_collection, "prune_on_webhook.yml"),
                      nodes_inventory(tmp_path, kubeconfig, containerd),
                      {"kubeconfig": kubeconfig, "nodewatch_webhook_host": "127.0.0.1", "nodewatch_webhook_port": port,
                       "nodewatch_webhook_token": token, "nodewatch_prune_keep": [NodeScene.KEEP]})
    try:
        run.wait_until(lambda: port_open(port), "the webhook source to listen")
        config = tmp_path / "watcher.yml"
        config.write_text(yaml.safe_dump({
            "kubeconfig": kubeconfig, "thresholds": {"max_total_bytes": "5Gi"},
            "sinks": {"events": {"enabled": False}, "stdout": {"enabled": False},
                      "webhook": {"url": "http://127.0.0.1:%d/nodewatch" % port,
                                  "headers": {"Authorization": "Bearer " + token}, "kinds": ["threshold_crossed"]}},
        }))
        daemon = subprocess.run(
            [sys.executable, "-m", "ansible_collections.nodewatch.k8s.plugins.module_utils.watcher", "--once",
             "--config", str(config)],
            env=dict(os.environ, PYTHONPATH=installed_collection), capture_output=True, text=True, timeout=120,
            check=False)
        assert daemon.returncode == 0, daemon.stderr  # --once exits 0 only once the webhook took the alert
        rc = run.wait()
    finally:
        run.stop()
    assert rc == 0, run
    output = run.output
    assert pruned_hosts(output) == ["node-a"], run
    assert "Removed 1 images on 1 nodes" in output, run
    assert containerd.refs() == scene.refs_after_prune()
    assert token not in output


def port_open(port):
    with socket.socket() as sock:
        sock.settimeout(0.2)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def test_forward_changes_posts_the_daemons_webhook_body(kube, installed_collection, tmp_path):
    receiver = Receiver().start()
    kubeconfig = kube.write_kubeconfig(str(tmp_path / "kubeconfig"))
    inventory = tmp_path / "localhost.ini"
    inventory.write_text("localhost ansible_connection=local ansible_python_interpreter=%s\n" % EDA_PYTHON)
    run = RulebookRun(tmp_path, installed_collection, "nodewatch.k8s.forward_changes", str(inventory),
                      {"kubeconfig": kubeconfig, "nodewatch_forward_url": receiver.url,
                       "nodewatch_forward_headers": {"X-Receiver-Token": "hdr-secret-9d1"}})
    try:
        run.wait_until(kube.open_watches, "the event source to watch the nodes")
        set_images(kube, "node-a", [GI, 2 * GI])
        posts = receiver.wait_for(1, timeout=RUN_TIMEOUT)
    finally:
        run.stop()
        receiver.stop()
    body = posts[0]
    alert = dict(body["alert"])
    meta = alert.pop("meta")
    assert meta["source"]["type"] == "nodewatch.k8s.node_images"
    assert (alert["kind"], alert["node"], alert["old_bytes"], alert["new_bytes"]) == (
        "image_storage_changed", "node-a", GI, 3 * GI)
    assert body["text"] == alert_text(alert)  # the daemon's webhook text, word for word
    path, headers, _raw = receiver.requests[0]
    assert headers.get("X-Receiver-Token") == "hdr-secret-9d1"
    assert "SECRETTOKEN" not in run.output and "hdr-secret-9d1" not in run.output


def test_what_ansible_rulebook_shows_for_a_bad_argument(installed_collection, tmp_path):
    """ansible-rulebook's own source runner (no JVM needed for this part) and its log line."""
    script = r"""
import asyncio, logging, sys
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(name)s - %(levelname)s - %(message)s")
import os
from ansible_rulebook.conf import settings
from ansible_rulebook.engine import start_source
from ansible_rulebook.rule_types import EventSource
settings.ansible_galaxy_path = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
source = EventSource("bad", "node_images", {"min_change_bytes": "lots", "api_key": "secret-key-77"}, [])
try:
    asyncio.run(start_source(source, [sys.argv[1]], {}, asyncio.Queue(), shutdown_delay=0.1))
except Exception as exc:
    print("RAISED", type(exc).__name__)
"""
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=installed_collection, HOME=str(tmp_path))
    sources = installed_path(installed_collection, "extensions", "eda", "plugins", "event_source")
    proc = subprocess.run([EDA_PYTHON, "-c", script, sources],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=120, check=False)
    lines = [line for line in proc.stdout.splitlines() if "Source error" in line]
    assert len(lines) == 1, proc.stdout + proc.stderr
    assert ("NodeImagesSourceError: Source plugin failed with error message: 'nodewatch.k8s.node_images: "
            "min_change_bytes is not a size: invalid size 'lots'") in lines[0]
    assert "RAISED NodeImagesSourceError" in proc.stdout
    assert "secret-key-77" not in proc.stdout + proc.stderr
