"""The pruning engine, replaying what a real containerd answered (prune_recordings/busy_node.json).

The recordings come from the busy node scene of tests/integration/containerd_fixture.py
(prune_recordings/record.py): a check-mode run and a real run with ``keep=[KEEP]``. Each case
below replays them with one thing changed - an option, or one answer of containerd - and checks
the decision.
"""
import base64
import copy
import json
import os
import socket
import threading

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.images import prune
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.prune import (
    Ctr,
    PruneError,
    Pruner,
    chain_ids,
    check_socket,
    container_hints,
    find_ctr,
    normalize_reference,
    parse_content_ls,
    parse_images_ls,
    parse_sandbox_image,
    parse_snapshots_ls,
    prune_images,
)

HERE = os.path.dirname(os.path.abspath(__file__))
with open(os.path.join(HERE, "prune_recordings", "busy_node.json")) as _handle:
    RECORDED = json.load(_handle)

KEEP = "registry.test/keep/*"
SANDBOX = "registry.test/nodewatch/pause:3.9"
MIRROR_PAUSE = "registry.test/mirror/pause:3.8"
ADDRESS = "/run/containerd/containerd.sock"
# Real ctr 1.6 messages, captured on this project's test machine.
STDERR_PERMISSION = ('ctr: failed to dial "/run/containerd/containerd.sock": connection error: desc = "transport: error '
                     'while dialing: dial unix /run/containerd/containerd.sock: connect: permission denied"\n')
STDERR_REFUSED = ('ctr: failed to dial "/run/containerd/containerd.sock": connection error: desc = "transport: error '
                  'while dialing: dial unix /run/containerd/containerd.sock: connect: connection refused"\n')
STDERR_DEADLINE = ('ctr: failed to dial "/run/containerd/containerd.sock": context deadline exceeded: connection error: '
                   'desc = "transport: error while dialing: dial unix:///run/containerd/containerd.sock: timeout"\n')


def command_key(argv):
    """What identifies a command: ctr's arguments after its global flags, or containerd's."""
    if os.path.basename(argv[0]) == "ctr":
        return " ".join(argv[7:])
    return " ".join([os.path.basename(argv[0])] + [a for a in argv[1:] if not a.startswith("/")])


class Replay(object):
    """A runner answering from the recordings; ``changes`` maps a command (or a predicate on it)
    to ``(rc, stdout, stderr)`` or to a function of the recorded answer."""

    def __init__(self, calls, changes=None):
        self.answers = {}
        for call in calls:
            self.answers.setdefault(call["command"], []).append((call["rc"], call["stdout"], call["stderr"]))
        self.changes = changes or {}
        self.commands = []
        self.lock = threading.Lock()

    def __call__(self, argv, timeout):
        key = command_key(argv)
        with self.lock:
            self.commands.append(key)
            queue = self.answers.get(key)
            recorded = None
            if queue:
                recorded = queue.pop(0) if len(queue) > 1 else queue[0]
        change = self.changes.get(key)
        if change is None:
            for matcher, value in self.changes.items():
                if callable(matcher) and matcher(key):
                    change = value
        if callable(change):
            change = change(recorded, key)
        answer = change if change is not None else recorded
        assert answer is not None, "the engine ran a command nobody recorded: %s" % key
        rc, out, err = answer
        return rc, out.encode("utf-8"), err.encode("utf-8")


def pruner(replay, tmp_path, **options):
    config = tmp_path / "config.toml"
    config.write_text("version = 2\n")
    settings = {"keep": [KEEP], "containerd_path": "/usr/bin/containerd", "containerd_config": str(config)}
    settings.update(options)
    return Pruner(Ctr(replay, "/usr/bin/ctr", ADDRESS, "k8s.io", 60), **settings)


def run_check(tmp_path, changes=None, **options):
    replay = Replay(RECORDED["check"], changes)
    return pruner(replay, tmp_path, **options).run(check_mode=True), replay


