"""Server-side validation (422 Invalid), following k8s.io/apimachinery/pkg/api/validation
(ObjectMeta), pkg/apis/core/validation (Node, Namespace, ConfigMap, Secret, Event) and
pkg/apis/coordination/validation (Lease).

Validators take ``(obj, old, rt)`` where ``old`` is None on create, and return a list of
:class:`errors.FieldError`.  Field paths and messages match the real validators.
"""
import re

from . import errors as E
from .names import is_dns1123_label, is_dns1123_subdomain, is_label_value, is_qualified_name

TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024
TAINT_EFFECTS = ["NoSchedule", "PreferNoSchedule", "NoExecute"]


def _path_segment_name(name, prefix=False):
    # path.ValidatePathSegmentName (RBAC objects)
    if name in (".", ".."):
        return ["may not be '%s'" % name]
    errs = []
    for c in ("/", "%"):
        if c in name:
            errs.append("may not contain '%s'" % c)
    return errs


NAME_VALIDATORS = {
    "Namespace": is_dns1123_label,
    "Service": is_dns1123_label,
    "ClusterRole": _path_segment_name, "ClusterRoleBinding": _path_segment_name,
    "Role": _path_segment_name, "RoleBinding": _path_segment_name,
}


def name_validator(kind):
    return NAME_VALIDATORS.get(kind, is_dns1123_subdomain)


def validate_labels(labels, path):
    errs = []
    for k, v in (labels or {}).items():
        for m in is_qualified_name(k):
            errs.append(E.invalid_value(path, k, m))
        for m in is_label_value(v):
            errs.append(E.invalid_value(path, v, m))
    return errs


def validate_annotations(annotations, path):
    errs = []
    total = 0
    for k, v in (annotations or {}).items():
        for m in is_qualified_name(k.lower()):
            errs.append(E.invalid_value(path, k, m))
        total += len(k) + len(v)
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(E.FieldError("FieldValueTooLong", path, "",
                                 "may not be more than %d bytes" % TOTAL_ANNOTATION_SIZE_LIMIT))
    return errs


def validate_owner_references(refs, path):
    errs = []
    controllers = 0
    for i, r in enumerate(refs or []):
        p = "%s[%d]" % (path, i)
        if not r.get("apiVersion"):
            errs.append(E.invalid_value(p + ".apiVersion", r.get("apiVersion", ""), "version must not be empty"))
        if not r.get("kind"):
            errs.append(E.invalid_value(p + ".kind", r.get("kind", ""), "kind must not be empty"))
        if not r.get("name"):
            errs.append(E.invalid_value(p + ".name", r.get("name", ""), "name must not be empty"))
        if not r.get("uid"):
            errs.append(E.invalid_value(p + ".uid", r.get("uid", ""), "uid must not be empty"))
        if r.get("controller"):
            controllers += 1
    if controllers > 1:
        errs.append(E.invalid_value(path, refs, "Only one reference can have Controller set to true"))
    return errs


def validate_object_meta(meta, namespaced, kind):
    """ValidateObjectMeta on create (name/generateName, namespace, labels, annotations...)."""
    errs = []
    nv = name_validator(kind)
    gen = meta.get("generateName", "")
    if gen:
        probe = gen[:-1] + "a" if gen.endswith("-") and len(gen) > 1 else gen
        for m in nv(probe):
            errs.append(E.invalid_value("metadata.generateName", gen, m))
    name = meta.get("name", "")
    if not name:
        errs.append(E.required("metadata.name", "name or generateName is required"))
    else:
        for m in nv(name):
            errs.append(E.invalid_value("metadata.name", name, m))
    errs.extend(_meta_common(meta, namespaced))
    return errs


def _meta_common(meta, namespaced):
    errs = []
    ns = meta.get("namespace", "")
    if namespaced:
        if not ns:
            errs.append(E.required("metadata.namespace", ""))
        else:
            for m in is_dns1123_label(ns):
                errs.append(E.invalid_value("metadata.namespace", ns, m))
    elif ns:
        errs.append(E.forbidden_field("metadata.namespace", "not allowed on this type"))
    if meta.get("generation", 0) < 0:
        errs.append(E.invalid_value("metadata.generation", meta["generation"], "must be greater than or equal to 0"))
    errs.extend(validate_labels(meta.get("labels"), "metadata.labels"))
    errs.extend(validate_annotations(meta.get("annotations"), "metadata.annotations"))
    errs.extend(validate_owner_references(meta.get("ownerReferences"), "metadata.ownerReferences"))
    for f in meta.get("finalizers") or []:
        msgs = is_qualified_name(f)
        if msgs:
            errs.append(E.invalid_value("metadata.finalizers", f, ";".join(msgs)))
        elif "/" not in f and f not in ("orphan", "foregroundDeletion", "kubernetes"):
            errs.append(E.invalid_value("metadata.finalizers", f,
                                        "name is neither a standard finalizer name nor is it fully qualified"))
    return errs


