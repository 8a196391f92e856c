"""PATCH bodies: RFC 6902 JSON patch, RFC 7386 JSON merge patch, and Kubernetes strategic
merge patch (a port of k8s.io/apimachinery/pkg/util/strategicpatch's mergeMap/mergeSlice,
including ``$patch: replace|delete``, ``$deleteFromPrimitiveList/``, ``$setElementOrder/``
and ``$retainKeys``, and its element-order normalization).

The strategic merge schema is a nested dict: ``{field: PM(strategy, merge_key, sub)}`` where
``strategy`` is ``"merge"`` (list merged by ``merge_key``, or a set of scalars when no key),
``"retainKeys"``/``"merge,retainKeys"``; fields not listed merge as maps and replace as lists,
exactly like fields without a ``patchStrategy`` struct tag.
"""
import copy
import json

from . import errors

JSON_PATCH = "application/json-patch+json"
MERGE_PATCH = "application/merge-patch+json"
STRATEGIC_MERGE_PATCH = "application/strategic-merge-patch+json"
APPLY_PATCH = "application/apply-patch+yaml"
SUPPORTED = [JSON_PATCH, MERGE_PATCH, STRATEGIC_MERGE_PATCH]


class PM:
    """Patch metadata of one field (the patchStrategy / patchMergeKey struct tags)."""
    __slots__ = ("strategy", "key", "sub")

    def __init__(self, strategy=None, key=None, sub=None):
        self.strategy = strategy
        self.key = key
        self.sub = sub if sub is not None else {}


class PatchError(Exception):
    """A patch the server refuses; ``api_error`` is what the client gets."""

    def __init__(self, api_error):
        super().__init__(api_error.status.get("message"))
        self.api_error = api_error


def _internal(msg):
    return PatchError(errors.internal_error(msg))


def _go_map(m):
    """fmt %v of a map[string]interface{} (for error messages)."""
    if isinstance(m, dict):
        return "map[" + " ".join("%s:%s" % (k, _go_map(m[k])) for k in sorted(m)) + "]"
    if isinstance(m, list):
        return "[" + " ".join(_go_map(x) for x in m) + "]"
    return str(m)


# --------------------------------------------------------------------------- JSON merge patch

def merge_patch(target, patch):
    if isinstance(patch, dict):
        if not isinstance(target, dict):
            target = {}
        else:
            target = dict(target)
        for k, v in patch.items():
            if v is None:
                target.pop(k, None)
            else:
                target[k] = merge_patch(target.get(k), v)
        return target
    return copy.deepcopy(patch)


# --------------------------------------------------------------------------- JSON patch

def _unescape_token(t):
    return t.replace("~1", "/").replace("~0", "~")


def _split_pointer(path):
    if path == "":
        return []
    if not path.startswith("/"):
        raise ValueError("JSON pointer must be empty or start with a \"/")
    return [_unescape_token(t) for t in path[1:].split("/")]


def _container(doc, tokens):
    cur = doc
    for t in tokens[:-1]:
        if isinstance(cur, dict):
            if t not in cur:
                return None
            cur = cur[t]
        elif isinstance(cur, list):
            try:
                i = int(t)
            except ValueError:
                return None
            if i < 0 or i >= len(cur):
                return None
            cur = cur[i]
        else:
            return None
    return cur


def _get(doc, path):
    tokens = _split_pointer(path)
    if not tokens:
        return True, doc
    c = _container(doc, tokens)
    last = tokens[-1]
    if isinstance(c, dict):
        return (last in c), c.get(last)
    if isinstance(c, list):
        try:
            i = int(last)
        except ValueError:
            return False, None
        if 0 <= i < len(c):
            return True, c[i]
    return False, None


def _fail():
    raise PatchError(errors.unprocessable())


def _add(doc, path, value):
    tokens = _split_pointer(path)
    if not tokens:
        return value
    c = _container(doc, tokens)
    last = tokens[-1]
    if isinstance(c, dict):
        c[last] = value
    elif isinstance(c, list):
        if last == "-":
            c.append(value)
        else:
            try:
                i = int(last)
            except ValueError:
                _fail()
            if i < 0 or i > len(c):
                _fail()
            c.insert(i, value)
    else:
        _fail()
    return doc


