# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Image-storage drift checks: thresholds, per-group rule sets and a baseline comparison.

Pure and standard-library only; shared by the ``node_image_drift`` style module, playbooks and
the watcher daemon.

Inputs
    * ``facts``: one node's image facts as produced by ``images.node_image_facts``
      (``name``, ``image_count``, ``total_bytes``, ``capacity_bytes``, ``percent_of_capacity``,
      ``truncated``, ``images`` = ``[{"key", "size_bytes"[, "names"]}]``, optional ``imagefs``).
    * ``labels``: that node's labels (rule sets select nodes with a label selector).
    * a ``Policy``: default ``Thresholds`` plus ordered ``RuleSet``s; the first rule set whose
      selector matches the node's labels wins, otherwise the defaults apply. A rule set's
      thresholds REPLACE the defaults (they are not merged key by key).
    * optionally the node's entry of a baseline (see ``baseline.py``).

Boundary semantics: every numeric limit is an inclusive maximum. A value EQUAL to the limit is
fine; only a value strictly greater than the limit is a breach.

Truncated facts (the kubelet lists at most a fixed number of images per node) make
``total_bytes``, ``image_count`` and the ephemeral-storage percentage lower bounds: a value over
its limit is still a breach (the true value is larger still) and the result carries a note.
The image filesystem figures (``imagefs``) come from the kubelet itself and are exact.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import fnmatch
from collections import namedtuple

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ValidationError
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.label_selectors import (  # noqa: F401 (re-exported)
    LabelSelector,
    parse_label_selector,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.quantity import (
    human_bytes,
    parse_percent,
    parse_size,
)

DEFAULT_RULE_SET = "default"


class DriftConfigError(ValidationError):
    """A threshold, rule set or label selector is malformed; the message names the key."""


# ----------------------------------------------------------------------------------------------
# Thresholds, rule sets, policy
# ----------------------------------------------------------------------------------------------

def _type_name(value):
    return "null" if value is None else type(value).__name__


def _coerce_size(key, value, where):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise DriftConfigError("%s.%s must be a size such as 5368709120, '5Gi' or '500MB', got %s"
                               % (where, key, _type_name(value)))
    try:
        size = parse_size(value)
    except (TypeError, ValueError) as exc:
        raise DriftConfigError("%s.%s: %s" % (where, key, exc))
    if size < 0:
        raise DriftConfigError("%s.%s must not be negative, got %r" % (where, key, value))
    return int(size)


def _coerce_percent(key, value, where, maximum=100):
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise DriftConfigError("%s.%s must be a percentage such as 80 or '80%%', got %s"
                               % (where, key, _type_name(value)))
    try:
        return float(parse_percent(value, maximum))
    except (TypeError, ValueError) as exc:
        raise DriftConfigError("%s.%s: %s" % (where, key, exc))


def _coerce_count(key, value, where):
    if value is None:
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int):
        raise DriftConfigError("%s.%s must be a whole number of images such as 300, got %r (%s)"
                               % (where, key, value, _type_name(value)))
    if value < 0:
        raise DriftConfigError("%s.%s must not be negative, got %r" % (where, key, value))
    return value


def _coerce_patterns(key, value, where):
    if value is None:
        return ()
    if isinstance(value, (str, bytes)) or not isinstance(value, (list, tuple)):
        raise DriftConfigError("%s.%s must be a list of glob patterns such as ['docker.io/library/*'], got %s"
                               % (where, key, _type_name(value)))
    patterns = []
    for i, item in enumerate(value):
        if not isinstance(item, str) or not item.strip():
            raise DriftConfigError("%s.%s[%d] must be a non-empty glob pattern string, got %r"
                                   % (where, key, i, item))
        patterns.append(item.strip())
    return tuple(patterns)


def _coerce_bool(key, value, where):
    if value is None:
        return False
    if not isinstance(value, bool):
        raise DriftConfigError("%s.%s must be true or false, got %r (%s)" % (where, key, value, _type_name(value)))
    return value