def removed_names(result):
    return sorted(sorted(image["names"]) for image in result["removed"])


def kept_by_name(result):
    return dict((name, image) for image in result["kept"] for name in image["names"])


def recorded_answer(mode, command):
    for call in RECORDED[mode]:
        if call["command"] == command:
            return call["rc"], call["stdout"], call["stderr"]
    raise AssertionError("not recorded: %s" % command)


def image_line_digest(ref):
    for line in recorded_answer("check", "images ls")[1].splitlines()[1:]:
        if line.split()[0] == ref:
            return line.split()[2]
    raise AssertionError(ref)


def names_of_digest(digest):
    return sorted(line.split()[0] for line in recorded_answer("check", "images ls")[1].splitlines()[1:]
                  if line.split()[2] == digest)


def cri_container_info(container_id, image_ref=None, kind="container", snapshot_key=None):
    """``ctr containers info`` of a CRI-made container: no Image, the image ID in its metadata."""
    extension = "io.cri-containerd.%s.metadata" % ("sandbox" if kind == "sandbox" else "container")
    metadata = {"Version": "v1", "Metadata": {"ID": container_id, "Name": container_id, "SandboxID": "sb"}}
    if image_ref:
        metadata["Metadata"]["ImageRef"] = image_ref
    return json.dumps({
        "ID": container_id,
        "Labels": {"io.cri-containerd.kind": kind, "io.kubernetes.pod.namespace": "shop"},
        "Image": "",
        "Runtime": {"Name": "io.containerd.runc.v2"},
        "SnapshotKey": snapshot_key or container_id,
        "Snapshotter": "native",
        "Extensions": {extension: {
            "type_url": "github.com/containerd/cri/pkg/store/%s/Metadata" % ("sandbox" if kind == "sandbox" else "container"),
            "value": base64.b64encode(json.dumps(metadata).encode()).decode()}},
    })


def with_extra_container(container_id, info):
    def listing(recorded, _key):
        rc, out, err = recorded
        return rc, out + container_id + "\n", err
    return {"containers ls -q": listing, "containers info %s" % container_id: (0, info, "")}


def image_chain(ref, tmp_path):
    replay = Replay(RECORDED["check"])
    engine = pruner(replay, tmp_path)
    images = engine.images(set(parse_content_ls(recorded_answer("check", "content ls")[1])))
    return [image for image in images if ref in image.refs][0].chains


# -- what is decided -----------------------------------------------------------------------------

def test_the_recorded_node_removes_exactly_the_unused_images(tmp_path):
    result, _replay = run_check(tmp_path)
    assert removed_names(result) == RECORDED["removable"]
    assert result["estimated_bytes_freed"] == RECORDED["expected_freed"]
    kept = kept_by_name(result)
    assert kept["registry.test/shop/app:1.4"]["reasons"] == ["in_use"]
    assert kept["registry.test/shop/app:1.4"]["containers"] == ["app-stopped"]
    assert kept[SANDBOX]["reasons"] == ["sandbox"] and kept[SANDBOX]["sandbox_match"] == [SANDBOX]
    assert kept[MIRROR_PAUSE]["reasons"] == ["sandbox"] and kept[MIRROR_PAUSE]["sandbox_match"] == ["pause"]
    assert kept["registry.test/keep/tool:2"]["keep_patterns"] == [KEEP]
    assert kept["registry.test/shop/web:1"]["containers"] == ["web-created"]
    # The references of one image stay together: tags, the digest reference and the CRI's ID.
    app = kept["registry.test/shop/app:1.4"]["names"]
    assert app[:2] == ["registry.test/shop/app:1.4", "registry.test/shop/app:latest"]
    assert app[2].startswith("registry.test/shop/app@sha256:") and app[3].startswith("sha256:")
    assert result["changed"] is True and result["bytes_freed"] == 0
    assert result["content_bytes_before"] == result["content_bytes_after"]
    assert result["summary"] == ("would remove 3 of 9 images (about 42.0 KiB of content); kept 6: 3 in use, 1 keep, "
                                 "2 sandbox")