def _remove(doc, path):
    tokens = _split_pointer(path)
    if not tokens:
        _fail()
    c = _container(doc, tokens)
    last = tokens[-1]
    if isinstance(c, dict):
        if last not in c:
            _fail()
        return c.pop(last)
    if isinstance(c, list):
        try:
            i = int(last)
        except ValueError:
            _fail()
        if i < 0 or i >= len(c):
            _fail()
        return c.pop(i)
    _fail()


def _json_equal(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_json_equal(a[k], b[k]) for k in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(_json_equal(x, y) for x, y in zip(a, b))
    return type(a) is type(b) and a == b


def json_patch(doc, ops):
    """Apply an RFC 6902 patch to a deep copy of ``doc``."""
    if not isinstance(ops, list):
        raise PatchError(errors.bad_request(
            "json: cannot unmarshal object into Go value of type jsonpatch.Patch"))
    if len(ops) > 10000:
        raise PatchError(errors.ApiError(errors.status_dict(
            413, "RequestEntityTooLarge",
            "The allowed maximum operations in a JSON patch is 10000, got %d" % len(ops))))
    doc = copy.deepcopy(doc)
    for op in ops:
        if not isinstance(op, dict):
            raise PatchError(errors.bad_request(
                "json: cannot unmarshal %s into Go value of type jsonpatch.Operation" % type(op).__name__))
        kind = op.get("op")
        path = op.get("path")
        try:
            if kind == "add":
                if path is None or "value" not in op:
                    _fail()
                doc = _add(doc, path, copy.deepcopy(op["value"]))
            elif kind == "remove":
                if path is None:
                    _fail()
                _remove(doc, path)
            elif kind == "replace":
                if path is None or "value" not in op:
                    _fail()
                found, dummy = _get(doc, path)
                if not found:
                    _fail()
                tokens = _split_pointer(path)
                if not tokens:
                    doc = copy.deepcopy(op["value"])
                else:
                    c = _container(doc, tokens)
                    if isinstance(c, dict):
                        c[tokens[-1]] = copy.deepcopy(op["value"])
                    else:
                        c[int(tokens[-1])] = copy.deepcopy(op["value"])
            elif kind == "move":
                frm = op.get("from")
                if frm is None or path is None:
                    _fail()
                found, dummy = _get(doc, frm)
                if not found:
                    _fail()
                val = _remove(doc, frm)
                doc = _add(doc, path, val)
            elif kind == "copy":
                frm = op.get("from")
                if frm is None or path is None:
                    _fail()
                found, val = _get(doc, frm)
                if not found:
                    _fail()
                doc = _add(doc, path, copy.deepcopy(val))
            elif kind == "test":
                if path is None:
                    _fail()
                found, val = _get(doc, path)
                want = op.get("value")
                if not found:
                    if want is None and "value" in op:
                        continue
                    _fail()
                if not _json_equal(val, want):
                    _fail()
            else:
                raise PatchError(errors.bad_request("Unexpected kind: %s" % kind))
        except ValueError:
            _fail()
    return doc


# --------------------------------------------------------------------------- strategic merge

_DIRECTIVE = "$patch"
_DELETE_PRIMITIVE = "$deleteFromPrimitiveList"
_SET_ORDER = "$setElementOrder"
_RETAIN_KEYS = "$retainKeys"


def _remove_directives(obj):
    """Returns (value, keep)."""
    if isinstance(obj, dict):
        if _DIRECTIVE in obj:
            return None, False
        out = {}
        for k, v in obj.items():
            nv, keep = _remove_directives(v)
            if keep:
                out[k] = nv
        return out, True
    if isinstance(obj, list):
        res = []
        for v in obj:
            nv, keep = _remove_directives(v)
            if keep:
                res.append(nv)
        return res, True
    return obj, True


def _discard_nulls(v):
    if isinstance(v, dict):
        return {k: _discard_nulls(x) for k, x in v.items() if x is not None}
    if isinstance(v, list):
        return [_discard_nulls(x) for x in v]
    return v


def _kind(v):
    if isinstance(v, dict):
        return "map"
    if isinstance(v, list):
        return "slice"
    return "scalar"


def _same_type(a, b):
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b)
    if isinstance(a, (int, float)) and isinstance(b, (int, float)):
        return True  # both decode to float64 in Go's interface{} maps
    return type(a) is type(b)


