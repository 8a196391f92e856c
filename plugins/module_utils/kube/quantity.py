# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Sizes: Kubernetes quantities, user-supplied sizes and percentages, and their display.

``parse_quantity`` follows ``k8s.io/apimachinery/pkg/api/resource.ParseQuantity``: the same
strings are accepted and give the same value, including its rounding of values finer than a
nano-unit (away from zero) and its silent cap of binary-suffixed values at 2^63-1. Deliberate
differences, all for strings no API server or kubelet produces:

* a decimal exponent outside the 32-bit range is rejected (Go silently wraps it around);
* more than 4,000 significant digits, or a value of 10^1000 or more, is rejected (Go accepts it,
  but Python would spend unbounded time and memory on the exact value).

Go accepts some strings without digits: ``"-"``, ``"."`` and ``"Ki"`` all parse as zero. So does
``parse_quantity``, because capacity strings must read exactly as the API server reads them;
``parse_size``, which reads what users type, requires a digit.

Nothing here imports Ansible or anything outside the standard library.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import functools
import math
from fractions import Fraction

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import KubeError

__all__ = [
    "QuantityError",
    "parse_quantity",
    "quantity_to_bytes",
    "parse_size",
    "human_bytes",
    "parse_percent",
]

BINARY_SUFFIXES = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
DECIMAL_SUFFIXES = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}

# Human byte units accepted by parse_size on top of the Kubernetes suffixes.
BYTE_UNITS = {
    "B": 1,
    "KiB": 1 << 10, "MiB": 1 << 20, "GiB": 1 << 30, "TiB": 1 << 40, "PiB": 1 << 50, "EiB": 1 << 60,
    "kB": 10 ** 3, "KB": 10 ** 3, "MB": 10 ** 6, "GB": 10 ** 9, "TB": 10 ** 12, "PB": 10 ** 15,
    "EB": 10 ** 18,
}
_HUMAN_UNITS = ("KiB", "MiB", "GiB", "TiB", "PiB", "EiB")
# For the "units are case-sensitive" hint on a unit that differs from a known one only by case.
_LOWER_UNITS = frozenset(u.lower() for u in list(BYTE_UNITS) + list(BINARY_SUFFIXES) + list(DECIMAL_SUFFIXES))

_DIGITS = "0123456789"
# Characters Go's scanner lets into a suffix before an optional exponent sign and digits.
_SUFFIX_CHARS = "eEinumkKMGTP"
_INT64_MAX = (1 << 63) - 1
_INT32_MIN, _INT32_MAX = -(1 << 31), (1 << 31) - 1
_NANO = 10 ** 9
_MAX_DIGITS = 4000
_MAX_DECIMAL_MAGNITUDE = 1000

_QUANTITY_FORMS = (
    "a Kubernetes quantity is a number with an optional sign and decimal point followed by an "
    "optional suffix: binary Ki, Mi, Gi, Ti, Pi, Ei; decimal n, u, m, k, M, G, T, P, E; or a "
    "decimal exponent such as e3 or E-2 (examples: 100Gi, 500M, 1.5, 250m, 1e3)"
)
_SIZE_FORMS = (
    "a size is a non-negative number of bytes with an optional unit: KiB, MiB, GiB, TiB, PiB, "
    "EiB (or Ki, Mi, Gi, Ti, Pi, Ei) for powers of 1024; kB, MB, GB, TB, PB, EB (or k, M, G, T, "
    "P, E) for powers of 1000; or B (examples: 5GiB, 5 GB, 1.5 TiB, 500M, 1048576)"
)


class QuantityError(KubeError, ValueError):
    """A quantity, size or percentage that cannot be read.

    ``str()`` names the text, says what is wrong with it and lists the accepted forms;
    ``reason`` holds just what is wrong.
    """

    def __init__(self, message, reason=None):
        super(QuantityError, self).__init__(message)
        self.reason = reason or message


def _fail(text, reason, forms=_QUANTITY_FORMS, what="Kubernetes quantity"):
    raise QuantityError("invalid %s %r: %s; %s" % (what, text, reason, forms), reason)


