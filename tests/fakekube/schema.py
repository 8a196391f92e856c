"""Typed decoding of request bodies, reproducing what Go's json decoding into the k8s.io/api
structs and re-encoding does to an object:

* unknown fields are dropped (``Warning: 299 - "unknown field \\"spec.foo\\""``), or rejected
  with 400 under ``fieldValidation=Strict``;
* a value of the wrong JSON type is a 400 (``json: cannot unmarshal string into Go struct
  field NodeSpec.spec.unschedulable of type bool``);
* ``null`` becomes the zero value; ``omitempty`` zero values disappear (so ``unschedulable:
  false`` is never returned), non-omitempty fields are always present;
* ResourceList quantities are canonicalized and times are re-rendered in RFC 3339 UTC.

Only the types the project exercises have a full schema (Node, core and events.k8s.io Events,
Lease, Namespace, ConfigMap, Secret); every other type gets its ObjectMeta decoded and the rest
kept as sent (with nulls dropped).
"""
import base64
import binascii
import datetime

from . import quantity

_MISSING = object()


class DecodeError(Exception):
    """json: cannot unmarshal ... (400 BadRequest)."""


def _jtype(v):
    if isinstance(v, bool):
        return "bool"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


class Ctx:
    def __init__(self):
        self.unknown = []

    def type_error(self, value, struct, path, gotype):
        raise DecodeError("json: cannot unmarshal %s into Go struct field %s.%s of type %s"
                          % (_jtype(value), struct, path, gotype))


class T:
    """Base field type.  ``omitempty``: zero values are not encoded."""
    pointer = False

    def __init__(self, omitempty=True):
        self.omitempty = omitempty

    def decode(self, v, ctx, struct, path):
        raise NotImplementedError

    def zero(self):
        return None

    def is_empty(self, v):
        return v is None


class Str(T):
    gotype = "string"

    def decode(self, v, ctx, struct, path):
        if v is None:
            return ""
        if not isinstance(v, str):
            ctx.type_error(v, struct, path, self.gotype)
        return v

    def zero(self):
        return ""

    def is_empty(self, v):
        return v == ""


class PStr(Str):
    """*string: nil is omitted, "" is kept."""
    pointer = True

    def decode(self, v, ctx, struct, path):
        if v is None:
            return None
        return Str.decode(self, v, ctx, struct, path)

    def zero(self):
        return None

    def is_empty(self, v):
        return v is None


class Bool(T):
    def decode(self, v, ctx, struct, path):
        if v is None:
            return False
        if not isinstance(v, bool):
            ctx.type_error(v, struct, path, "bool")
        return v

    def zero(self):
        return False

    def is_empty(self, v):
        return v is False


class PBool(Bool):
    pointer = True

    def decode(self, v, ctx, struct, path):
        if v is None:
            return None
        return Bool.decode(self, v, ctx, struct, path)

    def zero(self):
        return None

    def is_empty(self, v):
        return v is None


class Int(T):
    def __init__(self, omitempty=True, gotype="int64"):
        super().__init__(omitempty)
        self.gotype = gotype

    def decode(self, v, ctx, struct, path):
        if v is None:
            return 0
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            ctx.type_error(v, struct, path, self.gotype)
        if isinstance(v, float):
            if v != int(v):
                raise DecodeError("json: cannot unmarshal number %s into Go struct field %s.%s of type %s"
                                  % (v, struct, path, self.gotype))
            v = int(v)
        return v

    def zero(self):
        return 0

    def is_empty(self, v):
        return v == 0


class PInt(Int):
    pointer = True

    def decode(self, v, ctx, struct, path):
        if v is None:
            return None
        return Int.decode(self, v, ctx, struct, path)

    def zero(self):
        return None

    def is_empty(self, v):
        return v is None


def _parse_time(v):
    if v.endswith("Z") or v.endswith("z"):
        v = v[:-1] + "+00:00"
    dt = datetime.datetime.fromisoformat(v)
    if dt.tzinfo is None:
        raise ValueError("no zone")
    return dt.astimezone(datetime.timezone.utc)


