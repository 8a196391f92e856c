# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Remove the container images no container uses, on a node, through containerd's ``ctr``.

The engine behind ``nodewatch.k8s.node_image_prune``; it runs ON the node. Why ``ctr``: it ships
with every containerd package (``crictl`` is a separate download, in neither Debian nor PyPI), it
needs no CRI endpoint configuration, and it sees what the CRI hides - every container of the
namespace, stopped ones and pod sandboxes included, with their snapshots.

How an image is judged (see ``plan_prune``):

* References are grouped into images: every reference to the same target (``repo:tag``,
  ``repo@sha256:...`` and the CRI's ``sha256:<id>``), and targets sharing a config digest. An
  image is kept or removed whole; removing all tags but leaving the CRI's ``sha256:<id>`` would
  free nothing.
* containerd does not refuse to delete an image a container uses, so use is computed from every
  container of the namespace: its ``Image`` field, the CRI's ``ImageRef`` (in the container's
  metadata extension; the CRI leaves ``Image`` empty), and its snapshot's parent, which is the
  chain ID of the image it was created from (the only trace a CRI pod sandbox leaves).
* Never removed: images in use, the sandbox (pause) image (from containerd's own CRI config, the
  ``sandbox_image`` option, the ``io.cri-containerd.pinned`` label and name patterns), images
  matching a ``keep`` pattern, and images whose content cannot be read.

Bytes are measured on the content store of the namespace (``ctr content ls``) before and after a
synchronous removal, each blob counted at its exact size (from the descriptors that reference
it). Unpacked snapshots are freed too but not counted, so the disk gains at least that much.

The command runner is injected (``runner(argv, timeout) -> (rc, stdout, stderr)``), so the
planning is tested with recorded ``ctr`` output. Nothing here imports Ansible.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
from concurrent.futures import ThreadPoolExecutor

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import KubeError
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import compile_name_filter, parse_image_entry
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.quantity import QuantityError, human_bytes, parse_size

__all__ = [
    "PruneError",
    "CommandTimeout",
    "run_command",
    "find_ctr",
    "check_socket",
    "Ctr",
    "Image",
    "group_images",
    "normalize_reference",
    "chain_ids",
    "parse_images_ls",
    "parse_content_ls",
    "parse_snapshots_ls",
    "parse_sandbox_image",
    "container_hints",
    "plan_prune",
    "Pruner",
    "prune_images",
    "DEFAULT_ADDRESS",
    "DEFAULT_NAMESPACE",
    "DEFAULT_CONTAINERD_CONFIG",
    "DEFAULT_SANDBOX_PATTERNS",
    "DEFAULT_TIMEOUT",
]

DEFAULT_ADDRESS = "/run/containerd/containerd.sock"
DEFAULT_NAMESPACE = "k8s.io"
DEFAULT_CONTAINERD_CONFIG = "/etc/containerd/config.toml"
# Matched like keep patterns (see compile_name_filter): "pause" matches any repository whose last
# path element is pause (registry.k8s.io/pause, 123.dkr.ecr.../eks/pause), the others the renamed
# copies distributions mirror (k8s.gcr.io/pause-amd64, rancher/mirrored-pause).
DEFAULT_SANDBOX_PATTERNS = ("pause", "pause-*", "*-pause")
DEFAULT_TIMEOUT = 60
# The removal waits for containerd's garbage collection, which deletes unpacked snapshots.
REMOVE_TIMEOUT_FACTOR = 10
# Where distributions put ctr when it is not on the PATH of a become shell.
CTR_SEARCH_DIRS = ("/usr/local/bin", "/usr/bin", "/usr/local/sbin", "/usr/sbin", "/bin",
                   "/var/lib/rancher/rke2/bin", "/var/lib/rancher/k3s/data/current/bin")
PINNED_LABEL = "io.cri-containerd.pinned=pinned"
CRI_EXTENSIONS = ("io.cri-containerd.container.metadata", "io.cri-containerd.sandbox.metadata")
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
MANIFEST_TYPES = ("application/vnd.oci.image.manifest.v1+json",
                  "application/vnd.docker.distribution.manifest.v2+json")
PARALLEL_CALLS = 4
CONTAINERS_LISTED_PER_IMAGE = 10
_DIGEST_RE = re.compile(r"^sha256:[0-9a-f]{64}$")


class PruneError(KubeError):
    """containerd cannot be reached or used, or an option cannot work; ``str()`` says what to do."""


class CommandTimeout(Exception):
    """The runner stopped a command that ran past its timeout."""


