# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""docs/awx.md, done as AWX does it, against the fake API server.

The credential type and the project files are read from the guide itself (the YAML blocks marked
``<!-- awx:... -->``). A credential of that type is applied the way AWX applies one: its inputs
checked against the type's fields, the injector templates rendered with a sandboxed Jinja2, the
file written and the variables set. With that environment alone (no KUBECONFIG, no ~/.kube), the
project's inventory file lists the cluster's nodes and the wrapper playbooks run the audit and the
drift check, passing within the limits and failing the job on a crossed one.
"""
import base64
import os
import re
import subprocess

import pytest
import yaml
from jinja2.sandbox import SandboxedEnvironment

from fakekube import FakeKube, make_cluster
from harness import BIN, ansible_env, run_playbook

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.integration


def guide_blocks():
    with open(os.path.join(ROOT, "docs", "awx.md")) as handle:
        text = handle.read()
    blocks = {}
    for kind, argument, body in re.findall(r"<!-- awx:(\S+)(?: (\S+))? -->\n```yaml\n(.*?)```", text, re.S):
        blocks[(kind, argument or None)] = body
    return blocks


def apply_credential(inputs, tmp_path):
    """The environment AWX gives a job for a credential of the guide's type with these inputs."""
    blocks = guide_blocks()
    fields = yaml.safe_load(blocks[("credential-type-inputs", None)])
    injectors = yaml.safe_load(blocks[("credential-type-injectors", None)])
    known = dict((f["id"], f) for f in fields["fields"])
    assert set(inputs) <= set(known) and set(fields.get("required", ())) <= set(inputs)
    values = dict((name, inputs.get(name, "")) for name in known)
    jinja = SandboxedEnvironment()
    written = tmp_path / "awx-credential"
    written.write_text(jinja.from_string(injectors["file"]["template"]).render(**values))
    os.chmod(str(written), 0o600)
    values["tower"] = {"filename": str(written)}
    return dict((name, jinja.from_string(template).render(**values)) for name, template in injectors["env"].items())


@pytest.fixture
def cluster():
    kube = FakeKube(tls=True).start()
    try:
        kube.add_nodes(make_cluster(6, seed=11))
        yield kube
    finally:
        kube.stop()


def pasted_kubeconfig(kube, tmp_path):
    """The kubeconfig a user pastes into the credential: self-contained, the CA embedded."""
    with open(kube.write_kubeconfig(str(tmp_path / "admin.kubeconfig"))) as handle:
        config = yaml.safe_load(handle)
    cluster = config["clusters"][0]["cluster"]
    with open(cluster.pop("certificate-authority"), "rb") as handle:
        cluster["certificate-authority-data"] = base64.b64encode(handle.read()).decode()
    os.unlink(str(tmp_path / "admin.kubeconfig"))
    return yaml.safe_dump(config)


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "project"
    for (kind, path), body in guide_blocks().items():
        if kind == "project-file":
            (root / path).parent.mkdir(parents=True, exist_ok=True)
            (root / path).write_text(body)
    assert sorted(str(p.relative_to(root)) for p in root.rglob("*.yml")) == [
        "inventories/cluster.nodes.yml", "playbooks/audit.yml", "playbooks/drift_check.yml"]
    return root


def test_the_documented_credential_type_is_a_valid_awx_definition():
    blocks = guide_blocks()
    fields = yaml.safe_load(blocks[("credential-type-inputs", None)])
    injectors = yaml.safe_load(blocks[("credential-type-injectors", None)])
    for field in fields["fields"]:
        assert set(field) <= {"id", "type", "label", "help_text", "multiline", "secret", "choices", "format"}
        assert field["type"] in ("string", "boolean")
    assert set(injectors) <= {"file", "env", "extra_vars"}
    assert all(name.startswith("K8S_AUTH_") for name in injectors["env"])


def test_the_inventory_source_lists_the_nodes_with_the_credential_alone(cluster, project, tmp_path):
    injected = apply_credential({"kubeconfig": pasted_kubeconfig(cluster, tmp_path), "context": ""}, tmp_path)
    assert injected["K8S_AUTH_CONTEXT"] == ""
    # As AWX's inventory update does, a source that cannot be read fails instead of giving no hosts.
    env = ansible_env(tmp_path, dict(injected, ANSIBLE_INVENTORY_UNPARSED_FAILED="true"))
    proc = subprocess.run([os.path.join(BIN, "ansible-inventory"), "-i", "inventories/cluster.nodes.yml", "--list"],
                          cwd=str(project), env=env, capture_output=True, text=True, timeout=300, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    inventory = yaml.safe_load(proc.stdout)
    nodes = sorted(n["metadata"]["name"] for n in cluster.list("v1", "Node"))
    assert sorted(inventory["_meta"]["hostvars"]) == nodes
    assert any(group.startswith("kubelet_") for group in inventory), sorted(inventory)


def test_the_job_templates_pass_within_the_limits_and_fail_the_job_on_a_crossed_one(cluster, project, tmp_path):
    injected = apply_credential({"kubeconfig": pasted_kubeconfig(cluster, tmp_path), "context": "fake"}, tmp_path)
    within = {"nodewatch_max_percent": 100, "nodewatch_max_growth_bytes": None, "nodewatch_baseline_source": "none",
              "nodewatch_report_path": ""}
    for playbook in ("playbooks/audit.yml", "playbooks/drift_check.yml"):
        run = run_playbook(tmp_path, str(project / playbook), env=injected, extra_vars=within)
        assert run.rc == 0, (playbook, run)
        assert run.results, playbook
    crossed = dict(within, nodewatch_max_percent=1)
    failed = run_playbook(tmp_path, str(project / "playbooks" / "drift_check.yml"), env=injected, extra_vars=crossed)
    assert failed.rc == 2, failed
    assert re.search(r"image drift: \d+ breach", failed.stdout), failed