class Threshold(namedtuple("Threshold", "name kind needs_baseline rule")):
    """One limit a node is checked against: its option name, how its value is read (``kind``:
    size, percent, growth_percent, count, patterns, bool), whether it compares with a baseline,
    and the name of the rule its breaches carry (None: it only refines another rule)."""


# Every threshold, once. Modules' argument specs (``argspecs.threshold_options``), the
# playbooks' and the watcher's settings, policies and reports all derive from this list: a new
# threshold is a line here, its rule in ``evaluate``, its docs in doc_fragments/thresholds.py and
# its tests.
THRESHOLDS = (
    Threshold("max_total_bytes", "size", False, "max_total_bytes"),
    Threshold("max_percent", "percent", False, "max_percent"),
    Threshold("max_image_count", "count", False, "max_image_count"),
    Threshold("max_growth_bytes", "size", True, "max_growth_bytes"),
    Threshold("max_growth_percent", "growth_percent", True, "max_growth_percent"),
    Threshold("deny", "patterns", False, "deny"),
    Threshold("allow_new", "patterns", False, None),  # refines fail_on_new_images
    Threshold("fail_on_new_images", "bool", True, "new_image"),
)
THRESHOLD_KEYS = tuple(t.name for t in THRESHOLDS)
# The numeric limits (sizes in bytes, percentages, counts), as reports draw them.
NUMERIC_THRESHOLD_KEYS = tuple(t.name for t in THRESHOLDS if t.kind in ("size", "percent", "growth_percent", "count"))
# The rules a breach can name.
RULES = tuple(t.rule for t in THRESHOLDS if t.rule)
_BASELINE_KEYS = [t.name for t in THRESHOLDS if t.needs_baseline]
# "max_growth_bytes, max_growth_percent and fail_on_new_images": what no baseline leaves unchecked.
BASELINE_THRESHOLDS_TEXT = ", ".join(_BASELINE_KEYS[:-1]) + " and " + _BASELINE_KEYS[-1]
_READERS = {
    "size": _coerce_size,
    "percent": _coerce_percent,
    # A share of capacity cannot exceed 100 %; growth since the baseline can (a node may double).
    "growth_percent": lambda key, value, where: _coerce_percent(key, value, where, maximum=None),
    "count": _coerce_count,
    "patterns": _coerce_patterns,
    "bool": _coerce_bool,
}


class Thresholds:
    """Validated limits; every limit is optional (None or empty = not checked).

    Sizes are bytes (int), percentages floats. ``deny`` and ``allow_new`` are tuples of
    ``fnmatch`` glob patterns matched case-sensitively against an image's key and names
    (``*`` also matches '/'). Attributes are the names in ``THRESHOLDS``.
    """

    __slots__ = THRESHOLD_KEYS

    def __init__(self, _where="thresholds", **limits):
        unknown = sorted(str(k) for k in limits if k not in THRESHOLD_KEYS)
        if unknown:
            raise DriftConfigError("%s: unknown key%s %s; accepted keys are %s"
                                   % (_where, "s" if len(unknown) > 1 else "", ", ".join(repr(k) for k in unknown),
                                      ", ".join(THRESHOLD_KEYS)))
        for threshold in THRESHOLDS:
            setattr(self, threshold.name, _READERS[threshold.kind](threshold.name, limits.get(threshold.name), _where))

    @classmethod
    def from_dict(cls, data, where="thresholds"):
        """Build from a plain dict (e.g. module parameters); None or {} = nothing checked."""
        if isinstance(data, Thresholds):
            return data
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise DriftConfigError("%s must be a mapping of limits (%s), got %s"
                                   % (where, ", ".join(THRESHOLD_KEYS), _type_name(data)))
        return cls(_where=where, **dict((str(k), v) for k, v in data.items()))

    def as_dict(self):
        return dict((t.name, list(getattr(self, t.name)) if t.kind == "patterns" else getattr(self, t.name))
                    for t in THRESHOLDS)

    def active(self):
        """The names of the limits that are checked (set, non-empty, true)."""
        return [t.name for t in THRESHOLDS if getattr(self, t.name) not in (None, (), False)]

    @property
    def uses_baseline(self):
        return any(getattr(self, t.name) not in (None, (), False) for t in THRESHOLDS if t.needs_baseline)

    def __eq__(self, other):
        return isinstance(other, Thresholds) and self.as_dict() == other.as_dict()

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(tuple(getattr(self, k) for k in THRESHOLD_KEYS))

    def __repr__(self):
        return "Thresholds(%s)" % ", ".join("%s=%r" % (k, getattr(self, k)) for k in self.active())


