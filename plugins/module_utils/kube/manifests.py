# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Apply a list of Kubernetes objects through the collection's client (the engine of the
``manifests`` module and of the ``watcher`` role).

Present: each object in order is read; created when missing; when it exists, it is left alone
if every key and value given in the definition is already in the live object (lists compared
element by element, server-set fields ignored), and otherwise a JSON merge patch carrying the
read ``resourceVersion`` brings the differing keys to the wanted values (a 409 reads again and
recomputes). Absent: delete in reverse order, 404 meaning already gone.

Only the kinds in ``KINDS`` are known: a small static table keeps this free of discovery calls
and of a dependency on kubernetes.core. Kinds served by a CRD (Prometheus Operator) are applied
only when their API group/version is served, and skipped with a note otherwise.

Pure apart from the client it is given; no Ansible imports.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import copy
import time

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import (
    ApiError,
    ValidationError,
    WaitTimeout,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.untrusted import (
    MANIFEST_MAX_BYTES,
    check_depth,
    load_yaml,
    read_file,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.conflicts import retry_on_conflict
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.names import MANAGED_BY, MANAGED_BY_LABEL
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.quantity import parse_quantity


# Written by the API server; never part of what a definition asks for.
SERVER_METADATA = ("uid", "resourceVersion", "generation", "creationTimestamp", "deletionTimestamp",
                   "deletionGracePeriodSeconds", "managedFields", "selfLink", "ownerReferences")


class Kind:
    """One supported kind: where its objects live in the REST API."""

    __slots__ = ("api_version", "kind", "plural", "namespaced", "optional")

    def __init__(self, api_version, kind, plural, namespaced, optional=False):
        self.api_version = api_version
        self.kind = kind
        self.plural = plural
        self.namespaced = namespaced
        # Served by a CRD that may not be installed: check the group/version first.
        self.optional = optional

    @property
    def group_version_path(self):
        if "/" in self.api_version:
            return "/apis/%s" % self.api_version
        return "/api/%s" % self.api_version

    def path(self, namespace=None, name=None):
        path = self.group_version_path
        if self.namespaced:
            path += "/namespaces/%s" % namespace
        path += "/" + self.plural
        if name:
            path += "/" + name
        return path

    def __repr__(self):
        return "Kind(%s %s)" % (self.api_version, self.kind)


KINDS = dict(((k.api_version, k.kind), k) for k in (
    Kind("v1", "Namespace", "namespaces", False),
    Kind("v1", "ServiceAccount", "serviceaccounts", True),
    Kind("v1", "ConfigMap", "configmaps", True),
    Kind("v1", "Secret", "secrets", True),
    Kind("v1", "Service", "services", True),
    Kind("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", False),
    Kind("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", False),
    Kind("rbac.authorization.k8s.io/v1", "Role", "roles", True),
    Kind("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings", True),
    Kind("apps/v1", "Deployment", "deployments", True),
    Kind("batch/v1", "CronJob", "cronjobs", True),
    Kind("batch/v1", "Job", "jobs", True),
    Kind("coordination.k8s.io/v1", "Lease", "leases", True),
    Kind("monitoring.coreos.com/v1", "ServiceMonitor", "servicemonitors", True, optional=True),
    Kind("monitoring.coreos.com/v1", "PrometheusRule", "prometheusrules", True, optional=True),
))


def supported_kinds():
    """``['v1/Namespace', ...]`` in table order (for messages and docs)."""
    return ["%s/%s" % key for key in KINDS]


class ManifestError(ValidationError):
    """A definition that cannot be applied as given; the message names the object."""


# -- reading definitions ------------------------------------------------------------------------

def load_documents(text, where="the definitions"):
    """The objects of a YAML stream with one or more documents (empty documents are skipped).

    Read with the safe reader: a stream over ``MANIFEST_MAX_BYTES``, nested too deep, or with
    aliases that expand without bound is refused before any object is built.
    """
    documents = load_yaml(text, where, max_bytes=MANIFEST_MAX_BYTES, error=ManifestError, multi=True, plural=True)
    return [doc for doc in documents if doc is not None]


def read_source(path):
    """The text of a manifests file given as ``src`` (at most ``MANIFEST_MAX_BYTES``)."""
    data = read_file(path, "src %s" % path if isinstance(path, str) else "src", MANIFEST_MAX_BYTES, ManifestError)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ManifestError("src %s is not UTF-8 text (byte %d cannot be decoded)" % (path, exc.start))


def collect_definitions(definitions=None, src_text=None, src=None):
    """One flat list of objects from ``definitions`` (list, dict or YAML text) and/or a file's text.

    A ``kind: List`` (what ``kubectl get -o yaml`` prints) contributes its items.
    """
    objects = []
    if src_text is not None:
        objects.extend(load_documents(src_text, "the objects in %s" % (src or "src")))
    if isinstance(definitions, str):
        objects.extend(load_documents(definitions))
    elif isinstance(definitions, dict):
        objects.append(definitions)
    elif isinstance(definitions, (list, tuple)):
        for item in definitions:
            if isinstance(item, str):
                objects.extend(load_documents(item))
            elif item is not None:
                objects.append(item)
    elif definitions is not None:
        raise ManifestError("definitions must be a list of Kubernetes objects, one object (a mapping) or YAML "
                            "text, got %s" % type(definitions).__name__)
    flat = []
    for index, obj in enumerate(objects):
        if not isinstance(obj, dict):
            raise ManifestError("definition #%d must be a mapping (a Kubernetes object), got %s"
                                % (index + 1, type(obj).__name__))
        check_depth(obj, "definition #%d (%s)" % (index + 1, describe(obj)), error=ManifestError)
        if obj.get("kind") == "List" and isinstance(obj.get("items"), list):
            for position, item in enumerate(obj["items"]):
                if not isinstance(item, dict):
                    raise ManifestError("definition #%d (a List): items[%d] must be a mapping (a Kubernetes "
                                        "object), got %s" % (index + 1, position, type(item).__name__))
            flat.extend(obj["items"])
        else:
            flat.append(obj)
    return flat


def describe(obj):
    """``Deployment nodewatch-system/nodewatch-watcher`` for messages."""
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    name = metadata.get("name") or "<no name>"
    if metadata.get("namespace"):
        name = "%s/%s" % (metadata["namespace"], name)
    return "%s %s" % (obj.get("kind") or "<no kind>", name)


def kind_of(obj):
    api_version, kind = obj.get("apiVersion"), obj.get("kind")
    if not api_version or not kind:
        raise ManifestError("%s: apiVersion and kind are required" % describe(obj))
    found = KINDS.get((api_version, kind))
    if found is None:
        same_kind = [k.api_version for k in KINDS.values() if k.kind == kind]
        hint = " (%s is supported as apiVersion %s)" % (kind, ", ".join(same_kind)) if same_kind else ""
        raise ManifestError("%s: apiVersion %s kind %s is not supported by nodewatch.k8s.manifests%s; "
                            "supported kinds are %s" % (describe(obj), api_version, kind, hint,
                                                        ", ".join(supported_kinds())))
    return found


def prepare(obj, default_namespace=None, managed_by=MANAGED_BY):
    """``(Kind, desired object)``: validated, server-set fields removed, the managed-by label added.

    ``stringData`` of a Secret becomes base64 ``data`` (what the server stores and returns), so a
    second run compares like with like.
    """
    kind = kind_of(obj)
    desired = copy.deepcopy(obj)
    metadata = desired.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("name"), str) or not metadata["name"]:
        raise ManifestError("%s: metadata.name is required (generateName cannot be applied "
                            "idempotently)" % describe(obj))
    for key in SERVER_METADATA:
        metadata.pop(key, None)
    desired.pop("status", None)
    if kind.namespaced:
        metadata["namespace"] = metadata.get("namespace") or default_namespace
        if not metadata["namespace"]:
            raise ManifestError("%s: metadata.namespace is required for a namespaced kind (or set the "
                                "namespace option)" % describe(obj))
    else:
        metadata.pop("namespace", None)
    labels = metadata.get("labels")
    if labels is None:
        labels = metadata["labels"] = {}
    if not isinstance(labels, dict):
        raise ManifestError("%s: metadata.labels must be a mapping" % describe(obj))
    if managed_by:
        labels[MANAGED_BY_LABEL] = managed_by
    if kind.kind == "Secret" and desired.get("stringData"):
        data = dict(desired.get("data") or {})
        for key, value in desired.pop("stringData").items():
            if not isinstance(value, str):
                raise ManifestError("%s: stringData.%s must be a string" % (describe(obj), key))
            data[key] = base64.b64encode(value.encode("utf-8")).decode("ascii")
        desired["data"] = data
    return kind, desired


# -- comparing ----------------------------------------------------------------------------------

# Maps whose values are quantities: the server stores them canonically ("0.5" -> "500m", 1 -> "1").
_QUANTITY_MAPS = ("limits", "requests", "hard", "capacity")


def _in_quantity_map(path):
    return len(path) >= 2 and path[-2] in _QUANTITY_MAPS


def _same_scalar(want, have, path):
    if want == have and type(want) is type(have):
        return True
    if isinstance(want, bool) or isinstance(have, bool):
        return False
    if isinstance(want, (int, float)) and isinstance(have, (int, float)):
        return want == have
    if _in_quantity_map(path) or (path and path[-1] == "sizeLimit"):
        try:
            return parse_quantity(want) == parse_quantity(have)
        except (TypeError, ValueError):
            return False
    return False


def differences(desired, live, path=()):
    """Paths (tuples) where ``desired`` is not contained in ``live``; empty when it is.

    Maps: every key given must match (a None value means the key must be absent). Lists: same
    length and each element contained in the live element at the same index (the server adds
    defaults inside list elements, such as a container's ``imagePullPolicy``).
    """
    if isinstance(desired, dict):
        if not isinstance(live, dict):
            return [path]
        found = []
        for key, want in desired.items():
            if want is None:
                if live.get(key) is not None:
                    found.append(path + (key,))
                continue
            if key not in live:
                found.append(path + (key,))
                continue
            found.extend(differences(want, live[key], path + (key,)))
        return found
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            return [path]
        for index, (want, have) in enumerate(zip(desired, live)):
            if differences(want, have, path + (index,)):
                return [path]  # a merge patch replaces the whole list anyway
        return []
    return [] if _same_scalar(desired, live, path) else [path]


def merge_patch(desired, live):
    """The smallest JSON merge patch (RFC 7386) that makes ``desired`` contained in ``live``.

    Maps recurse into differing keys only; a differing list or scalar is sent whole (a merge
    patch replaces lists). None when nothing differs.
    """
    if isinstance(desired, dict) and isinstance(live, dict):
        patch = {}
        for key, want in desired.items():
            if want is None:
                if live.get(key) is not None:
                    patch[key] = None
                continue
            if key not in live:
                patch[key] = _drop_nulls(want)
                continue
            sub = merge_patch(want, live[key])
            if sub is not None:
                patch[key] = sub
        return patch or None
    if differences(desired, live):
        return _drop_nulls(desired)
    return None


def _drop_nulls(value):
    if isinstance(value, dict):
        return dict((k, _drop_nulls(v)) for k, v in value.items() if v is not None)
    if isinstance(value, list):
        return [_drop_nulls(v) for v in value]
    return value


def project(live, shape):
    """``live`` cut down to the keys ``shape`` has (the compact "before" of a diff)."""
    if isinstance(shape, dict) and isinstance(live, dict):
        out = {}
        for key, sub in shape.items():
            if key in live:
                out[key] = project(live[key], sub)
        return out
    if isinstance(shape, list) and isinstance(live, list):
        return [project(item, shape[i]) if i < len(shape) else item for i, item in enumerate(live)]
    return copy.deepcopy(live)


def format_path(path):
    text = ""
    for part in path:
        text += "[%d]" % part if isinstance(part, int) else ("." if text else "") + str(part)
    return text or "(the whole object)"


# -- applying -----------------------------------------------------------------------------------

def _identity(kind, desired):
    metadata = desired["metadata"]
    entry = {"api_version": kind.api_version, "kind": kind.kind, "name": metadata["name"]}
    if kind.namespaced:
        entry["namespace"] = metadata["namespace"]
    return entry


def _shown(kind, obj):
    """What a diff may show of an object: a Secret's values are replaced (base64 is no protection)."""
    if kind.kind != "Secret" or not isinstance(obj, dict):
        return obj
    shown = copy.deepcopy(obj)
    for key in ("data", "stringData"):
        if isinstance(shown.get(key), dict):
            shown[key] = dict((k, None if v is None else "<hidden>") for k, v in shown[key].items())
    return shown


def _header(kind, desired):
    metadata = desired["metadata"]
    if kind.namespaced:
        return "%s %s/%s" % (kind.kind, metadata["namespace"], metadata["name"])
    return "%s %s" % (kind.kind, metadata["name"])


class Applier:
    """Applies prepared objects with one client; collects per-object results and diffs."""

    def __init__(self, client, check_mode=False, wait=False, wait_timeout=120, sleep=time.sleep,
                 clock=time.monotonic):
        self.client = client
        self.check_mode = check_mode
        self.wait = wait
        self.wait_timeout = wait_timeout
        self.sleep = sleep
        self.clock = clock
        self._served = {}
        self.results = []
        self.diffs = []

    # -- optional APIs ---------------------------------------------------------------------------

    def served(self, kind):
        """Whether the API serves this kind's group/version (only asked for optional kinds)."""
        if not kind.optional:
            return True
        path = kind.group_version_path
        if path not in self._served:
            try:
                self._served[path] = self.client.get(path) is not None
            except ApiError as exc:
                if exc.status != 404:
                    raise
                self._served[path] = False
        return self._served[path]

    def _skip(self, kind, desired, note):
        entry = _identity(kind, desired)
        entry.update(action="skipped", note=note)
        self.results.append(entry)

    # -- present ---------------------------------------------------------------------------------

    def present(self, prepared):
        for kind, desired in prepared:
            if not self.served(kind):
                self._skip(kind, desired, "the %s API is not served by this cluster (its CRD is not installed); "
                           "%s not applied" % (kind.api_version, kind.kind))
                continue
            self._apply_one(kind, desired)
        if self.wait and not self.check_mode:
            for kind, desired in prepared:
                if kind.kind == "Deployment" and self.served(kind):
                    self._wait_available(kind, desired)
        return self.result()

    def _apply_one(self, kind, desired):
        metadata = desired["metadata"]
        path = kind.path(metadata.get("namespace"), metadata["name"])
        entry = _identity(kind, desired)
        writing = []

        def attempt():
            live = self.client.get_or_none(path)
            if live is not None and (live.get("metadata") or {}).get("deletionTimestamp"):
                # Being deleted (a Namespace terminating after a previous absent run): wait it out,
                # then create anew; patching it would keep nothing.
                if self.check_mode:
                    live = None
                else:
                    self._wait_gone(kind, desired, live)
                    live = None
            if live is None:
                if not self.check_mode:
                    # 409 AlreadyExists: created meanwhile by someone else; compare with theirs.
                    writing.append("created")
                    self.client.create(kind.path(metadata.get("namespace")), desired)
                entry["action"] = "created"
                self.results.append(entry)
                self.diffs.append({"before_header": _header(kind, desired), "after_header": _header(kind, desired),
                                   "before": {}, "after": _shown(kind, desired)})
                return
            found = differences(desired, live)
            if not found:
                entry["action"] = "unchanged"
                self.results.append(entry)
                return
            patch = merge_patch(desired, live)
            before = project(live, patch)
            body = copy.deepcopy(patch)
            # The read resourceVersion makes the patch a compare-and-swap: 409 if changed meanwhile.
            body.setdefault("metadata", {})["resourceVersion"] = live["metadata"].get("resourceVersion")
            if not self.check_mode:
                writing.append("patched")
                self.client.patch(path, body, patch_type="merge")
            entry["action"] = "patched"
            entry["changes"] = [format_path(p) for p in found]
            self.results.append(entry)
            self.diffs.append({"before_header": _header(kind, desired), "after_header": _header(kind, desired),
                               "before": _shown(kind, before), "after": _shown(kind, patch)})

        def after_lost_answer(result):
            if entry.get("action") == "unchanged" and writing:
                # Read again after the answer to our write was lost: it holds what we sent.
                entry["action"] = writing[-1]
                entry["note"] = "the answer to the write was lost; reading the object again shows it was applied"
            return result

        retry_on_conflict(attempt, _header(kind, desired), doing="applied", after_lost_answer=after_lost_answer)

    # -- absent ----------------------------------------------------------------------------------

    def absent(self, prepared):
        deleted = []
        for kind, desired in reversed(prepared):
            entry = _identity(kind, desired)
            if not self.served(kind):
                entry["action"] = "absent"
                entry["note"] = "the %s API is not served by this cluster" % kind.api_version
                self.results.append(entry)
                continue
            metadata = desired["metadata"]
            path = kind.path(metadata.get("namespace"), metadata["name"])
            live = self.client.get_or_none(path)
            if live is None or (live.get("metadata") or {}).get("deletionTimestamp"):
                entry["action"] = "absent"
                self.results.append(entry)
                if live is not None:
                    deleted.append((kind, desired, live))
                continue
            if not self.check_mode:
                try:
                    self.client.delete(path, propagation_policy="Background")
                except ApiError as exc:
                    if exc.status != 404:
                        raise
                    entry["action"] = "absent"
                    self.results.append(entry)
                    continue
            entry["action"] = "deleted"
            self.results.append(entry)
            self.diffs.append({"before_header": _header(kind, desired), "after_header": _header(kind, desired),
                               "before": _shown(kind, project(live, desired)), "after": {}})
            deleted.append((kind, desired, live))
        if self.wait and not self.check_mode:
            for kind, desired, live in deleted:
                self._wait_gone(kind, desired, live)
        return self.result()

    # -- waiting ---------------------------------------------------------------------------------

    def _poll(self, check, describe_timeout):
        deadline = self.clock() + self.wait_timeout
        delay = 0.2
        while True:
            state = check()
            if state is True:
                return
            if self.clock() >= deadline:
                raise WaitTimeout(describe_timeout(state))
            self.sleep(delay)
            delay = min(delay * 2, 2.0)

    def _wait_gone(self, kind, desired, live):
        metadata = desired["metadata"]
        path = kind.path(metadata.get("namespace"), metadata["name"])
        uid = (live.get("metadata") or {}).get("uid")

        def check():
            current = self.client.get_or_none(path)
            if current is None or (uid and current["metadata"].get("uid") != uid):
                return True
            return current

        self._poll(check, lambda current: "%s is still being deleted after %s seconds (finalizers: %s); raise "
                   "wait_timeout or check what holds it" % (
                       _header(kind, desired), self.wait_timeout,
                       ", ".join((current or {}).get("metadata", {}).get("finalizers") or ()) or "none"))

    def _wait_available(self, kind, desired):
        metadata = desired["metadata"]
        path = kind.path(metadata["namespace"], metadata["name"])

        def check():
            current = self.client.get(path)
            return True if deployment_available(current) else current

        self._poll(check, lambda current: "%s is not available after %s seconds: %s; check its pods with "
                   "kubectl -n %s describe deployment %s" % (
                       _header(kind, desired), self.wait_timeout, deployment_progress(current or {}),
                       metadata["namespace"], metadata["name"]))

    def result(self):
        changed = any(r["action"] in ("created", "patched", "deleted") for r in self.results)
        return {"changed": changed, "results": self.results, "diff": self.diffs}


def deployment_available(deployment):
    """The rollout is complete, as ``kubectl rollout status`` judges it."""
    metadata = deployment.get("metadata") or {}
    spec = deployment.get("spec") or {}
    status = deployment.get("status") or {}
    wanted = spec.get("replicas", 1)
    if status.get("observedGeneration", 0) < metadata.get("generation", 0):
        return False
    return (status.get("updatedReplicas", 0) >= wanted and status.get("replicas", 0) == status.get("updatedReplicas", 0)
            and status.get("availableReplicas", 0) >= wanted)


def deployment_progress(deployment):
    status = deployment.get("status") or {}
    wanted = (deployment.get("spec") or {}).get("replicas", 1)
    return "%s of %s replicas updated, %s available" % (
        status.get("updatedReplicas", 0), wanted, status.get("availableReplicas", 0))


def apply_manifests(client, definitions, state="present", namespace=None, check_mode=False, wait=False,
                    wait_timeout=120, sleep=time.sleep, clock=time.monotonic):
    """Apply (or remove) ``definitions`` (already collected dicts); the module's result dict."""
    prepared = [prepare(obj, namespace) for obj in definitions]
    seen = {}
    for kind, desired in prepared:
        key = (kind.api_version, kind.kind, desired["metadata"].get("namespace"), desired["metadata"]["name"])
        if key in seen:
            raise ManifestError("%s is defined twice; each object may appear once" % _header(kind, desired))
        seen[key] = True
    applier = Applier(client, check_mode=check_mode, wait=wait, wait_timeout=wait_timeout, sleep=sleep,
                      clock=clock)
    result = applier.absent(prepared) if state == "absent" else applier.present(prepared)
    counts = {}
    for entry in result["results"]:
        counts[entry["action"]] = counts.get(entry["action"], 0) + 1
    result["counts"] = counts
    return result


def secret_values(objects):
    """The strings of Secrets that must be masked wherever the task is shown, like no_log values:
    each value, and for ``stringData`` also its base64 form (what the API stores and returns)."""
    values = set()
    for obj in objects:
        if not isinstance(obj, dict) or obj.get("kind") != "Secret":
            continue
        for key in ("data", "stringData"):
            mapping = obj.get(key)
            for value in (mapping.values() if isinstance(mapping, dict) else ()):
                if isinstance(value, str) and value:
                    values.add(value)
                    if key == "stringData":
                        values.add(base64.b64encode(value.encode("utf-8")).decode("ascii"))
    return values