def run_command(argv, timeout):
    """The real runner: ``(returncode, stdout bytes, stderr bytes)``.

    Raises ``OSError`` when the program cannot be started and ``CommandTimeout`` when it runs
    longer than ``timeout`` seconds (it is killed).
    """
    try:
        proc = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise CommandTimeout("%s ran longer than %ss" % (os.path.basename(argv[0]), timeout))
    return proc.returncode, proc.stdout, proc.stderr


# -- options and the node's containerd -------------------------------------------------------------

def _patterns(value, option):
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise PruneError("%s must be a list of glob patterns, got %r" % (option, value))
    filters = []
    for pattern in value:
        try:
            filters.append(compile_name_filter(pattern, "glob"))
        except ValueError:
            raise PruneError("%s: every pattern must be a non-empty string, got %r" % (option, pattern))
    return filters


def find_ctr(ctr_path=None):
    """The ``ctr`` program to run: ``ctr_path`` (a path or a name on PATH) or ``ctr`` found on
    PATH and in the directories distributions use."""
    if ctr_path:
        if os.sep in ctr_path:
            if os.path.isfile(ctr_path) and os.access(ctr_path, os.X_OK):
                return ctr_path
            raise PruneError("ctr_path %s is not an executable file; point ctr_path at containerd's ctr "
                             "client" % ctr_path)
        found = shutil.which(ctr_path)
        if found:
            return found
        raise PruneError("ctr_path %s was not found on PATH; give its full path" % ctr_path)
    search = os.pathsep.join([os.environ.get("PATH", "")] + list(CTR_SEARCH_DIRS))
    found = shutil.which("ctr", path=search)
    if found:
        return found
    raise PruneError(
        "containerd's client ctr was not found on this node (searched PATH and %s): is containerd "
        "installed here? It ships ctr (Debian/Ubuntu package containerd or containerd.io); set ctr_path "
        "if it lives elsewhere" % ", ".join(CTR_SEARCH_DIRS))


def socket_path(address):
    """The filesystem path of a ``unix://`` or plain address; None for other schemes."""
    if address.startswith("unix://"):
        return address[len("unix://"):]
    if "://" in address:
        return None
    return address


def _permission_sentence(address):
    return ("permission denied on the containerd socket %s: this user may not use containerd; run the task "
            "as root (become: true) or as a user allowed to use that socket" % address)


def check_socket(address):
    """Fail fast, with a sentence, when ``address`` cannot be containerd's socket for this user
    (ctr itself would wait 10 seconds on a missing socket before saying so)."""
    path = socket_path(address)
    if path is None:
        return
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise PruneError(
            "no containerd socket at %s (option address): containerd is not running on this node, or it "
            "listens elsewhere; start containerd, or set address to its socket (k3s: "
            "/run/k3s/containerd/containerd.sock)" % path)
    except PermissionError:
        raise PruneError(_permission_sentence(path))
    if not stat.S_ISSOCK(info.st_mode):
        raise PruneError("%s (option address) is not a socket; set address to containerd's socket "
                         "(by default %s)" % (path, DEFAULT_ADDRESS))
    if not os.access(path, os.R_OK | os.W_OK):
        raise PruneError(_permission_sentence(path))


def _ctr_failure(args, address, rc, stderr, timeout):
    """The sentence for a failed ctr command, from what ctr printed."""
    text = stderr.decode("utf-8", "replace") if isinstance(stderr, bytes) else (stderr or "")
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    last = lines[-1] if lines else "no message"
    lowered = text.lower()
    if "permission denied" in lowered:
        return _permission_sentence(address)
    if "connection refused" in lowered:
        return ("nothing answers on the containerd socket %s (connection refused): containerd is not running, "
                "or address points at a stale socket; start containerd or fix address" % address)
    if "deadline exceeded" in lowered or "timeout" in lowered:
        return ("containerd at %s did not answer within %s seconds (ctr %s): it may be overloaded or hung; "
                "check it (systemctl status containerd) or raise timeout" % (address, timeout, " ".join(args)))
    if "no such file or directory" in lowered and "dial" in lowered:
        return ("no containerd socket at %s (option address): start containerd, or set address to its socket"
                % address)
    return "ctr %s failed (exit %s): %s" % (" ".join(args), rc, last)