def validate_object_meta_update(new, old):
    """ValidateObjectMetaAccessorUpdate."""
    errs = []
    if old.get("deletionTimestamp"):
        added = [f for f in new.get("finalizers") or [] if f not in (old.get("finalizers") or [])]
        for f in added:
            errs.append(E.forbidden_field("metadata.finalizers",
                                          'no new finalizers can be added if the object is being deleted, found new finalizers []string{"%s"}' % f))
    if new.get("generation", 0) < old.get("generation", 0):
        errs.append(E.invalid_value("metadata.generation", new.get("generation", 0), "must not be decremented"))
    for f in ("name", "namespace", "uid", "creationTimestamp", "deletionTimestamp",
              "deletionGracePeriodSeconds"):
        if new.get(f) != old.get(f):
            errs.append(E.immutable("metadata." + f, new.get(f)))
    errs.extend(validate_labels(new.get("labels"), "metadata.labels"))
    errs.extend(validate_annotations(new.get("annotations"), "metadata.annotations"))
    errs.extend(validate_owner_references(new.get("ownerReferences"), "metadata.ownerReferences"))
    return errs


# --------------------------------------------------------------------------- per type

def validate_node(obj, old, rt):
    errs = []
    spec = obj.get("spec") or {}
    seen = {}
    for i, t in enumerate(spec.get("taints") or []):
        p = "spec.taints[%d]" % i
        for m in is_qualified_name(t.get("key", "")):
            errs.append(E.invalid_value(p + ".key", t.get("key", ""), m))
        vm = is_label_value(t.get("value", ""))
        if vm:
            errs.append(E.invalid_value(p + ".value", t.get("value", ""), ";".join(vm)))
        effect = t.get("effect", "")
        if not effect:
            errs.append(E.required(p + ".effect", ""))
        elif effect not in TAINT_EFFECTS:
            errs.append(E.not_supported(p + ".effect", effect, TAINT_EFFECTS))
        keys = seen.setdefault(effect, set())
        if t.get("key", "") in keys:
            errs.append(E.duplicate(p, t, "taints must be unique by key and effect pair"))
            continue
        keys.add(t.get("key", ""))
    if old is not None:
        ospec = old.get("spec") or {}
        if ospec.get("podCIDRs") and spec.get("podCIDRs") != ospec.get("podCIDRs"):
            errs.append(E.forbidden_field("spec.podCIDRs",
                                          'node updates may not change podCIDR except from "" to valid'))
        if ospec.get("providerID") and spec.get("providerID") != ospec.get("providerID"):
            errs.append(E.forbidden_field("spec.providerID",
                                          'node updates may not change providerID except from "" to valid'))
    return errs


def validate_namespace(obj, old, rt):
    errs = []
    for i, f in enumerate((obj.get("spec") or {}).get("finalizers") or []):
        msgs = is_qualified_name(f)
        if msgs:
            errs.append(E.invalid_value("spec.finalizers", f, ";".join(msgs)))
    return errs


_CONFIG_KEY_RE = re.compile(r"^[-._a-zA-Z0-9]+$")


def _config_key_errs(k):
    out = []
    if len(k) > 253:
        out.append("must be no more than 253 characters")
    if not _CONFIG_KEY_RE.match(k) or k.endswith("\n"):
        out.append("a valid config key must consist of alphanumeric characters, '-', '_' or '.' "
                   "(e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation "
                   "is '[-._a-zA-Z0-9]+')")
    if k in (".", ".."):
        out.append("must not be '%s'" % k)
    elif k.startswith(".."):
        out.append("must not start with '..'")
    return out


def validate_configmap(obj, old, rt):
    errs = []
    data, binary = obj.get("data") or {}, obj.get("binaryData") or {}
    total = 0
    for k, v in data.items():
        for m in _config_key_errs(k):
            errs.append(E.invalid_value("data", k, m))
        total += len(v)
    for k, v in binary.items():
        for m in _config_key_errs(k):
            errs.append(E.invalid_value("binaryData", k, m))
        if k in data:
            errs.append(E.invalid_value("binaryData", k, "duplicate of key present in data"))
        total += len(v) * 3 // 4
    if total > 1024 * 1024:
        errs.append(E.FieldError("FieldValueTooLong", "", "", "must have at most 1048576 bytes"))
    if old is not None and old.get("immutable"):
        if not obj.get("immutable"):
            errs.append(E.forbidden_field("immutable", "field is immutable when `immutable` is set"))
        if data != (old.get("data") or {}):
            errs.append(E.forbidden_field("data", "field is immutable when `immutable` is set"))
        if binary != (old.get("binaryData") or {}):
            errs.append(E.forbidden_field("binaryData", "field is immutable when `immutable` is set"))
    return errs


