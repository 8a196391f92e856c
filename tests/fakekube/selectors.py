"""Label and field selectors, parsed like k8s.io/apimachinery/pkg/labels and pkg/fields.

``parse_label_selector`` ports the real lexer/parser (including its error messages), so a
selector the real apiserver rejects is rejected here with the same text (400 BadRequest).
"""
from . import errors
from .names import is_label_value, is_qualified_name

# --------------------------------------------------------------------------- labels

_ERR, _EOS, _CPAR, _COMMA, _NOT, _DEQ, _EQ, _GT, _ID, _IN, _LT, _NEQ, _NOTIN, _OPAR = range(14)
_STRING2TOKEN = {")": _CPAR, ",": _COMMA, "!": _NOT, "==": _DEQ, "=": _EQ, ">": _GT, "in": _IN,
                 "<": _LT, "!=": _NEQ, "notin": _NOTIN, "(": _OPAR}
_SPECIAL = set("=!(),><")
_WS = set(" \t\r\n")
_BINARY_OPERATORS = ["in", "notin", "=", "==", "!=", "gt", "lt"]  # order as labels.binaryOperators


class SelectorError(Exception):
    pass


def _lex(s):
    items = []
    pos = 0
    n = len(s)
    while True:
        while pos < n and s[pos] in _WS:
            pos += 1
        if pos >= n:
            items.append((_EOS, ""))
            return items
        ch = s[pos]
        if ch in _SPECIAL:
            buf = ""
            last = None
            while pos < n and s[pos] in _SPECIAL:
                buf += s[pos]
                pos += 1
                if buf in _STRING2TOKEN:
                    last = (_STRING2TOKEN[buf], buf)
                elif last is not None:
                    pos -= 1
                    break
            if last is None:
                items.append((_ERR, "error expected: keyword found '%s'" % buf))
            else:
                items.append(last)
        else:
            start = pos
            while pos < n and s[pos] not in _SPECIAL and s[pos] not in _WS:
                pos += 1
            word = s[start:pos]
            items.append((_STRING2TOKEN.get(word, _ID), word))


class Requirement:
    __slots__ = ("key", "op", "values")

    def __init__(self, key, op, values):
        self.key, self.op, self.values = key, op, values

    def matches(self, labels):
        has = self.key in labels
        if self.op in ("in", "=", "=="):
            return has and labels[self.key] in self.values
        if self.op in ("notin", "!="):
            return not has or labels[self.key] not in self.values
        if self.op == "exists":
            return has
        if self.op == "!":
            return not has
        if self.op in ("gt", "lt"):
            if not has:
                return False
            try:
                lv = int(labels[self.key])
            except ValueError:
                return False
            rv = int(next(iter(self.values)))
            return lv > rv if self.op == "gt" else lv < rv
        return False


def _field_err(path, value, msg):
    return str(errors.invalid_value(path, value, msg))


def _new_requirement(key, op, vals):
    errs = []
    kerrs = is_qualified_name(key)
    if kerrs:
        errs.append(_field_err("key", key, "; ".join(kerrs)))
    vals_sorted = sorted(vals)
    if op in ("in", "notin") and not vals:
        errs.append(_field_err("values", vals_sorted, "for 'in', 'notin' operators, values set can't be empty"))
    if op in ("=", "==", "!=") and len(vals) != 1:
        errs.append(_field_err("values", vals_sorted, "exact-match compatibility requires one single value"))
    if op in ("exists", "!") and vals:
        errs.append(_field_err("values", vals_sorted, "values set must be empty for exists and does not exist"))
    if op in ("gt", "lt"):
        if len(vals) != 1:
            errs.append(_field_err("values", vals_sorted, "for 'Gt', 'Lt' operators, exactly one value is required"))
        for i, v in enumerate(vals_sorted):
            try:
                int(v)
            except ValueError:
                errs.append(_field_err("values[%d]" % i, v, "for 'Gt', 'Lt' operators, the value must be an integer"))
    for i, v in enumerate(vals_sorted):
        verrs = is_label_value(v)
        if verrs:
            errs.append(_field_err("values[%d][%s]" % (i, key), v, "; ".join(verrs)))
    if errs:
        raise SelectorError(errors.aggregate_message(errs) if len(errs) > 1 else errs[0])
    return Requirement(key, op, frozenset(vals))