class Ctr(object):
    """``ctr`` against one containerd socket and namespace, with failures as sentences."""

    def __init__(self, runner, ctr_path, address, namespace, timeout):
        self.runner = runner
        self.ctr_path = ctr_path
        self.address = address
        self.namespace = namespace
        self.timeout = timeout

    def argv(self, *args):
        return [self.ctr_path, "--address", self.address, "--namespace", self.namespace,
                "--connect-timeout", "%ss" % self.timeout] + list(args)

    def call(self, *args, **kwargs):
        """``(returncode, stdout bytes, stderr bytes)``; only a ctr that cannot run raises."""
        timeout = kwargs.get("timeout", self.timeout)
        try:
            return self.runner(self.argv(*args), timeout)
        except CommandTimeout:
            raise PruneError("containerd at %s did not answer within %s seconds (ctr %s): it may be overloaded "
                             "or hung; check it (systemctl status containerd) or raise timeout"
                             % (self.address, timeout, " ".join(args)))
        except OSError as exc:
            raise PruneError("cannot run ctr at %s (option ctr_path): %s" % (self.ctr_path, exc.strerror or exc))

    def run(self, *args, **kwargs):
        """stdout of a ctr command that must succeed."""
        rc, out, err = self.call(*args, **kwargs)
        if rc != 0:
            raise PruneError(_ctr_failure(args, self.address, rc, err, kwargs.get("timeout", self.timeout)))
        return out

    def text(self, *args):
        return self.run(*args).decode("utf-8", "replace")

    def json(self, *args):
        raw = self.run(*args)
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError:
            raise PruneError("ctr %s printed something that is not JSON (%d bytes starting %r); is %s containerd's "
                             "ctr?" % (" ".join(args), len(raw), raw[:60], self.ctr_path))


# -- parsing what ctr prints -----------------------------------------------------------------------

def _table_rows(text, header, what):
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return []
    if lines[0].split()[:len(header)] != list(header):
        raise PruneError("unexpected output from ctr %s (header %r): is this containerd's ctr, version 1.5 "
                         "or later?" % (what, lines[0][:80]))
    return [line.split() for line in lines[1:]]


def parse_images_ls(text):
    """``ctr images ls`` -> ``[{"ref", "media_type", "digest", "pinned"}]``."""
    images = []
    for line, fields in zip([ln for ln in text.splitlines() if ln.strip()][1:],
                            _table_rows(text, ("REF", "TYPE", "DIGEST"), "images ls")):
        if len(fields) < 3 or not _DIGEST_RE.match(fields[2]):
            raise PruneError("unexpected line from ctr images ls: %r" % line[:120])
        images.append({"ref": fields[0], "media_type": fields[1], "digest": fields[2],
                       "pinned": PINNED_LABEL in line})
    return images


def parse_content_ls(text):
    """``ctr content ls`` -> ``{digest: size}``; sizes are ctr's rounded ones (``10.24kB``), or
    None when ctr prints none, and are used only for blobs no image describes."""
    blobs = {}
    for fields in _table_rows(text, ("DIGEST", "SIZE"), "content ls"):
        if not fields or not fields[0].startswith("sha256:"):
            continue
        size = None
        if len(fields) > 1:
            try:
                size = parse_size(fields[1])
            except QuantityError:
                size = None
        blobs[fields[0]] = size
    return blobs


def parse_snapshots_ls(text):
    """``ctr snapshots ls`` -> ``{key: parent or None}``."""
    parents = {}
    for fields in _table_rows(text, ("KEY", "PARENT", "KIND"), "snapshots ls"):
        if len(fields) >= 3:
            parents[fields[0]] = fields[1]
        elif fields:
            parents[fields[0]] = None
    return parents


_SECTION_RE = re.compile(r"^\s*\[+\s*(.*?)\s*\]+\s*(#.*)?$")
_KEY_RE = re.compile(r"""^\s*([A-Za-z0-9_.-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|'([^']*)')""")


def parse_sandbox_image(config_text):
    """The sandbox image of containerd's CRI plugin, from ``containerd config dump``: the v2
    ``sandbox_image`` of the CRI section, or the v3 ``pinned_images.sandbox``; None if absent."""
    section = ""
    for line in config_text.splitlines():
        header = _SECTION_RE.match(line)
        if header:
            section = header.group(1)
            continue
        match = _KEY_RE.match(line)
        if not match:
            continue
        key = match.group(1)
        value = match.group(2) if match.group(2) is not None else match.group(3)
        if key == "sandbox_image" and "cri" in section:
            return value or None
        if key == "sandbox" and section.endswith("pinned_images"):
            return value or None
    return None


def normalize_reference(ref):
    """A reference as containerd's CRI stores it: ``pause:3.9`` -> ``docker.io/library/pause:3.9``."""
    if _DIGEST_RE.match(ref):
        return ref
    name, at, digest = ref.partition("@")
    first, slash, _rest = name.partition("/")
    if not slash or not ("." in first or ":" in first or first == "localhost"):
        name = "docker.io/" + (name if slash else "library/" + name)
    if not at and ":" not in name.rpartition("/")[2]:
        name += ":latest"
    return name + at + digest