def _elem_kind(*lists):
    kind = None
    for lst in lists:
        for v in lst or []:
            k = _kind(v)
            if k == "slice":
                raise PatchError(errors.ApiError(errors.status_dict(
                    422, "Invalid", "lists of lists are not supported")))
            if kind is None:
                kind = k
            elif kind != k:
                raise _internal("expected a %s, but received a %s" % (kind, k))
    return kind


def _key_of(item, key):
    if key:
        return item.get(key) if isinstance(item, dict) else None
    return item


def _index(lst, val, key, kind):
    want = _key_of(val, key) if kind == "map" else val
    for i, v in enumerate(lst):
        have = _key_of(v, key) if kind == "map" else v
        if have == want and _same_type(have, want):
            return i
    return -1


def _require_key(items, key):
    for it in items:
        if not isinstance(it, dict) or key not in it:
            raise _internal("map: %s does not contain declared merge key: %s" % (_go_map(it), key))


def _normalize_slice_order(to_sort, order, key, kind):
    to_delete = []
    if kind == "map":
        _require_key(to_sort, key)
        _require_key(order, key)
        keep = []
        for v in to_sort:
            if v.get(_DIRECTIVE) == "delete":
                to_delete.append(v)
            else:
                keep.append(v)
        to_sort = keep
    # every item is found in ``order`` in the cases the merge produces
    decorated = [(_index(order, v, key, kind), i, v) for i, v in enumerate(to_sort)]
    if all(d[0] >= 0 for d in decorated):
        decorated.sort(key=lambda d: (d[0], d[1]))
        to_sort = [d[2] for d in decorated]
    return to_sort + to_delete


def _merge_sorted(left, right, server_order, key, kind):
    size = len(left) + len(right)
    i = j = 0
    out = []
    for dummy in range(size):
        if i >= len(left) and j < len(right):
            out.append(right[j])
            j += 1
        elif j >= len(right) and i < len(left):
            out.append(left[i])
            i += 1
        else:
            li = _index(server_order, left[i], key, kind)
            ri = _index(server_order, right[j], key, kind)
            if li >= 0 and ri >= 0 and li < ri:
                out.append(left[i])
                i += 1
            else:
                out.append(right[j])
                j += 1
    return out


def _normalize_element_order(patch_items, server_only, patch_order, server_order, key, kind):
    patch_items = _normalize_slice_order(patch_items, patch_order, key, kind)
    server_only = _normalize_slice_order(server_only, server_order, key, kind)
    return _merge_sorted(server_only, patch_items, server_order, key, kind)


def _partition(merged, by, key, kind):
    if kind != "map":
        s = by
        p, so = [], []
        for v in merged:
            (p if any(v == x and _same_type(v, x) for x in s) else so).append(v)
        return p, so
    _require_key(merged, key)
    p, so = [], []
    for v in merged:
        (p if _index(by, v, key, "map") >= 0 else so).append(v)
    return p, so


def _dedup(s):
    """deduplicateScalars, including its (not order-preserving) swap-with-last trick."""
    s = list(s)
    length = len(s) - 1
    i = 0
    while i < length:
        j = i + 1
        while j <= length:
            if s[i] == s[j] and _same_type(s[i], s[j]):
                s[j] = s[length]
                s = s[:length]
                length -= 1
                j -= 1
            j += 1
        i += 1
    return s