@pytest.mark.parametrize("case, options, changes, also_removed, no_longer_removed", [
    ("without the keep pattern", {"keep": []}, None, ["registry.test/keep/tool:2"], []),
    ("without sandbox name patterns", {"sandbox_patterns": []}, None, [MIRROR_PAUSE], []),
    ("a keep pattern on the short name", {"keep": [KEEP, "cache:*"]}, None, [], ["registry.test/batch/cache:7"]),
    ("a keep pattern on the CRI image ID", {"keep": [KEEP, "sha256:534c5d5d*"]}, None, [],
     ["sha256:534c5d5d950192e1b923c362443967a7c91265f2ebc3015f7a04cbc71dc512c5"]),
    ("no containers at all", {}, {"containers ls -q": (0, "", "")},
     ["registry.test/shop/app:1.4", "registry.test/shop/web:1", "registry.test/shop/web:2"], []),
    ("the sandbox image named by the option", {"sandbox_patterns": [], "sandbox_image": "registry.test/mirror/pause:3.8"},
     None, [], []),
    ("a short sandbox image name is completed like the CRI does", {"sandbox_patterns": [], "sandbox_image": "pause:3.8"},
     None, [MIRROR_PAUSE], []),
])
def test_options_and_containerd_answers_change_the_decision(tmp_path, case, options, changes, also_removed,
                                                            no_longer_removed):
    result, _replay = run_check(tmp_path, changes, **options)
    removed = set(name for image in result["removed"] for name in image["names"])
    baseline = set(name for names in RECORDED["removable"] for name in names)
    for name in also_removed:
        assert name in removed and name not in baseline, case
    for name in no_longer_removed:
        assert name not in removed and name in baseline, case
    grouped = [image for image in result["removed"] if set(image["names"]) & set(also_removed)]
    for image in grouped:  # removed whole, with every reference of the same content
        assert image["names"] == names_of_digest(image["digests"][0]) or set(image["names"]) >= set(
            names_of_digest(image["digests"][0])), case
    assert SANDBOX not in removed, case


def test_a_cri_container_holds_its_image_through_the_image_id_in_its_metadata(tmp_path):
    cache_id = [n for n in names_of_digest(image_line_digest("registry.test/batch/cache:7")) if n.startswith("sha256:")][0]
    info = cri_container_info("cri-1", image_ref=cache_id, snapshot_key="not-a-snapshot")
    result, _replay = run_check(tmp_path, with_extra_container("cri-1", info))
    kept = kept_by_name(result)
    assert kept["registry.test/batch/cache:7"]["reasons"] == ["in_use"]
    assert kept["registry.test/batch/cache:7"]["containers"] == ["cri-1"]
    assert result["containers"] == 3


def test_a_pod_sandbox_holds_an_old_pause_image_through_its_snapshot(tmp_path):
    chain = sorted(image_chain(MIRROR_PAUSE, tmp_path))[0]
    info = cri_container_info("sandbox-1", kind="sandbox")
    changes = with_extra_container("sandbox-1", info)

    def snapshots(recorded, _key):
        rc, out, err = recorded
        return rc, out + "sandbox-1  %s  Active\n" % chain, err
    changes["snapshots --snapshotter native ls"] = snapshots
    result, _replay = run_check(tmp_path, changes, sandbox_patterns=[])
    kept = kept_by_name(result)
    assert kept[MIRROR_PAUSE]["reasons"] == ["in_use"] and kept[MIRROR_PAUSE]["containers"] == ["sandbox-1"]


def test_an_image_the_cri_pinned_is_kept(tmp_path):
    def pin_cache(recorded, _key):
        rc, out, err = recorded
        lines = [line + " io.cri-containerd.pinned=pinned" if "batch/cache" in line else line for line in out.splitlines()]
        return rc, "\n".join(lines) + "\n", err
    result, _replay = run_check(tmp_path, {"images ls": pin_cache})
    assert kept_by_name(result)["registry.test/batch/cache:7"]["reasons"] == ["pinned"]


