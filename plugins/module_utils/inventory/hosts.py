# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""The pure half of the ``nodewatch.k8s.nodes`` inventory: settings, compact node records,
host variables and default groups. No Ansible and no I/O here.

The plugin fetches Nodes, reduces each to a *record* with ``compact_node`` (what the inventory
needs and nothing else: a few kilobytes, JSON-serializable), caches the records, and builds
hosts from records with ``plan_hosts``, whether they came from the API or from the cache. So a
cached run produces the same hosts, variables and groups as a live one.

A record keeps every family of data (labels, annotations, node info...), but a host carries only
what people group and limit by unless ``hostvars_detail`` asks for more: Ansible inspects, tags
and copies every value a host carries, so at thousands of hosts the variables are the cost. The
``compose``/``groups``/``keyed_groups`` expressions still see every family (``plan_hosts`` with
``constructed_vars=True``), so choosing lean host variables never changes which groups a host is in.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import hashlib
import json
import re

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.config import AUTH_OPTIONS
from ansible_collections.nodewatch.k8s.plugins.module_utils.images.accounting import DEFAULT_MAX_IMAGES, node_image_facts
from ansible_collections.nodewatch.k8s.plugins.module_utils.nodes.model import ADDRESS_TYPES, node_roles
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.quantity import QuantityError, parse_percent

__all__ = [
    "InventoryConfigError",
    "CACHE_FORMAT",
    "DEFAULT_ADDRESS_PREFERENCE",
    "HOSTVARS_DETAIL",
    "normalize_settings",
    "compact_node",
    "pick_address",
    "node_hostvars",
    "pressure_conditions",
    "default_groups",
    "plan_hosts",
    "cache_fingerprint",
    "valid_cache_payload",
    "cache_payload",
    "cached_clusters",
]

# Bump when the record or payload layout changes: older cache entries are then refetched, not misread.
CACHE_FORMAT = 2
# Families of host variables a host carries only when hostvars_detail names them (or "all").
HOSTVARS_DETAIL = ("labels", "annotations", "taints", "conditions", "capacity", "allocatable", "node_info",
                   "addresses", "top_images")
ALL_DETAIL = "all"
DEFAULT_ADDRESS_PREFERENCE = ("InternalIP", "ExternalIP", "Hostname")
ZONE_LABEL = "topology.kubernetes.io/zone"
DEFAULT_CLUSTER_NAME = "default"
CONNECTION_KEYS = frozenset(["name", "host_prefix", "label_selectors", "field_selectors"]) | frozenset(AUTH_OPTIONS)
CONNECTION_ALIASES = {"verify_ssl": "validate_certs", "ssl_ca_cert": "ca_cert", "cert_file": "client_cert",
                      "key_file": "client_key"}
_VAR_PREFIX_RE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)?$")
_CLUSTER_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


class InventoryConfigError(ValueError):
    """A setting of the inventory file that cannot work; ``str()`` names the option."""


# -- settings --------------------------------------------------------------------------------

def _string_list(value, option):
    if value is None:
        return []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v.strip() for v in value):
        raise InventoryConfigError("%s must be a list of non-empty strings, got %r" % (option, value))
    return [v.strip() for v in value]


def _normalize_connection(raw, index, defaults):
    where = "connections[%d]" % index
    if not isinstance(raw, dict):
        raise InventoryConfigError("%s must be a mapping of connection settings, got %r" % (where, raw))
    entry = {}
    for key, value in raw.items():
        canonical = CONNECTION_ALIASES.get(key, key)
        if canonical not in CONNECTION_KEYS:
            raise InventoryConfigError(
                "%s: unknown setting '%s'; use name, host_prefix, label_selectors, field_selectors or a "
                "connection option (%s)" % (where, key, ", ".join(sorted(AUTH_OPTIONS))))
        entry[canonical] = value
    name = entry.get("name")
    if name is None:
        name = entry.get("context") or (DEFAULT_CLUSTER_NAME if index == 0 else None)
    if not isinstance(name, str) or not _CLUSTER_NAME_RE.match(name):
        raise InventoryConfigError(
            "%s: name must be set to a short cluster name (letters, digits, '_', '-', '.'), got %r; it "
            "names the cluster_<name> group" % (where, name))
    host_prefix = entry.get("host_prefix") or ""
    if not isinstance(host_prefix, str):
        raise InventoryConfigError("%s (%s): host_prefix must be a string, got %r" % (where, name, host_prefix))
    auth = dict((k, v) for k, v in defaults["auth"].items() if v is not None)
    auth.update((k, entry[k]) for k in AUTH_OPTIONS if entry.get(k) is not None)
    return {
        "name": name,
        "host_prefix": host_prefix,
        "auth": auth,
        "label_selectors": _string_list(entry.get("label_selectors", defaults["label_selectors"]),
                                        "%s (%s).label_selectors" % (where, name)),
        "field_selectors": _string_list(entry.get("field_selectors", defaults["field_selectors"]),
                                        "%s (%s).field_selectors" % (where, name)),
    }


