"""Registry of the resource types the fake serves, and their discovery documents.

Everything the server needs to know about a type lives in one :class:`ResourceType` entry
(scope, subresources, short names, which field selectors the real apiserver supports, patch
strategies, the typed schema used to decode bodies, ...).  Adding a type is one
``register(ResourceType(...))`` line; the store is generic, keyed by
(storage group, plural, namespace, name).
"""
from . import errors
from . import schema as sch
from .patch import PM

ALL_VERBS = ("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
STATUS_VERBS = ("get", "patch", "update")

# ----------------------------------------------------------------- strategic-merge patch metadata

META_PM = {"metadata": PM(sub={"finalizers": PM("merge"), "ownerReferences": PM("merge", "uid")})}


def _with_meta(d):
    out = dict(META_PM)
    out.update(d)
    return out


CONTAINER_PM = {"ports": PM("merge", "containerPort"), "env": PM("merge", "name"),
                "volumeMounts": PM("merge", "mountPath"), "volumeDevices": PM("merge", "devicePath")}
POD_SPEC_PM = {
    "volumes": PM("merge,retainKeys", "name"),
    "initContainers": PM("merge", "name", CONTAINER_PM),
    "containers": PM("merge", "name", CONTAINER_PM),
    "ephemeralContainers": PM("merge", "name", CONTAINER_PM),
    "imagePullSecrets": PM("merge", "name"),
    "hostAliases": PM("merge", "ip"),
    "topologySpreadConstraints": PM("merge", "topologyKey"),
    "schedulingGates": PM("merge", "name"),
    "resourceClaims": PM("merge,retainKeys", "name"),
}
POD_TEMPLATE_PM = {"template": PM(sub=dict(META_PM, spec=PM(sub=POD_SPEC_PM)))}
CONDITIONS_PM = {"conditions": PM("merge", "type")}

NODE_PM = _with_meta({
    # k8s.io/api core/v1 types.go: PodCIDRs patchStrategy:"merge"; Taints has NO patch
    # strategy (replaced); Conditions/Addresses merge on "type"; Images replaced.
    "spec": PM(sub={"podCIDRs": PM("merge")}),
    "status": PM(sub={"conditions": PM("merge", "type"), "addresses": PM("merge", "type")}),
})
DEPLOYMENT_PM = _with_meta({"spec": PM(sub=dict(POD_TEMPLATE_PM, strategy=PM("retainKeys"))),
                            "status": PM(sub=CONDITIONS_PM)})
JOB_PM = _with_meta({"spec": PM(sub=POD_TEMPLATE_PM), "status": PM(sub=CONDITIONS_PM)})
CRONJOB_PM = _with_meta({"spec": PM(sub={"jobTemplate": PM(sub=dict(META_PM, spec=PM(sub=POD_TEMPLATE_PM)))})})
SERVICE_PM = _with_meta({"spec": PM(sub={"ports": PM("merge", "port")}),
                         "status": PM(sub=CONDITIONS_PM)})
SERVICEACCOUNT_PM = _with_meta({"secrets": PM("merge", "name")})
NAMESPACE_PM = _with_meta({"status": PM(sub=CONDITIONS_PM)})


# ----------------------------------------------------------------- selectable fields

def _meta_fields(obj, namespaced):
    md = obj.get("metadata") or {}
    f = {"metadata.name": md.get("name", "")}
    if namespaced:
        f["metadata.namespace"] = md.get("namespace", "")
    return f


def _node_fields(obj):
    f = _meta_fields(obj, False)
    f["spec.unschedulable"] = "true" if (obj.get("spec") or {}).get("unschedulable") else "false"
    return f


def _event_fields(obj):
    # pkg/registry/core/event/strategy.go ToSelectableFields (on the core/v1 shape)
    f = _meta_fields(obj, True)
    io = obj.get("involvedObject") or {}
    for k in ("kind", "namespace", "name", "uid", "apiVersion", "resourceVersion", "fieldPath"):
        f["involvedObject." + k] = io.get(k, "")
    f["reason"] = obj.get("reason", "")
    f["reportingComponent"] = obj.get("reportingComponent", "")
    f["source"] = (obj.get("source") or {}).get("component", "")
    f["type"] = obj.get("type", "")
    return f


def _namespace_fields(obj):
    f = _meta_fields(obj, False)
    f["status.phase"] = (obj.get("status") or {}).get("phase", "")
    return f


def _secret_fields(obj):
    f = _meta_fields(obj, True)
    f["type"] = obj.get("type", "")
    return f


def _service_fields(obj):
    f = _meta_fields(obj, True)
    spec = obj.get("spec") or {}
    f["spec.clusterIP"] = spec.get("clusterIP", "")
    f["spec.type"] = spec.get("type", "")
    return f


def _job_fields(obj):
    f = _meta_fields(obj, True)
    f["status.successful"] = str((obj.get("status") or {}).get("succeeded", 0))
    return f


_EVENT_LABELS = ["involvedObject.kind", "involvedObject.namespace", "involvedObject.name",
                 "involvedObject.uid", "involvedObject.apiVersion",
                 "involvedObject.resourceVersion", "involvedObject.fieldPath", "reason",
                 "reportingComponent", "source", "type", "metadata.namespace", "metadata.name"]
# pkg/apis/events/v1/conversion.go AddFieldLabelConversionsForEvent
_EVENTS_V1_LABELS = {
    "reason": "reason", "regarding.kind": "involvedObject.kind",
    "regarding.namespace": "involvedObject.namespace", "regarding.name": "involvedObject.name",
    "regarding.uid": "involvedObject.uid", "regarding.apiVersion": "involvedObject.apiVersion",
    "regarding.resourceVersion": "involvedObject.resourceVersion",
    "regarding.fieldPath": "involvedObject.fieldPath", "reportingController": "reportingComponent",
    "source": "source", "type": "type", "metadata.namespace": "metadata.namespace",
    "metadata.name": "metadata.name"}


# ----------------------------------------------------------------- events.k8s.io <-> core/v1

_EV_RENAMES = [("involvedObject", "regarding"), ("source", "deprecatedSource"),
               ("message", "note"), ("firstTimestamp", "deprecatedFirstTimestamp"),
               ("lastTimestamp", "deprecatedLastTimestamp"), ("count", "deprecatedCount"),
               ("reportingComponent", "reportingController")]


def core_event_to_events_v1(obj):
    out = {"kind": "Event", "apiVersion": "events.k8s.io/v1"}
    core_to_v1 = dict(_EV_RENAMES)
    for k, v in obj.items():
        if k in ("kind", "apiVersion"):
            continue
        out[core_to_v1.get(k, k)] = v
    if out.get("series"):
        out["series"] = {"count": out["series"].get("count", 0),
                         "lastObservedTime": out["series"].get("lastObservedTime")}
    decoded, dummy = sch.decode(sch.EVENTS_V1_EVENT, out)
    return decoded


def events_v1_to_core_event(obj):
    out = {"kind": "Event", "apiVersion": "v1"}
    v1_to_core = {b: a for a, b in _EV_RENAMES}
    for k, v in obj.items():
        if k in ("kind", "apiVersion"):
            continue
        out[v1_to_core.get(k, k)] = v
    decoded, dummy = sch.decode(sch.CORE_EVENT, out)
    return decoded


# ----------------------------------------------------------------- the registry

class ResourceType:
    def __init__(self, group, version, kind, plural, singular, namespaced, *,
                 short_names=(), categories=(), verbs=ALL_VERBS, subresources=None,
                 field_labels=None, field_fn=None, field_error="kube", has_status=False,
                 return_deleted_object=False, sets_generation=False, patch_meta=None,
                 schema=None, storage=None, to_external=None, to_storage=None,
                 status_keeps_labels=False, validator=None):
        self.group, self.version, self.kind = group, version, kind
        self.plural, self.singular, self.namespaced = plural, singular, namespaced
        self.short_names, self.categories, self.verbs = tuple(short_names), tuple(categories), verbs
        # subresource name -> (kind, verbs, group, version)
        self.subresources = dict(subresources or {})
        if has_status and "status" not in self.subresources:
            self.subresources["status"] = (kind, STATUS_VERBS, None, None)
        self.has_status = has_status
        # external field label -> internal selectable field name
        if field_labels is None:
            field_labels = {"metadata.name": "metadata.name"}
            if namespaced:
                field_labels["metadata.namespace"] = "metadata.namespace"
            if field_error == "kube":
                field_error = "default"
        elif isinstance(field_labels, (list, tuple)):
            field_labels = {f: f for f in field_labels}
        self.field_labels = field_labels
        self.field_error = field_error
        self.field_fn = field_fn or (lambda o, _ns=namespaced: _meta_fields(o, _ns))
        self.return_deleted_object = return_deleted_object
        self.sets_generation = sets_generation
        self.patch_meta = patch_meta if patch_meta is not None else dict(META_PM)
        self.schema = schema or sch.generic_schema(kind)
        # where objects live: (group, plural) of the storage (events.k8s.io shares core events)
        self.storage = storage or (group, plural)
        self.to_external = to_external    # storage shape -> this API's shape
        self.to_storage = to_storage      # this API's shape -> storage shape
        self.status_keeps_labels = status_keeps_labels
        self.validator = validator

    @property
    def api_version(self):
        return self.version if not self.group else "%s/%s" % (self.group, self.version)

    @property
    def list_kind(self):
        return self.kind + "List"

    @property
    def group_version(self):
        return self.api_version

    def convert_field_label(self, label):
        if label in self.field_labels:
            return self.field_labels[label]
        if self.field_error == "default":
            raise errors.bad_request('"%s" is not a known field selector: only "metadata.name", '
                                     '"metadata.namespace"' % label)
        raise errors.bad_request("field label not supported: %s" % label)

    def external(self, obj):
        return self.to_external(obj) if self.to_external else obj


_BY_GVR = {}
_BY_GVK = {}
_GROUP_ORDER = []


def register(rt):
    _BY_GVR[(rt.group, rt.version, rt.plural)] = rt
    _BY_GVK.setdefault((rt.api_version, rt.kind), rt)
    if (rt.group, rt.version) not in _GROUP_ORDER:
        _GROUP_ORDER.append((rt.group, rt.version))
    return rt


def lookup(group, version, plural):
    return _BY_GVR.get((group, version, plural))


def lookup_kind(api_version, kind):
    rt = _BY_GVK.get((api_version, kind))
    if rt is None:
        raise KeyError("no resource type registered for %s %s" % (api_version, kind))
    return rt


def all_types():
    return list(_BY_GVR.values())


def group_versions():
    return list(_GROUP_ORDER)


def _validators():
    from . import validation  # local import: validation needs resources' constants
    return validation


_v = None


def _val(name):
    def call(*a, **kw):
        global _v
        if _v is None:
            _v = _validators()
        return getattr(_v, name)(*a, **kw)
    return call


# core/v1
NODES = register(ResourceType(
    "", "v1", "Node", "nodes", "node", False, short_names=["no"], has_status=True,
    subresources={"proxy": ("NodeProxyOptions", ("create", "delete", "get", "patch", "update"), None, None)},
    field_labels=["metadata.name", "spec.unschedulable"], field_fn=_node_fields,
    patch_meta=NODE_PM, schema=sch.NODE, validator=_val("validate_node")))
NAMESPACES = register(ResourceType(
    "", "v1", "Namespace", "namespaces", "namespace", False, short_names=["ns"], has_status=True,
    verbs=("create", "delete", "get", "list", "patch", "update", "watch"),
    subresources={"finalize": ("Namespace", ("update",), None, None)},
    field_labels=["status.phase", "metadata.name"], field_fn=_namespace_fields,
    patch_meta=NAMESPACE_PM, schema=sch.NAMESPACE, validator=_val("validate_namespace")))
CONFIGMAPS = register(ResourceType(
    "", "v1", "ConfigMap", "configmaps", "configmap", True, short_names=["cm"],
    schema=sch.CONFIGMAP, validator=_val("validate_configmap")))
EVENTS = register(ResourceType(
    "", "v1", "Event", "events", "event", True, short_names=["ev"],
    field_labels=_EVENT_LABELS, field_fn=_event_fields, schema=sch.CORE_EVENT,
    validator=_val("validate_core_event")))
SERVICES = register(ResourceType(
    "", "v1", "Service", "services", "service", True, short_names=["svc"], categories=["all"],
    has_status=True, field_labels=["metadata.namespace", "metadata.name", "spec.clusterIP", "spec.type"],
    field_fn=_service_fields, patch_meta=SERVICE_PM, return_deleted_object=True,
    verbs=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")))
SERVICEACCOUNTS = register(ResourceType(
    "", "v1", "ServiceAccount", "serviceaccounts", "serviceaccount", True, short_names=["sa"],
    patch_meta=SERVICEACCOUNT_PM, return_deleted_object=True))
SECRETS = register(ResourceType(
    "", "v1", "Secret", "secrets", "secret", True,
    field_labels=["type", "metadata.namespace", "metadata.name"], field_fn=_secret_fields,
    schema=sch.SECRET, validator=_val("validate_secret")))

# coordination.k8s.io/v1
LEASES = register(ResourceType(
    "coordination.k8s.io", "v1", "Lease", "leases", "lease", True, schema=sch.LEASE,
    validator=_val("validate_lease")))

# events.k8s.io/v1: the same storage as core/v1 events, converted on the way in and out
EVENTS_V1 = register(ResourceType(
    "events.k8s.io", "v1", "Event", "events", "event", True, short_names=["ev"],
    field_labels=_EVENTS_V1_LABELS, field_fn=_event_fields, schema=sch.EVENTS_V1_EVENT,
    storage=("", "events"), to_external=core_event_to_events_v1,
    to_storage=events_v1_to_core_event, validator=_val("validate_events_v1_event")))

# apps/v1
DEPLOYMENTS = register(ResourceType(
    "apps", "v1", "Deployment", "deployments", "deployment", True, short_names=["deploy"],
    categories=["all"], has_status=True, sets_generation=True, patch_meta=DEPLOYMENT_PM,
    status_keeps_labels=True,
    subresources={"status": ("Deployment", STATUS_VERBS, None, None)}))

# batch/v1
CRONJOBS = register(ResourceType(
    "batch", "v1", "CronJob", "cronjobs", "cronjob", True, short_names=["cj"],
    categories=["all"], has_status=True, sets_generation=True, patch_meta=CRONJOB_PM))
JOBS = register(ResourceType(
    "batch", "v1", "Job", "jobs", "job", True, categories=["all"], has_status=True,
    sets_generation=True, patch_meta=JOB_PM,
    field_labels=["metadata.name", "metadata.namespace", "status.successful"],
    field_fn=_job_fields))

# rbac.authorization.k8s.io/v1
for _kind, _plural, _ns in (("ClusterRole", "clusterroles", False),
                            ("ClusterRoleBinding", "clusterrolebindings", False),
                            ("Role", "roles", True), ("RoleBinding", "rolebindings", True)):
    register(ResourceType("rbac.authorization.k8s.io", "v1", _kind, _plural, _plural[:-1], _ns))


# ----------------------------------------------------------------- discovery documents

def api_versions():
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                            "serverAddress": "127.0.0.1:6443"}]}


