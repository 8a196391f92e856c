"""nodewatch.k8s.node_image_prune through ansible-playbook, against a real containerd.

The scene (``containerd_fixture.Scene``, built fresh for each test in the fixture's own
containerd) has every kind of image the module must tell apart; it says which must go and
computes the bytes that frees from the blobs the test itself built, so the module's numbers are
checked against the truth, not against themselves.
"""
import json
import os
import pathlib
import shutil
import socket
import subprocess
import tempfile

import pytest

from containerd_fixture import KEEP, SANDBOX_IMAGE, Scene, containerd  # noqa: F401  pylint: disable=unused-import
from harness import BIN, PlaybookRun, ansible_env, local_play, run_playbook

pytestmark = pytest.mark.integration


@pytest.fixture
def scene(containerd):  # noqa: F811 (the fixture imported above)
    return Scene(containerd)


def prune_task(daemon, name="prune", **options):
    args = {"address": daemon.socket, "containerd_config": daemon.config, "keep": [KEEP]}
    args.update(options)
    return {"name": name, "nodewatch.k8s.node_image_prune": args, "register": name}


def names_of(images):
    return sorted(tuple(sorted(image["names"])) for image in images)


def test_check_mode_lists_exactly_the_unused_images_and_removes_nothing(scene, tmp_path):
    removal_map = dict((tuple(sorted(scene.refs_of(image))), image) for image in scene.removable)
    assert all(removal_map), "every removable image has references"

    other_options = prune_task(scene.daemon, "other_options", keep=[], sandbox_patterns=[],
                               sandbox_image="registry.test/mirror/pause:3.8")
    run = run_playbook(tmp_path, local_play([prune_task(scene.daemon), other_options]), check=True, diff=True)
    assert run.rc == 0, run
    result = run.result("prune")

    assert scene.daemon.refs() == scene.refs_before, "check mode removed something"
    assert result["changed"] is True
    assert names_of(result["removed"]) == sorted(removal_map)
    for image in result["removed"]:
        built = removal_map[tuple(sorted(image["names"]))]
        assert image["size_bytes"] == built.size
        assert image["digests"] == [built.digest] and image["id"] == built.image_id
    assert result["estimated_bytes_freed"] == scene.expected_freed()
    assert result["bytes_freed"] == 0
    assert result["content_bytes_after"] == result["content_bytes_before"] == scene.daemon.content_bytes()
    assert result["images_before"] == 9 and result["images_after"] == 6
    assert "would remove 3 of 9 images" in result["summary"]
    # The diff lists every image before, and the survivors after.
    assert len(result["diff"]["before"].splitlines()) == 9
    after = result["diff"]["after"]
    assert "registry.test/batch/cache:7" not in after and "registry.test/shop/app:1.4" in after
    assert "registry.test/batch/cache:7" in run.stdout  # --diff shows it

    # Without the keep pattern and the name patterns, with the old pause image named instead.
    other = run.result("other_options")
    removed = set(name for image in other["removed"] for name in image["names"])
    assert "registry.test/keep/tool:2" in removed
    assert "registry.test/mirror/pause:3.8" not in removed and SANDBOX_IMAGE not in removed
    assert other["sandbox_images"] == sorted(["registry.test/mirror/pause:3.8", SANDBOX_IMAGE])
    assert scene.daemon.refs() == scene.refs_before


def test_prune_removes_exactly_the_unused_images_and_a_second_run_changes_nothing(scene, tmp_path):
    expected_gone = set()
    for image in scene.removable:
        expected_gone |= scene.refs_of(image)
    assert any(ref.startswith("sha256:") for ref in expected_gone), "the CRI's id references are part of the scene"
    content_before = scene.daemon.content_bytes()

    run = run_playbook(tmp_path, local_play([prune_task(scene.daemon, "first"), prune_task(scene.daemon, "second")]))
    assert run.rc == 0, run
    first, second = run.result("first"), run.result("second")

    refs_after = scene.daemon.refs()
    assert refs_after == scene.refs_before - expected_gone
    assert scene.daemon.containers() == {"app-stopped", "web-created"}
    assert first["changed"] is True
    assert len(first["removed"]) == 3

    content_after = scene.daemon.content_bytes()
    assert first["bytes_freed"] == scene.expected_freed() > 0
    assert first["bytes_freed"] == content_before - content_after
    assert (first["content_bytes_before"], first["content_bytes_after"]) == (content_before, content_after)
    assert first["estimated_bytes_freed"] == first["bytes_freed"]
    for image in first["removed"]:
        if "registry.test/shop/app:1.3" in image["names"]:
            # Its base layer stays with the app in use: removing it frees its own blobs only.
            assert image["exclusive_bytes"] < image["size_bytes"] == scene.old_app.size

    kept = dict((tuple(sorted(image["names"])), image) for image in first["kept"])
    reasons = dict((name, image["reasons"]) for names, image in kept.items() for name in names)
    assert reasons["registry.test/shop/app:latest"] == ["in_use"]
    assert kept[tuple(sorted(scene.refs_of(scene.app)))]["containers"] == ["app-stopped"]
    assert reasons[SANDBOX_IMAGE] == ["sandbox"]
    assert reasons["registry.test/mirror/pause:3.8"] == ["sandbox"]
    assert reasons["registry.test/keep/tool:2"] == ["keep"]
    assert kept[tuple(sorted(scene.refs_of(scene.kept)))]["keep_patterns"] == [KEEP]
    assert reasons[scene.web_old.image_id] == ["in_use"]  # found through the container's snapshot
    assert reasons["registry.test/shop/web:1"] == ["in_use"]  # named by the container
    assert first["sandbox_images"] == [SANDBOX_IMAGE] and first["sandbox_image_sources"] == ["containerd config"]
    assert first["containers"] == 2 and first["errors"] == [] and first["notes"] == []

    assert second["changed"] is False
    assert second["removed"] == [] and second["bytes_freed"] == 0
    assert scene.daemon.refs() == refs_after


