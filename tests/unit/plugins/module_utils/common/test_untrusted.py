# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The safe readers: limits named in the refusal, legitimate input untouched."""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import gzip
import json
import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ansible_collections.nodewatch.k8s.plugins.module_utils.common import untrusted
from ansible_collections.nodewatch.k8s.plugins.module_utils.common.untrusted import (
    UntrustedInputError,
    check_path,
    gunzip,
    load_json,
    load_yaml,
    read_file,
    seconds,
    too_deep,
)

BOMB = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
    "%s: &%s [%s]\n" % (chr(98 + i), chr(98 + i), ", ".join(["*" + chr(97 + i)] * 10)) for i in range(8))


class Refused(Exception):
    pass


def nested(depth):
    return "[" * depth + "]" * depth


@pytest.mark.parametrize("depth, refused", [(64, False), (65, True), (100000, True)])
def test_json_depth_is_limited_at_64_levels(depth, refused):
    if refused:
        with pytest.raises(UntrustedInputError, match=r"the file x is nested deeper than 64 levels \(the limit\)"):
            load_json(nested(depth), "the file x")
    else:
        assert too_deep(load_json(nested(depth), "the file x"), 64) is False


def test_json_size_encoding_and_syntax_are_named():
    with pytest.raises(UntrustedInputError, match=r"the file x is 11 bytes, larger than 10 bytes \(the limit for it\)"):
        load_json('{"a": "bc"}', "the file x", max_bytes=10)
    with pytest.raises(UntrustedInputError, match=r"the file x is not UTF-8 text \(byte 1 cannot be decoded\)"):
        load_json(b'"\xff"', "the file x")
    with pytest.raises(UntrustedInputError, match=r"the file x is not valid JSON"):
        load_json("{", "the file x")


def test_json_errors_come_as_the_callers_class():
    with pytest.raises(Refused, match="deeper"):
        load_json(nested(70), "x", error=Refused)


def _containers(children):
    return st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=3), children, max_size=3)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.text(max_size=5), _containers, max_leaves=20))
def test_any_shallow_json_reads_back_as_written(value):
    assert load_json(json.dumps(value), "x") == value


def test_yaml_alias_bomb_is_refused_before_it_is_built():
    with pytest.raises(UntrustedInputError, match=r"would expand to more than 1000000 values through YAML aliases"):
        load_yaml(BOMB, "the config")


def test_yaml_anchors_that_stay_small_keep_working():
    assert load_yaml("base: &b {cpu: 1}\nworker: *b\n", "x") == {"base": {"cpu": 1}, "worker": {"cpu": 1}}


@pytest.mark.parametrize("text, words", [
    ("a: &a [*a]\n", "a YAML alias that refers to its own parent"),
    ("a: " + nested(5000) + "\n", r"nested deeper than 64 levels \(the limit\)"),
    ("a: [unclosed\n", "is not valid YAML"),
    ("---\na: 1\n---\nb: 2\n", "holds more than one YAML document"),
    ("a: \x00\n", "is not valid YAML: unacceptable character"),
])
def test_yaml_refusals_name_the_input(text, words):
    with pytest.raises(UntrustedInputError, match=words):
        load_yaml(text, "the config")


def test_yaml_streams_and_plural_names():
    assert load_yaml("---\na: 1\n---\n---\nb: 2\n", "x", multi=True) == [{"a": 1}, None, {"b": 2}]
    with pytest.raises(UntrustedInputError, match="the definitions are not valid YAML"):
        load_yaml("a: [", "the definitions", plural=True)


def test_paths_with_nul_bytes_or_of_the_wrong_type_are_named():
    with pytest.raises(UntrustedInputError, match="src contains a NUL byte"):
        check_path("/tmp/a\x00b", "src")
    with pytest.raises(UntrustedInputError, match="src must be a file path \\(a string\\), got int"):
        check_path(5, "src")
    with pytest.raises(UntrustedInputError, match="src is empty"):
        check_path("  ", "src")


def test_read_file_refuses_large_files_unread(tmp_path):
    big = tmp_path / "big"
    with open(str(big), "wb") as handle:
        handle.truncate(1 << 40)  # a sparse terabyte: refused by its size, never read
    with pytest.raises(UntrustedInputError, match=r"is 1099511627776 bytes, larger than 1 MiB"):
        read_file(str(big), "the file big", 1 << 20)
    assert read_file(str(tmp_path / "absent"), "x", 10, missing_ok=True) is None
    with pytest.raises(UntrustedInputError, match="cannot read the dir: it is a directory"):
        read_file(str(tmp_path), "the dir", 10)


def test_gunzip_refuses_a_bomb_without_expanding_it():
    bomb = gzip.compress(b"\0" * (8 << 20))
    with pytest.raises(UntrustedInputError, match=r"decompresses to more than 1 MiB \(the limit for it\)"):
        gunzip(bomb, "the state", 1 << 20)
    with pytest.raises(UntrustedInputError, match="is truncated gzip data"):
        gunzip(gzip.compress(b"hello")[:-12], "the state", 100)
    assert gunzip(gzip.compress(b"hello"), "x", 5) == b"hello"


@pytest.mark.parametrize("value, words", [
    (float("nan"), "must be a finite number of seconds"),
    ("inf", "must be a finite number of seconds"),
    (float("-inf"), "must be a finite number of seconds"),
    (True, "must be a number of seconds, got bool"),
    ("soon", "must be a number of seconds, got 'soon'"),
    (-1, "must be at least 0 seconds"),
    (10 ** 12, r"must be at most 31622400 seconds \(366 days\)"),
])
def test_seconds_refuse_what_no_timer_can_take(value, words):
    with pytest.raises(UntrustedInputError, match="wait_timeout " + words):
        seconds(value, "wait_timeout")


def test_seconds_accept_numbers_and_numeric_text():
    assert seconds("2.5", "x") == 2.5 and seconds(0, "x") == 0 and seconds(untrusted.MAX_SECONDS, "x") == 366 * 86400
    assert not math.isnan(seconds(1e-9, "x"))