def test_an_image_whose_content_is_gone_or_unreadable_is_kept(tmp_path):
    cache_digest = image_line_digest("registry.test/batch/cache:7")
    job_digest = image_line_digest([n for n in RECORDED["removable"] if len(n) == 1][0][0])

    def drop_job(recorded, _key):
        rc, out, err = recorded
        return rc, "".join(line + "\n" for line in out.splitlines() if not line.startswith(job_digest)), err
    changes = {
        "content get %s" % cache_digest: (1, "", "ctr: content digest %s: not found\n" % cache_digest),
        "content ls": drop_job,
    }
    result, _replay = run_check(tmp_path, changes)
    kept = kept_by_name(result)
    assert kept["registry.test/batch/cache:7"]["reasons"] == ["unreadable"]
    assert "left the content store" in kept["registry.test/batch/cache:7"]["problem"]
    job = [image for image in result["kept"] if image["digests"] == [job_digest]][0]
    assert job["reasons"] == ["unreadable"] and "is not in the content store" in job["problem"]
    assert removed_names(result) == [names for names in RECORDED["removable"] if "registry.test/shop/app:1.3" in names]


def test_when_the_configuration_cannot_be_read_the_name_patterns_still_keep_the_sandbox(tmp_path):
    changes = {"containerd --config config dump": (1, "", "containerd: failed to load TOML: bad value\n")}
    result, _replay = run_check(tmp_path, changes)
    assert kept_by_name(result)[SANDBOX]["sandbox_match"] == ["pause"]
    assert result["sandbox_images"] == [] and result["sandbox_image_sources"] == []
    assert result["notes"] == ["containerd's sandbox image was not read (--config config.toml config dump: containerd: "
                               "failed to load TOML: bad value); images matching sandbox_patterns (and sandbox_image) "
                               "are kept".replace("config.toml", str(tmp_path / "config.toml"))]


def test_without_a_configuration_file_containerd_defaults_are_read(tmp_path):
    replay = Replay(RECORDED["check"], {"containerd config default": recorded_answer("check",
                                                                                     "containerd --config config dump")})
    engine = pruner(replay, tmp_path, containerd_config=str(tmp_path / "absent.toml"))
    result = engine.run(check_mode=True)
    assert "containerd config default" in replay.commands
    assert result["sandbox_images"] == [SANDBOX]


# -- the removal -----------------------------------------------------------------------------------

def run_real(tmp_path, changes=None, **options):
    replay = Replay(RECORDED["real"], changes)
    return pruner(replay, tmp_path, **options).run(check_mode=False), replay


def test_the_recorded_removal_measures_the_bytes_freed(tmp_path):
    result, replay = run_real(tmp_path)
    assert removed_names(result) == RECORDED["removable"]
    assert result["bytes_freed"] == RECORDED["expected_freed"] == result["estimated_bytes_freed"]
    assert result["content_bytes_before"] - result["content_bytes_after"] == result["bytes_freed"]
    # Three blobs each (manifest, config, layer): the old app's base layer stays with the app in use.
    assert result["content_blobs_before"] - result["content_blobs_after"] == 9
    assert result["changed"] is True and result["errors"] == [] and result["images_after"] == 6
    removal = [c for c in replay.commands if c.startswith("images rm")]
    assert len(removal) == 1
    refs = removal[0].split()[3:]
    # Names before the CRI's bare IDs, and the last one deleted waits for garbage collection.
    assert [r.startswith("sha256:") for r in refs] == sorted(r.startswith("sha256:") for r in refs)
    assert removal[0].startswith("images rm --sync ")
    assert "leases create" not in replay.commands