def chain_ids(diff_ids):
    """The snapshot chain IDs of an image's layers (the OCI image spec's ChainID)."""
    chain = []
    for diff_id in diff_ids:
        if chain:
            diff_id = "sha256:" + hashlib.sha256(("%s %s" % (chain[-1], diff_id)).encode("ascii")).hexdigest()
        chain.append(diff_id)
    return chain


def _decode_extension(value):
    if not isinstance(value, dict):
        return None
    raw = value.get("value", value.get("Value"))
    if not isinstance(raw, str):
        return None
    try:
        return json.loads(base64.b64decode(raw).decode("utf-8"))
    except (ValueError, TypeError):
        return None


def container_hints(info):
    """What says which image a container uses, from ``ctr containers info`` JSON."""
    info = info if isinstance(info, dict) else {}
    hints = {
        "id": info.get("ID"),
        "image": info.get("Image") or None,
        "cri_image_ref": None,
        "snapshotter": info.get("Snapshotter") or None,
        "snapshot_key": info.get("SnapshotKey") or None,
    }
    for name, value in (info.get("Extensions") or {}).items():
        if name not in CRI_EXTENSIONS:
            continue
        decoded = _decode_extension(value)
        metadata = decoded.get("Metadata") if isinstance(decoded, dict) else None
        if isinstance(metadata, dict) and isinstance(metadata.get("ImageRef"), str) and metadata["ImageRef"]:
            hints["cri_image_ref"] = metadata["ImageRef"]
    return hints


# -- images ------------------------------------------------------------------------------------------

class Target(object):
    """What one image record points at, as read from the content store."""

    __slots__ = ("digest", "blobs", "configs", "chains", "problem")

    def __init__(self, digest):
        self.digest = digest
        self.blobs = {}       # digest -> exact size, for the blobs present in the content store
        self.configs = set()  # config digests (the image IDs)
        self.chains = set()   # top-layer chain IDs, what container snapshots are created from
        self.problem = None


class Image(object):
    """Every reference to the same content: kept or removed whole."""

    def __init__(self, refs, targets, pinned=False):
        self.refs = sorted(refs, key=_ref_order)
        self.targets = targets
        self.pinned = pinned
        self.blobs = {}
        self.configs = set()
        self.chains = set()
        problems = []
        for target in targets:
            self.blobs.update(target.blobs)
            self.configs |= target.configs
            self.chains |= target.chains
            if target.problem:
                problems.append(target.problem)
        self.problem = "; ".join(problems) or None
        self.name = parse_image_entry({"names": self.refs, "sizeBytes": self.size_bytes})

    @property
    def size_bytes(self):
        return sum(self.blobs.values())

    @property
    def key(self):
        return self.refs[0]

    def describe(self, exclusive=None):
        out = {
            "names": list(self.refs),
            "digests": sorted(t.digest for t in self.targets),
            "id": sorted(self.configs)[0] if self.configs else None,
            "size_bytes": self.size_bytes,
            "size_human": human_bytes(self.size_bytes),
        }
        if exclusive is not None:
            out["exclusive_bytes"] = exclusive
        return out

    def line(self):
        return "%s (%s)" % (", ".join(self.refs), human_bytes(self.size_bytes))


def _ref_order(ref):
    # Names people read first, the CRI's bare sha256:<id> last; removal goes in this order too.
    if _DIGEST_RE.match(ref):
        return (2, ref)
    if "@" in ref:
        return (1, ref)
    return (0, ref)


def group_images(records, targets):
    """Group ``parse_images_ls`` records into ``Image``s: same target, or same config digest."""
    parent = {}

    def find(item):
        while parent.setdefault(item, item) != item:
            parent[item] = parent[parent[item]]
            item = parent[item]
        return item

    def union(a, b):
        parent[find(a)] = find(b)

    by_config = {}
    for record in records:
        union(("ref", record["ref"]), ("target", record["digest"]))
        for config in targets[record["digest"]].configs:
            if config in by_config:
                union(("target", record["digest"]), ("target", by_config[config]))
            by_config.setdefault(config, record["digest"])
    members = {}
    for record in records:
        members.setdefault(find(("ref", record["ref"])), []).append(record)
    images = []
    for group in members.values():
        digests = sorted(set(r["digest"] for r in group))
        images.append(Image([r["ref"] for r in group], [targets[d] for d in digests],
                            pinned=any(r["pinned"] for r in group)))
    images.sort(key=lambda image: image.key)
    return images