class Time(T):
    """metav1.Time (seconds) or MicroTime.  Non-pointer zero encodes as null; ``omitzero``
    (creationTimestamp) and pointers drop it."""

    def __init__(self, pointer=False, micro=False, omitzero=False):
        super().__init__(True)
        self.pointer = pointer
        self.micro = micro
        self.omitzero = omitzero

    def decode(self, v, ctx, struct, path):
        if v is None or v == "":
            return None
        if not isinstance(v, str):
            ctx.type_error(v, struct, path, "string")
        try:
            dt = _parse_time(v)
        except ValueError:
            layout = "2006-01-02T15:04:05.000000Z07:00" if self.micro else "2006-01-02T15:04:05Z07:00"
            raise DecodeError('parsing time "%s" as "%s": cannot parse "%s" as "2006"'
                              % (v, layout, v))
        if self.micro:
            return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return dt.strftime("%Y-%m-%dT%H:%M:%SZ")

    def encode_missing(self):
        return _MISSING if (self.pointer or self.omitzero) else None


class Quantity(Str):
    def decode(self, v, ctx, struct, path):
        if v is None:
            return "0"
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = repr(v) if isinstance(v, float) else str(v)
        if not isinstance(v, str):
            ctx.type_error(v, struct, path, "resource.Quantity")
        try:
            return quantity.canonical(v)
        except quantity.QuantityError as e:
            raise DecodeError(str(e))


class Bytes(Str):
    """[]byte: base64 in JSON."""

    def decode(self, v, ctx, struct, path):
        s = Str.decode(self, v, ctx, struct, path)
        try:
            base64.b64decode(s, validate=True)
        except (binascii.Error, ValueError):
            raise DecodeError("illegal base64 data at input byte 0")
        return s


class Map(T):
    def __init__(self, value, omitempty=True):
        super().__init__(omitempty)
        self.value = value

    def decode(self, v, ctx, struct, path):
        if v is None:
            return None
        if not isinstance(v, dict):
            ctx.type_error(v, struct, path, "map[string]" + getattr(self.value, "gotype", "string"))
        return {k: self.value.decode(x, ctx, struct, path) for k, x in v.items()}

    def is_empty(self, v):
        return not v


class List(T):
    def __init__(self, item, omitempty=True):
        super().__init__(omitempty)
        self.item = item

    def decode(self, v, ctx, struct, path):
        if v is None:
            return None
        if not isinstance(v, list):
            gotype = "[]" + getattr(self.item, "name", getattr(self.item, "gotype", "interface {}"))
            ctx.type_error(v, struct, path, gotype)
        out = []
        fast = getattr(self.item, "fast", None)
        for x in v:
            if fast is not None:
                y = fast(x)
                if y is not None:
                    out.append(y)
                    continue
            if isinstance(self.item, Struct):
                out.append(self.item.decode(x, ctx, struct, path) if x is not None
                           else self.item.decode_struct({}, ctx, path))
            else:
                out.append(self.item.decode(x, ctx, struct, path) if x is not None else self.item.zero())
        return out

    def is_empty(self, v):
        return not v


class Any(T):
    """Kept as sent (e.g. RawExtension, or types we do not model)."""

    def decode(self, v, ctx, struct, path):
        return _drop_nulls(v)


class Struct(T):
    def __init__(self, name, fields, pointer=False, omitempty=True):
        super().__init__(omitempty)
        self.name = name
        self.fields = fields
        self.pointer = pointer

    def decode(self, v, ctx, struct, path):
        if v is None:
            return None if self.pointer else self.decode_struct({}, ctx, path)
        if not isinstance(v, dict):
            ctx.type_error(v, struct, path, ("*v1." if self.pointer else "v1.") + self.name)
        return self.decode_struct(v, ctx, path)

    def decode_struct(self, v, ctx, path):
        if not isinstance(v, dict):
            ctx.type_error(v, self.name, path, "v1." + self.name)
        out = {}
        for k, x in v.items():
            if k not in self.fields:
                if not k.startswith("$"):
                    ctx.unknown.append(path + "." + k if path else k)
        for k, ft in self.fields.items():
            sub = path + "." + k if path else k
            # a missing field and an explicit null decode the same way in Go
            enc = _encode(ft, ft.decode(v.get(k), ctx, self.name, sub))
            if enc is not _MISSING:
                out[k] = enc
        return out

    def is_empty(self, v):
        return v is None


def _encode(ft, val):
    if isinstance(ft, Time):
        if val is None:
            return ft.encode_missing()
        return val
    if isinstance(ft, Any):
        return _MISSING if val is None else val
    if isinstance(ft, Struct):
        if val is None:
            return _MISSING if (ft.pointer and ft.omitempty) else None
        return val
    if ft.omitempty and ft.is_empty(val):
        return _MISSING
    return val


