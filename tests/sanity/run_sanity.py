"""Run ``ansible-test sanity`` on a copy of this checkout.

ansible-test insists on a real directory named ``ansible_collections/<ns>/<name>`` (a symlink
is refused), so the tracked files are copied to ``.build/sanity/`` first. Offline, ansible-test
cannot download get-pip.py for the virtual environments of its import test; it looks in its
cache first, so a small stand-in there bootstraps pip with ``ensurepip`` instead.
"""
import os
import shutil
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEST = os.path.join(ROOT, ".build", "sanity", "ansible_collections", "nodewatch", "k8s")
BIN = os.path.dirname(sys.executable)

GET_PIP_STANDIN = '''\
"""Stand-in for get-pip.py on offline machines: bootstrap pip with ensurepip, then install."""
import subprocess
import sys

subprocess.check_call([sys.executable, "-m", "ensurepip", "--upgrade"])
# get-pip.py's own flags mean nothing to pip itself.
GET_PIP_ONLY = ("--disable-pip-version-check", "--no-setuptools", "--no-wheel")
args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
if args:
    subprocess.check_call([sys.executable, "-m", "pip", "install", "--disable-pip-version-check"] + args)
'''


def collection_files():
    out = subprocess.check_output(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard", "-z"], cwd=ROOT)
    return [f for f in out.decode().split("\0") if f and os.path.exists(os.path.join(ROOT, f))]


def copy_tree():
    if os.path.exists(DEST):
        shutil.rmtree(DEST)
    for relative in collection_files():
        target = os.path.join(DEST, relative)
        os.makedirs(os.path.dirname(target), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, relative), target)
    # ansible-test lists files through git when it finds a repository: give it one.
    subprocess.check_call(["git", "init", "-q"], cwd=DEST)
    subprocess.check_call(["git", "add", "-A"], cwd=DEST)


def install_get_pip_standin():
    cache = os.path.expanduser("~/.ansible/test/cache")
    os.makedirs(cache, exist_ok=True)
    for name in ("get_pip_24_2.py", "get_pip_23_1_2.py", "get_pip_24_0.py", "get_pip_25_0_1.py"):
        with open(os.path.join(cache, name), "w") as handle:
            handle.write(GET_PIP_STANDIN)


def main(argv):
    copy_tree()
    install_get_pip_standin()
    version = "%d.%d" % sys.version_info[:2]
    command = [os.path.join(BIN, "ansible-test"), "sanity", "--python", version, "--color", "no"]
    if "--requirements" not in argv and "--no-requirements" not in argv:
        command.append("--requirements")
    command += [a for a in argv if a != "--no-requirements"]
    env = dict(os.environ, PATH=BIN + os.pathsep + os.environ.get("PATH", ""))
    return subprocess.call(command, cwd=DEST, env=env, stdin=subprocess.DEVNULL)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