class RuleSet:
    """A named group of nodes (label selector) with its own thresholds."""

    __slots__ = ("name", "selector", "thresholds")

    KEYS = ("name", "selector", "thresholds")

    def __init__(self, name, selector, thresholds):
        self.name = name
        self.selector = selector if isinstance(selector, LabelSelector) else parse_label_selector(selector)
        self.thresholds = thresholds if isinstance(thresholds, Thresholds) else Thresholds.from_dict(thresholds)

    @classmethod
    def from_dict(cls, data, where="rule_sets[0]"):
        if not isinstance(data, dict):
            raise DriftConfigError("%s must be a mapping with keys name, selector and thresholds, got %s"
                                   % (where, _type_name(data)))
        unknown = sorted(str(k) for k in data if k not in cls.KEYS)
        if unknown:
            raise DriftConfigError("%s: unknown key%s %s; accepted keys are name, selector, thresholds"
                                   % (where, "s" if len(unknown) > 1 else "", ", ".join(repr(k) for k in unknown)))
        name = data.get("name")
        if not isinstance(name, str) or not name.strip():
            raise DriftConfigError("%s.name must be a non-empty string, got %r" % (where, name))
        name = name.strip()
        if name == DEFAULT_RULE_SET:
            raise DriftConfigError("%s.name: %r is reserved for the default thresholds; choose another name"
                                   % (where, name))
        where = "%s (%s)" % (where, name)
        if "selector" not in data:
            raise DriftConfigError("%s.selector is required: a label selector such as "
                                   "'node-role.kubernetes.io/gpu' or 'pool in (a,b)'" % where)
        try:
            selector = parse_label_selector(data["selector"])
        except ValidationError as exc:
            raise DriftConfigError("%s.selector: %s" % (where, exc))
        thresholds = Thresholds.from_dict(data.get("thresholds"), where="%s.thresholds" % where)
        return cls(name, selector, thresholds)

    def as_dict(self):
        return {"name": self.name, "selector": self.selector.text, "thresholds": self.thresholds.as_dict()}

    def __repr__(self):
        return "RuleSet(%r, %r, %r)" % (self.name, self.selector.text, self.thresholds)


class Policy:
    """Default thresholds plus ordered rule sets (first match wins)."""

    __slots__ = ("thresholds", "rule_sets")

    KEYS = ("thresholds", "rule_sets")

    def __init__(self, thresholds=None, rule_sets=()):
        self.thresholds = thresholds if isinstance(thresholds, Thresholds) else Thresholds.from_dict(thresholds)
        self.rule_sets = tuple(rule_sets)
        seen = set()
        for rule_set in self.rule_sets:
            if rule_set.name in seen:
                raise DriftConfigError("rule_sets: the name %r is used twice; rule set names must be unique"
                                       % rule_set.name)
            seen.add(rule_set.name)

    @classmethod
    def from_dict(cls, data):
        if isinstance(data, Policy):
            return data
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise DriftConfigError("the drift policy must be a mapping with keys thresholds and rule_sets, got %s"
                                   % _type_name(data))
        unknown = sorted(str(k) for k in data if k not in cls.KEYS)
        if unknown:
            raise DriftConfigError("drift policy: unknown key%s %s; accepted keys are thresholds, rule_sets"
                                   % ("s" if len(unknown) > 1 else "", ", ".join(repr(k) for k in unknown)))
        raw_sets = data.get("rule_sets")
        if raw_sets is None:
            raw_sets = []
        if not isinstance(raw_sets, (list, tuple)):
            raise DriftConfigError("rule_sets must be a list of {name, selector, thresholds} mappings, got %s"
                                   % _type_name(raw_sets))
        rule_sets = [RuleSet.from_dict(item, where="rule_sets[%d]" % i) for i, item in enumerate(raw_sets)]
        return cls(Thresholds.from_dict(data.get("thresholds"), where="thresholds"), rule_sets)

    @classmethod
    def coerce(cls, value):
        """Accept a Policy, a Thresholds (no rule sets) or a plain dict."""
        if isinstance(value, Policy):
            return value
        if isinstance(value, Thresholds):
            return cls(value)
        return cls.from_dict(value)

    def select(self, labels):
        """``(rule_set_name, Thresholds)`` for a node with these labels."""
        for rule_set in self.rule_sets:
            if rule_set.selector.matches(labels or {}):
                return rule_set.name, rule_set.thresholds
        return DEFAULT_RULE_SET, self.thresholds

    @property
    def uses_baseline(self):
        return self.thresholds.uses_baseline or any(r.thresholds.uses_baseline for r in self.rule_sets)

    def as_dict(self):
        return {"thresholds": self.thresholds.as_dict(), "rule_sets": [r.as_dict() for r in self.rule_sets]}