def normalize_settings(options):
    """Check the plugin's options and return the settings the plugin works from.

    ``options`` maps option names to values (as ``get_option`` gives them). Raises
    ``InventoryConfigError`` with a sentence naming the option.
    """
    try:
        pressure = parse_percent(options.get("image_pressure_percent", 80))
    except QuantityError as exc:
        raise InventoryConfigError("image_pressure_percent: %s" % exc)

    preference = options.get("address_preference") or list(DEFAULT_ADDRESS_PREFERENCE)
    if isinstance(preference, str) or not isinstance(preference, (list, tuple)):
        raise InventoryConfigError("address_preference must be a list of address types, got %r" % (preference,))
    for kind in preference:
        if kind not in ADDRESS_TYPES:
            raise InventoryConfigError("address_preference: unknown address type %r; use %s"
                                       % (kind, ", ".join(ADDRESS_TYPES)))

    prefix = options.get("vars_prefix", "nodewatch_")
    prefix = "" if prefix is None else prefix
    if not isinstance(prefix, str) or not _VAR_PREFIX_RE.match(prefix):
        raise InventoryConfigError("vars_prefix %r must be empty or start a valid variable name (letters, "
                                   "digits and '_', not starting with a digit)" % (prefix,))

    limits = {}
    for option, default, minimum in (("top_images", 5, 0), ("max_images", DEFAULT_MAX_IMAGES, -1)):
        value = options.get(option, default)
        if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
            raise InventoryConfigError("%s must be an integer of at least %d, got %r" % (option, minimum, value))
        limits[option] = value

    defaults = {
        "auth": dict((name, options.get(name)) for name in AUTH_OPTIONS),
        "label_selectors": _string_list(options.get("label_selectors"), "label_selectors"),
        "field_selectors": _string_list(options.get("field_selectors"), "field_selectors"),
    }
    raw_connections = options.get("connections")
    if raw_connections is None or raw_connections == []:
        connections = [_normalize_connection({"name": DEFAULT_CLUSTER_NAME}, 0, defaults)]
    elif not isinstance(raw_connections, (list, tuple)):
        raise InventoryConfigError("connections must be a list of connection settings, got %r" % (raw_connections,))
    else:
        connections = [_normalize_connection(raw, index, defaults) for index, raw in enumerate(raw_connections)]
    seen = {}
    for connection in connections:
        if connection["name"] in seen:
            raise InventoryConfigError("connections: two connections are named '%s'; give each a distinct "
                                       "name" % connection["name"])
        seen[connection["name"]] = True

    return {
        "connections": connections,
        "hostvars_detail": _normalize_detail(options.get("hostvars_detail")),
        "image_pressure_percent": pressure,
        "address_preference": list(preference),
        "vars_prefix": prefix,
        "top_images": limits["top_images"],
        "max_images": limits["max_images"],
        "default_groups": bool(options.get("default_groups", True)),
    }


def _normalize_detail(value):
    """``hostvars_detail`` as a tuple of families, in HOSTVARS_DETAIL's order."""
    if value is None:
        return ()
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise InventoryConfigError("hostvars_detail must be a list of %s or %s, got %r"
                                   % (", ".join(HOSTVARS_DETAIL), ALL_DETAIL, value))
    wanted = set()
    for family in value:
        if family == ALL_DETAIL:
            return HOSTVARS_DETAIL
        if family not in HOSTVARS_DETAIL:
            raise InventoryConfigError("hostvars_detail: unknown family %r; use %s, or %s for every one"
                                       % (family, ", ".join(HOSTVARS_DETAIL), ALL_DETAIL))
        wanted.add(family)
    return tuple(family for family in HOSTVARS_DETAIL if family in wanted)


