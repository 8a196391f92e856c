# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Kubernetes label selectors evaluated locally (rule sets, watcher configuration).

Selectors sent to the API server are checked by the server; these are the ones this collection
applies itself, so they follow ``k8s.io/apimachinery/pkg/labels`` and the same key and value
rules as ``nodes/model.py``.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

from collections import namedtuple

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import ValidationError
from ansible_collections.nodewatch.k8s.plugins.module_utils.nodes.model import validate_label_value, validate_qualified_name

_SPECIAL = "!=,()<>"


def _label_key_problem(key):
    try:
        validate_qualified_name(key, "label key")
    except ValidationError as exc:
        return str(exc)
    return None


def _label_value_problem(value):
    try:
        validate_label_value(None, value)
    except ValidationError as exc:
        return str(exc)
    return None


def _tokenize(text):
    """(kind, value, position) tokens: ident, op ('!', '=', '==', '!=', '<', '>'), ',', '(', ')'."""
    tokens = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c.isspace():
            i += 1
            continue
        if c in "(),":
            tokens.append((c, c, i))
            i += 1
        elif c == "=":
            if text[i:i + 2] == "==":
                tokens.append(("op", "==", i))
                i += 2
            else:
                tokens.append(("op", "=", i))
                i += 1
        elif c == "!":
            if text[i:i + 2] == "!=":
                tokens.append(("op", "!=", i))
                i += 2
            else:
                tokens.append(("!", "!", i))
                i += 1
        elif c in "<>":
            tokens.append(("op", c, i))
            i += 1
        else:
            start = i
            while i < n and not text[i].isspace() and text[i] not in _SPECIAL:
                i += 1
            word = text[start:i]
            if word in ("in", "notin"):
                tokens.append(("setop", word, start))
            else:
                tokens.append(("ident", word, start))
    tokens.append(("end", None, n))
    return tokens


Requirement = namedtuple("Requirement", "key operator values")


class LabelSelector:
    """A parsed Kubernetes label selector; call it (or ``.matches``) with a labels dict.

    Semantics follow ``k8s.io/apimachinery/pkg/labels``: ``a=b``/``a==b`` and ``a in (..)``
    need the label to exist; ``a!=b`` and ``a notin (..)`` also match nodes WITHOUT the label;
    ``a`` means the label exists, ``!a`` that it does not; ``a>3``/``a<3`` compare integers.
    Requirements separated by commas must all hold; the empty selector matches every node.
    """

    __slots__ = ("text", "requirements")

    def __init__(self, text, requirements):
        self.text = text
        self.requirements = tuple(requirements)

    def matches(self, labels):
        labels = labels or {}
        for req in self.requirements:
            present = req.key in labels
            value = labels.get(req.key)
            op = req.operator
            if op == "exists":
                ok = present
            elif op == "!exists":
                ok = not present
            elif op == "in":
                ok = present and value in req.values
            elif op == "notin":
                ok = not present or value not in req.values
            elif op in (">", "<"):
                try:
                    number = int(value) if present else None
                except (TypeError, ValueError):
                    number = None
                if number is None:
                    ok = False
                elif op == ">":
                    ok = number > req.values[0]
                else:
                    ok = number < req.values[0]
            else:  # pragma: no cover - parser never builds anything else
                raise AssertionError(op)
            if not ok:
                return False
        return True

    __call__ = matches

    def __repr__(self):
        return "LabelSelector(%r)" % self.text

    def __eq__(self, other):
        return isinstance(other, LabelSelector) and self.requirements == other.requirements

    def __ne__(self, other):
        return not self.__eq__(other)

    def __hash__(self):
        return hash(self.requirements)


def parse_label_selector(text):
    """Parse a label selector string into a ``LabelSelector`` (a callable matcher).

    Raises ``ValidationError`` naming the selector and the position of the problem.
    """
    if not isinstance(text, str):
        raise ValidationError("label selector must be a string such as 'node-role.kubernetes.io/gpu' "
                              "or 'pool in (a,b),!spot', got %s" % type(text).__name__)
    tokens = _tokenize(text)
    pos = [0]

    def fail(problem, at=None):
        where = tokens[pos[0]][2] if at is None else at
        raise ValidationError("invalid label selector %r: %s (at character %d)" % (text, problem, where + 1))

    def peek():
        return tokens[pos[0]]

    def take():
        tok = tokens[pos[0]]
        pos[0] += 1
        return tok

    def check_key(tok):
        problem = _label_key_problem(tok[1])
        if problem:
            fail(problem, tok[2])
        return tok[1]

    def check_value(tok):
        problem = _label_value_problem(tok[1])
        if problem:
            fail(problem, tok[2])
        return tok[1]

    requirements = []
    if peek()[0] == "end":
        return LabelSelector(text, requirements)
    while True:
        tok = take()
        if tok[0] == "!":
            key_tok = take()
            if key_tok[0] != "ident":
                fail("expected a label key after '!'", key_tok[2])
            requirements.append(Requirement(check_key(key_tok), "!exists", ()))
        elif tok[0] == "ident":
            key = check_key(tok)
            nxt = peek()
            if nxt[0] in (",", "end"):
                requirements.append(Requirement(key, "exists", ()))
            elif nxt[0] == "op":
                op = take()[1]
                val_tok = peek()
                if op in ("<", ">"):
                    if val_tok[0] != "ident":
                        fail("expected an integer after '%s'" % op, val_tok[2])
                    take()
                    try:
                        number = int(val_tok[1])
                    except ValueError:
                        fail("'%s' needs an integer value, got %r" % (op, val_tok[1]), val_tok[2])
                    requirements.append(Requirement(key, op, (number,)))
                else:
                    if val_tok[0] == "ident":
                        take()
                        value = check_value(val_tok)
                    elif val_tok[0] in (",", "end"):
                        value = ""  # 'a=' selects nodes whose label a is empty
                    else:
                        fail("expected a label value after '%s'" % op, val_tok[2])
                    requirements.append(Requirement(key, "notin" if op == "!=" else "in", frozenset([value])))
            elif nxt[0] == "setop":
                op = take()[1]
                if take()[0] != "(":
                    fail("expected '(' after '%s'" % op, tokens[pos[0] - 1][2])
                values = []
                if peek()[0] == ")":
                    fail("the value list of '%s' must not be empty" % op)
                while True:
                    val_tok = take()
                    if val_tok[0] != "ident":
                        fail("expected a label value in the list of '%s'" % op, val_tok[2])
                    values.append(check_value(val_tok))
                    sep = take()
                    if sep[0] == ")":
                        break
                    if sep[0] != ",":
                        fail("expected ',' or ')' in the value list of '%s'" % op, sep[2])
                requirements.append(Requirement(key, op, frozenset(values)))
            else:
                fail("expected an operator (=, ==, !=, in, notin) or ',' after label key %r" % key, nxt[2])
        else:
            fail("expected a label key or '!'", tok[2])
        sep = take()
        if sep[0] == "end":
            break
        if sep[0] != ",":
            fail("expected ',' between requirements", sep[2])
        if peek()[0] == "end":
            fail("the selector must not end with ','", tokens[pos[0] - 1][2])
    return LabelSelector(text, requirements)