# ----------------------------------------------------------------------------------------------
# Formatting
# ----------------------------------------------------------------------------------------------

def _fmt_limit_percent(value):
    text = ("%.2f" % value).rstrip("0").rstrip(".")
    return text + "%"


def _fmt_observed_percent(observed, limit):
    """One decimal, more when one decimal would make a breach look equal to its limit."""
    for digits in (1, 2, 3, 4, 6):
        text = "%.*f" % (digits, observed)
        if limit is None or observed <= limit or float(text) > limit:
            return text + "%"
    return repr(observed) + "%"


def _fmt_bytes_pair(observed, limit):
    """human_bytes for both; exact byte counts appended when the rounded forms look equal."""
    obs, lim = human_bytes(observed), human_bytes(limit)
    if obs == lim and observed != limit:
        obs = "%s (%d bytes)" % (obs, observed)
        lim = "%s (%d bytes)" % (lim, limit)
    return obs, lim


def _since(captured_at):
    return "since the baseline of %s" % captured_at if captured_at else "since the baseline"


def _quote_patterns(patterns):
    return ", ".join("'%s'" % p for p in patterns)


# ----------------------------------------------------------------------------------------------
# Evaluation
# ----------------------------------------------------------------------------------------------

class NodeResult:
    """The outcome of checking one node.

    ``baseline_status``: ``"compared"`` (node found in the baseline), ``"added"`` (a baseline was
    given but the node is not in it: no growth or new-image checks), ``"none"`` (no baseline).
    """

    __slots__ = ("node", "rule_set", "breaches", "notes", "note_codes", "baseline_status",
                 "growth_bytes", "growth_percent", "new_images", "truncated", "percent", "percent_source")

    def __init__(self, node, rule_set):
        self.node = node
        self.rule_set = rule_set
        self.breaches = []
        self.notes = []
        self.note_codes = []
        self.baseline_status = "none"
        self.growth_bytes = None
        self.growth_percent = None
        self.new_images = []
        self.truncated = False
        self.percent = None
        self.percent_source = None

    @property
    def ok(self):
        return not self.breaches

    def note(self, code, text):
        self.note_codes.append(code)
        self.notes.append(text)

    def as_dict(self):
        return {
            "node": self.node,
            "rule_set": self.rule_set,
            "ok": self.ok,
            "breaches": list(self.breaches),
            "notes": list(self.notes),
            "baseline_status": self.baseline_status,
            "growth_bytes": self.growth_bytes,
            "growth_percent": self.growth_percent,
            "new_images": list(self.new_images),
            "truncated": self.truncated,
            "percent": self.percent,
            "percent_source": self.percent_source,
        }

    def __repr__(self):
        return "NodeResult(%r, rule_set=%r, breaches=%d)" % (self.node, self.rule_set, len(self.breaches))


