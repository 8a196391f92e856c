"""A real containerd for tests, started with its own root, state, socket and config, and small OCI
images the tests build themselves (no registry).

Use it from a test module with ``from containerd_fixture import containerd  # noqa: F401``; the
fixture is session-scoped (one daemon per pytest worker) and skips only when containerd is not
installed (Debian packages ``containerd`` and ``runc``). Tests reset it to the scene they need
with ``Containerd.reset()``.

Nothing here touches the machine's own containerd: every path containerd would default to
(``/var/lib/containerd``, ``/run/containerd``, ``/opt/containerd``, ``/etc/cni/net.d``) is
redirected into the temporary directory. containerd 1.6 still writes shim sockets under
``/run/containerd`` when a task runs; no test starts a task (``ctr containers create`` only
creates the container record and its snapshot), so none are written.
"""
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import tarfile
import tempfile
import time

import pytest

SANDBOX_IMAGE = "registry.test/nodewatch/pause:3.9"
KEEP = "registry.test/keep/*"
NAMESPACE = "k8s.io"
# native works on every filesystem, inside containers too (overlayfs on overlayfs does not).
SNAPSHOTTER = "native"

CONFIG_TEMPLATE = """\
version = 2
root = "{root}/root"
state = "{root}/state"

[grpc]
  address = "{socket}"

[plugins."io.containerd.internal.v1.opt"]
  path = "{root}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{sandbox_image}"
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"

  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "{snapshotter}"

  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{root}/cni/bin"
    conf_dir = "{root}/cni/net.d"
"""


def _digest(data):
    return "sha256:" + hashlib.sha256(data).hexdigest()


def layer_payload(seed, size):
    """``size`` deterministic bytes that differ per ``seed`` (and do not compress away)."""
    out = bytearray()
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(("%s/%d" % (seed, counter)).encode()).digest()
        counter += 1
    return bytes(out[:size])


def layer_tar(path, payload):
    """An uncompressed layer holding one file: the same path and payload give the same digest."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        info = tarfile.TarInfo(path)
        info.size = len(payload)
        info.mtime = 0
        info.mode = 0o644
        tar.addfile(info, io.BytesIO(payload))
    return buf.getvalue()


class OciImage(object):
    """An OCI image built in memory: ``layers`` is a list of ``(file path, payload bytes)``."""

    def __init__(self, layers, cmd=("/bin/true",)):
        self.layer_blobs = [layer_tar(path, payload) for path, payload in layers]
        self.diff_ids = [_digest(blob) for blob in self.layer_blobs]
        self.config = json.dumps({
            "architecture": "amd64", "os": "linux",
            "config": {"Cmd": list(cmd)},
            "rootfs": {"type": "layers", "diff_ids": self.diff_ids},
        }, sort_keys=True).encode()
        self.manifest = json.dumps({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                       "digest": _digest(self.config), "size": len(self.config)},
            "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": _digest(blob),
                        "size": len(blob)} for blob in self.layer_blobs],
        }, sort_keys=True).encode()

    @property
    def digest(self):
        """The manifest digest: what containerd's image records point at."""
        return _digest(self.manifest)

    @property
    def image_id(self):
        """The config digest: the CRI's ``sha256:<id>`` reference."""
        return _digest(self.config)

    def blobs(self):
        """Every blob of the image with its size, as containerd's content store holds them."""
        out = {self.digest: len(self.manifest), self.image_id: len(self.config)}
        for blob in self.layer_blobs:
            out[_digest(blob)] = len(blob)
        return out

    @property
    def size(self):
        return sum(self.blobs().values())


def write_archive(path, images):
    """An OCI image layout tar (what ``ctr images import`` reads) holding every ``(OciImage, refs)``
    of ``images``, each named by its ``refs``."""
    index = {"schemaVersion": 2, "manifests": []}
    blobs = {}
    for image, refs in images:
        index["manifests"] += [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": image.digest, "size": len(image.manifest),
            "annotations": {"io.containerd.image.name": ref,
                            "org.opencontainers.image.ref.name": ref.rpartition(":")[2]},
        } for ref in refs]
        blobs[image.digest] = image.manifest
        blobs[image.image_id] = image.config
        for blob in image.layer_blobs:
            blobs[_digest(blob)] = blob
    entries = [("oci-layout", b'{"imageLayoutVersion": "1.0.0"}'), ("index.json", json.dumps(index).encode())]
    entries += [("blobs/sha256/" + digest[7:], data) for digest, data in sorted(blobs.items())]
    with tarfile.open(path, "w", format=tarfile.USTAR_FORMAT) as tar:
        for name, data in entries:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