def _merge_slice(original, patch, meta, key, is_delete_list):
    """mergeSlice.  ``original`` is handled like a Go slice whose backing array is the list
    object itself (cap == len): deletions shift items left in place and appends reuse the
    freed tail, so a caller that reads ``original`` afterwards sees what Go code sees
    (mergePatchIntoOriginal relies on it for its ordering)."""
    if not original and not patch:
        return original
    kind = _elem_kind(original, patch)
    if kind != "map":
        if is_delete_list:
            return [v for v in original if not any(v == d and _same_type(v, d) for d in patch)]
        merged = _dedup(list(original) + list(patch))
        server_order = original
    else:
        if not key:
            raise _internal("cannot merge lists without merge key for %s" % "")
        arr, n, patch = _merge_special(original, patch, key)
        server_order = arr[:n]
        arr, m = _merge_without_special(arr, n, patch, key, meta)
        merged = arr[:m]
    patch_items, server_only = _partition(merged, patch, key, kind)
    return _normalize_element_order(patch_items, server_only, patch, server_order, key, kind)


def _find(arr, n, key, value):
    for i in range(n):
        o = arr[i]
        if not isinstance(o, dict):
            raise _internal("value for key %d is not a map" % i)
        if key in o and o[key] == value and _same_type(o[key], value):
            return i
    return -1


def _merge_special(arr, patch, key):
    """mergeSliceWithSpecialElements -> (backing array, length, patch without directives)."""
    n = len(arr)
    without = []
    replace = False
    for v in patch:
        if _DIRECTIVE not in v:
            without.append(v)
            continue
        d = v[_DIRECTIVE]
        if d == "delete":
            if key not in v:
                raise _internal("map: %s does not contain declared merge key: %s" % (_go_map(v), key))
            while True:
                i = _find(arr, n, key, v[key])
                if i < 0:
                    break
                arr[i:n - 1] = arr[i + 1:n]          # append(s[:i], s[i+1:]...) in place
                n -= 1
        elif d == "replace":
            replace = True
        elif d == "merge":
            raise _internal("merging lists cannot yet be specified in the patch")
        else:
            raise _internal("unknown patch type: %s in map: %s" % (d, _go_map(v)))
    if replace:
        return without, len(without), []
    return arr, n, without


def _merge_without_special(arr, n, patch, key, meta):
    """mergeSliceWithoutSpecialElements on the Go-like slice (arr, n)."""
    for v in patch:
        if key not in v:
            raise _internal("map: %s does not contain declared merge key: %s" % (_go_map(v), key))
        i = _find(arr, n, key, v[key])
        if i >= 0:
            arr[i] = _merge_map(arr[i], v, meta)
        elif n < len(arr):
            arr[n] = v                             # append within capacity
            n += 1
        else:
            arr = arr[:n] + [v]                    # append past capacity: a new array
            n += 1
    return arr, n


def _is_merge(pm):
    return pm is not None and pm.strategy is not None and "merge" in pm.strategy.split(",")


def _merge_slice_handler(original, patch, pm, is_delete_list):
    if not isinstance(original, list) or not isinstance(patch, list):
        raise _internal("expected a slice")
    if _is_merge(pm) or is_delete_list:
        return _merge_slice(original, patch, pm.sub if pm else {}, pm.key if pm else None,
                            is_delete_list)
    return patch


def _apply_retain_keys(original, patch):
    if _RETAIN_KEYS not in patch:
        return
    keys = patch.pop(_RETAIN_KEYS)
    if not isinstance(keys, list):
        raise PatchError(errors.bad_request("invalid patch format of retainKeys"))
    allowed = set(keys)
    for k, v in patch.items():
        if v is None or k.startswith(_DELETE_PRIMITIVE + "/") or k.startswith(_SET_ORDER + "/"):
            continue
        if k not in allowed:
            raise PatchError(errors.bad_request("invalid patch format of retainKeys"))
    for k in list(original):
        if k not in allowed:
            del original[k]