def _breach(result, rule, observed, limit, observed_human, limit_human, text, lower_bound=False):
    message = "node %s: %s [rule %s, rule set %s]" % (result.node, text, rule, result.rule_set)
    breach = {
        "node": result.node,
        "rule": rule,
        "rule_set": result.rule_set,
        "observed": observed,
        "limit": limit,
        "observed_human": observed_human,
        "limit_human": limit_human,
        "message": message,
        "lower_bound": bool(lower_bound),
    }
    result.breaches.append(breach)
    return breach


def _int_or_none(value):
    if value is None or isinstance(value, bool):
        return None
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _float_or_none(value):
    if value is None or isinstance(value, bool):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _percent_of(used, capacity):
    if used is None or not capacity or capacity < 0:
        return None
    return used * 100.0 / capacity


def _capacity_percent(facts, total):
    """(percent, source, exact) from the image filesystem when known, else ephemeral storage.

    Computed from the byte counts when they are there (the reported percentages are rounded,
    which would blur the boundary), else taken from the reported percentage.
    """
    imagefs = facts.get("imagefs")
    if isinstance(imagefs, dict):
        percent = _percent_of(_int_or_none(imagefs.get("used_bytes")), _int_or_none(imagefs.get("capacity_bytes")))
        if percent is None:
            percent = _float_or_none(imagefs.get("percent"))
        if percent is not None:
            return percent, "imagefs", True
    percent = _percent_of(total, _int_or_none(facts.get("capacity_bytes")))
    if percent is None:
        percent = _float_or_none(facts.get("percent_of_capacity"))
    if percent is not None:
        return percent, "ephemeral-storage", False
    return None, None, False


_SOURCE_WORDS = {"imagefs": "the image filesystem", "ephemeral-storage": "ephemeral-storage capacity"}


def _image_names(image):
    """Names an image is matched by: its tags, other names, its key, then its repository."""
    names = []
    for field in ("tags", "names"):
        for name in image.get(field) or ():
            if isinstance(name, str) and name and name not in names:
                names.append(name)
    key = image.get("key")
    if isinstance(key, str) and key:
        if key not in names:
            names.append(key)
        if "@" in key and key[:key.index("@")] not in names:
            names.append(key[:key.index("@")])
    return names


def _first_match(names, patterns):
    for pattern in patterns:
        for name in names:
            if fnmatch.fnmatchcase(name, pattern):
                return name, pattern
    return None, None