class Containerd(object):
    """A containerd daemon of our own; ``ctr()`` talks to it in namespace ``k8s.io``."""

    def __init__(self):
        # Short and world-traversable: socket paths are limited to 107 bytes, and a test runs a
        # playbook as an unprivileged user who must reach the (root-only) socket to be refused.
        self.root = tempfile.mkdtemp(prefix="nwctd-", dir="/tmp")
        os.chmod(self.root, 0o755)
        self.socket = os.path.join(self.root, "containerd.sock")
        self.config = os.path.join(self.root, "config.toml")
        self.log_path = os.path.join(self.root, "containerd.log")
        self.process = None
        self.images_dir = os.path.join(self.root, "images")
        os.makedirs(self.images_dir)
        self.archives = 0

    def start(self, timeout=30):
        with open(self.config, "w") as handle:
            handle.write(CONFIG_TEMPLATE.format(root=self.root, socket=self.socket, sandbox_image=SANDBOX_IMAGE,
                                                snapshotter=SNAPSHOTTER))
        log = open(self.log_path, "wb")
        # Its own process group: stop() signals containerd alone, never the test runner.
        self.process = subprocess.Popen(["containerd", "--config", self.config], stdout=log, stderr=log,
                                        stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("containerd exited with %s:\n%s" % (self.process.returncode, self.log_tail()))
            if os.path.exists(self.socket):
                probe = subprocess.run(self._argv("version"), capture_output=True, text=True, check=False)
                if probe.returncode == 0:
                    return self
            time.sleep(0.05)
        self.stop()
        raise RuntimeError("containerd did not answer on %s within %ss:\n%s" % (self.socket, timeout, self.log_tail()))

    def stop(self):
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=15)
        self.process = None
        shutil.rmtree(self.root, ignore_errors=True)

    def log_tail(self, lines=30):
        try:
            with open(self.log_path, "r", errors="replace") as handle:
                return "".join(handle.readlines()[-lines:])
        except OSError:
            return ""

    # -- ctr ----------------------------------------------------------------------------------

    def _argv(self, *args):
        return ["ctr", "--address", self.socket, "--namespace", NAMESPACE] + list(args)

    def ctr(self, *args, **kwargs):
        """Run ctr against this daemon and return its stdout (text); fail loudly otherwise."""
        proc = subprocess.run(self._argv(*args), capture_output=True, check=False,
                              text=kwargs.get("text", True), timeout=60)
        if proc.returncode != 0:
            raise AssertionError("ctr %s failed (%s): %s\ncontainerd log:\n%s"
                                 % (" ".join(args), proc.returncode, proc.stderr, self.log_tail()))
        return proc.stdout

    def refs(self):
        """The image references in the namespace, as a set."""
        return set(line for line in self.ctr("images", "ls", "-q").splitlines() if line)

    def content_bytes(self):
        """The exact size of every blob in the namespace's content store (from ``ctr content get``)."""
        total = 0
        for digest in self.ctr("content", "ls", "-q").split():
            total += len(self.ctr("content", "get", digest, text=False))
        return total

    def containers(self):
        return set(self.ctr("containers", "ls", "-q").split())

    def import_image(self, image, refs):
        """Import ``image`` under ``refs``; see ``import_images``."""
        return self.import_images([(image, refs)])[0]

    def import_images(self, images):
        """Import every ``(OciImage, refs)`` in one ``ctr images import`` and wait until the CRI
        has added each image's ``sha256:<id>`` reference, as it does for the images it pulls."""
        self.archives += 1
        path = write_archive(os.path.join(self.images_dir, "%d.tar" % self.archives), images)
        self.ctr("images", "import", "--snapshotter", SNAPSHOTTER, path)
        wanted = set(image.image_id for image, _refs in images)
        deadline = time.monotonic() + 10
        while not wanted <= self.refs():
            if time.monotonic() > deadline:
                raise AssertionError("the CRI plugin did not add %s" % sorted(wanted - self.refs()))
            time.sleep(0.02)
        return [image for image, _refs in images]

    def tag(self, source, target):
        self.ctr("images", "tag", source, target)

    def create_container(self, image_ref, container_id, labels=None):
        """A created (never started) container: stopped, so it holds its image without a task."""
        args = ["containers", "create", "--snapshotter", SNAPSHOTTER]
        for key, value in sorted((labels or {}).items()):
            args += ["--label", "%s=%s" % (key, value)]
        self.ctr(*(args + [image_ref, container_id]))

    def reset(self):
        """No containers, no images, no content: the namespace as a fresh node has it."""
        for container_id in self.containers():
            self.ctr("containers", "rm", container_id)
        refs = sorted(self.refs())
        if refs:
            self.ctr("images", "rm", "--sync", *refs)
        leftover = self.refs()
        assert not leftover, "images left after reset: %s" % leftover


