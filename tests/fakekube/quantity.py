"""resource.Quantity parsing and canonical serialization (k8s.io/apimachinery/pkg/api/resource).

The apiserver decodes every ResourceList value into a Quantity and writes it back in canonical
form, so ``"1024Mi"`` comes back as ``"1Gi"`` and ``"0.5"`` as ``"500m"``.
"""
import functools
import re
from fractions import Fraction

QUANTITY_RE_TEXT = "^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$"
_QUANTITY_RE = re.compile(r"^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$")

_BINARY = {"Ki": 10, "Mi": 20, "Gi": 30, "Ti": 40, "Pi": 50, "Ei": 60}
_DECIMAL = {"n": -9, "u": -6, "m": -3, "": 0, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}
_DECIMAL_BY_EXP = {v: k for k, v in _DECIMAL.items()}
_BINARY_BY_EXP = {v: k for k, v in _BINARY.items()}


class QuantityError(ValueError):
    pass


def parse(s):
    """Return (value as Fraction, format) where format is 'BinarySI'|'DecimalSI'|'DecimalExponent'."""
    if not isinstance(s, str):
        s = str(s)
    if not s or not _QUANTITY_RE.match(s) or s.endswith("\n"):
        raise QuantityError("quantities must match the regular expression '%s'" % QUANTITY_RE_TEXT)
    m = _QUANTITY_RE.match(s)
    num, suffix = m.group(1), m.group(2)
    if num.count(".") > 1 or num.strip("+-") in ("", "."):
        raise QuantityError("quantities must match the regular expression '%s'" % QUANTITY_RE_TEXT)
    try:
        value = Fraction(num)
    except (ValueError, ZeroDivisionError):
        raise QuantityError("quantities must match the regular expression '%s'" % QUANTITY_RE_TEXT)
    if suffix in _BINARY:
        return value * (2 ** _BINARY[suffix]), "BinarySI"
    if suffix in _DECIMAL:
        return value * Fraction(10) ** _DECIMAL[suffix], "DecimalSI"
    if suffix[:1] in ("e", "E"):
        try:
            exp = int(suffix[1:])
        except ValueError:
            raise QuantityError("unable to parse quantity's suffix")
        return value * Fraction(10) ** exp, "DecimalExponent"
    raise QuantityError("unable to parse quantity's suffix")


def _round_up_nano(v):
    scaled = v * 10 ** 9
    if scaled.denominator != 1:
        # Quantity rounds up (away from zero) to nano precision
        n = scaled.numerator // scaled.denominator
        if scaled > 0:
            n += 1
        scaled = Fraction(n)
    return scaled / 10 ** 9


@functools.lru_cache(maxsize=4096)
def canonical(s):
    """Canonical string for a quantity, as the apiserver would serialize it."""
    value, fmt = parse(s)
    value = _round_up_nano(value)
    if fmt == "BinarySI":
        if -1024 < value < 1024 or value.denominator != 1:
            fmt = "DecimalSI"
        else:
            n = value.numerator
            exp = 0
            while exp < 60 and n % 1024 == 0 and n != 0:
                n //= 1024
                exp += 10
            return "%d%s" % (n, _BINARY_BY_EXP.get(exp, ""))
    # decimal: find the largest exponent (multiple of 3, >= -9) that keeps an integer mantissa
    if value == 0:
        return "0"
    exp = -9
    mant = value * 10 ** 9
    assert mant.denominator == 1
    mant = mant.numerator
    while mant % 1000 == 0 and exp < 18:
        mant //= 1000
        exp += 3
    if fmt == "DecimalExponent":
        return "%d" % mant if exp == 0 else "%de%d" % (mant, exp)
    return "%d%s" % (mant, _DECIMAL_BY_EXP[exp])


def to_int(s):
    """Integer value (rounded up) of a quantity string, e.g. bytes of ``"100Gi"``."""
    value, dummy = parse(s)
    n = value.numerator // value.denominator
    if value.denominator != 1 and value > 0:
        n += 1
    return n