def evaluate(facts, labels, policy, baseline_node=None):
    """Check one node's image facts against the policy (and its baseline entry, when given).

    ``baseline_node``: ``{"total_bytes", "image_count", "images": {key: size}, "captured_at"?,
    "truncated"?}`` or None. Passing ``baseline_node=None`` means "no comparison"; to report a
    node as added since a baseline use ``evaluate_cluster`` (or set ``result.baseline_status``).
    Returns a ``NodeResult``.
    """
    policy = Policy.coerce(policy)
    if not isinstance(facts, dict) or not isinstance(facts.get("name"), str):
        raise ValueError("node facts must be a mapping with a 'name', got %r" % (facts,))
    rule_set, th = policy.select(labels or {})
    result = NodeResult(facts["name"], rule_set)
    truncated = bool(facts.get("truncated"))
    result.truncated = truncated
    images = [i for i in (facts.get("images") or ()) if isinstance(i, dict)]
    total = _int_or_none(facts.get("total_bytes"))
    if total is None:
        total = sum(_int_or_none(i.get("size_bytes")) or 0 for i in images)
    count = _int_or_none(facts.get("image_count"))
    if count is None:
        count = len(images)
    at_least = "at least " if truncated else ""
    if truncated:
        result.note("truncated", "node %s: the image list is truncated, so its image count, total size and "
                                 "ephemeral-storage percentage are lower bounds (a value over its limit is still a breach)"
                    % result.node)

    # -- absolute limits -------------------------------------------------------------------
    if th.max_total_bytes is not None and total > th.max_total_bytes:
        obs, lim = _fmt_bytes_pair(total, th.max_total_bytes)
        _breach(result, "max_total_bytes", total, th.max_total_bytes, obs, lim,
                "images occupy %s%s (limit %s)" % (at_least, obs, lim), lower_bound=truncated)

    percent, source, exact = _capacity_percent(facts, total)
    result.percent = percent
    result.percent_source = source
    if th.max_percent is not None:
        if percent is None:
            result.note("percent_unknown", "node %s: max_percent not checked: neither the image filesystem nor "
                                           "the ephemeral-storage capacity is known" % result.node)
        elif percent > th.max_percent:
            lower = truncated and not exact
            obs = _fmt_observed_percent(percent, th.max_percent)
            lim = _fmt_limit_percent(th.max_percent)
            _breach(result, "max_percent", round(percent, 4), th.max_percent, obs, lim,
                    "images use %s%s of %s (limit %s)"
                    % ("at least " if lower else "", obs, _SOURCE_WORDS[source], lim),
                    lower_bound=lower)

    if th.max_image_count is not None and count > th.max_image_count:
        _breach(result, "max_image_count", count, th.max_image_count, str(count), str(th.max_image_count),
                "%s%d images are present (limit %d)" % (at_least, count, th.max_image_count),
                lower_bound=truncated)

    if "images" not in facts and (th.deny or (th.fail_on_new_images and baseline_node is not None)):
        result.note("no_image_list", "node %s: the deny list and new-image rules were not checked: the facts "
                                     "carry no image list (gather them with the images included)" % result.node)

    # -- deny list -------------------------------------------------------------------------
    if th.deny:
        for image in images:
            name, pattern = _first_match(_image_names(image), th.deny)
            if pattern is not None:
                _breach(result, "deny", name, pattern, name, pattern,
                        "image %s matches the deny list pattern '%s'" % (name, pattern))

    # -- baseline comparison ---------------------------------------------------------------
    if baseline_node is not None:
        _compare_baseline(result, th, images, total, truncated, baseline_node)
    return result


def _compare_baseline(result, th, images, total, truncated, base):
    result.baseline_status = "compared"
    captured_at = base.get("captured_at")
    base_total = _int_or_none(base.get("total_bytes"))
    base_images = base.get("images") or {}
    base_truncated = bool(base.get("truncated"))
    if base_truncated:
        result.note("baseline_truncated",
                    "node %s: the baseline's image list was truncated, so growth and new images are "
                    "approximate" % result.node)
    if base_total is not None:
        growth = total - base_total
        result.growth_bytes = growth
        # growth is a lower bound only when the current total is one and the baseline is exact
        lower = truncated and not base_truncated
        if th.max_growth_bytes is not None and growth > th.max_growth_bytes:
            obs, lim = _fmt_bytes_pair(growth, th.max_growth_bytes)
            _breach(result, "max_growth_bytes", growth, th.max_growth_bytes, obs, lim,
                    "image storage grew by %s%s %s (limit %s)"
                    % ("at least " if lower else "", obs, _since(captured_at), lim),
                    lower_bound=lower)
        if base_total > 0:
            growth_percent = growth * 100.0 / base_total
            result.growth_percent = round(growth_percent, 4)
            if th.max_growth_percent is not None and growth_percent > th.max_growth_percent:
                obs = _fmt_observed_percent(growth_percent, th.max_growth_percent)
                lim = _fmt_limit_percent(th.max_growth_percent)
                _breach(result, "max_growth_percent", round(growth_percent, 4), th.max_growth_percent, obs, lim,
                        "image storage grew by %s%s %s, from %s to %s (limit %s)"
                        % ("at least " if lower else "", obs, _since(captured_at), human_bytes(base_total),
                           human_bytes(total), lim),
                        lower_bound=lower)
        elif th.max_growth_percent is not None and growth > 0:
            result.note("growth_percent_zero_base",
                        "node %s: max_growth_percent not checked: the baseline total was 0 bytes" % result.node)

    new = sorted(set(i.get("key") for i in images if isinstance(i.get("key"), str)) - set(base_images))
    result.new_images = new
    if new and (truncated or base_truncated):
        result.note("new_images_uncertain",
                    "node %s: %d image(s) look new, but with a truncated image list some may only have "
                    "moved into the listed part" % (result.node, len(new)))
    if th.fail_on_new_images and new:
        by_key = {}
        for image in images:
            by_key.setdefault(image.get("key"), image)
        for key in new:
            names = _image_names(by_key[key])
            allowed = _first_match(names, th.allow_new)[1]
            if allowed is not None:
                continue
            shown = names[0] if names else key
            why = ("and matches no allow_new pattern (allow_new: %s)" % _quote_patterns(th.allow_new)
                   if th.allow_new else "and allow_new is empty")
            _breach(result, "new_image", shown, list(th.allow_new), shown,
                    _quote_patterns(th.allow_new) or "(none)",
                    "image %s is new %s %s" % (shown, _since(captured_at), why))