def test_a_node_without_containerd_or_with_a_dead_one_gets_a_sentence(containerd, tmp_path):  # noqa: F811
    """Other bad settings are covered by the unit tests; these need the module end to end."""
    missing = str(tmp_path / "nothing.sock")
    stale = containerd.socket + ".stale"
    # A socket nothing listens on any more, as after containerd crashed.
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(stale)
    listener.close()
    tasks = [{"name": "missing socket", "nodewatch.k8s.node_image_prune": {"address": missing}, "ignore_errors": True},
             {"name": "stale socket", "nodewatch.k8s.node_image_prune": {"address": stale}, "ignore_errors": True},
             {"name": "unknown namespace", "nodewatch.k8s.node_image_prune": {
                 "address": containerd.socket, "namespace": "no-such-namespace", "containerd_config": containerd.config}}]
    try:
        run = run_playbook(tmp_path, local_play(tasks))
    finally:
        os.unlink(stale)
    assert run.rc == 0, run
    for name in ("missing socket", "stale socket"):
        result = run.result(name)
        assert run.status(name) == "failed", (name, result)
        assert "module_stderr" not in result and "Traceback" not in str(result.get("exception", "")), (name, result)
    assert run.result("missing socket")["msg"] == (
        "no containerd socket at %s (option address): containerd is not running on this node, or it listens elsewhere; "
        "start containerd, or set address to its socket (k3s: /run/k3s/containerd/containerd.sock)" % missing)
    assert run.result("stale socket")["msg"] == (
        "nothing answers on the containerd socket %s (connection refused): containerd is not running, or address "
        "points at a stale socket; start containerd or fix address" % stale)
    unknown = run.result("unknown namespace")
    assert unknown["changed"] is False and unknown["images_before"] == 0
    assert any(note.startswith("containerd has no namespace no-such-namespace (option namespace)") for note in unknown["notes"])
    assert "Traceback" not in run.stdout + run.stderr


SYSTEM_PYTHON = "/usr/bin/python3"


@pytest.mark.skipif(shutil.which("setpriv") is None or not os.path.exists(SYSTEM_PYTHON),
                    reason="setpriv (util-linux) and %s are needed to run as another user" % SYSTEM_PYTHON)
def test_a_user_who_may_not_use_the_socket_is_told_to_become_root(containerd):  # noqa: F811
    if os.geteuid() != 0:
        pytest.skip("needs root to run the playbook as an unprivileged user")
    # That user runs this checkout's ansible-playbook: a checkout under a private directory (mktemp -d
    # makes it 0700) is out of its reach, which says nothing about the module.
    playbook_bin = os.path.join(BIN, "ansible-playbook")
    reachable = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", SYSTEM_PYTHON, "-c",
                                "import os, sys; sys.exit(not os.access(sys.argv[1], os.R_OK | os.X_OK))",
                                playbook_bin], check=False).returncode == 0
    if not reachable:
        pytest.skip("user 65534 cannot read %s: the checkout lies in a directory only root may enter" % playbook_bin)
    # Everything the unprivileged run writes lives in a directory it owns.
    home = tempfile.mkdtemp(prefix="nwprune-nobody-")
    try:
        os.chmod(home, 0o777)
        playbook = os.path.join(home, "playbook.yml")
        with open(playbook, "w") as handle:
            # The system's python3, as on a node: the module needs nothing beyond the standard library.
            json.dump(local_play([{"name": "prune", "nodewatch.k8s.node_image_prune": {"address": containerd.socket},
                                   "ignore_errors": True}], vars={"ansible_python_interpreter": SYSTEM_PYTHON}), handle)
        env = ansible_env(pathlib.Path(home))
        command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups",
                   os.path.join(BIN, "ansible-playbook"), playbook]
        proc = subprocess.run(command, cwd=home, env=env, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=300, check=False)
        capture = os.path.join(home, "results.jsonl")
        results = []
        if os.path.exists(capture):
            with open(capture) as handle:
                results = [json.loads(line) for line in handle if line.strip()]
        run = PlaybookRun(proc.returncode, proc.stdout, proc.stderr, results)
        assert run.rc == 0, run
        result = run.result("prune")
        assert run.status("prune") == "failed" and "module_stderr" not in result, result
        assert result["msg"] == (
            "permission denied on the containerd socket %s: this user may not use containerd; run the task as root "
            "(become: true) or as a user allowed to use that socket" % containerd.socket)
    finally:
        shutil.rmtree(home, ignore_errors=True)
