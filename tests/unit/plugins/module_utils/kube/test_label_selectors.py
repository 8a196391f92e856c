"""Label selectors applied locally: apimachinery semantics and error messages that name the selector."""
import pytest

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ValidationError
from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.label_selectors import parse_label_selector


SELECTOR_CASES = [
    # (selector, labels, matches)
    ("", {}, True),
    ("", {"a": "b"}, True),
    ("node-role.kubernetes.io/gpu", {"node-role.kubernetes.io/gpu": ""}, True),
    ("node-role.kubernetes.io/gpu", {"node-role.kubernetes.io/worker": ""}, False),
    ("!node-role.kubernetes.io/gpu", {}, True),
    ("!node-role.kubernetes.io/gpu", {"node-role.kubernetes.io/gpu": ""}, False),
    ("pool=a", {"pool": "a"}, True),
    ("pool=a", {"pool": "b"}, False),
    ("pool=a", {}, False),
    ("pool==a", {"pool": "a"}, True),
    ("pool!=a", {"pool": "b"}, True),
    ("pool!=a", {}, True),
    ("pool!=a", {"pool": "a"}, False),
    ("pool=", {"pool": ""}, True),
    ("pool=", {"pool": "x"}, False),
    ("pool in (a, b)", {"pool": "b"}, True),
    ("pool in (a,b)", {"pool": "c"}, False),
    ("pool in (a,b)", {}, False),
    ("pool notin (a,b)", {"pool": "c"}, True),
    ("pool notin (a,b)", {}, True),
    ("pool notin (a,b)", {"pool": "a"}, False),
    ("pool in (a),zone=z1", {"pool": "a", "zone": "z1"}, True),
    ("pool in (a), zone=z1", {"pool": "a", "zone": "z2"}, False),
    ("  pool = a ,  !spot  ", {"pool": "a"}, True),
    ("pool=a,!spot", {"pool": "a", "spot": "true"}, False),
    ("topology.kubernetes.io/zone in (eu-west-1a,eu-west-1b)", {"topology.kubernetes.io/zone": "eu-west-1b"}, True),
    ("gpus>2", {"gpus": "4"}, True),
    ("gpus>2", {"gpus": "2"}, False),
    ("gpus<2", {"gpus": "x"}, False),
    ("gpus<2", {}, False),
    ("in-pool=a", {"in-pool": "a"}, True),
]


@pytest.mark.parametrize("selector,labels,expected", SELECTOR_CASES)
def test_label_selector(selector, labels, expected):
    matcher = parse_label_selector(selector)
    assert matcher(labels) is expected
    assert matcher.matches(labels) is expected


BAD_SELECTORS = [
    ("pool in (a", "expected ',' or ')'"),
    ("pool in ()", "must not be empty"),
    ("pool in a", "expected '('"),
    ("pool,", "must not end with ','"),
    (",pool", "expected a label key"),
    ("!", "expected a label key after '!'"),
    ("pool a", "expected an operator"),
    ("pool=a b", "expected ',' between requirements"),
    ("pool=a=b", "expected ',' between requirements"),
    ("-bad", "label key '-bad'"),
    ("Bad_Prefix/x", "must be a lowercase DNS subdomain"),
    ("pool=-x", "value '-x' must be empty or at most 63 characters"),
    ("a" * 64, "at most 63 characters"),
    ("gpus>two", "needs an integer"),
    ("pool=(a)", "expected a label value"),
]


@pytest.mark.parametrize("selector,words", BAD_SELECTORS)
def test_bad_label_selector(selector, words):
    with pytest.raises(ValidationError) as info:
        parse_label_selector(selector)
    assert words in str(info.value)
    assert repr(selector) in str(info.value)  # the message names the selector


def test_label_selector_must_be_a_string():
    with pytest.raises(ValidationError, match="must be a string"):
        parse_label_selector({"pool": "a"})
