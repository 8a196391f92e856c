"""The collection as users get it: build the tarball, install it elsewhere, read every plugin's docs."""
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.integration

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BIN = os.path.dirname(sys.executable)


def plugin_names(kind):
    folder = os.path.join(ROOT, "plugins", kind)
    if not os.path.isdir(folder):
        return []
    return sorted("nodewatch.k8s." + f[:-3] for f in os.listdir(folder)
                  if f.endswith(".py") and not f.startswith("_"))


def run(command, env=None, cwd=None):
    proc = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, check=False,
                          stdin=subprocess.DEVNULL, timeout=300)
    assert proc.returncode == 0, "%s failed:\n%s\n%s" % (command, proc.stdout[-3000:], proc.stderr[-3000:])
    return proc


def test_built_tarball_installs_and_documents_every_plugin(tmp_path):
    build_dir = tmp_path / "dist"
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "build", ROOT, "--output-path", str(build_dir)])
    tarballs = list(build_dir.glob("nodewatch-k8s-*.tar.gz"))
    assert len(tarballs) == 1
    listing = run(["tar", "-tzf", str(tarballs[0])]).stdout.split()
    assert not [name for name in listing if name.startswith(("tests/", ".venv", ".build", ".git/"))], \
        "build_ignore lets test or local files into the tarball"
    assert "plugins/modules/node.py" in listing and "meta/runtime.yml" in listing

    install_dir = tmp_path / "installed"
    # Only the fresh install may be visible: the test run itself links this checkout as a collection.
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=str(install_dir), HOME=str(tmp_path))
    run([os.path.join(BIN, "ansible-galaxy"), "collection", "install", str(tarballs[0]), "-p", str(install_dir)],
        env=env)
    installed = install_dir / "ansible_collections" / "nodewatch" / "k8s"
    assert (installed / "MANIFEST.json").exists()

    for kind, folder in (("module", "modules"), ("inventory", "inventory")):
        names = plugin_names(folder)
        if not names:
            continue
        proc = run([os.path.join(BIN, "ansible-doc"), "-t", kind, "--json"] + names, env=env, cwd=str(tmp_path))
        for name in names:
            assert name in proc.stdout, "ansible-doc shows no documentation for %s" % name
        assert "Missing documentation" not in proc.stderr
    listed = run([os.path.join(BIN, "ansible-doc"), "-t", "module", "-l", "nodewatch.k8s"], env=env, cwd=str(tmp_path))
    for name in plugin_names("modules"):
        assert name in listed.stdout