# -- the decision --------------------------------------------------------------------------------

def _matches(image, filters):
    return [f.pattern for f in filters if f(image.name)]


def plan_prune(images, containers, parents, sandbox_refs=(), sandbox_filters=(), keep_filters=()):
    """Decide, for every image, whether it goes and why not.

    ``containers``: ``container_hints`` dicts. ``parents``: ``{(snapshotter, key): parent}`` for
    their snapshots. ``sandbox_refs``: normalized sandbox image references. Returns
    ``(remove, keep, unresolved)``: images to remove, ``(image, details)`` pairs of kept ones
    (``details["reasons"]`` non-empty), and the IDs of containers whose image is not here.
    """
    by_ref = {}
    by_config = {}
    by_chain = {}
    for image in images:
        for ref in image.refs:
            by_ref[ref] = image
        for config in image.configs:
            by_config[config] = image
        for chain in image.chains:
            by_chain.setdefault(chain, []).append(image)

    users = {}
    unresolved = []
    for container in containers:
        found = []
        if container["image"] and container["image"] in by_ref:
            found.append(by_ref[container["image"]])
        cri_ref = container["cri_image_ref"]
        if cri_ref and (cri_ref in by_ref or cri_ref in by_config):
            found.append(by_ref.get(cri_ref) or by_config[cri_ref])
        # Always, not only as a fallback: a tag moved to another image since the container was
        # created still leaves the container on the old image's layers.
        parent = parents.get((container["snapshotter"], container["snapshot_key"]))
        if parent:
            found.extend(by_chain.get(parent, ()))
        if not found:
            unresolved.append(container["id"])
        for image in found:
            users.setdefault(id(image), set()).add(container["id"])

    sandbox_refs = set(sandbox_refs)
    remove = []
    keep = []
    for image in images:
        reasons = []
        details = {}
        if id(image) in users:
            reasons.append("in_use")
            ids = sorted(users[id(image)])
            details["containers"] = ids[:CONTAINERS_LISTED_PER_IMAGE]
            details["container_count"] = len(ids)
        sandbox = sorted(sandbox_refs.intersection(image.refs)) or _matches(image, sandbox_filters)
        if sandbox:
            reasons.append("sandbox")
            details["sandbox_match"] = sandbox
        if image.pinned:
            reasons.append("pinned")
        kept_by = _matches(image, keep_filters)
        if kept_by:
            reasons.append("keep")
            details["keep_patterns"] = kept_by
        if image.problem:
            reasons.append("unreadable")
            details["problem"] = image.problem
        if reasons:
            details["reasons"] = reasons
            details["reason"] = reasons[0]
            keep.append((image, details))
        else:
            remove.append(image)
    return remove, keep, unresolved


def exclusive_bytes(chosen, others):
    """Bytes of the blobs that ``chosen`` images hold and no image of ``others`` does."""
    held = set()
    for image in others:
        held.update(image.blobs)
    sizes = {}
    for image in chosen:
        for digest, size in image.blobs.items():
            if digest not in held:
                sizes[digest] = size
    return sum(sizes.values())


# -- the run -------------------------------------------------------------------------------------

def _parallel(function, items):
    items = list(items)
    if len(items) < 2:
        return [function(item) for item in items]
    with ThreadPoolExecutor(max_workers=PARALLEL_CALLS) as pool:
        return list(pool.map(function, items))