def test_a_container_created_during_the_run_spares_its_image(tmp_path):
    info = json.dumps({"ID": "late", "Image": "registry.test/batch/cache:7", "SnapshotKey": "late",
                       "Snapshotter": "native", "Labels": {}})
    listings = []

    def second_listing_has_late(recorded, _key):
        listings.append(1)
        rc, out, err = recorded
        return (rc, out + "late\n", err) if len(listings) > 1 else recorded

    def removal(_recorded, key):
        return 0, "\n".join(key.split()[3:]) + "\n", ""
    changes = {"containers ls -q": second_listing_has_late, "containers info late": (0, info, ""),
               (lambda key: key.startswith("images rm")): removal}
    result, replay = run_real(tmp_path, changes)
    assert "registry.test/batch/cache:7" not in [c for c in replay.commands if c.startswith("images rm")][0]
    assert kept_by_name(result)["registry.test/batch/cache:7"]["containers"] == ["late"]


def test_an_image_containerd_keeps_fails_the_run_and_is_named(tmp_path):
    before = recorded_answer("real", "images ls")[1]
    lines = before.splitlines()
    cache = image_line_digest("registry.test/batch/cache:7")
    after_lines = [lines[0]] + [line for line in lines[1:] if line.split()[0] not in
                                set(n for names in RECORDED["removable"] for n in names) or line.split()[2] == cache]
    answers = iter([(0, before, ""), (0, "\n".join(after_lines) + "\n", "")])
    refused = (1, "", "ctr: unable to delete registry.test/batch/cache:7: lease in use\n")
    changes = {"images ls": lambda _recorded, _key: next(answers),
               (lambda key: key.startswith("images rm")): refused,
               "leases create": (0, "lease-1\n", ""), "leases rm --sync lease-1": (0, "", "")}
    result, replay = run_real(tmp_path, changes)
    assert "leases rm --sync lease-1" in replay.commands  # the last deletion did not collect: collected after
    assert len(result["errors"]) == 1
    assert result["errors"][0].startswith("registry.test/batch/cache:7, registry.test/batch/cache:stable, sha256:")
    assert "ctr images rm failed (exit 1): ctr: unable to delete registry.test/batch/cache:7: lease in use" in \
        result["errors"][0]
    assert kept_by_name(result)["registry.test/batch/cache:7"]["reasons"] == ["failed"]
    assert len(result["removed"]) == 2 and result["changed"] is True


# -- parsing what ctr prints -----------------------------------------------------------------------

def test_recorded_listings_parse():
    images = parse_images_ls(recorded_answer("check", "images ls")[1])
    # 9 images: 11 names (10 tags and the app's digest reference) and the 9 CRI IDs.
    assert len(images) == 20 and all(i["digest"].startswith("sha256:") for i in images)
    assert len(set(i["digest"] for i in images)) == 9
    assert set(i["media_type"] for i in images) == {"application/vnd.oci.image.manifest.v1+json"}
    content = parse_content_ls(recorded_answer("check", "content ls")[1])
    # 9 manifests, 9 configs, 10 layers (the base layer is shared).
    assert len(content) == 28 and all(size > 0 for size in content.values())
    snapshots = parse_snapshots_ls(recorded_answer("check", "snapshots --snapshotter native ls")[1])
    assert snapshots["app-stopped"].startswith("sha256:") and snapshots["web-created"].startswith("sha256:")


def test_chain_ids_match_the_snapshots_containerd_made(tmp_path):
    # The app image has two layers: its chain ID is computed, not a layer digest.
    chain = sorted(image_chain("registry.test/shop/app:1.4", tmp_path))[0]
    snapshots = parse_snapshots_ls(recorded_answer("check", "snapshots --snapshotter native ls")[1])
    assert snapshots["app-stopped"] == chain
    assert chain_ids(["sha256:a"]) == ["sha256:a"]


def test_unexpected_output_is_a_sentence():
    with pytest.raises(PruneError, match="unexpected output from ctr images ls"):
        parse_images_ls("NAME SIZE\nfoo 1\n")
    with pytest.raises(PruneError, match="unexpected line from ctr images ls"):
        parse_images_ls("REF TYPE DIGEST SIZE PLATFORMS LABELS\nfoo bar baz\n")


