# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kubeconfigs and connection options of the wrong shape, as people and programs produce them.

``options`` are the connection options (kubernetes.core names); in them ``@good`` is a working
kubeconfig of the suite's fake cluster and ``@file:NAME`` a file of the case (``files``: NAME ->
content). ``env`` is the environment. Every case must end as a ``ConfigError`` (or another
engine error) whose sentence matches ``expect``.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from badinput.common import SECRETS, Case

TOKEN = SECRETS["token"]


def kubeconfig_text(server="https://127.0.0.1:1", user=None, extra_user=None, current="c", contexts=None):
    user = user or {"token": TOKEN}
    if extra_user:
        user = dict(user, **extra_user)
    contexts = contexts or [{"name": "c", "context": {"cluster": "k", "user": "u"}}]
    import yaml
    return yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": current,
        "clusters": [{"name": "k", "cluster": {"server": server, "insecure-skip-tls-verify": True}}],
        "users": [{"name": "u", "user": user}], "contexts": contexts})


def exec_user(command, args=()):
    return {"exec": {"apiVersion": "client.authentication.k8s.io/v1beta1", "command": command,
                     "args": list(args), "interactiveMode": "Never"}}


BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    "%s: &%s [%s]\n" % (chr(98 + i), chr(98 + i), ", ".join(["*" + chr(97 + i)] * 10)) for i in range(8))