class _Parser:
    def __init__(self, s):
        self.items = _lex(s)
        self.pos = 0

    def lookahead(self, values_ctx):
        tok, lit = self.items[self.pos]
        if values_ctx and tok in (_IN, _NOTIN):
            tok = _ID
        return tok, lit

    def consume(self, values_ctx):
        tok, lit = self.lookahead(values_ctx)
        self.pos += 1
        return tok, lit

    def parse(self):
        reqs = []
        while True:
            tok, lit = self.lookahead(True)
            if tok in (_ID, _NOT):
                try:
                    r = self.parse_requirement()
                except SelectorError as e:
                    raise SelectorError("unable to parse requirement: %s" % e)
                reqs.append(r)
                t, l = self.consume(True)
                if t == _EOS:
                    return reqs
                if t == _COMMA:
                    t2, l2 = self.lookahead(True)
                    if t2 not in (_ID, _NOT):
                        raise SelectorError("found '%s', expected: identifier after ','" % l2)
                else:
                    raise SelectorError("found '%s', expected: ',' or 'end of string'" % l)
            elif tok == _EOS:
                return reqs
            else:
                raise SelectorError("found '%s', expected: !, identifier, or 'end of string'" % lit)

    def parse_requirement(self):
        key, op = self.parse_key_and_infer_operator()
        if op in ("exists", "!"):
            return _new_requirement(key, op, [])
        op = self.parse_operator()
        if op in ("in", "notin"):
            values = self.parse_values()
        else:
            values = self.parse_exact_value()
        return _new_requirement(key, op, sorted(values))

    def parse_key_and_infer_operator(self):
        op = None
        tok, lit = self.consume(True)
        if tok == _NOT:
            op = "!"
            tok, lit = self.consume(True)
        if tok != _ID:
            raise SelectorError("found '%s', expected: identifier" % lit)
        kerrs = is_qualified_name(lit)
        if kerrs:
            raise SelectorError(_field_err("<nil>", lit, "; ".join(kerrs)))
        t, dummy = self.lookahead(True)
        if t in (_EOS, _COMMA) and op != "!":
            op = "exists"
        return lit, op

    def parse_operator(self):
        tok, lit = self.consume(False)
        ops = {_IN: "in", _EQ: "=", _DEQ: "==", _GT: "gt", _LT: "lt", _NOTIN: "notin", _NEQ: "!="}
        if tok not in ops:
            raise SelectorError("found '%s', expected: %s" % (lit, ", ".join(_BINARY_OPERATORS)))
        return ops[tok]

    def parse_values(self):
        tok, lit = self.consume(True)
        if tok != _OPAR:
            raise SelectorError("found '%s' expected: '('" % lit)
        tok, lit = self.lookahead(True)
        if tok in (_ID, _COMMA):
            s = self.parse_identifiers_list()
            tok2, dummy = self.consume(True)
            if tok2 != _CPAR:
                raise SelectorError("found '%s', expected: ')'" % lit)
            return s
        if tok == _CPAR:
            self.consume(True)
            return {""}
        raise SelectorError("found '%s', expected: ',', ')' or identifier" % lit)

    def parse_identifiers_list(self):
        s = set()
        while True:
            tok, lit = self.consume(True)
            if tok == _ID:
                s.add(lit)
                tok2, lit2 = self.lookahead(True)
                if tok2 == _COMMA:
                    continue
                if tok2 == _CPAR:
                    return s
                raise SelectorError("found '%s', expected: ',' or ')'" % lit2)
            if tok == _COMMA:
                if not s:
                    s.add("")
                tok2, dummy = self.lookahead(True)
                if tok2 == _CPAR:
                    s.add("")
                    return s
                if tok2 == _COMMA:
                    s.add("")
                continue
            raise SelectorError("found '%s', expected: ',', or identifier" % lit)

    def parse_exact_value(self):
        tok, dummy = self.lookahead(True)
        if tok in (_EOS, _COMMA):
            return {""}
        tok, lit = self.consume(True)
        if tok == _ID:
            return {lit}
        raise SelectorError("found '%s', expected: identifier" % lit)


class LabelSelector:
    def __init__(self, reqs):
        self.reqs = reqs

    def empty(self):
        return not self.reqs

    def matches(self, labels):
        labels = labels or {}
        for r in self.reqs:
            if not r.matches(labels):
                return False
        return True


EVERYTHING = LabelSelector([])


def parse_label_selector(s):
    """Parse a labelSelector query value; raises ApiError(400) like the apiserver."""
    if s is None or s == "":
        return EVERYTHING
    try:
        return LabelSelector(_Parser(s).parse())
    except SelectorError as e:
        raise errors.bad_request(str(e))


# --------------------------------------------------------------------------- fields

def _split_terms(s):
    terms, start, in_slash = [], 0, False
    for i, c in enumerate(s):
        if in_slash:
            in_slash = False
        elif c == "\\":
            in_slash = True
        elif c == ",":
            terms.append(s[start:i])
            start = i + 1
    terms.append(s[start:])
    return terms


def _split_term(term):
    for i in range(len(term)):
        rest = term[i:]
        for op in ("!=", "==", "="):
            if rest.startswith(op):
                return term[:i], op, term[i + len(op):]
    return None


def _unescape(v):
    if not any(c in v for c in "\\,="):
        return v
    out, in_slash = [], False
    for c in v:
        if in_slash:
            if c in "\\,=":
                out.append(c)
            else:
                raise errors.bad_request("invalid field selector: invalid escape sequence: \\" + c)
            in_slash = False
            continue
        if c == "\\":
            in_slash = True
        elif c in ",=":
            raise errors.bad_request("invalid field selector: unescaped character in value: %s" % c)
        else:
            out.append(c)
    if in_slash:
        raise errors.bad_request("invalid field selector: invalid escape sequence: \\")
    return "".join(out)


class FieldSelector:
    def __init__(self, terms):
        self.terms = terms  # list of (field, op, value)

    def empty(self):
        return not self.terms

    def matches(self, fields):
        for f, op, v in self.terms:
            have = fields.get(f)
            if op == "!=":
                if have == v:
                    return False
            else:
                # fields.Set.Get returns "" for a missing key
                if (have if have is not None else "") != v:
                    return False
        return True

    def requires_exact(self, field):
        for f, op, v in self.terms:
            if f == field and op in ("=", "=="):
                return v
        return None


FIELDS_EVERYTHING = FieldSelector([])


def parse_field_selector(s, convert):
    """Parse a fieldSelector and map each label through ``convert(label) -> label``.

    ``convert`` raises ApiError(400) for an unsupported label (ConvertFieldLabel)."""
    if s is None or s == "":
        return FIELDS_EVERYTHING
    parts = sorted(_split_terms(s))
    terms = []
    for part in parts:
        if part == "":
            continue
        split = _split_term(part)
        if split is None:
            raise errors.bad_request("invalid selector: '%s'; can't understand '%s'" % (s, part))
        lhs, op, rhs = split
        terms.append((lhs, op, _unescape(rhs)))
    return FieldSelector([(convert(f), op, v) for f, op, v in terms])
