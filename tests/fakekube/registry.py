"""Generic REST semantics on top of the store: create/update/patch/delete with the real
apiserver's metadata handling, preconditions, status-subresource strategies, finalizers,
namespace lifecycle and validation.  Used by both the HTTP server and FakeKube's direct
Python API, so both behave the same way.

Objects are handled in their *storage* shape (events.k8s.io Events are stored as core/v1
Events); conversion to a request's API shape happens in ``external()``.
"""
import copy
import datetime
import json
import random
import uuid

from . import errors as E
from . import patch as P
from . import resources as R
from . import schema as S
from . import validation as V
from .store import object_key

NAMESPACES_GP = ("", "namespaces")
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
_GEN_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"   # k8s.io/apimachinery/pkg/util/rand


def now_rfc3339():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def with_type_meta(obj, api_version, kind):
    """A dict with kind/apiVersion first, as Go encodes TypeMeta."""
    out = {"kind": kind, "apiVersion": api_version}
    for k, v in obj.items():
        if k not in ("kind", "apiVersion"):
            out[k] = v
    return out


def external(rt, obj):
    """Storage shape -> the shape ``rt``'s API serves (with kind/apiVersion)."""
    if rt.to_external:
        return rt.to_external(obj)
    if obj.get("kind") == rt.kind and obj.get("apiVersion") == rt.api_version and \
            next(iter(obj)) == "kind":
        return obj
    return with_type_meta(obj, rt.api_version, rt.kind)


def storage_rt(rt):
    """The ResourceType whose shape is stored for ``rt`` (core events for events.k8s.io)."""
    g, p = rt.storage
    return R.lookup(g, "v1", p) if (g, p) != (rt.group, rt.plural) else rt