CASES = [
    # -- the kubeconfig option's own shape (kubernetes.core takes a path, a list or a mapping)
    Case("option-list-of-numbers", r"kubeconfig must be a list of file paths .*its first item is an int",
         options={"kubeconfig": [1, 2, 3]}),
    Case("option-number", r"kubeconfig must be a file path, a list of file paths or a kubeconfig mapping, got an int",
         options={"kubeconfig": 42}),
    Case("option-float", r"kubeconfig must be .* got a float", options={"kubeconfig": 4.5}),
    Case("option-bool", r"kubeconfig must be .* got a bool", options={"kubeconfig": True}),
    Case("option-empty-list", r"kubeconfig is an empty list", options={"kubeconfig": []}),
    Case("option-list-with-empty-string", r"kubeconfig must be a list of file paths .*its second item is an empty string",
         options={"kubeconfig": ["@good", ""]}),
    Case("option-list-with-null", r"its first item is a null", options={"kubeconfig": [None]}),
    Case("option-nul-byte", r"kubeconfig contains a NUL byte", options={"kubeconfig": "/tmp/kube\x00config"}),
    Case("option-list-nul-byte", r"kubeconfig contains a NUL byte", options={"kubeconfig": ["@good", "/tmp/a\x00b"]}),
    Case("option-directory", r"kubeconfig .* is a directory, not a file", options={"kubeconfig": "@dir"}),
    Case("option-missing-file", r"kubeconfig file .*absent does not exist", options={"kubeconfig": "@file:absent"}),
    Case("option-list-one-missing", r"kubeconfig file .*absent does not exist",
         options={"kubeconfig": ["@good", "@file:absent"]}),
    # -- files that are not kubeconfigs
    Case("file-list-of-numbers", r"kubeconfig file .* is not a usable kubeconfig: it must hold a mapping .* got list",
         options={"kubeconfig": "@file:kc"}, files={"kc": "- 1\n- 2\n- 3\n"}),
    Case("file-number", r"kubeconfig file .* is not a usable kubeconfig: .*got int",
         options={"kubeconfig": "@file:kc"}, files={"kc": "42\n"}),
    Case("file-string", r"kubeconfig file .* is not a usable kubeconfig: .*got str",
         options={"kubeconfig": "@file:kc"}, files={"kc": "just some words\n"}),
    Case("file-empty", r"cannot use .*kc.*(No configuration found|Invalid kube-config)",
         options={"kubeconfig": "@file:kc"}, files={"kc": ""}),
    Case("file-empty-mapping", r"cannot use .*kc: .*(current-context|Invalid kube-config)",
         options={"kubeconfig": "@file:kc"}, files={"kc": "{}\n"}),
    Case("file-not-yaml", r"kubeconfig file .* is not valid YAML",
         options={"kubeconfig": "@file:kc"}, files={"kc": "clusters: [unclosed\n"}),
    Case("file-not-utf8", r"kubeconfig file .* is not UTF-8 text",
         options={"kubeconfig": "@file:kc"}, files={"kc": b"apiVersion: v1\nkind: \xff\xfe\n"}),
    Case("file-nul-character", r"kubeconfig file .* is not valid YAML: unacceptable character",
         options={"kubeconfig": "@file:kc"}, files={"kc": "apiVersion: v1\x00\n"}),
    Case("file-yaml-bomb", r"kubeconfig file .* would expand to more than \d+ values through YAML aliases",
         options={"kubeconfig": "@file:kc"}, files={"kc": BOMB}),
    Case("file-deeply-nested", r"kubeconfig file .* is nested deeper than 64 levels \(the limit\)",
         options={"kubeconfig": "@file:kc"}, files={"kc": "clusters: " + "[" * 5000 + "]" * 5000 + "\n"}),
    Case("file-self-referencing-alias", r"kubeconfig file .*: a YAML alias that refers to its own parent",
         options={"kubeconfig": "@file:kc"}, files={"kc": "clusters: &c [*c]\n"}),
    Case("file-huge", r"kubeconfig file .* is \d+ bytes, larger than 16 MiB \(the limit for it\)",
         options={"kubeconfig": "@file:kc"}, files={"kc": ("sparse", 17 << 20)}),
    Case("file-clusters-not-a-list", r"kubeconfig file .*: clusters must be a list, got int",
         options={"kubeconfig": "@file:kc"}, files={"kc": "clusters: 5\ncontexts: []\nusers: []\n"}),
    Case("file-cluster-entry-number", r"kubeconfig file .*: clusters\[0\] must be a mapping with name and cluster, got int",
         options={"kubeconfig": "@file:kc"}, files={"kc": "clusters: [5]\n"}),
    Case("file-user-without-name", r"kubeconfig file .*: users\[0\] has no name",
         options={"kubeconfig": "@file:kc"}, files={"kc": "users: [{user: {token: x}}]\n"}),
    Case("file-context-not-mapping", r"kubeconfig file .*: contexts\[0\] \(c\)\.context must be a mapping, got str",
         options={"kubeconfig": "@file:kc"}, files={"kc": "contexts: [{name: c, context: nope}]\n"}),
    Case("file-current-context-number", r"kubeconfig file .*: current-context must be a string, got int",
         options={"kubeconfig": "@file:kc"}, files={"kc": "current-context: 5\n"}),
    Case("file-missing-clusters", r"context .c. in .*kc names the cluster .k., which is not defined there",
         options={"kubeconfig": "@file:kc"},
         files={"kc": "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nusers: [{name: u, user: {}}]\n"}),
    Case("file-missing-users", r"context .c. in .*kc names the user .u., which is not defined there",
         options={"kubeconfig": "@file:kc"},
         files={"kc": "current-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\n"
                      "clusters: [{name: k, cluster: {server: 'https://127.0.0.1:1'}}]\n"}),
    Case("file-current-context-absent", r"cannot use .*kc: .*nope",
         options={"kubeconfig": "@file:kc"}, files={"kc": kubeconfig_text(current="nope")}),
    Case("option-context-absent", r"context 'prod' is not in .*get-contexts",
         options={"kubeconfig": "@file:kc", "context": "prod"}, files={"kc": kubeconfig_text()}),
    Case("context-without-any-kubeconfig", r"context 'prod' was requested but no kubeconfig file was found",
         options={"context": "prod"}, env={"KUBECONFIG": "@file:absent"}),
    Case("file-ca-missing", r"cannot use .*kc: .*(does not exist|No such file)",
         options={"kubeconfig": "@file:kc"},
         files={"kc": kubeconfig_text().replace("insecure-skip-tls-verify: true", "certificate-authority: ca-absent.pem")}),
    # -- exec credential plugins that fail, as the client runs them
    Case("exec-plugin-fails", r"exec credential plugin 'false' of the kubeconfig user in .*kc failed, so there is no token",
         options={"kubeconfig": "@file:kc"}, files={"kc": kubeconfig_text(user=exec_user("false"))}),
    Case("exec-plugin-prints-garbage", r"exec credential plugin 'echo' .* failed.*(decode|JSON|json)",
         options={"kubeconfig": "@file:kc"},
         files={"kc": kubeconfig_text(user=exec_user("echo", ["this is not an ExecCredential"]))}),
    Case("exec-plugin-missing-binary", r"exec credential plugin 'nodewatch-no-such-plugin' .* failed",
         options={"kubeconfig": "@file:kc"}, files={"kc": kubeconfig_text(user=exec_user("nodewatch-no-such-plugin"))}),
    Case("exec-plugin-no-token", r"exec credential plugin 'echo' .* failed.*(token|status)",
         options={"kubeconfig": "@file:kc"},
         files={"kc": kubeconfig_text(user=exec_user("echo", ['{"apiVersion": "client.authentication.k8s.io/v1beta1", '
                                                              '"kind": "ExecCredential", "status": {}}']))}),
    # -- the kubeconfig as a mapping (kubernetes.core's in-memory form)
    Case("mapping-empty", r"cannot use the kubeconfig given as a mapping: .*(current-context|Invalid kube-config)",
         options={"kubeconfig": {}}),
    Case("mapping-clusters-number", r"the kubeconfig given as a mapping is not usable: clusters must be a list",
         options={"kubeconfig": {"clusters": 5}}),
    Case("mapping-contexts-of-numbers", r"mapping is not usable: contexts\[0\] must be a mapping",
         options={"kubeconfig": {"contexts": [1, 2]}}),
    Case("mapping-deeply-nested", r"the kubeconfig given as a mapping is nested deeper than 64 levels",
         options={"kubeconfig": {"users": [{"name": "u", "user": "@deep"}]}}),
    # -- the other connection options
    Case("host-without-scheme", r"host must be a URL starting with https:// or http:// .*without a scheme",
         options={"host": "127.0.0.1:6443", "api_key": SECRETS["api_key"]}),
    Case("host-ftp", r"host must be a URL starting with https:// or http:// .*scheme 'ftp'",
         options={"host": "ftp://127.0.0.1", "api_key": SECRETS["api_key"]}),
    Case("host-bad-port", r"host is not a valid URL .*https://203.0.113.10:6443",
         options={"host": "https://127.0.0.1:99999", "api_key": SECRETS["api_key"]}),
    Case("host-number", r"host must be a string, got int", options={"host": 6443, "api_key": SECRETS["api_key"]}),
    Case("api-key-number", r"api_key must be a string, got int", options={"host": "https://127.0.0.1:1", "api_key": 7}),
    Case("context-number", r"context must be a string, got int", options={"kubeconfig": "@good", "context": 5}),
    Case("proxy-without-scheme", r"proxy must be a URL starting with http:// .*without a scheme",
         options={"kubeconfig": "@good", "proxy": "proxy.example.com:3128"}),
    Case("proxy-socks-without-pysocks", r"PySocks.*socks5:// proxy set in the proxy option",
         options={"kubeconfig": "@good", "proxy": "socks5://127.0.0.1:1080"}),
    Case("proxy-bad-port", r"proxy is not a valid URL", options={"kubeconfig": "@good", "proxy": "http://proxy:99999"}),
    Case("proxy-headers-unknown-key", r"proxy_headers has unknown key\(s\) authorization; accepted are",
         options={"kubeconfig": "@good", "proxy_headers": {"authorization": SECRETS["proxy_auth"]}}),
    Case("proxy-headers-not-mapping", r"proxy_headers must be a mapping",
         options={"kubeconfig": "@good", "proxy_headers": "user:pass"}),
    Case("proxy-headers-value-number", r"proxy_headers\.user_agent must be a string, got int",
         options={"kubeconfig": "@good", "proxy_headers": {"user_agent": 5}}),
    Case("impersonate-groups-without-user", r"impersonate_groups needs impersonate_user",
         options={"kubeconfig": "@good", "impersonate_groups": ["system:masters"]}),
    Case("impersonate-groups-numbers", r"impersonate_groups must be a list of group names",
         options={"kubeconfig": "@good", "impersonate_user": "u", "impersonate_groups": [1, 2]}),
    Case("validate-certs-word", r"validate_certs must be true or false, got str",
         options={"kubeconfig": "@good", "validate_certs": "maybe"}),
    Case("ca-cert-nul-byte", r"ca_cert contains a NUL byte", options={"kubeconfig": "@good", "ca_cert": "/tmp/ca\x00.pem"}),
    Case("ca-cert-missing", r"ca_cert file .*ca-absent.pem does not exist",
         options={"kubeconfig": "@good", "ca_cert": "@file:ca-absent.pem"}),
    Case("client-key-directory", r"client_key file .* does not exist or is not a file",
         options={"host": "https://127.0.0.1:1", "client_cert": "@file:cert.pem", "client_key": "@dir"},
         files={"cert.pem": "not really a certificate\n"}),
    # -- K8S_AUTH_* variables: empty means unset (kubernetes.core), wrong shapes are named
    Case("env-kubeconfig-directory", r"kubeconfig .* is a directory, not a file", env={"K8S_AUTH_KUBECONFIG": "@dir"}),
    Case("env-kubeconfig-missing", r"kubeconfig file .*absent does not exist",
         env={"K8S_AUTH_KUBECONFIG": "@file:absent"}),
    Case("env-host-without-scheme", r"host must be a URL starting with https:// or http://",
         env={"K8S_AUTH_HOST": "kube.example.com:6443", "K8S_AUTH_API_KEY": SECRETS["api_key"]}),
    Case("env-proxy-without-scheme", r"proxy must be a URL",
         env={"K8S_AUTH_KUBECONFIG": "@good", "K8S_AUTH_PROXY": "proxy:3128"}),
    Case("env-empty-everything-no-cluster", r"no cluster to talk to: no kubeconfig at .*absent",
         env={"K8S_AUTH_KUBECONFIG": "", "K8S_AUTH_HOST": "", "K8S_AUTH_CONTEXT": " ", "KUBECONFIG": "@file:absent"}),
]