@pytest.mark.parametrize("text, expected", [
    ('version = 2\n[plugins."io.containerd.grpc.v1.cri"]\n  sandbox_image = "registry.k8s.io/pause:3.6"\n',
     "registry.k8s.io/pause:3.6"),
    ("version = 3\n[plugins.'io.containerd.cri.v1.images'.pinned_images]\n  sandbox = 'registry.k8s.io/pause:3.10'\n",
     "registry.k8s.io/pause:3.10"),
    ('[plugins."io.containerd.grpc.v1.cri"]\n  # sandbox_image = "old/pause:1"\n', None),
    ('[plugins."io.containerd.other"]\n  sandbox_image = "not/cri:1"\n', None),
    ("", None),
])
def test_sandbox_image_from_the_configuration(text, expected):
    assert parse_sandbox_image(text) == expected


def test_sandbox_image_of_the_recorded_configuration():
    assert parse_sandbox_image(recorded_answer("check", "containerd --config config dump")[1]) == SANDBOX


@pytest.mark.parametrize("ref, expected", [
    ("pause:3.9", "docker.io/library/pause:3.9"),
    ("rancher/mirrored-pause:3.6", "docker.io/rancher/mirrored-pause:3.6"),
    ("registry.k8s.io/pause", "registry.k8s.io/pause:latest"),
    ("localhost:5000/pause:1", "localhost:5000/pause:1"),
    ("localhost/pause", "localhost/pause:latest"),
    ("pause@sha256:" + "a" * 64, "docker.io/library/pause@sha256:" + "a" * 64),
    ("sha256:" + "b" * 64, "sha256:" + "b" * 64),
])
def test_references_are_completed_like_the_cri_does(ref, expected):
    assert normalize_reference(ref) == expected


def test_container_hints_read_both_ctr_and_cri_containers():
    info = json.loads(recorded_answer("check", "containers info app-stopped")[1])
    hints = container_hints(info)
    assert hints["image"] == "registry.test/shop/app:1.4" and hints["snapshot_key"] == "app-stopped"
    cri = container_hints(json.loads(cri_container_info("c", image_ref="sha256:" + "c" * 64)))
    assert cri["image"] is None and cri["cri_image_ref"] == "sha256:" + "c" * 64 and cri["snapshot_key"] == "c"
    broken = copy.deepcopy(json.loads(cri_container_info("c", image_ref="x")))
    broken["Extensions"]["io.cri-containerd.container.metadata"]["value"] = "not base64 json"
    assert container_hints(broken)["cri_image_ref"] is None


# -- errors ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("stderr, expected", [
    (STDERR_PERMISSION, "permission denied on the containerd socket %s: this user may not use containerd; run the task "
                        "as root (become: true)" % ADDRESS),
    (STDERR_REFUSED, "nothing answers on the containerd socket %s (connection refused): containerd is not running"
                     % ADDRESS),
    (STDERR_DEADLINE, "containerd at %s did not answer within 60 seconds (ctr images ls)" % ADDRESS),
    ("ctr: something new\n", "ctr images ls failed (exit 1): ctr: something new"),
])
def test_what_ctr_says_becomes_a_sentence(stderr, expected):
    replay = Replay([], {"content ls": (1, "", stderr), "images ls": (1, "", stderr)})
    with pytest.raises(PruneError) as failure:
        Ctr(replay, "/usr/bin/ctr", ADDRESS, "k8s.io", 60).text("images", "ls")
    assert str(failure.value).startswith(expected)