def _merge_set_element_order(original, patch, meta):
    for k in [k for k in patch if k.startswith(_SET_ORDER)]:
        order = patch.pop(k)
        parts = k.split("/", 1)
        if len(parts) != 2 or parts[0] != _SET_ORDER:
            raise PatchError(errors.bad_request("invalid patch format of setElementOrder list"))
        if not isinstance(order, list):
            raise _internal("expected a []interface {}, but received a %s" % type(order).__name__)
        field = parts[1]
        pm = meta.get(field)
        found_o, found_p = field in original, field in patch
        olist = original.get(field) if found_o else None
        plist = patch.get(field) if found_p else None
        if found_o and not found_p:
            merged = olist
        elif found_p and not found_o:
            merged, dummy = _remove_directives(plist)
        elif found_o and found_p:
            merged = _merge_slice_handler(olist, plist, pm, False)
        else:
            continue
        key = pm.key if pm else None
        kind = _elem_kind(olist, plist) or "scalar"
        patch_items, server_only = _partition(merged, order, key, kind)
        original[field] = _normalize_element_order(patch_items, server_only, order, olist or [],
                                                   key, kind)
        patch.pop(field, None)


def _merge_map(original, patch, meta):
    patch = dict(patch)
    if _DIRECTIVE in patch:
        d = patch[_DIRECTIVE]
        if d == "replace":
            del patch[_DIRECTIVE]
            return patch
        if d == "delete":
            return {}
        raise _internal("unknown patch type: %s in map: %s" % (d, _go_map(patch)))
    if original is None:
        original = {}
    _apply_retain_keys(original, patch)
    _merge_set_element_order(original, patch, meta)
    for k, pv in patch.items():
        is_delete_list = False
        if k.startswith(_DELETE_PRIMITIVE):
            parts = k.split("/", 1)
            if len(parts) != 2 or parts[0] != _DELETE_PRIMITIVE:
                raise PatchError(errors.bad_request("invalid patch format of primitive list"))
            k = parts[1]
            is_delete_list = True
        if pv is None:
            original.pop(k, None)
            continue
        if k not in original:
            if not is_delete_list:
                v, keep = _remove_directives(_discard_nulls(pv))
                if keep:
                    original[k] = v
            continue
        ov = original[k]
        if _kind(ov) != _kind(pv) or (_kind(ov) == "scalar" and not _same_type(ov, pv)):
            if not is_delete_list:
                v, keep = _remove_directives(_discard_nulls(pv))
                if keep:
                    original[k] = v
                else:
                    del original[k]
            continue
        pm = meta.get(k)
        if isinstance(ov, dict):
            if pm is not None and pm.strategy == "replace":
                original[k] = pv
            else:
                original[k] = _merge_map(dict(ov), pv, pm.sub if pm else {})
        elif isinstance(ov, list):
            original[k] = _merge_slice_handler(ov, pv, pm, is_delete_list)
        else:
            v, keep = _remove_directives(pv)
            if keep:
                original[k] = v
            else:
                del original[k]
    return original


def strategic_merge_patch(doc, patch, meta):
    if not isinstance(patch, dict):
        raise PatchError(errors.bad_request(
            "json: cannot unmarshal %s into Go value of type map[string]interface {}"
            % ("array" if isinstance(patch, list) else "string")))
    return _merge_map(copy.deepcopy(doc), copy.deepcopy(patch), meta or {})


def apply(content_type, doc, body_bytes, meta):
    """Apply a PATCH body of ``content_type`` to ``doc``; returns the patched dict."""
    ct = (content_type or "").split(";")[0].strip().lower()
    if ct not in SUPPORTED:
        raise PatchError(errors.unsupported_media_type(SUPPORTED))
    try:
        patch = json.loads(body_bytes.decode("utf-8") if body_bytes else "null")
    except (ValueError, UnicodeDecodeError) as e:
        raise PatchError(errors.bad_request("error decoding patch: %s" % e))
    if ct == JSON_PATCH:
        return json_patch(doc, patch)
    if ct == MERGE_PATCH:
        if not isinstance(patch, dict):
            # MergePatch of a non-object replaces the document, which then fails to decode
            raise PatchError(errors.bad_request("json: cannot unmarshal %s into Go value of type "
                                                "map[string]interface {}" % type(patch).__name__))
        return merge_patch(copy.deepcopy(doc), patch)
    return strategic_merge_patch(doc, patch, meta)