# ----------------------------------------------------------------------------------------------
# Cluster report
# ----------------------------------------------------------------------------------------------

# How a note shared by many nodes is summarised in the report.
_NOTE_SUMMARIES = {
    "truncated": "the image list is truncated on %d nodes, so their totals are lower bounds",
    "percent_unknown": "max_percent was not checked on %d nodes: no capacity is known",
    "baseline_truncated": "the baseline's image list was truncated for %d nodes: growth and new images are approximate",
    "growth_percent_zero_base": "max_growth_percent was not checked on %d nodes: their baseline total was 0",
    "new_images_uncertain": "new images on %d nodes may be artefacts of a truncated image list",
    "no_image_list": "the deny list and new-image rules were not checked on %d nodes: no image list in the facts",
}
_NOTE_DETAIL_LIMIT = 3


def _split_item(item):
    if isinstance(item, (tuple, list)) and len(item) == 2:
        return item[0], item[1] or {}
    if isinstance(item, dict):
        return item, item.get("labels") or {}
    raise ValueError("evaluate_cluster expects (facts, labels) pairs, got %r" % (item,))


def evaluate_cluster(facts_iter_with_labels, policy, baseline=None, keep_results=False):
    """Check every node; returns the report dict.

    ``facts_iter_with_labels``: iterable of ``(facts, labels)`` pairs (a facts dict carrying its
    own ``labels`` key is accepted too). ``baseline``: a document from ``baseline.load_baseline``
    / ``build_baseline`` (``{"captured_at", "nodes": {name: entry}}``) or None.

    Report: ``{"nodes_checked", "breaches", "nodes_added", "nodes_removed", "notes", "ok",
    "breaching_nodes", "baseline_captured_at"}`` (+ ``"results"``: per-node dicts, when
    ``keep_results``). Nodes added/removed since the baseline are informational only.
    """
    policy = Policy.coerce(policy)
    base_nodes = None
    captured_at = None
    if baseline is not None:
        if not isinstance(baseline, dict) or not isinstance(baseline.get("nodes"), dict):
            raise ValueError("the baseline must be a baseline document with a 'nodes' mapping; "
                             "load it with baseline.load_baseline")
        base_nodes = baseline["nodes"]
        captured_at = baseline.get("captured_at")
    breaches = []
    added = []
    seen = set()
    duplicates = []
    note_groups = {}
    note_order = []
    results = []
    for item in facts_iter_with_labels:
        facts, labels = _split_item(item)
        name = facts.get("name")
        if name in seen:
            duplicates.append(name)
        seen.add(name)
        base_entry = None
        if base_nodes is not None:
            base_entry = base_nodes.get(name)
            if base_entry is not None and "captured_at" not in base_entry and captured_at:
                base_entry = dict(base_entry, captured_at=captured_at)
        result = evaluate(facts, labels, policy, base_entry)
        if base_nodes is not None and base_entry is None:
            result.baseline_status = "added"
            added.append(name)
        breaches.extend(result.breaches)
        for code, text in zip(result.note_codes, result.notes):
            if code not in note_groups:
                note_groups[code] = []
                note_order.append(code)
            note_groups[code].append((name, text))
        if keep_results:
            results.append(result.as_dict())
    removed = sorted(set(base_nodes) - seen) if base_nodes is not None else []
    notes = []
    if base_nodes is None and policy.uses_baseline:
        notes.append("no baseline was given: %s were not checked" % BASELINE_THRESHOLDS_TEXT)
    if duplicates:
        notes.append("node(s) reported more than once in the facts: %s" % ", ".join(sorted(set(duplicates))))
    for code in note_order:
        group = note_groups[code]
        if len(group) <= _NOTE_DETAIL_LIMIT:
            notes.extend(text for dummy, text in group)
        else:
            names = [n for n, dummy in group]
            notes.append("%s (%s and %d more)" % (_NOTE_SUMMARIES[code] % len(group),
                                                  ", ".join(names[:_NOTE_DETAIL_LIMIT]),
                                                  len(group) - _NOTE_DETAIL_LIMIT))
    report = {
        "nodes_checked": len(seen),
        "breaches": breaches,
        "breaching_nodes": sorted(set(b["node"] for b in breaches)),
        "nodes_added": sorted(added),
        "nodes_removed": removed,
        "notes": notes,
        "baseline_captured_at": captured_at,
        "ok": not breaches,
    }
    if keep_results:
        report["results"] = results
    return report


