"""Each doc fragment documents exactly the argument spec of its option family.

ansible-test's validate-modules compares a module's documentation with its spec; this test pins
each family to one spec, so a threshold added to ``drift.rules.THRESHOLDS`` fails here until its
documentation is written, and no module can document a family differently.
"""
import importlib

import pytest
import yaml

from ansible_collections.nodewatch.k8s.plugins.module_utils import argspecs
from ansible_collections.nodewatch.k8s.plugins.module_utils.ansible_module import AUTH_ARG_SPEC
from ansible_collections.nodewatch.k8s.plugins.module_utils.drift.rules import THRESHOLD_KEYS

FAMILIES = {
    "auth": AUTH_ARG_SPEC,
    "node_selection": argspecs.NODE_SELECTION,
    "image_reading": argspecs.IMAGE_READING,
    "thresholds": argspecs.threshold_spec(),
    "baseline": argspecs.BASELINE,
    "report": argspecs.REPORT,
}


def documented(fragment):
    module = importlib.import_module("ansible_collections.nodewatch.k8s.plugins.doc_fragments.%s" % fragment)
    return yaml.safe_load(module.ModuleDocFragment.DOCUMENTATION)["options"]


def compare(docs, spec, where):
    assert sorted(docs) == sorted(spec), where
    for name, option in spec.items():
        doc = docs[name]
        here = "%s.%s" % (where, name)
        assert doc.get("type", "str") == option.get("type", "str"), here
        assert doc.get("elements") == option.get("elements"), here
        assert doc.get("default") == option.get("default"), here
        assert doc.get("choices") == option.get("choices"), here
        assert sorted(doc.get("aliases") or []) == sorted(option.get("aliases") or []), here
        assert bool(doc.get("required")) == bool(option.get("required")), here
        assert doc.get("description"), here
        if "options" in option:
            compare(doc["suboptions"], option["options"], here)


@pytest.mark.parametrize("fragment", sorted(FAMILIES))
def test_fragment_documents_its_spec(fragment):
    compare(documented(fragment), FAMILIES[fragment], fragment)


def test_every_threshold_is_an_option_at_the_top_and_in_rule_sets():
    docs = documented("thresholds")
    assert [k for k in docs if k not in ("rule_sets", "thresholds")] == list(THRESHOLD_KEYS)
    assert list(docs["thresholds"]["suboptions"]) == list(THRESHOLD_KEYS)
    assert list(docs["rule_sets"]["suboptions"]["thresholds"]["suboptions"]) == list(THRESHOLD_KEYS)
