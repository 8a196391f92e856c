# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every case of ``cases_kubeconfig``: the engine that modules, inventory and daemon share,
in this process (each surface turns the same ConfigError into its own output)."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import logging
import os

import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import KubeError
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.client import KubeClient

from badinput.cases_kubeconfig import CASES
from badinput.common import ClusterUnchanged, DiskUnchanged, check, materialize, params, write_files


@pytest.mark.parametrize("case", params(CASES))
def test_kubeconfig_case(case, kube, kubeconfig, tmp_path, caplog):
    write_files(tmp_path, case.data.get("files"))
    options = materialize(case.data.get("options") or {}, tmp_path, kubeconfig)
    env = materialize(case.data.get("env") or {}, tmp_path, kubeconfig)
    env.setdefault("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))
    env.setdefault("HOME", str(tmp_path))
    cluster = ClusterUnchanged(kube)
    disk = DiskUnchanged(tmp_path)
    caplog.set_level(logging.DEBUG)
    client = None
    message = None
    try:
        client = KubeClient.from_options(options, environ=env)
        client.get("/api/v1/nodes", {"limit": "1"})
    except KubeError as exc:
        message = str(exc)
    else:
        pytest.fail("%s: accepted; nodes were listed" % case.id)
    finally:
        if client is not None:
            client.close()
    check(case, message, caplog.text)
    cluster.assert_same(case)
    disk.assert_same(case)
    assert not [name for name in os.listdir(str(tmp_path)) if name.startswith(".")], "temporary files were left"
