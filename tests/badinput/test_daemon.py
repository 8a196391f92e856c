# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Every case of ``cases_daemon``: ``nodewatch-watcher``'s ``main()`` in this process, as the
command line runs it (argv, environment, config file), with stdout and stderr captured."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import contextlib
import io

import pytest
import yaml

from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher import daemon as watcher_daemon

from badinput.cases_daemon import CASES
from badinput.common import Case, ClusterUnchanged, DiskUnchanged, check, materialize, params, write_files


def run_main(argv, environ):
    """``(exit code, stdout, stderr)`` of one ``main()`` call (argparse's exits included)."""
    out = io.StringIO()
    err = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = watcher_daemon.main(argv, environ, stdout=out)
        except SystemExit as exc:
            code = exc.code
    return code, out.getvalue(), err.getvalue()


def config_file(case, tmp_path, kubeconfig):
    """The case's config file (written) and whether it names a kubeconfig itself."""
    path = tmp_path / ("watcher" + case.data.get("suffix", ".yml"))
    if "text" in case.data:
        path.write_text(case.text)
    elif "raw" in case.data:
        path.write_bytes(case.raw)
    elif "sparse" in case.data:
        with open(str(path), "wb") as handle:
            handle.truncate(case.sparse)
    else:
        config = materialize(case.data.get("config") or {}, tmp_path, kubeconfig)
        path.write_text(yaml.safe_dump(config))
        return str(path), "kubeconfig" in config
    return str(path), False


def command_line(case, tmp_path, kubeconfig):
    argv = []
    names_kubeconfig = False
    if not case.data.get("no_config"):
        path, names_kubeconfig = config_file(case, tmp_path, kubeconfig)
        argv += ["--config", materialize(case.data.get("config_path", path), tmp_path, kubeconfig)]
    extra = list(case.data.get("argv") or [])
    if not names_kubeconfig and "--kubeconfig" not in extra:
        argv += ["--kubeconfig", kubeconfig]
    argv += extra
    if case.data.get("once", True):
        argv.append("--once")
    return argv + ["--no-events"]


@pytest.mark.parametrize("case", params(CASES))
def test_daemon_config_case(case, kube, kubeconfig, tmp_path):
    write_files(tmp_path, case.data.get("files"))
    argv = command_line(case, tmp_path, kubeconfig)
    environ = materialize(dict(case.data.get("env") or {}), tmp_path, kubeconfig)
    cluster = ClusterUnchanged(kube)
    disk = DiskUnchanged(tmp_path)
    kube.clear_requests()
    code, out, err = run_main(argv, environ)
    assert code == case.code, "%s: exit code %r, expected %r\n%s" % (case.id, code, case.code, err)
    check(case, err, out)
    assert out == "", "%s: printed on stdout: %s" % (case.id, out)
    assert kube.requests == [], "%s: the cluster was contacted before the configuration was valid" % case.id
    cluster.assert_same(case)
    disk.assert_same(case)


# -- limits on what the running daemon reads -------------------------------------------------------

class EndlessAnswer(object):
    """An HTTP receiver that answers 200 and then streams zeros for as long as it is read."""

    def __init__(self):
        import http.server
        import threading
        owner = self
        self.streamed = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(200)
                self.send_header("Content-Length", str(1 << 40))
                self.end_headers()
                block = b"\0" * (1 << 20)
                try:
                    while owner.streamed < (1 << 30):
                        self.wfile.write(block)
                        owner.streamed += len(block)
                except OSError:
                    pass  # the sink closed the connection: what this test wants

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d/hook" % self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


def test_an_endless_webhook_answer_is_read_no_further_than_64_kib():
    """Only the status of a webhook's answer matters: a receiver that answers with an endless body
    neither holds the delivery thread nor fills memory; the alert counts as delivered."""
    import time
    from ansible_collections.nodewatch.k8s.plugins.module_utils.watcher.sinks import WebhookSink
    receiver = EndlessAnswer()
    sink = WebhookSink(receiver.url, timeout=5).start()
    try:
        sink.send({"kind": "image_storage_changed", "node": "n1", "id": "a1", "message": "m", "reason": "r"})
        assert sink.drain(10), "the alert was not delivered"
        assert sink.stats.sent == 1 and sink.stats.failures == 0
        time.sleep(0.2)
        assert receiver.streamed < (64 << 20), "%d bytes were read from the answer" % receiver.streamed
    finally:
        sink.stop(1)
        receiver.stop()


def test_a_gzip_bomb_in_the_state_configmap_is_refused_by_its_limit(kube, kubeconfig, tmp_path):
    import base64
    import gzip
    from badinput.conftest import NAMESPACE
    bomb = base64.b64encode(gzip.compress(b" " * (80 << 20), 9)).decode("ascii")
    kube.create({"apiVersion": "v1", "kind": "ConfigMap",
                 "metadata": {"name": "bomb-state", "namespace": NAMESPACE,
                              "labels": {"app.kubernetes.io/managed-by": "nodewatch.k8s"}},
                 "binaryData": {"state.json.gz": bomb}})
    code, out, err = run_main(["--kubeconfig", kubeconfig, "--once", "--no-events", "--no-stdout",
                               "--state-configmap", NAMESPACE + "/bomb-state"], {})
    check(Case("state gzip bomb", [r"the state in ConfigMap nodewatch-system/bomb-state decompresses to more than "
                                   r"64 MiB \(the limit for it\)"]), err)
