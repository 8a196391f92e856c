# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Tests for quantity.py: Kubernetes quantities, user sizes, percentages and byte display.

Expected values are worked out by hand (tables) or from the grammar in
k8s.io/apimachinery/pkg/api/resource/quantity.go, rebuilt here from its parts (properties).
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import re
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ansible_collections.nodewatch.k8s.plugins.module_utils.kube.quantity import (
    QuantityError,
    human_bytes,
    parse_percent,
    parse_quantity,
    parse_size,
    quantity_to_bytes,
)

KI, MI, GI, TI, PI, EI = (1 << (10 * n) for n in range(1, 7))
INT64_MAX = (1 << 63) - 1
NANO = Fraction(1, 10 ** 9)


# --- parse_quantity: hand-computed table ----------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("0", 0),
    ("1", 1),
    ("+5", 5),
    ("-5", -5),
    ("007", 7),
    ("100Gi", 100 * GI),
    ("102609848Ki", 102609848 * KI),
    ("1.5Gi", 3 * GI // 2),
    ("0.5Ki", 512),
    ("+.5Mi", MI // 2),
    ("1.Ki", KI),
    ("12Mi", 12 * MI),
    ("7Ei", 7 * EI),
    ("1.5", Fraction(3, 2)),
    (".5", Fraction(1, 2)),
    ("5.", 5),
    ("1.G", 10 ** 9),
    ("250m", Fraction(1, 4)),
    ("123u", Fraction(123, 10 ** 6)),
    ("5n", 5 * NANO),
    ("5k", 5000),
    ("-5k", -5000),
    ("500M", 500 * 10 ** 6),
    ("2T", 2 * 10 ** 12),
    ("3P", 3 * 10 ** 15),
    ("1E", 10 ** 18),
    ("1e3", 1000),
    ("1E+3", 1000),
    ("1E-2", Fraction(1, 100)),
    ("1.5e3", 1500),
    ("-2.5e-1", Fraction(-1, 4)),
    ("1e18", 10 ** 18),
    # Decimal values are not capped at 2^63-1 ...
    ("10E", 10 ** 19),
    ("18446744073709551616", 1 << 64),
    # ... binary ones are, silently, like the API server does.
    ("8Ei", INT64_MAX),
    ("-8Ei", -INT64_MAX),
    ("16Ei", INT64_MAX),
    # Finer than a nano-unit rounds away from zero to the next nano-unit.
    ("0.9n", NANO),
    ("1.0000000001", 1 + NANO),
    ("-1.0000000001", -(1 + NANO)),
    ("1e-10", NANO),
    ("1e-2000000000", NANO),
    ("0.1m", Fraction(1, 10000)),
    ("0e-10", 0),
    ("-0", 0),
    ("0Ei", 0),
    ("1.5Ei", 3 * EI // 2),
    # Kubernetes' scanner takes these digit-free strings as zero.
    ("-", 0),
    ("+", 0),
    (".", 0),
    ("Ki", 0),
    ("-Ti", 0),
    ("k", 0),
    ("E-2", 0),
])
def test_parse_quantity_values(text, expected):
    assert parse_quantity(text) == expected
    assert isinstance(parse_quantity(text), Fraction)


@pytest.mark.parametrize("text, reason", [
    ("", "empty"),
    (" 1", "unexpected character ' '"),
    ("1 ", "unexpected character ' '"),
    ("1 Gi", "unexpected character ' '"),
    ("1K", "unknown suffix 'K'"),
    ("1KiB", "unknown suffix 'KiB'"),
    ("1mi", "unknown suffix 'mi'"),
    ("1Ki5", "unknown suffix 'Ki5'"),
    ("1e", "unknown suffix 'e'"),
    ("1ee3", "unknown suffix 'ee3'"),
    ("1e-", "unknown suffix 'e-'"),
    ("1E+", "unknown suffix 'E+'"),
    ("1.5.5", "unexpected character '.'"),
    ("1,5", "unexpected character ','"),
    ("++1", "unknown suffix '+1'"),
    ("abc", "unknown suffix 'abc'"),
    ("1e3.5", "unexpected character '.'"),
    ("\uff11", "unexpected character"),   # a full-width digit one
    ("1\u00b2", "unexpected character"),  # a superscript two
    # Kubernetes' slow path needs a digit for these.
    ("Ei", "no digits"),
    ("-Pi", "no digits"),
    ("e-10", "no digits"),
    (".e-12", "no digits"),
    # Beyond what this parser represents (documented differences from Go).
    ("1e2147483648", "outside the supported range"),
    ("1e1000", "10^1000 or more"),
    ("1" * 4001, "more than 4000 digits"),
])
def test_parse_quantity_rejects(text, reason):
    with pytest.raises(QuantityError) as caught:
        parse_quantity(text)
    message = str(caught.value)
    assert reason in message
    assert caught.value.reason in message
    assert repr(text) in message
    # The message teaches the accepted forms.
    assert "Ki, Mi, Gi, Ti, Pi, Ei" in message and "e3" in message


def test_quantity_error_is_a_value_error():
    with pytest.raises(ValueError):
        parse_quantity("lots")


@pytest.mark.parametrize("value, expected", [(5, 5), (-3, -3), (1.5, Fraction(3, 2)), (1e-05, Fraction(1, 100000))])
def test_parse_quantity_reads_json_numbers(value, expected):
    assert parse_quantity(value) == expected


@pytest.mark.parametrize("value", [None, True, [1], {"a": 1}, float("nan"), float("inf")])
def test_parse_quantity_rejects_non_quantities(value):
    with pytest.raises(QuantityError):
        parse_quantity(value)


# --- quantity_to_bytes ----------------------------------------------------------------------

@pytest.mark.parametrize("text, expected", [
    ("102609848Ki", 102609848 * KI),
    ("100Gi", 100 * GI),
    ("20G", 20 * 10 ** 9),
    ("1048576", 1048576),
    ("1.5", 2),
    ("-1.5", -2),
    ("500m", 1),
    ("1n", 1),
    ("0", 0),
    ("1.5Ki", 1536),
    ("8Ei", INT64_MAX),
    ("9Ei", INT64_MAX),
    (123, 123),
    (2.5, 3),
])
def test_quantity_to_bytes_rounds_up_like_value(text, expected):
    assert quantity_to_bytes(text) == expected


def test_quantity_to_bytes_rejects_invalid():
    with pytest.raises(QuantityError) as caught:
        quantity_to_bytes("100GB")
    assert "'100GB'" in str(caught.value)


# --- parse_quantity: properties against a reference built from the grammar -----------------

BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

digits = st.text(alphabet="0123456789", min_size=0, max_size=25)
exponents = st.integers(min_value=-40, max_value=40)


@st.composite
def quantities(draw):
    """A well-formed quantity with at least one digit, and its exact unrounded value."""
    sign = draw(st.sampled_from(["", "+", "-"]))
    int_part = draw(digits)
    frac_part = draw(st.one_of(st.none(), digits))
    if not int_part and not frac_part:
        int_part = draw(st.text(alphabet="0123456789", min_size=1, max_size=3))
    kind = draw(st.sampled_from(["binary", "decimal", "exponent"]))
    if kind == "binary":
        suffix = draw(st.sampled_from(sorted(BINARY)))
        multiplier = Fraction(2) ** BINARY[suffix]
    elif kind == "decimal":
        suffix = draw(st.sampled_from(sorted(DECIMAL)))
        multiplier = Fraction(10) ** DECIMAL[suffix]
    else:
        exponent = draw(exponents)
        letter = draw(st.sampled_from("eE"))
        explicit_plus = draw(st.booleans()) and exponent >= 0
        suffix = "%s%s%d" % (letter, "+" if explicit_plus else "", exponent)
        multiplier = Fraction(10) ** exponent
    number = int_part + ("." + frac_part if frac_part is not None else "")
    magnitude = Fraction(int(int_part or "0"))
    if frac_part:
        magnitude += Fraction(int(frac_part), 10 ** len(frac_part))
    magnitude *= multiplier
    return sign + number + suffix, (-1 if sign == "-" else 1), magnitude, kind == "binary"


def kubernetes_value(sign, magnitude, binary):
    """What the API server stores: nano-units rounded up in magnitude, binary capped at 2^63-1."""
    rounded = Fraction(math.ceil(magnitude * 10 ** 9), 10 ** 9)
    if binary and rounded > INT64_MAX:
        rounded = Fraction(INT64_MAX)
    return sign * rounded


@settings(max_examples=400, deadline=None)
@given(quantities())
def test_parse_quantity_matches_reference(case):
    text, sign, magnitude, binary = case
    assert parse_quantity(text) == kubernetes_value(sign, magnitude, binary)


@settings(max_examples=300, deadline=None)
@given(quantities())
def test_quantity_to_bytes_is_ceiling_away_from_zero(case):
    text, sign, magnitude, binary = case
    value = kubernetes_value(sign, magnitude, binary)
    expected = math.ceil(value) if value >= 0 else math.floor(value)
    assert quantity_to_bytes(text) == expected


@settings(max_examples=200, deadline=None)
@given(st.integers(min_value=0, max_value=10 ** 12), st.sampled_from(sorted(BINARY)))
def test_kubelet_style_capacity_fast_path_agrees(number, suffix):
    # "102609848Ki" goes through a shortcut; it must agree with the full parser.
    text = "%d%s" % (number, suffix)
    assert quantity_to_bytes(text) == min(number << BINARY[suffix], INT64_MAX)
    assert quantity_to_bytes(text) == math.ceil(parse_quantity(text))


# A quantity by the grammar in quantity.go's doc comment, plus the digit-free forms its scanner
# also accepts, written independently of the scanner under test.
GRAMMAR = re.compile(r"([+-]?)([0-9]*)(?:\.([0-9]*))?(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?")


def expected_acceptance(text):
    match = GRAMMAR.fullmatch(text)
    if not text or not match:
        return False
    dummy, int_part, frac_part, suffix = match.groups()
    suffix = suffix or ""
    if suffix in BINARY:
        base, exponent = 2, BINARY[suffix]
    elif suffix in DECIMAL:
        base, exponent = 10, DECIMAL[suffix]
    else:
        base, exponent = 10, int(suffix[1:])
    if not (int_part or frac_part):
        return not ((base == 2 and exponent >= 50) or (base == 10 and exponent < -9))
    if not -(1 << 31) <= exponent < (1 << 31):
        return False
    mantissa = int(int_part + (frac_part or "") or "0")
    if mantissa and base == 10 and exponent > 0:
        scale = exponent - len((frac_part or "").rstrip("0"))
        significant = len(str(int(int_part + (frac_part or "").rstrip("0") or "0")))
        return significant - 1 + scale < 1000
    return True


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet="0123456789.+-eEinumkKMGTPi x", max_size=8))
def test_parse_quantity_accepts_exactly_the_grammar(text):
    try:
        parse_quantity(text)
        accepted = True
    except QuantityError:
        accepted = False
    assert accepted == expected_acceptance(text)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=12))