class Scene(object):
    """The images and containers of a busy node, built in ``daemon`` (after a reset).

    ``removable`` are the images a prune with ``keep=[KEEP]`` must remove, ``keepers`` those it
    must keep: in use (by a stopped container, by its tag or only through its snapshot after the
    tag moved), the configured sandbox image, an older sandbox image, and a ``keep`` match.
    """

    def __init__(self, daemon):
        self.daemon = daemon
        daemon.reset()
        base = ("usr/lib/base.bin", layer_payload("base", 24000))
        self.pause = OciImage([("pause", layer_payload("pause", 700))])
        # A sandbox image containerd is no longer configured with: kept by the default name patterns.
        self.old_pause = OciImage([("pause", layer_payload("pause-3.8", 650))])
        self.app = OciImage([base, ("app.bin", layer_payload("app", 9000))])
        # Unused, sharing its base layer with the app in use: only its own blobs are freed.
        self.old_app = OciImage([base, ("app.bin", layer_payload("app-1.3", 8000))])
        self.kept = OciImage([("tool", layer_payload("tool", 5000))])
        self.unused = OciImage([("cache", layer_payload("cache", 12000))])
        self.dangling = OciImage([("job", layer_payload("job", 4000))])
        self.web_old = OciImage([("web", layer_payload("web-1", 3000))])
        self.web_new = OciImage([("web", layer_payload("web-2", 3100))])
        daemon.import_images([
            (self.pause, [SANDBOX_IMAGE]),
            (self.old_pause, ["registry.test/mirror/pause:3.8"]),
            (self.app, ["registry.test/shop/app:1.4", "registry.test/shop/app:latest"]),
            (self.old_app, ["registry.test/shop/app:1.3"]),
            (self.kept, ["registry.test/keep/tool:2"]),
            (self.unused, ["registry.test/batch/cache:7", "registry.test/batch/cache:stable"]),
            (self.dangling, ["registry.test/batch/job:1"]),
            (self.web_old, ["registry.test/shop/web:1"]),
            (self.web_new, ["registry.test/shop/web:2"]),
        ])
        daemon.tag("registry.test/shop/app:1.4", "registry.test/shop/app@" + self.app.digest)
        daemon.create_container("registry.test/shop/app:1.4", "app-stopped")
        # Only the CRI's sha256:<id> reference left, as after its tag moved on.
        daemon.ctr("images", "rm", "registry.test/batch/job:1")
        # Created from web:1, whose tag then moved to web:2's image: both stay, the old one found
        # through the container's snapshot (its Image field now names the new one).
        daemon.create_container("registry.test/shop/web:1", "web-created")
        daemon.ctr("images", "tag", "--force", "registry.test/shop/web:2", "registry.test/shop/web:1")

        self.removable = [self.old_app, self.unused, self.dangling]
        self.keepers = [self.pause, self.old_pause, self.app, self.kept, self.web_old, self.web_new]
        self.refs_before = daemon.refs()

    def refs_of(self, image):
        """The references containerd has for ``image`` (its manifest), read from ctr."""
        out = set()
        for line in self.daemon.ctr("images", "ls").splitlines()[1:]:
            fields = line.split()
            if fields and fields[2] == image.digest:
                out.add(fields[0])
        return out

    def expected_freed(self):
        """The bytes of the blobs only removable images hold."""
        held = set()
        for image in self.keepers:
            held.update(image.blobs())
        freed = {}
        for image in self.removable:
            for digest, size in image.blobs().items():
                if digest not in held:
                    freed[digest] = size
        return sum(freed.values())


def containerd_installed():
    return shutil.which("containerd") is not None and shutil.which("ctr") is not None


@pytest.fixture(scope="session")
def containerd():
    """One real containerd for the test session (per pytest worker)."""
    if not containerd_installed():
        pytest.skip("containerd is not installed (Debian packages: containerd, runc)")
    if os.geteuid() != 0:
        pytest.skip("containerd needs root to run (mounts, its socket); run the tests as root")
    daemon = Containerd().start()
    try:
        yield daemon
    finally:
        daemon.stop()