def _drop_nulls(v):
    if isinstance(v, dict):
        return {k: _drop_nulls(x) for k, x in v.items() if x is not None and not k.startswith("$")}
    if isinstance(v, list):
        return [_drop_nulls(x) for x in v]
    return v


# --------------------------------------------------------------------------- schemas

S, B, I = Str, Bool, Int

OWNER_REF = Struct("OwnerReference", {
    "apiVersion": S(False), "kind": S(False), "name": S(False), "uid": S(False),
    "controller": PBool(), "blockOwnerDeletion": PBool()})

OBJECT_META = Struct("ObjectMeta", {
    "name": S(), "generateName": S(), "namespace": S(), "selfLink": S(), "uid": S(),
    "resourceVersion": S(), "generation": I(), "creationTimestamp": Time(omitzero=True),
    "deletionTimestamp": Time(pointer=True), "deletionGracePeriodSeconds": PInt(),
    "labels": Map(S()), "annotations": Map(S()), "ownerReferences": List(OWNER_REF),
    "finalizers": List(S()), "managedFields": List(Any())})

_TYPE_META = {"kind": S(), "apiVersion": S()}

TAINT = Struct("Taint", {"key": S(False), "value": S(), "effect": S(False),
                         "timeAdded": Time(pointer=True)})
CONFIGMAP_SOURCE = Struct("ConfigMapNodeConfigSource", {
    "namespace": S(False), "name": S(False), "uid": S(), "resourceVersion": S(),
    "kubeletConfigKey": S(False)}, pointer=True)
NODE_CONFIG_SOURCE = Struct("NodeConfigSource", {"configMap": CONFIGMAP_SOURCE}, pointer=True)
NODE_SPEC = Struct("NodeSpec", {
    "podCIDR": S(), "podCIDRs": List(S()), "providerID": S(), "unschedulable": B(),
    "taints": List(TAINT), "configSource": NODE_CONFIG_SOURCE, "externalID": S(),
    "podPreemptionPolicy": Any()})
NODE_CONDITION = Struct("NodeCondition", {
    "type": S(False), "status": S(False), "lastHeartbeatTime": Time(),
    "lastTransitionTime": Time(), "reason": S(), "message": S()})
NODE_ADDRESS = Struct("NodeAddress", {"type": S(False), "address": S(False)})
DAEMON_ENDPOINT = Struct("DaemonEndpoint", {"Port": Int(False, "int32")})
NODE_DAEMON_ENDPOINTS = Struct("NodeDaemonEndpoints", {"kubeletEndpoint": DAEMON_ENDPOINT})
NODE_SYSTEM_INFO = Struct("NodeSystemInfo", {
    "machineID": S(False), "systemUUID": S(False), "bootID": S(False),
    "kernelVersion": S(False), "osImage": S(False), "containerRuntimeVersion": S(False),
    "kubeletVersion": S(False), "kubeProxyVersion": S(False), "operatingSystem": S(False),
    "architecture": S(False), "swap": Struct("NodeSwapStatus", {"capacity": PInt()}, pointer=True)})
CONTAINER_IMAGE = Struct("ContainerImage", {"names": List(S(), omitempty=False),
                                            "sizeBytes": I()})


def _fast_image(x):
    """Decode the common, well-formed ContainerImage quickly (None: use the generic path).

    Exact types on purpose: a bool is an int subclass and must take the generic path."""
    # pylint: disable=unidiomatic-typecheck
    if type(x) is not dict or len(x) != 2:
        return None
    names, size = x.get("names"), x.get("sizeBytes")
    if type(names) is not list or type(size) is not int:
        return None
    for n in names:
        if type(n) is not str:
            return None
    return {"names": list(names), "sizeBytes": size} if size else {"names": list(names)}


CONTAINER_IMAGE.fast = _fast_image
ATTACHED_VOLUME = Struct("AttachedVolume", {"name": S(False), "devicePath": S(False)})
NODE_STATUS = Struct("NodeStatus", {
    "capacity": Map(Quantity()), "allocatable": Map(Quantity()), "phase": S(),
    "conditions": List(NODE_CONDITION), "addresses": List(NODE_ADDRESS),
    "daemonEndpoints": NODE_DAEMON_ENDPOINTS, "nodeInfo": NODE_SYSTEM_INFO,
    "images": List(CONTAINER_IMAGE), "volumesInUse": List(S()),
    "volumesAttached": List(ATTACHED_VOLUME), "config": Any(), "runtimeHandlers": Any(),
    "features": Any(), "declaredFeatures": List(S())})