def test_parse_quantity_only_ever_raises_quantity_error(text):
    try:
        parse_quantity(text)
    except QuantityError:
        pass


# --- parse_size ---------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (0, 0),
    (1048576, 1048576),
    ("1048576", 1048576),
    ("  42  ", 42),
    ("5Gi", 5 * GI),
    ("5 Gi", 5 * GI),
    ("500M", 500 * 10 ** 6),
    ("1e9", 10 ** 9),
    ("5GiB", 5 * GI),
    ("5 GB", 5 * 10 ** 9),
    ("1.5 TiB", 3 * TI // 2),
    ("300 MB", 300 * 10 ** 6),
    ("512 B", 512),
    ("512B", 512),
    ("1 kB", 1000),
    ("1 KB", 1000),
    ("2KiB", 2048),
    ("1 PiB", PI),
    ("1 EiB", EI),
    ("1EB", 10 ** 18),
    ("0.5 KiB", 512),
    ("1.5", 2),
    ("1.1 B", 2),
    ("-0", 0),
    ("+3 MiB", 3 * MI),
    (2.5, 3),
])
def test_parse_size_values(value, expected):
    assert parse_size(value) == expected


@pytest.mark.parametrize("value, reason", [
    (-1, "cannot be negative"),
    (-0.5, "cannot be negative"),
    ("-5G", "cannot be negative"),
    ("-1 GiB", "cannot be negative"),
    ("", "empty"),
    ("   ", "empty"),
    ("GiB", "does not start with a number"),
    ("Ki", "does not start with a number"),
    ("-", "does not start with a number"),
    ("abc", "does not start with a number"),
    ("500m", "fraction of a byte"),
    ("5n", "fraction of a byte"),
    ("5gb", "lower-case 'b' would mean bits"),
    ("5Gb", "lower-case 'b' would mean bits"),
    ("5 gib", "case-sensitive"),
    ("5K", "case-sensitive"),
    ("5 apples", "unknown unit 'apples'"),
    ("5 GiB extra", "unknown unit"),
    ("1e1000", "10^1000 or more"),
    (True, "boolean"),
    (None, "got NoneType"),
    ([5], "got list"),
    (float("inf"), "not a finite number"),
])
def test_parse_size_rejects(value, reason):
    with pytest.raises(QuantityError) as caught:
        parse_size(value)
    message = str(caught.value)
    assert reason in message
    assert "KiB" in message and "GB" in message  # the accepted forms


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10 ** 6),
       st.sampled_from([("B", 1), ("KiB", KI), ("MiB", MI), ("GiB", GI), ("TiB", TI), ("kB", 1000),
                        ("KB", 1000), ("MB", 10 ** 6), ("GB", 10 ** 9), ("TB", 10 ** 12),
                        ("Ki", KI), ("Gi", GI), ("k", 1000), ("G", 10 ** 9)]),
       st.sampled_from(["", " ", "  "]))