def summary_text(report, max_lines=20):
    """A readable multi-line summary for a failed task's message."""
    breaches = report.get("breaches") or []
    checked = report.get("nodes_checked", 0)
    lines = []
    if breaches:
        nodes = set(b["node"] for b in breaches)
        lines.append("image drift: %d breach%s on %d of %d node%s"
                     % (len(breaches), "" if len(breaches) == 1 else "es", len(nodes), checked,
                        "" if checked == 1 else "s"))
        for breach in breaches[:max_lines]:
            lines.append("- " + breach["message"])
        if len(breaches) > max_lines:
            lines.append("... and %d more" % (len(breaches) - max_lines))
    else:
        lines.append("image drift: no breaches on %d node%s" % (checked, "" if checked == 1 else "s"))
    for key, label in (("nodes_added", "added"), ("nodes_removed", "removed")):
        names = report.get(key) or []
        if names:
            shown = ", ".join(names[:10])
            more = " and %d more" % (len(names) - 10) if len(names) > 10 else ""
            lines.append("%d node%s %s since the baseline (informational): %s%s"
                         % (len(names), "" if len(names) == 1 else "s", label, shown, more))
    for note in (report.get("notes") or [])[:max_lines]:
        lines.append("note: " + note)
    extra_notes = len(report.get("notes") or []) - max_lines
    if extra_notes > 0:
        lines.append("... and %d more notes" % extra_notes)
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------------
# Alert transitions (watcher daemon)
# ----------------------------------------------------------------------------------------------

class Transition(namedtuple("Transition", "opened still_open cleared")):
    """``opened``/``still_open``: breaches (one per key); ``cleared``: keys no longer breaching."""

    __slots__ = ()

    @property
    def open_keys(self):
        """The set to pass as ``previous_open`` next time (keys by ``breach_key``; with a custom
        key function compute ``{key(b) for b in opened + still_open}`` instead)."""
        return set(breach_key(b) for b in self.opened) | set(breach_key(b) for b in self.still_open)


def breach_key(breach):
    """The identity of an alert: ``(node, rule)``; several deny hits on a node are one alert."""
    return breach["node"], breach["rule"]


def breach_transitions(previous_open, current_breaches, key=breach_key):
    """Split the current breaches against the previously open alert keys.

    Returns ``Transition(opened, still_open, cleared)``: ``opened`` are breaches whose key was
    not open before (fire an alert), ``still_open`` those already alerted (stay quiet),
    ``cleared`` the sorted previously open keys that no longer breach (send a resolve). Each
    key appears once (its first breach). Pure: the caller keeps ``Transition.open_keys``.
    """
    previous = set(previous_open or ())
    opened = []
    still_open = []
    current_keys = set()
    for breach in current_breaches or ():
        k = key(breach)
        if k in current_keys:
            continue
        current_keys.add(k)
        (still_open if k in previous else opened).append(breach)
    cleared = sorted(previous - current_keys)
    return Transition(opened, still_open, cleared)