def _is_digits(text):
    # str.isdigit() alone also accepts non-ASCII digits such as '²', which Go rejects.
    return text.isdigit() and text.isascii()


def _split_number(text):
    """Scan ``[sign][digits][.digits]`` the way Go's parseQuantityString does.

    Returns ``(negative, int_digits, frac_digits, rest)``; either digit string may be empty.
    """
    end = len(text)
    pos = 0
    negative = False
    if end and text[0] in "+-":
        negative = text[0] == "-"
        pos = 1
    start = pos
    while pos < end and text[pos] in _DIGITS:
        pos += 1
    int_digits = text[start:pos]
    frac_digits = ""
    if pos < end and text[pos] == ".":
        pos += 1
        start = pos
        while pos < end and text[pos] in _DIGITS:
            pos += 1
        frac_digits = text[start:pos]
    return negative, int_digits, frac_digits, text[pos:]


def _interpret_suffix(text, suffix):
    """Return ``(base, exponent)`` for ``suffix`` or raise, following Go's scanner and table."""
    pos = 0
    end = len(suffix)
    while pos < end and suffix[pos] in _SUFFIX_CHARS:
        pos += 1
    if pos < end and suffix[pos] in "+-":
        pos += 1
    while pos < end and suffix[pos] in _DIGITS:
        pos += 1
    if pos < end:
        if suffix.isalpha():
            _fail(text, "unknown suffix %r" % suffix)
        _fail(text, "unexpected character %r" % suffix[pos])
    if suffix in DECIMAL_SUFFIXES:
        return 10, DECIMAL_SUFFIXES[suffix]
    if suffix in BINARY_SUFFIXES:
        return 2, BINARY_SUFFIXES[suffix]
    if len(suffix) > 1 and suffix[0] in "eE":
        exponent_text = suffix[1:]
        digits = exponent_text[1:] if exponent_text[0] in "+-" else exponent_text
        if _is_digits(digits):
            exponent = int(exponent_text)
            if not _INT32_MIN <= exponent <= _INT32_MAX:
                _fail(text, "the exponent %s is outside the supported range" % exponent_text)
            return 10, exponent
    _fail(text, "unknown suffix %r" % suffix)