class Registry:
    def __init__(self, store):
        self.store = store
        self.last_delete_options = None
        self.lock = store.lock

    # ---------------------------------------------------------------- helpers
    def key(self, rt, namespace, name):
        return object_key(namespace if rt.namespaced else "", name)

    def get(self, rt, namespace, name):
        obj = self.store.get(rt.storage, self.key(rt, namespace, name))
        if obj is None:
            raise E.not_found(rt.group, rt.plural, name)
        return obj

    def namespace_obj(self, name):
        return self.store.get(NAMESPACES_GP, name)

    def decode(self, rt, body, field_validation="Warn"):
        if not isinstance(body, dict):
            raise E.bad_request("%s in version \"%s\" cannot be handled as a %s: json: cannot "
                                "unmarshal %s into Go value of type %s.%s"
                                % (rt.kind, rt.version, rt.kind, S._jtype(body), rt.version, rt.kind))
        av, kind = body.get("apiVersion"), body.get("kind")
        if av and av != rt.api_version:
            raise E.bad_request("the API version in the data (%s) does not match the expected "
                                "API version (%s)" % (av, rt.api_version))
        if kind and kind != rt.kind:
            raise E.bad_request('%s in version "%s" cannot be handled as a %s: no kind "%s" is '
                                'registered for version "%s"' % (kind, rt.version, rt.kind, kind,
                                                                 rt.api_version))
        try:
            obj, unknown = S.decode(rt.schema, body)
        except S.DecodeError as e:
            raise E.bad_request('%s in version "%s" cannot be handled as a %s: %s'
                                % (rt.kind, rt.version, rt.kind, e))
        warnings = []
        if unknown:
            if field_validation == "Strict":
                raise E.bad_request("strict decoding error: " + ", ".join(
                    'unknown field "%s"' % u for u in unknown))
            if field_validation != "Ignore":
                warnings = ['unknown field "%s"' % u for u in unknown]
        if rt.to_storage:
            obj = rt.to_storage(obj)
        srt = storage_rt(rt)
        obj = with_type_meta(obj, srt.api_version, srt.kind)
        md = obj.setdefault("metadata", {})
        md.pop("managedFields", None)
        md.pop("selfLink", None)
        return obj, warnings

    def _validate(self, rt, obj, old):
        srt = storage_rt(rt)
        if old is None:
            errs = V.validate_object_meta(obj.get("metadata") or {}, rt.namespaced, rt.kind)
        else:
            errs = V.validate_object_meta_update(obj.get("metadata") or {}, old.get("metadata") or {})
        if rt.validator is not None:
            errs.extend(rt.validator(obj, old, rt))
        if errs:
            name = (obj.get("metadata") or {}).get("name", "")
            raise E.invalid(srt.group if rt is srt else rt.group, rt.kind, name, errs)

    # ---------------------------------------------------------------- create
    def create(self, rt, namespace, body, dry_run=False, field_validation="Warn",
               decoded=False):
        if decoded:
            obj, warnings = body, []
        else:
            obj, warnings = self.decode(rt, body, field_validation)
        md = obj["metadata"]
        if rt.namespaced:
            if md.get("namespace") and namespace and md["namespace"] != namespace:
                raise E.bad_request("the namespace of the provided object does not match the "
                                    "namespace sent on the request")
            md["namespace"] = namespace or md.get("namespace") or ""
        else:
            md.pop("namespace", None)
        with self.lock:
            ns = md.get("namespace", "")
            if rt.namespaced and ns:
                nso = self.namespace_obj(ns)
                if nso is None:
                    raise E.not_found("", "namespaces", ns)
                if (nso.get("status") or {}).get("phase") == "Terminating":
                    raise E.forbidden(rt.group, rt.plural, md.get("name", ""),
                                      "unable to create new content in namespace %s because it "
                                      "is being terminated" % ns)
            if not md.get("name") and md.get("generateName"):
                for dummy in range(10):
                    cand = md["generateName"] + "".join(random.choice(_GEN_ALPHABET) for dummy in range(5))
                    if self.store.get(rt.storage, self.key(rt, ns, cand)) is None:
                        break
                md["name"] = cand
            self._prepare_create(rt, obj)
            self._validate(rt, obj, None)
            key = self.key(rt, ns, md["name"])
            if self.store.get(rt.storage, key) is not None:
                raise E.already_exists(rt.group, rt.plural, md["name"])
            if dry_run:
                obj["metadata"].pop("resourceVersion", None)
                return obj, warnings
            return self.store.put(rt.storage, key, obj, "ADDED"), warnings

    def _prepare_create(self, rt, obj):
        md = obj["metadata"]
        md["uid"] = str(uuid.uuid4())
        md["creationTimestamp"] = now_rfc3339()
        for f in ("deletionTimestamp", "deletionGracePeriodSeconds"):
            md.pop(f, None)
        md["resourceVersion"] = ""     # placeholder keeping ObjectMeta's field order
        if rt.sets_generation:
            md["generation"] = 1
        else:
            md.pop("generation", None)
        if rt.kind == "Namespace":
            labels = dict(md.get("labels") or {})
            labels["kubernetes.io/metadata.name"] = md.get("name", "")
            md["labels"] = labels
            obj["spec"] = {"finalizers": ["kubernetes"]}
            obj["status"] = {"phase": "Active"}
        elif rt.has_status and rt.kind != "Node":
            # PrepareForCreate of types with a status subresource drops the status
            obj["status"] = {}
        # Reorder metadata like ObjectMeta's field order
        obj["metadata"] = _order_meta(md)

    # ---------------------------------------------------------------- update
    def update(self, rt, namespace, name, body, subresource=None, dry_run=False,
               field_validation="Warn", decoded=False, warnings=None):
        if decoded:
            obj, warnings = body, list(warnings or [])
        else:
            obj, warnings = self.decode(rt, body, field_validation)
        md = obj["metadata"]
        if md.get("name", "") != name:
            raise E.bad_request("the name of the object (%s) does not match the name on the URL (%s)"
                                % (md.get("name", ""), name))
        if rt.namespaced:
            if md.get("namespace") and md["namespace"] != namespace:
                raise E.bad_request("the namespace of the object (%s) does not match the namespace "
                                    "on the request (%s)" % (md["namespace"], namespace))
            md["namespace"] = namespace
        with self.lock:
            old = self.get(rt, namespace, name)
            omd = old["metadata"]
            rv = md.get("resourceVersion", "")
            if rv and rv != omd["resourceVersion"]:
                if not rv.isdigit():
                    raise E.bad_request("invalid resource version: strconv.ParseUint: parsing "
                                        "\"%s\": invalid syntax" % rv)
                raise E.conflict(rt.group, rt.plural, name)
            if not md.get("uid"):
                md["uid"] = omd.get("uid")
            if omd.get("creationTimestamp"):
                md["creationTimestamp"] = omd["creationTimestamp"]
            if omd.get("deletionTimestamp") and not md.get("deletionTimestamp"):
                md["deletionTimestamp"] = omd["deletionTimestamp"]
                if "deletionGracePeriodSeconds" in omd:
                    md["deletionGracePeriodSeconds"] = omd["deletionGracePeriodSeconds"]
            md["generation"] = omd.get("generation", 0)
            if not md["generation"]:
                md.pop("generation")
            self._apply_strategy(rt, obj, old, subresource)
            md = obj["metadata"]
            md["resourceVersion"] = omd["resourceVersion"]
            obj["metadata"] = md = _order_meta(md)
            self._validate(rt, obj, old)
            if _same(obj, old):
                return old, warnings          # no-op: no new resourceVersion, no watch event
            if dry_run:
                return obj, warnings
            key = self.key(rt, namespace, name)
            if md.get("deletionTimestamp") and not md.get("finalizers"):
                # the last finalizer is gone: the object is deleted (one DELETED event)
                return self.store.remove(rt.storage, key, last_obj=obj), warnings
            return self.store.put(rt.storage, key, obj, "MODIFIED", prev=old), warnings

    def _apply_strategy(self, rt, obj, old, subresource):
        if subresource == "status":
            # status strategies (PrepareForUpdate) keep the old spec
            for k in list(obj):
                if k not in ("kind", "apiVersion", "metadata", "status"):
                    del obj[k]
            for k, v in old.items():
                if k not in ("kind", "apiVersion", "metadata", "status"):
                    obj[k] = v
            if rt.kind == "Node" and not (old.get("status") or {}).get("config"):
                (obj.get("status") or {}).pop("config", None)   # nodeStatusConfigInUse
            if rt.status_keeps_labels:
                labels = old["metadata"].get("labels")
                if labels is None:
                    obj["metadata"].pop("labels", None)
                else:
                    obj["metadata"]["labels"] = labels
            if rt.kind == "Namespace":
                obj["metadata"]["labels"] = dict(obj["metadata"].get("labels") or {},
                                                 **{"kubernetes.io/metadata.name": old["metadata"]["name"]})
            return
        if subresource == "finalize":
            keep_spec = obj.get("spec")
            for k in list(obj):
                if k not in ("kind", "apiVersion", "metadata"):
                    del obj[k]
            for k, v in old.items():
                if k not in ("kind", "apiVersion", "metadata"):
                    obj[k] = v
            obj["spec"] = keep_spec if keep_spec is not None else {}
            return
        if rt.has_status:
            if "status" in old:
                obj["status"] = old["status"]
            else:
                obj.pop("status", None)
        if rt.kind == "Namespace":
            obj["spec"] = old.get("spec", {})
            obj["metadata"]["labels"] = dict(obj["metadata"].get("labels") or {},
                                             **{"kubernetes.io/metadata.name": old["metadata"]["name"]})
        if rt.sets_generation and obj.get("spec") != old.get("spec"):
            obj["metadata"]["generation"] = old["metadata"].get("generation", 0) + 1

    # ---------------------------------------------------------------- patch
    def patch(self, rt, namespace, name, content_type, body_bytes, subresource=None,
              dry_run=False, field_validation="Warn"):
        with self.lock:
            current = self.get(rt, namespace, name)
            doc = external(rt, current)
            try:
                patched = P.apply(content_type, doc, body_bytes, rt.patch_meta)
            except P.PatchError as e:
                raise e.api_error
            if not isinstance(patched, dict):
                raise E.bad_request('%s in version "%s" cannot be handled as a %s: json: cannot '
                                    'unmarshal %s into Go value of type %s.%s'
                                    % (rt.kind, rt.version, rt.kind, S._jtype(patched), rt.version, rt.kind))
            patched.pop("kind", None)
            patched.pop("apiVersion", None)
            obj, warnings = self.decode(rt, patched, field_validation)
            md = obj["metadata"]
            if md.get("name", "") != name:
                raise E.bad_request("the name of the object (%s) does not match the name on the "
                                    "URL (%s)" % (md.get("name", ""), name))
            if not md.get("resourceVersion"):
                # a patch that removed the RV is unconditional
                md["resourceVersion"] = current["metadata"]["resourceVersion"]
            return self.update(rt, namespace, name, obj, subresource=subresource,
                               dry_run=dry_run, decoded=True, warnings=warnings)

    # ---------------------------------------------------------------- delete
    def delete(self, rt, namespace, name, options=None, dry_run=False):
        """Returns (body, http_code): the object or a Status, as the real server does."""
        options = options or {}
        self.last_delete_options = dict(options, _resource=rt.plural, _name=name,
                                        _namespace=namespace)
        with self.lock:
            obj = self.get(rt, namespace, name)
            md = obj["metadata"]
            pre = options.get("preconditions") or {}
            if pre.get("uid") and pre["uid"] != md.get("uid"):
                raise E.conflict(rt.group, rt.plural, name,
                                 "Precondition failed: UID in precondition: %s, UID in object meta: %s"
                                 % (pre["uid"], md.get("uid")))
            if pre.get("resourceVersion") and pre["resourceVersion"] != md.get("resourceVersion"):
                raise E.conflict(rt.group, rt.plural, name,
                                 "Precondition failed: ResourceVersion in precondition: %s, "
                                 "ResourceVersion in object meta: %s"
                                 % (pre["resourceVersion"], md.get("resourceVersion")))
            key = self.key(rt, namespace, name)
            if rt.kind == "Namespace":
                return self._delete_namespace(rt, obj, dry_run), 200
            # orphan/foregroundDeletion finalizers added by propagationPolicy are resolved at
            # once by the (simulated) garbage collector: nothing here has dependents.
            finalizers = list(md.get("finalizers") or [])
            if finalizers:
                if md.get("deletionTimestamp"):
                    return external(rt, obj), 200
                new = copy.deepcopy(obj)
                new["metadata"]["deletionTimestamp"] = now_rfc3339()
                new["metadata"]["deletionGracePeriodSeconds"] = 0
                if md.get("generation"):
                    new["metadata"]["generation"] = md["generation"] + 1
                new["metadata"] = _order_meta(new["metadata"])
                if dry_run:
                    return external(rt, new), 200
                stored = self.store.put(rt.storage, key, new, "MODIFIED", prev=obj)
                return external(rt, stored), 200
            if dry_run:
                last = obj
            else:
                last = self.store.remove(rt.storage, key)
            if rt.return_deleted_object:
                return external(rt, last), 200
            status = {"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success",
                      "details": {"name": name, "kind": rt.plural, "uid": md.get("uid")}}
            if rt.group:
                status["details"] = {"name": name, "group": rt.group, "kind": rt.plural,
                                     "uid": md.get("uid")}
            return status, 200

    def _delete_namespace(self, rt, obj, dry_run):
        md = obj["metadata"]
        if md.get("deletionTimestamp"):
            return external(rt, obj)
        new = copy.deepcopy(obj)
        new["metadata"]["deletionTimestamp"] = now_rfc3339()
        new["metadata"]["deletionGracePeriodSeconds"] = 0
        new["metadata"] = _order_meta(new["metadata"])
        new["status"] = {"phase": "Terminating"}
        if dry_run:
            return external(rt, new)
        stored = self.store.put(NAMESPACES_GP, md["name"], new, "MODIFIED", prev=obj)
        # the namespace controller: delete the content, then finalize
        for other in R.all_types():
            if other.namespaced and other.storage == (other.group, other.plural):
                for k in self.store.keys_in(other.storage, md["name"]):
                    self.store.remove(other.storage, k)
        self.store.remove(NAMESPACES_GP, md["name"])
        return external(rt, stored)

    # ---------------------------------------------------------------- bootstrap
    def ensure_initial_namespaces(self):
        for ns in INITIAL_NAMESPACES:
            if self.namespace_obj(ns) is None:
                self.create(R.NAMESPACES, "", {"metadata": {"name": ns}})


_META_ORDER = ["name", "generateName", "namespace", "selfLink", "uid", "resourceVersion",
               "generation", "creationTimestamp", "deletionTimestamp",
               "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences",
               "finalizers", "managedFields"]


def _order_meta(md):
    out = {k: md[k] for k in _META_ORDER
           if k in md and (md[k] not in (None, "", [], {}) or k == "resourceVersion")}
    for k, v in md.items():
        if k not in out and k not in _META_ORDER:
            out[k] = v
    return out


def _same(a, b):
    return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