def cache_fingerprint(settings):
    """What the cached records depend on: the clusters asked and how images are summarized.

    Options applied when hosts are built from records (address preference, prefix, groups,
    compose, threshold, hostvars_detail: records keep every family) are left out, so changing
    them does not refetch.
    """
    relevant = {
        "format": CACHE_FORMAT,
        "top_images": settings["top_images"],
        "max_images": settings["max_images"],
        "connections": [dict((k, c[k]) for k in ("name", "host_prefix", "auth", "label_selectors",
                                                 "field_selectors")) for c in settings["connections"]],
    }
    text = json.dumps(relevant, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def cache_payload(fingerprint, clusters):
    """What the plugin hands its cache plugin: the records as one JSON text.

    ansible-core 2.19's cache layer decodes what it stores with a Python hook per mapping; one
    string instead of thousands of records keeps a cached run's read at the speed of json.loads.
    """
    return {"format": CACHE_FORMAT, "fingerprint": fingerprint,
            "clusters": json.dumps(clusters, separators=(",", ":"))}


def valid_cache_payload(payload, fingerprint):
    """True when ``payload`` (from a cache plugin) was written by this version for these settings."""
    return (isinstance(payload, dict) and payload.get("format") == CACHE_FORMAT
            and payload.get("fingerprint") == fingerprint and isinstance(payload.get("clusters"), str))


def cached_clusters(payload):
    """The clusters of a payload ``valid_cache_payload`` accepted; None when its text is damaged."""
    try:
        clusters = json.loads(payload["clusters"])
    except ValueError:
        return None
    if not isinstance(clusters, list) or not all(isinstance(c, dict) and isinstance(c.get("nodes"), list)
                                                 for c in clusters):
        return None
    return clusters


# -- records -----------------------------------------------------------------------------------

def compact_node(node, top_images=5, max_images=DEFAULT_MAX_IMAGES):
    """Reduce a Node (dict from the API) to the record the inventory keeps and caches."""
    metadata = node.get("metadata") or {}
    spec = node.get("spec") or {}
    status = node.get("status") or {}
    facts = node_image_facts(node, top=top_images, max_images=max_images)
    return {
        "name": metadata.get("name"),
        "labels": dict(metadata.get("labels") or {}),
        "annotations": dict(metadata.get("annotations") or {}),
        "taints": [dict((k, t[k]) for k in ("key", "value", "effect") if t.get(k) is not None)
                   for t in spec.get("taints") or () if isinstance(t, dict)],
        "unschedulable": bool(spec.get("unschedulable", False)),
        "conditions": dict((c.get("type"), c.get("status")) for c in status.get("conditions") or ()
                           if isinstance(c, dict) and c.get("type")),
        "capacity": dict(status.get("capacity") or {}),
        "allocatable": dict(status.get("allocatable") or {}),
        "node_info": dict(status.get("nodeInfo") or {}),
        "addresses": [{"type": a.get("type"), "address": a.get("address")}
                      for a in status.get("addresses") or () if isinstance(a, dict)],
        "images": {
            "count": facts["image_count"],
            "total_bytes": facts["total_bytes"],
            "total_human": facts["total_human"],
            "capacity_bytes": facts["capacity_bytes"],
            "percent_of_capacity": facts["percent_of_capacity"],
            "truncated": facts["truncated"],
            "top_images": facts["top_images"],
        },
    }


def pick_address(addresses, preference=DEFAULT_ADDRESS_PREFERENCE):
    """The first address of the first preferred type the node has, or None."""
    for kind in preference:
        for address in addresses or ():
            if address.get("type") == kind and address.get("address"):
                return address["address"]
    return None


def pressure_conditions(conditions):
    """Condition types other than Ready whose status is True (``DiskPressure``, ``PIDPressure``...)."""
    return [kind for kind, status in (conditions or {}).items() if kind != "Ready" and status == "True"]


def node_hostvars(record, cluster, prefix="nodewatch_", address_preference=DEFAULT_ADDRESS_PREFERENCE, detail=()):
    """Host variables for one record: ``ansible_host`` and the ``<prefix>*`` facts.

    Always: ``name``, ``cluster``, ``roles``, ``zone``, ``ready``, ``schedulable``, ``pressure`` and
    ``images`` (count, totals, percent, truncated). ``detail`` (families of HOSTVARS_DETAIL) adds
    ``labels``, ``annotations``, ``taints``, ``conditions``, ``capacity``, ``allocatable``,
    ``node_info``, ``addresses`` and ``images.top_images``.
    """
    labels = record.get("labels") or {}
    conditions = record.get("conditions") or {}
    images = dict(record.get("images") or {})
    top_images = images.pop("top_images", None)
    values = {
        "name": record.get("name"),
        "cluster": cluster,
        "roles": node_roles(labels),
        "ready": conditions.get("Ready") == "True",
        "schedulable": not record.get("unschedulable", False),
        "zone": labels.get(ZONE_LABEL),
        "pressure": pressure_conditions(conditions),
        "images": images,
    }
    for family in detail:
        if family == "top_images":
            images["top_images"] = top_images or []
        elif family == "labels":
            values["labels"] = labels
        elif family == "conditions":
            values["conditions"] = conditions
        elif family == "addresses":
            addresses = {}
            for address in record.get("addresses") or ():
                addresses.setdefault(address.get("type"), address.get("address"))
            values["addresses"] = addresses
        elif family == "taints":
            values["taints"] = record.get("taints") or []
        else:
            values[family] = record.get(family) or {}
    hostvars = dict((prefix + key, value) for key, value in values.items())
    address = pick_address(record.get("addresses"), address_preference)
    if address:
        hostvars["ansible_host"] = address
    return hostvars


def default_groups(record, cluster, image_pressure_percent=80.0):
    """Raw names (before Ansible's sanitizing) of the groups a node belongs to by default."""
    labels = record.get("labels") or {}
    groups = ["cluster_%s" % cluster]
    groups.extend("role_%s" % role for role in node_roles(labels))
    zone = labels.get(ZONE_LABEL)
    if zone:
        groups.append("zone_%s" % zone)
    groups.append("ready" if (record.get("conditions") or {}).get("Ready") == "True" else "not_ready")
    if record.get("unschedulable"):
        groups.append("cordoned")
    percent = (record.get("images") or {}).get("percent_of_capacity")
    if percent is not None and percent > image_pressure_percent:
        groups.append("image_pressure")
    return groups


def plan_hosts(clusters, settings, constructed_vars=False):
    """Yield ``(host, hostvars, groups, constructed)`` for every node of every cluster.

    ``clusters`` is a list of ``{"name", "host_prefix", "nodes": [records]}``. ``hostvars`` are the
    variables the host carries (``settings["hostvars_detail"]`` chooses the families);
    ``constructed`` is None, or with ``constructed_vars`` the host variables of every family, for
    ``compose``, ``groups`` and ``keyed_groups`` to see whatever the host carries. Raises
    ``InventoryConfigError`` before yielding anything when two clusters would produce the same
    host name.
    """
    owners = {}
    for cluster in clusters:
        for record in cluster["nodes"]:
            host = cluster["host_prefix"] + record["name"]
            other = owners.get(host)
            if other is not None and other != cluster["name"]:
                raise InventoryConfigError(
                    "clusters '%s' and '%s' both produce the host name '%s'; give the connections "
                    "distinct host_prefix values" % (other, cluster["name"], host))
            owners[host] = cluster["name"]
    for cluster in clusters:
        for record in cluster["nodes"]:
            host = cluster["host_prefix"] + record["name"]
            hostvars = node_hostvars(record, cluster["name"], settings["vars_prefix"],
                                     settings["address_preference"], settings["hostvars_detail"])
            constructed = None
            if constructed_vars:
                constructed = node_hostvars(record, cluster["name"], settings["vars_prefix"],
                                            settings["address_preference"], HOSTVARS_DETAIL)
            groups = (default_groups(record, cluster["name"], settings["image_pressure_percent"])
                      if settings["default_groups"] else [])
            yield host, hostvars, groups, constructed