def validate_lease(obj, old, rt):
    """pkg/apis/coordination/validation ValidateLeaseSpec (renewTime is a MicroTime and is not
    checked further: a holder whose clock is off writes what its clock says)."""
    errs = []
    spec = obj.get("spec") or {}
    duration = spec.get("leaseDurationSeconds")
    if duration is not None and duration <= 0:
        errs.append(E.invalid_value("spec.leaseDurationSeconds", duration, "must be greater than 0"))
    transitions = spec.get("leaseTransitions")
    if transitions is not None and transitions < 0:
        errs.append(E.invalid_value("spec.leaseTransitions", transitions,
                                    "must be greater than or equal to 0"))
    if spec.get("preferredHolder") and not spec.get("strategy"):
        errs.append(E.forbidden_field("spec.preferredHolder", "may only be specified if `strategy` is defined"))
    return errs


def validate_secret(obj, old, rt):
    errs = []
    for k in (obj.get("data") or {}):
        for m in _config_key_errs(k):
            errs.append(E.invalid_value("data[%s]" % k, k, m))
    if old is not None:
        if obj.get("type", "") != old.get("type", ""):
            errs.append(E.immutable("type", obj.get("type", "")))
        if old.get("immutable"):
            if not obj.get("immutable"):
                errs.append(E.forbidden_field("immutable", "field is immutable when `immutable` is set"))
            if (obj.get("data") or {}) != (old.get("data") or {}):
                errs.append(E.forbidden_field("data", "field is immutable when `immutable` is set"))
    return errs


def _legacy_validate_event(ev):
    """legacyValidateEvent (pkg/apis/core/validation/events.go) on the core/v1 shape."""
    errs = []
    ns = (ev.get("metadata") or {}).get("namespace", "")
    io = ev.get("involvedObject") or {}
    io_ns = io.get("namespace", "")
    if not ev.get("eventTime"):
        if not io_ns:
            if ns not in ("", "default"):
                errs.append(E.invalid_value("involvedObject.namespace", io_ns, "does not match event.namespace"))
        elif ns != io_ns:
            errs.append(E.invalid_value("involvedObject.namespace", io_ns, "does not match event.namespace"))
    else:
        if not io_ns and ns not in ("default", "kube-system"):
            errs.append(E.invalid_value("involvedObject.namespace", io_ns, "does not match event.namespace"))
        rc = ev.get("reportingComponent", "")
        if not rc:
            errs.append(E.required("reportingController", ""))
        for m in is_qualified_name(rc):
            errs.append(E.invalid_value("reportingController", rc, m))
        ri = ev.get("reportingInstance", "")
        if not ri:
            errs.append(E.required("reportingInstance", ""))
        if len(ri) > 128:
            errs.append(E.invalid_value("reportingInstance", "", "can have at most 128 characters"))
        if not ev.get("action"):
            errs.append(E.required("action", ""))
        if len(ev.get("action", "")) > 128:
            errs.append(E.invalid_value("action", "", "can have at most 128 characters"))
        if not ev.get("reason"):
            errs.append(E.required("reason", ""))
        if len(ev.get("reason", "")) > 128:
            errs.append(E.invalid_value("reason", "", "can have at most 128 characters"))
        if len(ev.get("message", "")) > 1024:
            errs.append(E.invalid_value("message", "", "can have at most 1024 characters"))
    for m in is_dns1123_subdomain(ns):
        errs.append(E.invalid_value("namespace", ns, m))
    return errs


def validate_core_event(obj, old, rt):
    return _legacy_validate_event(obj)


def validate_events_v1_event(obj, old, rt):
    """``obj`` is already in the core/v1 storage shape."""
    errs = _legacy_validate_event(obj)
    if old is None:
        series = obj.get("series")
        if series is not None:
            if series.get("count", 0) < 2:
                errs.append(E.invalid_value("series.count", "", "should be at least 2"))
            if not series.get("lastObservedTime"):
                errs.append(E.required("series.lastObservedTime", ""))
        if not obj.get("eventTime"):
            errs.append(E.required("eventTime", ""))
        if obj.get("type", "") not in ("Normal", "Warning"):
            errs.append(E.invalid_value("type", "", "has invalid value: %s" % obj.get("type", "")))
        if obj.get("firstTimestamp"):
            errs.append(E.invalid_value("firstTimestamp", "", "needs to be unset"))
        if obj.get("lastTimestamp"):
            errs.append(E.invalid_value("lastTimestamp", "", "needs to be unset"))
        if obj.get("count"):
            errs.append(E.invalid_value("count", "", "needs to be unset"))
        src = obj.get("source") or {}
        if src.get("component") or src.get("host"):
            errs.append(E.invalid_value("source", "", "needs to be unset"))
    else:
        for f in ("involvedObject", "reason", "message", "source", "firstTimestamp",
                  "lastTimestamp", "count", "type", "eventTime", "action", "related",
                  "reportingComponent", "reportingInstance"):
            if obj.get(f) != old.get(f):
                name = {"reportingComponent": "reportingController"}.get(f, f)
                errs.append(E.immutable(name, obj.get(f)))
    return errs