def test_a_ctr_that_cannot_run_or_hangs_is_a_sentence():
    def missing(argv, timeout):
        raise FileNotFoundError(2, "No such file or directory")

    def hangs(argv, timeout):
        raise prune.CommandTimeout("ctr ran longer than %ss" % timeout)

    with pytest.raises(PruneError, match=r"cannot run ctr at /opt/ctr \(option ctr_path\): No such file or directory"):
        Ctr(missing, "/opt/ctr", ADDRESS, "k8s.io", 5).text("images", "ls")
    with pytest.raises(PruneError, match=r"did not answer within 5 seconds \(ctr images ls\).*raise timeout"):
        Ctr(hangs, "/usr/bin/ctr", ADDRESS, "k8s.io", 5).text("images", "ls")
    with pytest.raises(PruneError, match="printed something that is not JSON"):
        Ctr(lambda argv, timeout: (0, b"<html>", b""), "/usr/bin/ctr", ADDRESS, "k8s.io", 5).json("version")


def test_the_real_runner_kills_what_runs_too_long():
    with pytest.raises(prune.CommandTimeout):
        prune.run_command(["sleep", "5"], 0.2)
    assert prune.run_command(["sh", "-c", "echo out; echo err >&2; exit 3"], 5) == (3, b"out\n", b"err\n")


def test_sockets_are_checked_before_ctr_waits_on_them(tmp_path):
    with pytest.raises(PruneError, match=r"no containerd socket at %s \(option address\)" % (tmp_path / "none.sock")):
        check_socket(str(tmp_path / "none.sock"))
    regular = tmp_path / "regular"
    regular.write_text("")
    with pytest.raises(PruneError, match="is not a socket; set address"):
        check_socket("unix://" + str(regular))
    listening = socket.socket(socket.AF_UNIX)
    try:
        listening.bind(str(tmp_path / "ok.sock"))
        check_socket(str(tmp_path / "ok.sock"))
    finally:
        listening.close()
    check_socket("tcp://127.0.0.1:1")  # not a path: ctr says what is wrong with it


def test_ctr_is_found_or_named(tmp_path, monkeypatch):
    script = tmp_path / "ctr"
    script.write_text("#!/bin/sh\n")
    with pytest.raises(PruneError, match="ctr_path %s is not an executable file" % script):
        find_ctr(str(script))
    script.chmod(0o755)
    assert find_ctr(str(script)) == str(script)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert find_ctr("ctr") == str(script)
    with pytest.raises(PruneError, match="ctr_path nerdctl was not found on PATH"):
        find_ctr("nerdctl")
    monkeypatch.setattr(prune, "CTR_SEARCH_DIRS", (str(tmp_path / "nowhere"),))
    monkeypatch.setenv("PATH", str(tmp_path / "empty"))
    with pytest.raises(PruneError, match="containerd's client ctr was not found on this node"):
        find_ctr(None)


@pytest.mark.parametrize("options, message", [
    ({"timeout": 0}, "timeout must be a positive number of seconds, got 0"),
    ({"timeout": True}, "timeout must be a positive number of seconds, got True"),
    ({"namespace": " "}, "namespace must name a containerd namespace"),
    ({"address": ""}, "address must be the path of containerd's socket"),
    ({"keep": "nginx*"}, "keep must be a list of glob patterns, got 'nginx*'"),
    ({"keep": [""]}, "keep: every pattern must be a non-empty string, got ''"),
    ({"sandbox_patterns": [None]}, "sandbox_patterns: every pattern must be a non-empty string, got None"),
    ({"sandbox_image": " "}, "sandbox_image must be an image reference"),
])
def test_bad_options_are_sentences(tmp_path, options, message):
    listening = socket.socket(socket.AF_UNIX)
    listening.bind(str(tmp_path / "c.sock"))
    ctr = tmp_path / "ctr"
    ctr.write_text("#!/bin/sh\n")
    ctr.chmod(0o755)
    settings = {"address": str(tmp_path / "c.sock"), "ctr_path": str(ctr), "runner": Replay(RECORDED["check"])}
    settings.update(options)
    try:
        with pytest.raises(PruneError) as failure:
            prune_images(**settings)
    finally:
        listening.close()
    assert str(failure.value).startswith(message)