class Pruner(object):
    """One prune of one namespace: inspect, plan, remove, measure."""

    def __init__(self, ctr, keep=(), sandbox_image=None, sandbox_patterns=DEFAULT_SANDBOX_PATTERNS,
                 containerd_path=None, containerd_config=DEFAULT_CONTAINERD_CONFIG):
        self.ctr = ctr
        self.keep_filters = _patterns(keep, "keep")
        self.sandbox_filters = _patterns(sandbox_patterns, "sandbox_patterns")
        if sandbox_image is not None and (not isinstance(sandbox_image, str) or not sandbox_image.strip()):
            raise PruneError("sandbox_image must be an image reference such as registry.k8s.io/pause:3.9, got %r"
                             % (sandbox_image,))
        self.sandbox_image = sandbox_image.strip() if sandbox_image else None
        self.containerd_path = containerd_path
        self.containerd_config = containerd_config
        self.notes = []
        self.sizes = {}  # digest -> exact size, learnt from descriptors

    # -- reading ------------------------------------------------------------------------------

    def _blob(self, digest):
        """The blob as JSON (None when it is not JSON), or False when it is gone since the listing."""
        rc, raw, err = self.ctr.call("content", "get", digest)
        if rc != 0:
            if b"not found" in err:
                return False
            raise PruneError(_ctr_failure(("content", "get", digest), self.ctr.address, rc, err, self.ctr.timeout))
        self.sizes[digest] = len(raw)
        try:
            return json.loads(raw.decode("utf-8"))
        except ValueError:
            return None

    def _read_target(self, digest, media_type, present):
        target = Target(digest)
        if digest not in present:
            target.problem = "its content %s is not in the content store" % digest
            return target
        pending = [(digest, media_type, 0)]
        while pending:
            blob_digest, blob_type, depth = pending.pop()
            document = self._blob(blob_digest)
            if document is False:
                target.problem = "its content %s left the content store while it was read" % blob_digest
                continue
            target.blobs[blob_digest] = self.sizes[blob_digest]
            if not isinstance(document, dict):
                target.problem = "%s is not a JSON manifest or index" % blob_digest
                continue
            blob_type = document.get("mediaType") or blob_type
            if blob_type in INDEX_TYPES or "manifests" in document:
                if depth > 3:
                    target.problem = "image indexes nested too deep at %s" % blob_digest
                    continue
                for child in document.get("manifests") or ():
                    child_digest = child.get("digest") if isinstance(child, dict) else None
                    if child_digest in present:  # only the platforms this node pulled
                        pending.append((child_digest, child.get("mediaType"), depth + 1))
            elif blob_type in MANIFEST_TYPES or "config" in document:
                self._read_manifest(document, target, present)
            else:
                target.problem = "%s has a media type pruning does not know (%s)" % (blob_digest, blob_type)
        return target

    def _read_manifest(self, manifest, target, present):
        config = manifest.get("config") or {}
        descriptors = [config] + list(manifest.get("layers") or ())
        for descriptor in descriptors:
            digest = descriptor.get("digest") if isinstance(descriptor, dict) else None
            size = descriptor.get("size") if isinstance(descriptor, dict) else None
            if isinstance(digest, str) and type(size) is int and size >= 0:  # pylint: disable=unidiomatic-typecheck
                self.sizes[digest] = size
                if digest in present:
                    target.blobs[digest] = size
        config_digest = config.get("digest")
        if not isinstance(config_digest, str) or config_digest not in present:
            target.problem = "its config %s is not in the content store" % config_digest
            return
        target.configs.add(config_digest)
        document = self._blob(config_digest)
        if document is False:
            target.problem = "its config %s left the content store while it was read" % config_digest
            return
        diff_ids = ((document or {}).get("rootfs") or {}).get("diff_ids") if isinstance(document, dict) else None
        if not isinstance(diff_ids, list) or not all(isinstance(d, str) for d in diff_ids):
            target.problem = "its config %s has no rootfs.diff_ids" % config_digest
            return
        if diff_ids:
            target.chains.add(chain_ids(diff_ids)[-1])

    def content_listing(self):
        """``{digest: ctr's rounded size}`` of the namespace's content store."""
        return parse_content_ls(self.ctr.text("content", "ls"))

    def measure(self, listing):
        """``(bytes, blobs counted at ctr's rounded size)``: exact sizes wherever a descriptor gave one."""
        total = 0
        rounded = 0
        for digest, approximate in listing.items():
            if digest in self.sizes:
                total += self.sizes[digest]
            else:
                total += approximate or 0
                rounded += 1
        return total, rounded

    def images(self, present):
        records = parse_images_ls(self.ctr.text("images", "ls"))
        media_types = dict((r["digest"], r["media_type"]) for r in records)
        digests = sorted(media_types)
        read = _parallel(lambda d: self._read_target(d, media_types[d], present), digests)
        targets = dict(zip(digests, read))
        return group_images(records, targets)

    def containers(self, known=None):
        """Hints of every container in the namespace (``known``: id -> hints already read)."""
        ids = sorted(set(self.ctr.text("containers", "ls", "-q").split()))
        known = known or {}
        fresh = [i for i in ids if i not in known]

        def info(container_id):
            rc, out, err = self.ctr.call("containers", "info", container_id)
            if rc != 0:
                if b"not found" in err:  # removed since the listing: it holds nothing any more
                    return None
                raise PruneError(_ctr_failure(("containers", "info", container_id), self.ctr.address, rc, err,
                                              self.ctr.timeout))
            try:
                return container_hints(json.loads(out.decode("utf-8")))
            except ValueError:
                raise PruneError("ctr containers info %s printed something that is not JSON" % container_id)

        result = dict((i, known[i]) for i in ids if i in known)
        for container_id, hints in zip(fresh, _parallel(info, fresh)):
            if hints is not None:
                hints["id"] = hints["id"] or container_id
                result[container_id] = hints
        return result

    def snapshot_parents(self, containers):
        parents = {}
        for snapshotter in sorted(set(c["snapshotter"] for c in containers if c["snapshotter"] and c["snapshot_key"])):
            listed = parse_snapshots_ls(self.ctr.text("snapshots", "--snapshotter", snapshotter, "ls"))
            for key, parent in listed.items():
                parents[(snapshotter, key)] = parent
        return parents

    def sandbox_refs(self):
        """Normalized sandbox image references, and where they came from."""
        refs = set()
        sources = []
        if self.sandbox_image:
            refs.add(normalize_reference(self.sandbox_image))
            sources.append("option sandbox_image")
        detected = self._detect_sandbox_image()
        if detected:
            refs.add(normalize_reference(detected))
            sources.append("containerd config")
        return sorted(refs), sources

    def _detect_sandbox_image(self):
        if not self.containerd_path:
            self.notes.append("containerd's sandbox image was not read: the containerd program was not found beside "
                              "ctr or on PATH; images matching sandbox_patterns (and sandbox_image) are kept")
            return None
        if self.containerd_config and os.path.isfile(self.containerd_config):
            argv = [self.containerd_path, "--config", self.containerd_config, "config", "dump"]
        else:
            # containerd runs on its built-in defaults when its config file is absent.
            argv = [self.containerd_path, "config", "default"]
        try:
            rc, out, err = self.ctr.runner(argv, self.ctr.timeout)
        except (OSError, CommandTimeout) as exc:
            rc, out, err = None, b"", str(exc).encode()
        if rc != 0:
            message = (err or b"").decode("utf-8", "replace").strip().splitlines()
            self.notes.append("containerd's sandbox image was not read (%s: %s); images matching sandbox_patterns "
                              "(and sandbox_image) are kept" % (" ".join(argv[1:]), message[-1] if message else rc))
            return None
        image = parse_sandbox_image(out.decode("utf-8", "replace"))
        if not image:
            self.notes.append("containerd's configuration names no sandbox image; images matching sandbox_patterns "
                              "(and sandbox_image) are kept")
        return image

    # -- doing ----------------------------------------------------------------------------------

    def _remove(self, images):
        """Remove ``images`` in one ctr call whose last deletion waits for garbage collection."""
        refs = [ref for image in images for ref in image.refs]
        refs.sort(key=_ref_order)
        timeout = self.ctr.timeout * REMOVE_TIMEOUT_FACTOR
        rc, out, err = self.ctr.call("images", "rm", "--sync", *refs, timeout=timeout)
        deleted = set(out.decode("utf-8", "replace").split())
        if refs[-1] not in deleted:
            # --sync applies to the last reference only: collect garbage explicitly instead.
            lease = self.ctr.text("leases", "create").split()
            if lease:
                self.ctr.run("leases", "rm", "--sync", lease[0], timeout=timeout)
        return rc, err

    def run(self, check_mode=False):
        listing = self.content_listing()
        images = self.images(set(listing))
        content_before, rounded = self.measure(listing)
        containers = self.containers()
        parents = self.snapshot_parents(containers.values())
        sandbox_refs, sandbox_sources = self.sandbox_refs()

        def plan():
            return plan_prune(images, list(containers.values()), parents, sandbox_refs, self.sandbox_filters,
                              self.keep_filters)

        remove, keep, unresolved = plan()
        if not images:
            namespaces = self.ctr.text("namespaces", "ls", "-q").split()
            if self.ctr.namespace not in namespaces:
                self.notes.append("containerd has no namespace %s (option namespace); namespaces here: %s"
                                  % (self.ctr.namespace, ", ".join(namespaces) or "none"))

        errors = []
        if check_mode:
            removed = list(remove)
        else:
            removed = []
        if remove and not check_mode:
            # A pod may have started since the plan: look again, and spare what it uses now.
            containers = self.containers(known=containers)
            parents = self.snapshot_parents(containers.values())
            remove, keep, unresolved = plan()
        if remove and not check_mode:
            rc, err = self._remove(remove)
            left = set(r["ref"] for r in parse_images_ls(self.ctr.text("images", "ls")))
            why = _ctr_failure(("images", "rm"), self.ctr.address, rc, err, self.ctr.timeout) if rc else None
            for image in remove:
                still = [ref for ref in image.refs if ref in left]
                if still:
                    errors.append("%s is still present after ctr images rm%s" % (", ".join(still),
                                                                                 ": %s" % why if why else ""))
                else:
                    removed.append(image)

        kept = [image for image, _details in keep]
        failed = [image for image in remove if image not in removed]
        if check_mode or not removed:
            listing_after, content_after, rounded_after = listing, content_before, rounded
        else:
            listing_after = self.content_listing()
            content_after, rounded_after = self.measure(listing_after)
        if rounded or rounded_after:
            self.notes.append("%d blob(s) of the content store are described by no image and were counted at ctr's "
                              "rounded size" % max(rounded, rounded_after))
        if unresolved:
            self.notes.append("%d container(s) use an image that is no longer in namespace %s: %s"
                              % (len(unresolved), self.ctr.namespace, ", ".join(sorted(unresolved)[:10])))

        result = {
            "changed": bool(removed),
            "removed": [image.describe(exclusive_bytes([image], [i for i in images if i is not image]))
                        for image in removed],
            "kept": [],
            "bytes_freed": content_before - content_after,
            "estimated_bytes_freed": exclusive_bytes(remove, kept),
            "content_bytes_before": content_before,
            "content_bytes_after": content_after,
            "content_blobs_before": len(listing),
            "content_blobs_after": len(listing_after),
            "images_before": len(images),
            "images_after": len(images) - len(removed),
            "containers": len(containers),
            "sandbox_images": sandbox_refs,
            "sandbox_image_sources": sandbox_sources,
            "namespace": self.ctr.namespace,
            "address": self.ctr.address,
            "notes": self.notes,
            "errors": errors,
            "diff": {"before": "".join(line + "\n" for line in sorted(image.line() for image in images)),
                     "after": "".join(line + "\n" for line in sorted(image.line() for image in kept + failed))},
        }
        result["bytes_freed_human"] = human_bytes(result["bytes_freed"])
        for image, details in keep:
            described = image.describe()
            described.update(details)
            result["kept"].append(described)
        for image in failed:
            described = image.describe()
            described.update({"reasons": ["failed"], "reason": "failed"})
            result["kept"].append(described)
        result["summary"] = _summary(result, check_mode)
        return result


