# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``nodewatch.k8s.nodes`` inventory: bad options in its file, and bad cache entries.

``options`` are the inventory file's settings (``kubeconfig`` defaults to the suite's cluster;
placeholders as in ``common.materialize``). Option cases must fail the source with a sentence
naming the option. ``damage`` cases first run the inventory once (a good cache entry is written by
the jsonfile cache plugin), damage that entry, then run it again with the cache: the entry must be
ignored, the nodes read from the API again (``warn``: with a warning saying so), and a good entry
written back - never a failed inventory.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from badinput.common import SECRETS, Case

BOMB_TEXT = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    "%s: &%s [%s]\n" % (chr(98 + i), chr(98 + i), ", ".join(["*" + chr(97 + i)] * 10)) for i in range(8))
PLUGIN = r"nodewatch\.k8s\.nodes inventory .*\.nodes\.yml: .*"
IGNORED = r"the cache entry .*; it was ignored and the nodes are read from the API again"


def option_case(case_id, expect, options):
    return Case(case_id, [PLUGIN + expect], options=options)


def cache_case(case_id, damage, warn=True, expect=None):
    return Case(case_id, [IGNORED] if warn else [], damage=damage, warn=warn)


OPTION_CASES = [
    option_case("connections-a-string", r"connections\[0\] must be a mapping of connection settings, got 'prod'",
                {"connections": "prod"}),
    option_case("connections-of-numbers", r"connections\[0\] must be a mapping of connection settings",
                {"connections": [5]}),
    option_case("connections-unknown-setting", r"connections\[0\]: unknown setting 'clusterz'",
                {"connections": [{"name": "a", "clusterz": 1}]}),
    option_case("connections-bad-name", r"connections\[0\]: name must be set to a short cluster name",
                {"connections": [{"name": "prod cluster!"}]}),
    option_case("connections-duplicate-names", r"connections: two connections are named 'a'",
                {"connections": [{"name": "a"}, {"name": "a"}]}),
    option_case("connections-prefix-number", r"host_prefix must be a string",
                {"connections": [{"name": "a", "host_prefix": 5}]}),
    option_case("label-selectors-empty-string", r"label_selectors must be a list of non-empty strings",
                {"label_selectors": [""]}),
    option_case("label-selector-unclosed", r"cluster 'default': .*(selector|parse)", {"label_selectors": ["a in (b"]}),
    option_case("address-preference-unknown", r"address_preference: unknown address type 'Wifi'",
                {"address_preference": ["Wifi"]}),
    option_case("vars-prefix-digit", r"vars_prefix '1bad' must be empty or start a valid variable name",
                {"vars_prefix": "1bad"}),
    option_case("top-images-negative", r"top_images must be an integer of at least 0", {"top_images": -1}),
    option_case("max-images-below-minus-one", r"max_images must be an integer of at least -1", {"max_images": -5}),
    option_case("image-pressure-over-100", r"image_pressure_percent: ", {"image_pressure_percent": 150}),
    option_case("image-pressure-word", r"image_pressure_percent: ", {"image_pressure_percent": "high"}),
    option_case("image-pressure-nan", r"image_pressure_percent: ", {"image_pressure_percent": "nan"}),
    option_case("kubeconfig-list-of-numbers", r"cluster 'default': kubeconfig must be a list of file paths.*is an int;",
                {"kubeconfig": [1, 2]}),
    option_case("kubeconfig-number", r"cluster 'default': kubeconfig must be a file path.* got an int\b",
                {"kubeconfig": 5}),
    option_case("kubeconfig-directory", r"cluster 'default': kubeconfig .* is a directory", {"kubeconfig": "@dir"}),
    option_case("kubeconfig-missing", r"cluster 'default': kubeconfig file .*absent does not exist",
                {"kubeconfig": "@file:absent"}),
    option_case("kubeconfig-yaml-bomb", r"cluster 'default': the kubeconfig file .*bomb would expand to more than",
                {"kubeconfig": "@file:bomb"}),
    option_case("context-absent", r"cluster 'default': context 'prod' is not in", {"context": "prod"}),
    option_case("host-without-scheme", r"cluster 'default': host must be a URL starting with https://",
                {"kubeconfig": None, "host": "kube.example.com:6443", "api_key": SECRETS["api_key"]}),
    option_case("proxy-without-scheme", r"cluster 'default': proxy must be a URL", {"proxy": "proxy:3128"}),
    option_case("proxy-socks", r"cluster 'default': .*PySocks.*socks5://", {"proxy": "socks5://127.0.0.1:1"}),
    option_case("impersonate-groups-alone", r"cluster 'default': impersonate_groups needs impersonate_user",
                {"impersonate_groups": ["admins"]}),
    option_case("connection-kubeconfig-list-of-numbers", r"cluster 'b': kubeconfig must be a list of file paths",
                {"connections": [{"name": "b", "kubeconfig": [3]}]}),
    option_case("connection-password-marker-wrong-host", r"cluster 'c': (cannot connect|connection refused)",
                {"kubeconfig": None, "connections": [{"name": "c", "host": "https://127.0.0.1:9",
                                                      "username": "u", "password": SECRETS["password"]}]}),
]

CACHE_CASES = [
    cache_case("cache-not-json", {"kind": "text", "text": "{\"format\": 1, \"finger"}),
    cache_case("cache-empty-file", {"kind": "text", "text": ""}),
    cache_case("cache-binary-garbage", {"kind": "text", "text": "\x1f\x8b\x08\x00garbage"}),
    cache_case("cache-nested-json", {"kind": "text", "text": "[" * 100000 + "]" * 100000}),
    cache_case("cache-a-list", {"kind": "payload", "value": [1, 2, 3]}, warn=False),
    cache_case("cache-a-number", {"kind": "payload", "value": 42}, warn=False),
    cache_case("cache-other-version", {"kind": "set", "key": "format", "value": 999}, warn=False),
    cache_case("cache-foreign-fingerprint", {"kind": "set", "key": "fingerprint", "value": "0" * 64}, warn=False),
    cache_case("cache-clusters-a-mapping", {"kind": "set", "key": "clusters", "value": {"a": 1}}, warn=False),
    cache_case("cache-clusters-not-json", {"kind": "clusters", "value": "[{\"name\": "}),
    cache_case("cache-clusters-of-numbers", {"kind": "clusters", "value": [1, 2]}),
    cache_case("cache-clusters-nested", {"kind": "clusters", "value": "[" * 100000 + "]" * 100000}),
    cache_case("cache-clusters-nested-200", {"kind": "clusters", "value": "[" * 200 + "]" * 200}),
    cache_case("cache-records-name-number", {"kind": "records", "value": {"name": 5}}),
    cache_case("cache-records-labels-list", {"kind": "records", "value": {"labels": ["a", "b"]}}),
    cache_case("cache-records-images-string", {"kind": "records", "value": {"images": "lots"}}),
    cache_case("cache-records-percent-string", {"kind": "records", "value": {"images": {"percent_of_capacity": "99"}}}),
    cache_case("cache-records-conditions-list", {"kind": "records", "value": {"conditions": [1]}}),
    cache_case("cache-records-addresses-mapping", {"kind": "records", "value": {"addresses": {"x": 1}}}),
]

CASES = OPTION_CASES + CACHE_CASES