def _group_entry(group):
    versions = [v for g, v in _GROUP_ORDER if g == group]
    gvs = [{"groupVersion": "%s/%s" % (group, v), "version": v} for v in versions]
    return {"name": group, "versions": gvs, "preferredVersion": gvs[0]}


def api_group_list():
    groups = []
    seen = set()
    for g, dummy in _GROUP_ORDER:
        if g and g not in seen:
            seen.add(g)
            groups.append(_group_entry(g))
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_group(group):
    if not any(g == group for g, dummy in _GROUP_ORDER):
        return None
    d = _group_entry(group)
    d["kind"] = "APIGroup"
    d["apiVersion"] = "v1"
    return d


def api_resource_list(group, version):
    types = [rt for rt in _BY_GVR.values() if rt.group == group and rt.version == version]
    if not types:
        return None
    resources = []
    for rt in sorted(types, key=lambda r: r.plural):
        entry = {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced,
                 "kind": rt.kind, "verbs": list(rt.verbs)}
        if rt.short_names:
            entry["shortNames"] = list(rt.short_names)
        if rt.categories:
            entry["categories"] = list(rt.categories)
        resources.append(entry)
        for sub in sorted(rt.subresources):
            kind, verbs, sgroup, sversion = rt.subresources[sub]
            sentry = {"name": "%s/%s" % (rt.plural, sub), "singularName": "",
                      "namespaced": rt.namespaced, "kind": kind, "verbs": list(verbs)}
            if sgroup is not None:
                sentry["group"], sentry["version"] = sgroup, sversion
            resources.append(sentry)
    gv = version if not group else "%s/%s" % (group, version)
    return {"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv,
            "resources": resources}