NODE = Struct("Node", dict(_TYPE_META, metadata=OBJECT_META, spec=NODE_SPEC, status=NODE_STATUS))

OBJECT_REFERENCE = Struct("ObjectReference", {
    "kind": S(), "namespace": S(), "name": S(), "uid": S(), "apiVersion": S(),
    "resourceVersion": S(), "fieldPath": S()})
EVENT_SOURCE = Struct("EventSource", {"component": S(), "host": S()})
CORE_EVENT_SERIES = Struct("EventSeries", {"count": Int(True, "int32"),
                                           "lastObservedTime": Time(micro=True)}, pointer=True)
CORE_EVENT = Struct("Event", dict(
    _TYPE_META, metadata=OBJECT_META, involvedObject=OBJECT_REFERENCE, reason=S(), message=S(),
    source=EVENT_SOURCE, firstTimestamp=Time(), lastTimestamp=Time(),
    count=Int(True, "int32"), type=S(), eventTime=Time(micro=True), series=CORE_EVENT_SERIES,
    action=S(), related=Struct("ObjectReference", OBJECT_REFERENCE.fields, pointer=True),
    reportingComponent=S(False), reportingInstance=S(False)))
EVENTS_V1_SERIES = Struct("EventSeries", {"count": Int(False, "int32"),
                                          "lastObservedTime": Time(micro=True)}, pointer=True)
EVENTS_V1_EVENT = Struct("Event", dict(
    _TYPE_META, metadata=OBJECT_META, eventTime=Time(micro=True), series=EVENTS_V1_SERIES,
    reportingController=S(), reportingInstance=S(), action=S(), reason=S(),
    regarding=OBJECT_REFERENCE,
    related=Struct("ObjectReference", OBJECT_REFERENCE.fields, pointer=True), note=S(),
    type=S(), deprecatedSource=EVENT_SOURCE, deprecatedFirstTimestamp=Time(),
    deprecatedLastTimestamp=Time(), deprecatedCount=Int(True, "int32")))

LEASE = Struct("Lease", dict(_TYPE_META, metadata=OBJECT_META, spec=Struct("LeaseSpec", {
    "holderIdentity": PStr(), "leaseDurationSeconds": PInt(), "acquireTime": Time(pointer=True, micro=True),
    "renewTime": Time(pointer=True, micro=True), "leaseTransitions": PInt(), "strategy": PStr(),
    "preferredHolder": PStr()})))

NAMESPACE = Struct("Namespace", dict(
    _TYPE_META, metadata=OBJECT_META,
    spec=Struct("NamespaceSpec", {"finalizers": List(S())}),
    status=Struct("NamespaceStatus", {"phase": S(), "conditions": Any()})))

CONFIGMAP = Struct("ConfigMap", dict(_TYPE_META, metadata=OBJECT_META, immutable=PBool(),
                                     data=Map(S()), binaryData=Map(Bytes())))
SECRET = Struct("Secret", dict(_TYPE_META, metadata=OBJECT_META, immutable=PBool(),
                               data=Map(Bytes()), stringData=Map(S()), type=S()))


def generic_schema(kind):
    """Schema for a type we do not model: decode metadata, keep everything else."""
    return _Generic(kind)


class _Generic:
    def __init__(self, kind):
        self.name = kind

    def decode_struct(self, v, ctx, path):
        if not isinstance(v, dict):
            ctx.type_error(v, self.name, path, self.name)
        out = {}
        for k, x in v.items():
            if k.startswith("$") or x is None:
                continue
            if k == "metadata":
                out[k] = OBJECT_META.decode_struct(x, ctx, "metadata")
            elif k in ("kind", "apiVersion"):
                out[k] = Str().decode(x, ctx, self.name, k)
            else:
                out[k] = _drop_nulls(x)
        out.setdefault("metadata", {})
        return out


def decode(schema, obj):
    """Decode ``obj`` through ``schema``; returns (decoded, unknown_field_paths)."""
    ctx = Ctx()
    out = schema.decode_struct(obj, ctx, "")
    return out, ctx.unknown
