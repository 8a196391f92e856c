# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
name: nodes
short_description: Kubernetes nodes as inventory hosts, grouped by role, zone, readiness and image pressure
version_added: 0.1.0
description:
  - Lists the nodes of one or more Kubernetes clusters and makes each node a host, with what people group
    and limit by as host variables - roles, zone, readiness, cordon, pressure conditions and image storage.
    Labels, annotations, taints, conditions, capacity, allocatable, node info, addresses and the largest
    images are added on request with O(hostvars_detail); O(compose), O(groups) and O(keyed_groups) can use
    them either way.
  - C(ansible_host) is the node's first address of the first type in O(address_preference).
  - Default groups - V(role_<role>) per node role, V(zone_<zone>) per C(topology.kubernetes.io/zone),
    V(ready) and V(not_ready), V(cordoned), V(image_pressure) (images fill more than
    O(image_pressure_percent) of the node's C(ephemeral-storage)), and V(cluster_<name>) per connection.
    Group names are made valid variable names - characters other than letters, digits and V(_) become
    V(_), so the control-plane role gives V(role_control_plane). The same applies to O(groups) and
    O(keyed_groups).
  - The inventory file name must end with V(nodes.yml) or V(nodes.yaml), for example V(prod.nodes.yml).
  - Connection options are those of the nodewatch.k8s modules (and of kubernetes.core), and the same
    E(K8S_AUTH_*) environment variables apply. Without any, C(KUBECONFIG) or C(~/.kube/config) is used.
  - The API is read page by page and each node is reduced at once to what the inventory needs; with
    O(cache=true) only those reduced records are cached, and hosts, groups, O(compose), O(groups) and
    O(keyed_groups) are rebuilt from them on every run, so changing O(hostvars_detail) needs no new read.
  - Host variables are data from the API and are never rendered as templates (a label value containing
    C({{ }}) stays text). The expressions in O(compose), O(groups) and O(keyed_groups) are templates
    because they come from the inventory file.
extends_documentation_fragment:
  - nodewatch.k8s.auth
  - constructed
  - inventory_cache
options:
  plugin:
    description: Marks this file as a source for this plugin.
    required: true
    type: str
    choices: [nodewatch.k8s.nodes]
  connections:
    description:
      - Clusters to read, each becoming a V(cluster_<name>) group. Without it, one cluster named
        V(default) is read with the top-level connection options.
      - Each entry takes the connection options (O(kubeconfig), O(context), O(host), O(api_key), and so on),
        which override the top-level ones for that cluster, and the settings below.
    type: list
    elements: dict
    suboptions:
      name:
        description:
          - Cluster name, for the V(cluster_<name>) group and the C(<prefix>cluster) host variable.
          - Defaults to the entry's C(context), and for a single entry to V(default).
        type: str
      host_prefix:
        description:
          - Prepended to the node names of this cluster to make host names, so that clusters with nodes
            of the same name do not collide. Two clusters producing the same host name are an error.
        type: str
        default: ""
      label_selectors:
        description: Overrides O(label_selectors) for this cluster.
        type: list
        elements: str
      field_selectors:
        description: Overrides O(field_selectors) for this cluster.
        type: list
        elements: str
  label_selectors:
    description:
      - Only nodes matching all these label selectors (Kubernetes syntax, such as
        V(node-role.kubernetes.io/worker) or V(topology.kubernetes.io/zone in (a,b\))).
    type: list
    elements: str
    default: []
  field_selectors:
    description:
      - Only nodes matching all these field selectors, such as V(spec.unschedulable=false).
    type: list
    elements: str
    default: []
  address_preference:
    description:
      - Node address types to try, in order, for C(ansible_host). A node with none of them gets no
        C(ansible_host), so Ansible connects to its host name.
    type: list
    elements: str
    default: [InternalIP, ExternalIP, Hostname]
  vars_prefix:
    description:
      - Prefix of the host variables this plugin sets (V(nodewatch_ready), V(nodewatch_images), ...).
    type: str
    default: nodewatch_
  hostvars_detail:
    description:
      - Families of node data each host carries as variables beyond the default ones (name, cluster, roles,
        zone, ready, schedulable, pressure conditions, image totals), or V(all) for every family.
      - V(labels), V(annotations), V(taints), V(conditions), V(capacity), V(allocatable), V(node_info) and
        V(addresses) add the C(<prefix><family>) variable; V(top_images) adds C(<prefix>images.top_images).
      - Every value a host carries costs Ansible time and memory on each run (on 5,000 nodes, the whole data
        of every node makes C(ansible-inventory --list) several times slower). Leave out what your plays do
        not read.
      - O(compose), O(groups) and O(keyed_groups) see every family whatever this option says, so
        C(nodewatch_labels['...']) works in them without V(labels) here.
      - V(all) gives the host variables of versions before 0.2.0.
    type: list
    elements: str
    choices: [labels, annotations, taints, conditions, capacity, allocatable, node_info, addresses, top_images, all]
    default: []
    version_added: 0.1.0
  top_images:
    description:
      - How many of the largest images to list in C(<prefix>images.top_images) (with V(top_images) in
        O(hostvars_detail)) and to offer to O(compose), O(groups) and O(keyed_groups).
    type: int
    default: 5
  max_images:
    description:
      - The kubelet's C(nodeStatusMaxImages) in these clusters. A node reporting at least this many images
        is flagged C(truncated) - its image count and total are lower bounds. V(-1) when unlimited.
    type: int
    default: 50
  image_pressure_percent:
    description:
      - A node whose images fill more than this percentage of its C(ephemeral-storage) capacity joins the
        V(image_pressure) group. A number from 0 to 100, optionally followed by V(%).
      - The percentage compares the sum of the images' sizes (shared layers counted once per image) with
        the node's whole ephemeral storage, so it is an indicator, not the image filesystem's exact usage;
        see M(nodewatch.k8s.node_images_info) with O(nodewatch.k8s.node_images_info#module:imagefs=true)
        for that.
    type: raw
    default: 80
  default_groups:
    description: Create the default groups (role, zone, readiness, cordoned, image pressure, cluster).
    type: bool
    default: true
notes:
  - "Host variables, with the default O(vars_prefix): C(ansible_host), C(nodewatch_name) (the node name),
    C(nodewatch_cluster), C(nodewatch_roles), C(nodewatch_zone), C(nodewatch_ready), C(nodewatch_schedulable),
    C(nodewatch_pressure) (the condition types other than C(Ready) that are C(True), such as C(DiskPressure)),
    and C(nodewatch_images) with C(count), C(total_bytes), C(total_human), C(capacity_bytes),
    C(percent_of_capacity) and C(truncated)."
  - "With O(hostvars_detail): C(nodewatch_labels), C(nodewatch_annotations), C(nodewatch_taints) (C(key),
    C(value), C(effect)), C(nodewatch_conditions) (type to status, such as C(Ready: 'True')),
    C(nodewatch_capacity), C(nodewatch_allocatable), C(nodewatch_node_info) (kubelet version, OS image,
    container runtime...), C(nodewatch_addresses) (type to address) and C(nodewatch_images.top_images)."
  - The kubelet reports at most C(nodeStatusMaxImages) images, largest first, and their sizes count shared
    layers once per image; see the notes of M(nodewatch.k8s.node_images_info).
  - See C(docs/inventory.md) in the collection for a guide.
author:
  - nodewatch.k8s maintainers (@nodewatch)
"""

EXAMPLES = r"""
# cluster.nodes.yml: every node of the kubeconfig's current context
plugin: nodewatch.k8s.nodes
---
# workers.nodes.yml: workers only, with extra variables and groups
# ansible-inventory -i workers.nodes.yml --graph
plugin: nodewatch.k8s.nodes
label_selectors:
  - node-role.kubernetes.io/worker
address_preference: [ExternalIP, InternalIP]
image_pressure_percent: 70%
# compose, groups and keyed_groups may use labels and node info although the hosts do not carry them
compose:
  kubelet_version: nodewatch_node_info.kubeletVersion
  image_disk_use: nodewatch_images.total_human
groups:
  big_images: nodewatch_images.total_bytes > 10 * 1024 ** 3
  outdated_kubelet: nodewatch_node_info.kubeletVersion is version('v1.30.0', '<')
keyed_groups:
  - prefix: type
    key: nodewatch_labels['node.kubernetes.io/instance-type'] | default('unknown')
  - prefix: arch
    key: nodewatch_node_info.architecture
---
# detailed.nodes.yml: hosts that carry their labels, taints and largest images as variables too
plugin: nodewatch.k8s.nodes
hostvars_detail: [labels, taints, top_images]
---
# fleet.nodes.yml: two clusters of one kubeconfig, told apart by a host prefix
# ansible-playbook -i fleet.nodes.yml cleanup.yml --limit 'cluster_prod:&image_pressure'
plugin: nodewatch.k8s.nodes
kubeconfig: ~/.kube/config
connections:
  - name: prod
    context: prod-admin
    host_prefix: prod-
  - name: staging
    context: staging-admin
    host_prefix: staging-
    label_selectors:
      - "!node-role.kubernetes.io/control-plane"
---
# cached.nodes.yml: read the API at most every 10 minutes
plugin: nodewatch.k8s.nodes
cache: true
cache_plugin: ansible.builtin.jsonfile
cache_connection: ~/.cache/nodewatch-inventory
cache_timeout: 600
"""

from ansible.errors import AnsibleParserError
from ansible.inventory.group import to_safe_group_name
from ansible.plugins.inventory import BaseInventoryPlugin, Cacheable, Constructable
from ansible.utils.display import Display

try:
    # ansible-core 2.19 and later: data is untrusted unless tagged, so API values set as host
    # variables are never rendered as templates; the templates in compose/groups/keyed_groups
    # are trusted because _read_config_data loads the inventory file as a trusted source.
    from ansible.template import trust_as_template  # noqa: F401 pylint: disable=unused-import
    HAS_DATA_TAGGING = True
    wrap_var = None  # not needed, and its module is deprecated there
except ImportError:  # ansible-core 2.16 to 2.18: strings are templates unless marked unsafe
    HAS_DATA_TAGGING = False
    from ansible.utils.unsafe_proxy import wrap_var

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import KubeClient
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.config import AUTH_OPTIONS, tls_verification_warning
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import KubeError
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.untrusted import UntrustedInputError, check_depth
from ansible_collections.nodewatch.k8s.plugins.module_utils.inventory.hosts import (
    InventoryConfigError,
    cache_fingerprint,
    cache_payload,
    cached_clusters,
    compact_node,
    normalize_settings,
    plan_hosts,
    valid_cache_payload,
)
from ansible_collections.nodewatch.k8s.plugins.module_utils.nodes.ops import select_nodes

display = Display()

SETTING_OPTIONS = ("connections", "label_selectors", "field_selectors", "address_preference", "vars_prefix",
                   "hostvars_detail", "top_images", "max_images", "image_pressure_percent", "default_groups")


def _as_data(value):
    """API values as host variables: data, never templates, on every ansible-core version."""
    if HAS_DATA_TAGGING:
        return value  # untrusted unless explicitly tagged, which API data never is
    return wrap_var(value)


def _valid_group_name(name):
    """Group names that work in patterns and Jinja alike, whatever TRANSFORM_INVALID_GROUP_CHARS says."""
    return to_safe_group_name(name, force=True, silent=True)


class InventoryModule(BaseInventoryPlugin, Constructable, Cacheable):
    NAME = "nodewatch.k8s.nodes"

    _sanitize_group_name = staticmethod(_valid_group_name)

    def verify_file(self, path):
        return super(InventoryModule, self).verify_file(path) and path.endswith(("nodes.yml", "nodes.yaml"))

    def _fail(self, path, message):
        raise AnsibleParserError("nodewatch.k8s.nodes inventory %s: %s" % (path, message))

    def parse(self, inventory, loader, path, cache=True):
        super(InventoryModule, self).parse(inventory, loader, path, cache)
        self._read_config_data(path)
        options = dict((name, self.get_option(name)) for name in SETTING_OPTIONS + tuple(AUTH_OPTIONS))
        try:
            settings = normalize_settings(options)
        except InventoryConfigError as exc:
            self._fail(path, str(exc))

        # The cache holds compact node records (never templates, never whole Node objects);
        # hosts, groups and constructed vars are rebuilt from them on every run.
        fingerprint = cache_fingerprint(settings)
        use_cache = bool(self.get_option("cache"))
        read_cache = use_cache and cache
        update_cache = use_cache and not cache
        clusters = None
        cache_key = self.get_cache_key(path) if use_cache else None
        if read_cache:
            clusters = self._read_cache(path, cache_key, fingerprint)
            if clusters is None:
                update_cache = True
        if clusters is not None and not self._populate_from_cache(path, clusters, settings):
            clusters = None
            update_cache = use_cache
        if clusters is None:
            clusters = self._fetch(path, settings)
            self._populate(path, clusters, settings)
        if update_cache:
            self._cache[cache_key] = cache_payload(fingerprint, clusters)

    # -- the cache: whatever is in it, a bad entry is refetched, never a crash --------------------

    def _read_cache(self, path, cache_key, fingerprint):
        """The cached clusters, or None: missing, from other settings, or unreadable.

        A cache file is outside our control (damaged, truncated, written by another version or by
        someone else): any failure to read it is a miss, said once, never an inventory failure.
        """
        try:
            payload = self._cache[cache_key]
        except KeyError:
            return None
        except Exception as exc:  # the cache plugin's own errors (a corrupt jsonfile raises AnsibleError)
            display.vvv("nodewatch.k8s.nodes inventory %s: reading the cache failed with %s: %s"
                        % (path, type(exc).__name__, exc))
            self._cache_warning(path, "could not be read by the cache plugin (damaged or truncated?)")
            return None
        if not valid_cache_payload(payload, fingerprint):
            return None  # another version or other settings: an ordinary miss
        try:
            clusters = cached_clusters(payload)
            if clusters is not None:
                check_depth(clusters, "its node records", error=UntrustedInputError)
        except UntrustedInputError as exc:
            self._cache_warning(path, "is unusable: %s" % exc)
            return None
        except (RecursionError, ValueError, TypeError):
            self._cache_warning(path, "is unusable: its node records are nested too deep or malformed")
            return None
        if clusters is None:
            self._cache_warning(path, "is damaged")
        return clusters

    def _populate_from_cache(self, path, clusters, settings):
        """Populate from cached records; on any failure undo what was added and return False."""
        hosts = set(self.inventory.hosts)
        groups = set(self.inventory.groups)
        try:
            self._populate(path, clusters, settings)
            return True
        except Exception as exc:  # records of a foreign or hostile shape: refetch, whatever they broke
            for host in set(self.inventory.hosts) - hosts:
                self.inventory.remove_host(self.inventory.hosts[host])
            for group in set(self.inventory.groups) - groups:
                self.inventory.remove_group(group)
            display.vvv("nodewatch.k8s.nodes inventory %s: the cached records failed with %s: %s"
                        % (path, type(exc).__name__, exc))
            self._cache_warning(path, "holds node records of a shape this version cannot use")
            return False

    @staticmethod
    def _cache_warning(path, problem):
        text = str(problem)
        if len(text) > 300:
            text = text[:300] + "..."
        display.warning("nodewatch.k8s.nodes inventory %s: the cache entry %s; it was ignored and the nodes are "
                        "read from the API again" % (path, text))

    def _fetch(self, path, settings):
        clusters = []
        insecure = []
        for connection in settings["connections"]:
            try:
                client = KubeClient.from_options(connection["auth"])
                if tls_verification_warning(client.configuration):
                    insecure.append("'%s' (%s)" % (connection["name"], client.configuration.host))
                try:
                    nodes = [compact_node(node, settings["top_images"], settings["max_images"])
                             for node in select_nodes(client, None, connection["label_selectors"],
                                                      connection["field_selectors"])]
                finally:
                    client.close()
            except KubeError as exc:
                self._fail(path, "cluster '%s': %s" % (connection["name"], exc))
            clusters.append({"name": connection["name"], "host_prefix": connection["host_prefix"],
                             "nodes": nodes})
        if insecure:
            # Once per run, whatever the number of clusters and requests.
            display.warning("nodewatch.k8s.nodes inventory %s: TLS certificate verification is turned off for "
                            "cluster %s (validate_certs: false, K8S_AUTH_VERIFY_SSL or insecure-skip-tls-verify in "
                            "the kubeconfig): anyone on the network path can impersonate the API server and read "
                            "the credentials sent to it; set ca_cert (or certificate-authority in the kubeconfig) "
                            "instead" % (path, ", ".join(insecure)))
        return clusters

    def _populate(self, path, clusters, settings):
        strict = self.get_option("strict")
        compose = self.get_option("compose")
        conditional_groups = self.get_option("groups")
        keyed_groups = self.get_option("keyed_groups")
        constructed = bool(compose or conditional_groups or keyed_groups)
        try:
            for host, hostvars, groups, every_var in plan_hosts(clusters, settings, constructed_vars=constructed):
                host = self.inventory.add_host(host)
                for name, value in hostvars.items():
                    self.inventory.set_variable(host, name, _as_data(value))
                for group in groups:
                    group = self.inventory.add_group(self._sanitize_group_name(group))
                    self.inventory.add_child(group, host)
                if not constructed:
                    continue
                # The expressions see every family of the node's data, whether or not the host
                # carries it (hostvars_detail), plus what the host carries (compose's results too:
                # groups and keyed_groups merge the host's variables in).
                variables = _as_data(every_var)
                variables.update(self.inventory.get_host(host).get_vars())
                self._set_composite_vars(compose, variables, host, strict=strict)
                self._add_host_to_composed_groups(conditional_groups, variables, host, strict=strict)
                self._add_host_to_keyed_groups(keyed_groups, variables, host, strict=strict)
        except InventoryConfigError as exc:
            self._fail(path, str(exc))