def _summary(result, check_mode):
    counts = {}
    for image in result["kept"]:
        counts[image["reason"]] = counts.get(image["reason"], 0) + 1
    kept = ", ".join("%d %s" % (n, reason.replace("_", " ")) for reason, n in sorted(counts.items()))
    verb = "would remove" if check_mode else "removed"
    text = "%s %d of %d images" % (verb, len(result["removed"]), result["images_before"])
    if check_mode:
        text += " (about %s of content)" % human_bytes(result["estimated_bytes_freed"])
    else:
        text += " (%s freed in the content store, %s -> %s)" % (
            human_bytes(result["bytes_freed"]), human_bytes(result["content_bytes_before"]),
            human_bytes(result["content_bytes_after"]))
    if result["kept"]:
        text += "; kept %d: %s" % (len(result["kept"]), kept)
    return text


def prune_images(address=DEFAULT_ADDRESS, namespace=DEFAULT_NAMESPACE, keep=(), sandbox_image=None,
                 sandbox_patterns=DEFAULT_SANDBOX_PATTERNS, ctr_path=None, containerd_config=DEFAULT_CONTAINERD_CONFIG,
                 timeout=DEFAULT_TIMEOUT, check_mode=False, runner=run_command):
    """Prune the unused images of containerd ``namespace`` on this node; see the module's RETURN."""
    if not isinstance(address, str) or not address.strip():
        raise PruneError("address must be the path of containerd's socket, such as %s" % DEFAULT_ADDRESS)
    if not isinstance(namespace, str) or not namespace.strip():
        raise PruneError("namespace must name a containerd namespace (Kubernetes uses %s)" % DEFAULT_NAMESPACE)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or timeout <= 0:
        raise PruneError("timeout must be a positive number of seconds, got %r" % (timeout,))
    ctr_program = find_ctr(ctr_path)
    check_socket(address)
    sibling = os.path.join(os.path.dirname(ctr_program), "containerd")
    containerd_path = sibling if os.access(sibling, os.X_OK) else shutil.which("containerd")
    pruner = Pruner(Ctr(runner, ctr_program, address, namespace.strip(), timeout), keep=keep,
                    sandbox_image=sandbox_image, sandbox_patterns=sandbox_patterns, containerd_path=containerd_path,
                    containerd_config=containerd_config)
    return pruner.run(check_mode=check_mode)
