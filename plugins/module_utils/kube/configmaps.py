# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""ConfigMaps this collection owns: the one store under the baseline and the watcher's state.

Three rules hold for every ConfigMap the collection keeps data in:

* **Ownership.** A ConfigMap without the managed-by label was made by someone else: it is read
  by nobody here and never written (``NotManagedError``).
* **Compare-and-swap.** Writes carry the ``resourceVersion`` that was read; a concurrent writer
  turns them into a 409 and ``retry_on_conflict`` reads, recomputes and writes again.
* **One codec.** Text goes in ``data`` as it is (readable with kubectl), or gzip-compressed and
  base64-encoded in ``binaryData`` when the caller asks for it; ``decode_text`` reads both.

What the text means (a baseline, the watcher's state) is the caller's business.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import base64
import binascii
import gzip

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ApiError, KubeError
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.untrusted import STATE_MAX_BYTES, gunzip
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import namespaced_path
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.conflicts import (
    DEFAULT_ATTEMPTS,
    retry_on_conflict,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.names import (
    MANAGED_BY,
    MANAGED_BY_LABEL,
    is_managed,
    not_managed_sentence,
)

# The API server refuses a ConfigMap above 1 MiB (data, binaryData and metadata together).
CONFIGMAP_MAX_BYTES = 1048576


# ``OwnedConfigMaps.update(known=ABSENT)``: this process just read that the ConfigMap does not exist.
ABSENT = object()


class NotManagedError(KubeError):
    """The ConfigMap exists but this collection did not create it."""


class UndecodableError(KubeError):
    """A ConfigMap's payload cannot be decoded (damaged, or written by something else)."""


def configmap_data_size(data=None, binary_data=None):
    """Bytes the API server counts for ``data`` and ``binaryData`` (keys and values)."""
    size = 0
    for mapping in (data or {}, binary_data or {}):
        for key, value in mapping.items():
            size += len(key.encode("utf-8")) + len(value.encode("utf-8"))
    return size


def encode_text(text, compress=False, level=6):
    """``(field, value)`` to store ``text`` under a key of the caller's choice.

    ``("data", text)`` as it is, or ``("binaryData", base64 of its gzip)`` with ``compress``.
    """
    if not compress:
        return "data", text
    packed = gzip.compress(text.encode("utf-8"), level)
    return "binaryData", base64.b64encode(packed).decode("ascii")


def decode_text(obj, key, what, max_bytes=STATE_MAX_BYTES):
    """The text stored under ``key`` of ``obj`` (plain in ``data`` or gzip in ``binaryData``), or None.

    A compressed payload that would grow past ``max_bytes`` (a gzip bomb planted in the
    ConfigMap) is refused before it is all decompressed.
    """
    plain = (obj.get("data") or {}).get(key)
    if plain is not None:
        return plain
    packed = (obj.get("binaryData") or {}).get(key)
    if not packed:
        return None
    damaged = "%s is damaged: its %s cannot be decoded" % (what, key)
    try:
        raw = base64.b64decode(packed, validate=True)
    except (ValueError, binascii.Error) as exc:
        raise UndecodableError("%s (%s)" % (damaged, exc))
    text = gunzip(raw, what, max_bytes, error=UndecodableError)
    try:
        return text.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UndecodableError("%s (%s)" % (damaged, exc))


class OwnedConfigMaps:
    """The ConfigMaps of one namespace that this collection owns.

    ``labels`` are added to every ConfigMap written (with the managed-by label); ``refuse_advice``
    ends the sentence that refuses a foreign ConfigMap ("choose another name or delete it").
    ``client`` needs ``get``, ``create``, ``replace`` and ``request`` (``kube.client.KubeClient``).
    """

    def __init__(self, client, namespace, labels=None, refuse_advice="choose another name or delete it",
                 conflict_attempts=DEFAULT_ATTEMPTS):
        self.client = client
        self.namespace = namespace
        self.labels = dict(labels or {})
        self.refuse_advice = refuse_advice
        self.conflict_attempts = conflict_attempts

    def path(self, name=None):
        return namespaced_path("configmaps", self.namespace, name)

    def describe(self, name):
        return "ConfigMap %s/%s" % (self.namespace, name)

    def check_owned(self, obj, name):
        if not is_managed(obj):
            raise NotManagedError(not_managed_sentence(self.describe(name), self.refuse_advice))

    def get(self, name, owned=True):
        """The ConfigMap, or None when it does not exist.

        A foreign one raises ``NotManagedError``, unless ``owned`` is false: a reader may look at
        a ConfigMap it will never write (a baseline someone else prepared).
        """
        try:
            obj = self.client.get(self.path(name))
        except ApiError as exc:
            if exc.status == 404:
                return None
            raise
        if owned:
            self.check_owned(obj, name)
        return obj

    def body(self, name, content, labels=None, current=None):
        """A ConfigMap holding ``content`` (``{"data": {...}}`` and/or ``{"binaryData": {...}}``).

        Labels and annotations of ``current`` are kept (others may have added theirs), and its
        ``resourceVersion`` makes a PUT of this body a compare-and-swap.
        """
        metadata = {"name": name, "namespace": self.namespace}
        merged = {}
        if current is not None:
            current_meta = current.get("metadata") or {}
            merged.update(current_meta.get("labels") or {})
            if current_meta.get("annotations"):
                metadata["annotations"] = current_meta["annotations"]
            metadata["resourceVersion"] = current_meta.get("resourceVersion")
        merged.update(self.labels)
        merged.update(labels or {})
        merged[MANAGED_BY_LABEL] = MANAGED_BY
        metadata["labels"] = merged
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}
        for field in ("data", "binaryData"):
            if content.get(field):
                body[field] = content[field]
        return body

    @staticmethod
    def same_content(obj, content, labels=None):
        """True when ``obj`` already holds ``content`` (and ``labels``): nothing to write."""
        for field in ("data", "binaryData"):
            if (obj.get(field) or {}) != (content.get(field) or {}):
                return False
        current = (obj.get("metadata") or {}).get("labels") or {}
        return all(current.get(k) == v for k, v in (labels or {}).items())

    def update(self, name, compute, known=None, sleep=None):
        """Read-modify-write ``name``; returns ``(action, object)``, action created/updated/unchanged.

        ``compute(current)`` gets the ConfigMap as it is now (None when absent) and returns
        ``(content, labels)`` to store, or None to leave it as it is. ``known`` is the object as
        this process last read or wrote it (``ABSENT`` when it read that there is none): the
        first attempt trusts it instead of reading again (a 409 then reads the real one). Each
        later attempt reads afresh.
        """
        state = {"known": known}

        def attempt():
            current = state.pop("known", None)
            if current is None:
                current = self.get(name)
            elif current is ABSENT:
                current = None
            else:
                self.check_owned(current, name)
            wanted = compute(current)
            if wanted is None:
                return "unchanged", current
            content, labels = wanted
            if current is not None and self.same_content(current, content, labels):
                return "unchanged", current
            if current is None:
                return "created", self.create(name, content, labels)
            try:
                return "updated", self.replace(current, content, labels)
            except ApiError as exc:
                if exc.status != 404:
                    raise
                # Deleted since it was read: as much a conflict as a change; read and decide again.
                raise ApiError(409, reason="Conflict", message="deleted since it was read", verb="update",
                               resource="configmaps", name=name, namespace=self.namespace, host=exc.host)

        def after_lost_answer(result):
            # The write whose answer was lost is what the object holds now: it was applied.
            action, obj = result
            return ("updated" if action == "unchanged" else action), obj

        kwargs = {} if sleep is None else {"sleep": sleep}
        return retry_on_conflict(attempt, self.describe(name), attempts=self.conflict_attempts,
                                 after_lost_answer=after_lost_answer, **kwargs)

    def create(self, name, content, labels=None):
        """POST a new ConfigMap; 409 AlreadyExists when somebody made it meanwhile."""
        return self.client.request("POST", self.path(), body=self.body(name, content, labels))

    def replace(self, current, content, labels=None):
        """PUT over ``current`` with its resourceVersion: 409 Conflict when it changed since."""
        name = current["metadata"]["name"]
        return self.client.request("PUT", self.path(name), body=self.body(name, content, labels, current))

    def delete(self, name):
        """Delete ``name``; False when it was already gone."""
        try:
            self.client.request("DELETE", self.path(name))
            return True
        except ApiError as exc:
            if exc.status == 404:
                return False
            raise

    def list(self, label_selector):
        """The owned ConfigMaps matching ``label_selector`` (the managed-by label is added to it)."""
        selector = "%s=%s" % (MANAGED_BY_LABEL, MANAGED_BY)
        if label_selector:
            selector += "," + label_selector
        listing = self.client.get(self.path(), {"labelSelector": selector})
        return (listing or {}).get("items") or []