def test_parse_size_integer_with_unit(number, unit, space):
    name, multiplier = unit
    assert parse_size("%d%s%s" % (number, space, name)) == number * multiplier


@settings(max_examples=300, deadline=None)
@given(st.integers(min_value=0, max_value=10 ** 6), st.integers(min_value=0, max_value=999),
       st.sampled_from([("KiB", KI), ("GiB", GI), ("MB", 10 ** 6), ("B", 1)]))
def test_parse_size_decimal_with_unit_rounds_up(whole, thousandths, unit):
    name, multiplier = unit
    exact = (Fraction(whole) + Fraction(thousandths, 1000)) * multiplier
    assert parse_size("%d.%03d %s" % (whole, thousandths, name)) == math.ceil(exact)


# --- human_bytes --------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (0, "0 B"),
    (1, "1 B"),
    (512, "512 B"),
    (1023, "1023 B"),
    (1024, "1.0 KiB"),
    (1536, "1.5 KiB"),
    (3072, "3.0 KiB"),
    (1048575, "1.0 MiB"),        # would be 1024.0 KiB
    (1048576, "1.0 MiB"),
    (1288490189, "1.2 GiB"),
    (5 * GI, "5.0 GiB"),
    (int(1.25 * TI), "1.3 TiB"),  # half-up
    (PI, "1.0 PiB"),
    (EI, "1.0 EiB"),
    (2048 * EI, "2048.0 EiB"),   # no unit above EiB
    (-2048, "-2.0 KiB"),
    (-5, "-5 B"),
])
def test_human_bytes_table(value, expected):
    assert human_bytes(value) == expected


