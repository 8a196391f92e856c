"""A fake, faithful kube-apiserver for nodewatch.k8s tests.

    from fakekube import FakeKube, Rule, make_cluster
    with FakeKube(tls=True, tokens={"reader": Rule(user="ci-reader", allow=[("list", "nodes")])}) as kube:
        kube.seed_nodes(make_cluster(50, seed=1))
        kube.write_kubeconfig(path)

It listens on 127.0.0.1 only.  See the modules for what is modelled and how:
``resources`` (types, discovery), ``store`` (resourceVersions, watch history, snapshots),
``registry`` (REST semantics), ``patch`` (JSON/merge/strategic merge patch), ``selectors``,
``schema`` (typed decoding), ``validation``, ``auth``, ``server`` (HTTP), ``kubelet``
(node proxy), ``cluster`` (realistic nodes), ``certs`` (PKI).
"""
from .auth import Rule
from .cluster import make_cluster
from .kube import FakeKube

__all__ = ["FakeKube", "Rule", "make_cluster"]