def _ceil_div(numerator, denominator):
    return -(-numerator // denominator)


@functools.lru_cache(maxsize=1024)
def _parse_quantity_text(text):
    if not text:
        _fail(text, "it is empty")
    negative, int_digits, frac_digits, suffix = _split_number(text)
    base, exponent = _interpret_suffix(text, suffix)

    has_digit = bool(int_digits or frac_digits)
    if not has_digit:
        # Go sends these through its slow path, whose decimal reader needs a digit; every other
        # digit-free string it accepts as zero.
        if (base == 2 and exponent >= 50) or (base == 10 and exponent < -9):
            _fail(text, "the number has no digits")
        return Fraction(0)

    int_digits = int_digits.lstrip("0")
    frac_digits = frac_digits.rstrip("0")
    if len(int_digits) + len(frac_digits) > _MAX_DIGITS:
        _fail(text, "more than %d digits" % _MAX_DIGITS)
    mantissa = int(int_digits + frac_digits or "0")
    if mantissa == 0:
        return Fraction(0)

    if base == 10:
        scale = exponent - len(frac_digits)
        if scale > 0 and len(str(mantissa)) - 1 + scale >= _MAX_DECIMAL_MAGNITUDE:
            _fail(text, "the value is 10^%d or more" % _MAX_DECIMAL_MAGNITUDE)
        if scale >= 0:
            value = Fraction(mantissa * 10 ** scale)
        elif scale >= -9:
            value = Fraction(mantissa, 10 ** -scale)
        else:
            # Finer than a nano-unit: Kubernetes rounds the magnitude up to the next nano-unit.
            shift = -9 - scale
            nanos = 1 if shift > len(str(mantissa)) else _ceil_div(mantissa, 10 ** shift)
            value = Fraction(nanos, _NANO)
    else:
        nanos = _ceil_div((mantissa << exponent) * _NANO, 10 ** len(frac_digits))
        value = Fraction(nanos, _NANO)
        if value > _INT64_MAX:
            value = Fraction(_INT64_MAX)
    return -value if negative else value


def _coerce_quantity_text(value):
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise QuantityError("invalid Kubernetes quantity %r: expected a string such as '100Gi', got %s; %s"
                            % (value, type(value).__name__, _QUANTITY_FORMS))
    if isinstance(value, int):
        return None
    if isinstance(value, float):
        # The API server reads a JSON number through its text, so do the same.
        if not math.isfinite(value):
            _fail(value, "it is not a finite number")
        return repr(value)
    return value


def parse_quantity(value):
    """Return the exact value of a Kubernetes quantity as a ``Fraction``.

    ``value`` is a string such as ``"100Gi"``, ``"1.5"``, ``"250m"`` or ``"1e3"``; an int or a
    float (a JSON number) is read as the API server reads it. The result is the value Kubernetes
    stores: exact, except that a value finer than 10^-9 is rounded away from zero to the next
    10^-9 and a binary-suffixed value above 2^63-1 is capped there.

    Raises ``QuantityError`` (a ``ValueError``) naming the text and the accepted forms.
    """
    text = _coerce_quantity_text(value)
    if text is None:
        return Fraction(value)
    return _parse_quantity_text(text)


@functools.lru_cache(maxsize=1024)
def _quantity_text_to_bytes(text):
    # Kubelets report capacity as plain bytes or as Ki; answer those without the full parser.
    if _is_digits(text):
        return int(text)
    if text[-2:] in BINARY_SUFFIXES and _is_digits(text[:-2]):
        return min(int(text[:-2]) << BINARY_SUFFIXES[text[-2:]], _INT64_MAX)
    return _ceil_away_from_zero(_parse_quantity_text(text))


def _ceil_away_from_zero(value):
    if value >= 0:
        return _ceil_div(value.numerator, value.denominator)
    return -_ceil_div(-value.numerator, value.denominator)


def quantity_to_bytes(value):
    """Return a quantity as a whole number, rounding a fraction away from zero.

    This is Kubernetes' ``Quantity.Value()``: ``"1.5"`` gives 2, ``"-1.5"`` gives -2,
    ``"100Gi"`` gives 107374182400. Raises ``QuantityError`` like ``parse_quantity``.
    """
    text = _coerce_quantity_text(value)
    if text is None:
        return int(value)
    return _quantity_text_to_bytes(text)


def _size_error(value, reason):
    _fail(value, reason, forms=_SIZE_FORMS, what="size")


def parse_size(value):
    """Read a size a user typed and return it in bytes (an int, never negative).

    Accepts an int, a numeric string (``"1048576"``), a Kubernetes quantity (``"5Gi"``,
    ``"500M"``, ``"1e9"``) and the human forms ``"5GiB"``, ``"5 GB"``, ``"1.5 TiB"``,
    ``"300 MB"``, ``"512 B"``; ``KB`` and ``kB`` both mean 1000. Whitespace may separate the
    number and its unit. A fractional byte count is rounded up.

    Rejects negative sizes, and the sub-unit suffixes ``n``, ``u`` and ``m``: ``"500m"`` is half
    a byte in Kubernetes notation, which is never what a user asking for a size meant.
    Raises ``QuantityError`` (a ``ValueError``).
    """
    if isinstance(value, bool):
        _size_error(value, "expected a number of bytes or a string, got a boolean")
    if isinstance(value, int):
        if value < 0:
            _size_error(value, "a size cannot be negative")
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            _size_error(value, "it is not a finite number")
        if value < 0:
            _size_error(value, "a size cannot be negative")
        return _ceil_away_from_zero(Fraction(value))
    if not isinstance(value, str):
        _size_error(value, "expected a number of bytes or a string, got %s" % type(value).__name__)

    text = value.strip()
    if not text:
        _size_error(value, "it is empty")
    negative, int_digits, frac_digits, rest = _split_number(text)
    if not (int_digits or frac_digits):
        _size_error(value, "it does not start with a number")
    if negative and (int_digits + frac_digits).strip("0"):
        _size_error(value, "a size cannot be negative")
    number_text = text[:len(text) - len(rest)]
    unit = rest.lstrip()

    if unit in BYTE_UNITS:
        if len(int_digits.lstrip("0")) + len(frac_digits) > _MAX_DIGITS:
            _size_error(value, "more than %d digits" % _MAX_DIGITS)
        amount = Fraction(int(int_digits + frac_digits), 10 ** len(frac_digits))
        return _ceil_away_from_zero(amount * BYTE_UNITS[unit])
    if unit in ("n", "u", "m"):
        _size_error(value, "the suffix %r means a fraction of a byte; for powers of 1000 use k, M, G "
                           "(or kB, MB, GB), for powers of 1024 Ki, Mi, Gi (or KiB, MiB, GiB)" % unit)
    if not (unit in DECIMAL_SUFFIXES or unit in BINARY_SUFFIXES or unit[:1] in ("e", "E")):
        hint = ""
        if unit.endswith("b"):
            hint = " (units are case-sensitive, and a lower-case 'b' would mean bits)"
        elif unit.lower() in _LOWER_UNITS:
            hint = " (units are case-sensitive)"
        _size_error(value, "unknown unit %r%s" % (unit, hint))
    try:
        result = _parse_quantity_text(number_text + unit)
    except QuantityError as exc:
        _size_error(value, exc.reason)
    return abs(_ceil_away_from_zero(result))


def human_bytes(value):
    """Format a byte count for people, in powers of 1024.

    Below 1024 the exact count is shown (``"512 B"``, ``"0 B"``); above, one decimal of the
    largest unit that keeps the number at least 1, the ``.0`` kept so columns line up
    (``"3.0 KiB"``, ``"1.2 GiB"``). Rounding is half-up on the exact integer, and a value that
    would round to ``1024.0`` of a unit is shown as ``1.0`` of the next one.
    """
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and math.isfinite(value):
            value = _ceil_away_from_zero(Fraction(value))
        else:
            raise TypeError("human_bytes() expects an integer number of bytes, got %r" % (value,))
    sign = "-" if value < 0 else ""
    value = -value if value < 0 else value
    if value < 1024:
        return "%s%d B" % (sign, value)
    index = 0
    divisor = 1024
    while index < 5 and value >= divisor << 10:
        divisor <<= 10
        index += 1
    tenths = (value * 10 + (divisor >> 1)) // divisor
    if tenths >= 10240 and index < 5:
        divisor <<= 10
        index += 1
        tenths = (value * 10 + (divisor >> 1)) // divisor
    return "%s%d.%d %s" % (sign, tenths // 10, tenths % 10, _HUMAN_UNITS[index])


_PERCENT_FORMS = "expected a number from 0 to 100, optionally followed by '%' (examples: 80, 80%, 80.5)"


def parse_percent(value, maximum=100):
    """Read a percentage from 0 to ``maximum`` (``80``, ``"80%"``, ``"80.5"``) as a float.

    ``maximum=None`` allows any finite value from 0 up (growth can exceed 100 %).

    Raises ``QuantityError`` (a ``ValueError``) for anything else, out-of-range values included.
    """
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise QuantityError("invalid percentage %r: %s" % (value, _PERCENT_FORMS))
    if isinstance(value, str):
        text = value.strip()
        if text.endswith("%"):
            text = text[:-1].rstrip()
        negative, int_digits, frac_digits, rest = _split_number(text)
        if rest or not (int_digits or frac_digits):
            raise QuantityError("invalid percentage %r: %s" % (value, _PERCENT_FORMS))
        number = float(text)
    else:
        number = float(value)
    if math.isnan(number):
        raise QuantityError("invalid percentage %r: %s" % (value, _PERCENT_FORMS))
    if maximum is None:
        if not (number >= 0 and math.isfinite(number)):
            raise QuantityError("percentage %r is out of range: it must be 0 or more" % (value,))
    elif not 0 <= number <= maximum:
        raise QuantityError("percentage %r is out of range: it must be between 0 and %s" % (value, maximum))
    # "-0" would otherwise come back as -0.0 and print as such.
    return number + 0.0