@pytest.mark.parametrize("value", ["1024", None, True])
def test_human_bytes_rejects_non_numbers(value):
    with pytest.raises(TypeError):
        human_bytes(value)


HUMAN = re.compile(r"(\d+) B|(\d+)\.(\d) (KiB|MiB|GiB|TiB|PiB|EiB)")
UNIT = {"KiB": KI, "MiB": MI, "GiB": GI, "TiB": TI, "PiB": PI, "EiB": EI}


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.integers(min_value=0, max_value=4096),
                 st.integers(min_value=0, max_value=1 << 64)))
def test_human_bytes_round_trips_within_display_precision(value):
    text = human_bytes(value)
    match = HUMAN.fullmatch(text)
    assert match, text
    if value < 1024:
        assert match.group(1) is not None
        assert parse_size(text) == value
        return
    whole, tenth, unit = int(match.group(2)), int(match.group(3)), match.group(4)
    # The largest unit that keeps the number at least 1, and below 1024 unless it is EiB.
    assert whole >= 1
    assert whole < 1024 or unit == "EiB"
    # Shown to a tenth of the unit, rounded half-up: off by at most half a tenth.
    assert abs(Fraction(parse_size(text)) - value) <= Fraction(UNIT[unit], 20) + 1


# --- parse_percent ------------------------------------------------------------------------

@pytest.mark.parametrize("value, expected", [
    (80, 80.0),
    (0, 0.0),
    (100, 100.0),
    (80.5, 80.5),
    ("80", 80.0),
    ("80%", 80.0),
    ("80.5", 80.5),
    (" 80 % ", 80.0),
    ("100%", 100.0),
    ("0.01", 0.01),
    ("-0", 0.0),
])
def test_parse_percent_values(value, expected):
    result = parse_percent(value)
    assert result == expected and isinstance(result, float)
    assert json.dumps(result) == json.dumps(expected)


@pytest.mark.parametrize("value, reason", [
    (101, "out of range"),
    ("100.5%", "out of range"),
    (-1, "out of range"),
    ("-0.5", "out of range"),
    ("abc", "expected a number from 0 to 100"),
    ("", "expected a number from 0 to 100"),
    ("%", "expected a number from 0 to 100"),
    ("80%%", "expected a number from 0 to 100"),
    ("nan", "expected a number from 0 to 100"),
    ("1e2", "expected a number from 0 to 100"),
    (float("nan"), "expected a number from 0 to 100"),
    (True, "expected a number from 0 to 100"),
    (None, "expected a number from 0 to 100"),
])
def test_parse_percent_rejects(value, reason):
    with pytest.raises(QuantityError) as caught:
        parse_percent(value)
    assert reason in str(caught.value)
