# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One fake cluster for the whole bad-input suite: nothing a case does may change it."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type


import pytest

from fakekube import FakeKube, make_cluster

NAMESPACE = "nodewatch-system"


@pytest.fixture(scope="session")
def kube():
    server = FakeKube(tls=True).start()
    server.seed_nodes(make_cluster(4, seed=7))
    server.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}})
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def kubeconfig(kube, tmp_path_factory):
    return kube.write_kubeconfig(str(tmp_path_factory.mktemp("badinput-kube") / "kubeconfig"))


def pytest_terminal_summary(terminalreporter):
    """The number of bad inputs tried, per area, at the end of any run that collected them."""
    try:
        from badinput.test_counts import counts
    except ImportError:  # pragma: no cover - only when the suite is not on the path
        return
    terminalreporter.write_sep("-", "bad-input cases per area")
    for area, count in counts():
        terminalreporter.write_line("%-58s %4d" % (area, count))
    terminalreporter.write_line("%-58s %4d" % ("total", sum(c for a, c in counts())))
