"""Record what a real containerd answers during a prune, for test_prune.py to replay.

    sudo .venv/bin/python tests/unit/plugins/module_utils/images/prune_recordings/record.py

starts a containerd of its own (tests/integration/containerd_fixture.py), builds the busy node
scene there, runs the engine in check mode and for real with ``keep=[KEEP]``, and writes every
command it ran, with containerd's answers, to busy_node.json. Run it again to refresh the
recordings for a new containerd release.
"""
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", "..", "..", "..", ".."))
sys.path[:0] = [os.path.join(ROOT, "tests", "integration"), os.path.join(ROOT, ".build", "collections")]

from containerd_fixture import KEEP, Containerd, Scene  # noqa: E402 pylint: disable=wrong-import-position
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.prune import (  # noqa: E402 pylint: disable=wrong-import-position
    prune_images,
    run_command,
)

# The daemon's temporary directory, replaced in the recordings so they do not change per run.
RECORDED_ROOT = "/var/lib/nodewatch-recorded"


def command_key(argv):
    """What identifies a command: ctr's arguments after its global flags, or containerd's."""
    if os.path.basename(argv[0]) == "ctr":
        return " ".join(argv[7:])
    return " ".join([os.path.basename(argv[0])] + [a for a in argv[1:] if not a.startswith("/")])


def recorder(calls, root):
    def run(argv, timeout):
        rc, out, err = run_command(argv, timeout)
        calls.append({"command": command_key(argv), "rc": rc,
                      "stdout": out.decode("utf-8").replace(root, RECORDED_ROOT),
                      "stderr": err.decode("utf-8").replace(root, RECORDED_ROOT)})
        return rc, out, err
    return run


def main():
    daemon = Containerd().start()
    try:
        scene = Scene(daemon)
        recordings = {"containerd": daemon.ctr("version").split("Server:")[-1].split()[1],
                      "removable": sorted(sorted(scene.refs_of(image)) for image in scene.removable),
                      "expected_freed": scene.expected_freed()}
        for mode in ("check", "real"):
            calls = []
            result = prune_images(address=daemon.socket, keep=[KEEP], containerd_config=daemon.config,
                                  check_mode=mode == "check", runner=recorder(calls, daemon.root))
            recordings[mode] = calls
            print("%s: %s" % (mode, result["summary"]))
        with open(os.path.join(HERE, "busy_node.json"), "w") as handle:
            json.dump(recordings, handle, indent=1, sort_keys=True)
            handle.write("\n")
    finally:
        daemon.stop()


if __name__ == "__main__":
    main()
