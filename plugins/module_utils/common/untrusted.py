# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# This engine file is PRIVATE to the nodewatch.k8s collection: it can change at any time, without
# notice or deprecation. Do not import it from other collections, roles or standalone plugins.
"""Safe readers for input nodewatch.k8s does not control.

Baseline files and ConfigMaps, daemon config and policy files, manifests sources, kubeconfigs,
inventory cache entries and webhook answers are written by people or other programs, possibly
damaged, possibly hostile. Read through here, such input cannot exhaust memory or the stack or
end in a Python error: what is too large, nested too deep, a YAML alias bomb, a path with a NUL
byte or a NaN/infinite number of seconds is refused with a sentence that names the input and the
limit ("... is nested deeper than 64 levels (the limit) ...").

Every reader takes ``error``: the exception class to raise (the caller's own, such as
``BaselineError``), so the sentence reaches the user through the caller's usual path.
"""
from __future__ import absolute_import, division, print_function

__metaclass__ = type

import json
import math
import os
import zlib

try:
    import yaml
    HAS_YAML = True
except ImportError:  # pragma: no cover - exercised by sanity's bare import test
    yaml = None
    HAS_YAML = False

from ansible_collections.nodewatch.k8s.plugins.module_utils.common.errors import MissingLibraryError, ValidationError

# Legitimate documents are a handful of levels deep (a baseline: 4, a daemon config: 6); the
# limit leaves room for any real one and stays far below Python's recursion limit.
MAX_DEPTH = 64
# A value that YAML aliases let expand to more than this many values is an alias bomb.
MAX_YAML_VALUES = 1000000
KiB = 1024
MiB = 1024 * KiB
# 5,000 nodes x 50 images of 100-byte keys make a 25 MB baseline file; ten times that is hostile.
BASELINE_MAX_BYTES = 256 * MiB
CONFIG_MAX_BYTES = 1 * MiB
MANIFEST_MAX_BYTES = 16 * MiB
KUBECONFIG_MAX_BYTES = 16 * MiB
SECRET_FILE_MAX_BYTES = 64 * KiB
# The watcher's state for 5,000 nodes is a few MiB of JSON; gzip can expand 1 MiB to 1 GiB.
STATE_MAX_BYTES = 64 * MiB
WEBHOOK_RESPONSE_MAX_BYTES = 64 * KiB
# A timeout or period longer than a year is a typo; time.monotonic() + inf is an error.
MAX_SECONDS = 366 * 24 * 3600.0


class UntrustedInputError(ValidationError):
    """Input refused by a safe reader; ``str()`` names the input and the limit."""


def _type_name(value):
    return "null" if value is None else type(value).__name__


def _size_text(count):
    for unit, size in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if count >= size and count % size == 0:
            return "%d %s" % (count // size, unit)
    return "%d bytes" % count


def too_large_message(what, size, max_bytes):
    return "%s is %d bytes, larger than %s (the limit for it); not read" % (what, size, _size_text(max_bytes))


def check_size(data, what, max_bytes, error=UntrustedInputError):
    """Refuse ``data`` (str or bytes) longer than ``max_bytes`` UTF-8 bytes."""
    if max_bytes is None:
        return data
    size = len(data) if isinstance(data, bytes) else len(data.encode("utf-8", "surrogatepass"))
    if size > max_bytes:
        raise error(too_large_message(what, size, max_bytes))
    return data


def too_deep(value, max_depth=MAX_DEPTH):
    """True when lists/dicts in ``value`` nest deeper than ``max_depth`` (the top is level 1).

    Iterative, so it cannot itself run out of stack on the input it is checking.
    """
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, (list, tuple)):
            children = item
        else:
            continue
        if depth > max_depth:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list, tuple)))
    return False


def _depth_message(what, max_depth, plural=False):
    return "%s %s nested deeper than %d levels (the limit); not read" % (what, "are" if plural else "is", max_depth)


def check_depth(value, what, max_depth=MAX_DEPTH, error=UntrustedInputError):
    """Refuse already parsed data (a cache entry, an API object) nested deeper than the limit."""
    if too_deep(value, max_depth):
        raise error(_depth_message(what, max_depth))
    return value


def _text(data, what, error):
    if isinstance(data, bytes):
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise error("%s is not UTF-8 text (byte %d cannot be decoded); not read" % (what, exc.start))
    if not isinstance(data, str):
        raise error("%s must be text, got %s" % (what, _type_name(data)))
    return data


def load_json(data, what, max_bytes=None, max_depth=MAX_DEPTH, error=UntrustedInputError, object_pairs_hook=None):
    """Parse JSON text (str or bytes) that nodewatch.k8s did not write itself.

    Refused, with a sentence naming ``what``: more than ``max_bytes``, not UTF-8, not JSON, nested
    deeper than ``max_depth``. ``object_pairs_hook`` errors of type ``error`` pass through.
    """
    check_size(data, what, max_bytes, error)
    text = _text(data, what, error)
    try:
        value = json.loads(text, object_pairs_hook=object_pairs_hook)
    except error:
        raise
    except RecursionError:
        raise error(_depth_message(what, max_depth))
    except ValueError as exc:
        raise error("%s is not valid JSON (%s)" % (what, exc))
    return check_depth(value, what, max_depth, error)


def _yaml_shape_problem(root, max_depth, max_values):
    """Depth and alias-expanded size of a composed YAML node graph, without expanding it."""
    expanded = {}   # id(node) -> values it stands for, aliases expanded
    depth = {}      # id(node) -> nesting levels below and including it
    on_path = set()
    stack = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        else:
            expanded[key], depth[key] = 1, 0
            continue
        if done:
            on_path.discard(key)
            expanded[key] = 1 + sum(expanded[id(child)] for child in children)
            depth[key] = 1 + max([depth[id(child)] for child in children] or [0])
            if expanded[key] > max_values:
                return "would expand to more than %d values through YAML aliases (the limit; an alias bomb?)" % max_values
            if depth[key] > max_depth:
                return "nested deeper than %d levels (the limit)" % max_depth
            continue
        if key in expanded:
            continue
        if key in on_path:
            return "a YAML alias that refers to its own parent"
        on_path.add(key)
        stack.append((node, True))
        for child in children:
            if id(child) in on_path:
                return "a YAML alias that refers to its own parent"
            if id(child) not in expanded:
                stack.append((child, False))
    return None


class _TooDeep(Exception):
    pass


if HAS_YAML:
    class _DepthLimitedLoader(yaml.SafeLoader):  # pylint: disable=too-many-ancestors
        """Stops composing at the depth limit: PyYAML's scanner slows down quadratically with
        flow nesting, so a hostile '[[[[...' must be cut short, not only caught at the end."""

        max_depth = MAX_DEPTH
        _depth = 0

        def compose_node(self, parent, index):
            self._depth += 1
            try:
                if self._depth > self.max_depth:
                    raise _TooDeep()
                return super(_DepthLimitedLoader, self).compose_node(parent, index)
            finally:
                self._depth -= 1


def load_yaml(data, what, max_bytes=None, max_depth=MAX_DEPTH, max_values=MAX_YAML_VALUES,
              error=UntrustedInputError, multi=False, plural=False):
    """Parse YAML (safe tags only) that nodewatch.k8s did not write; ``multi``: every document.

    Anchors and aliases keep working, but a document that would expand to more than
    ``max_values`` values through them (billion laughs), refers to itself, or nests deeper than
    ``max_depth`` is refused before anything is built from it. ``plural``: ``what`` names
    several things ("the definitions are not valid YAML").
    """
    if not HAS_YAML:
        raise MissingLibraryError("PyYAML", "to read %s" % what)
    check_size(data, what, max_bytes, error)
    text = _text(data, what, error)
    loader = None
    documents = []
    try:
        loader = _DepthLimitedLoader(text)
        loader.max_depth = max_depth
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            problem = _yaml_shape_problem(node, max_depth, max_values)
            if problem:
                if problem.startswith("nested"):
                    raise error(_depth_message(what, max_depth, plural))
                if problem.startswith("a YAML alias"):
                    raise error("%s: %s; not read" % (what, problem))
                raise error("%s %s; not read" % (what, problem))
            documents.append(loader.construct_document(node))
            if not multi and loader.check_node():
                raise error("%s holds more than one YAML document; put everything in one" % what)
    except error:
        raise
    except (_TooDeep, RecursionError):
        raise error(_depth_message(what, max_depth, plural))
    except yaml.YAMLError as exc:
        raise error("%s %s not valid YAML: %s" % (what, "are" if plural else "is", exc))
    finally:
        if loader is not None:
            loader.dispose()
    if multi:
        return documents
    return documents[0] if documents else None


def check_path(path, option, error=UntrustedInputError):
    """A file path given by a person: a non-empty string without NUL bytes (else ``error``)."""
    if not isinstance(path, str):
        raise error("%s must be a file path (a string), got %s" % (option, _type_name(path)))
    if not path.strip():
        raise error("%s is empty; set it to a file path" % option)
    if "\x00" in path:
        raise error("%s contains a NUL byte, which no file path can hold; check how it was built" % option)
    return path


def read_file(path, what, max_bytes, error=UntrustedInputError, missing_ok=False):
    """The bytes of a file, at most ``max_bytes`` of them (larger files are refused unread).

    ``missing_ok``: None when it does not exist. Other problems (a directory, no permission) are
    ``error`` sentences naming ``what``.
    """
    check_path(path, what, error)
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > max_bytes:  # refused unread (a pipe or a device reports 0 and is read bounded)
                raise error(too_large_message(what, size, max_bytes))
            data = handle.read(max_bytes + 1)
    except FileNotFoundError:
        if missing_ok:
            return None
        raise error("cannot read %s: it does not exist" % what)
    except IsADirectoryError:
        raise error("cannot read %s: it is a directory, not a file" % what)
    except OSError as exc:
        raise error("cannot read %s: %s" % (what, exc.strerror or exc))
    if len(data) > max_bytes:
        raise error("%s is larger than %s (the limit for it); not read" % (what, _size_text(max_bytes)))
    return data


def gunzip(data, what, max_bytes, error=UntrustedInputError):
    """Decompress one gzip member, refusing damaged data and more than ``max_bytes`` of output
    (a gzip bomb) without ever holding more than that in memory."""
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        data = decompressor.decompress(data, max_bytes + 1)
    except zlib.error as exc:
        raise error("%s is not valid gzip data (%s)" % (what, exc))
    if len(data) > max_bytes:
        raise error("%s decompresses to more than %s (the limit for it); not read" % (what, _size_text(max_bytes)))
    if not decompressor.eof:
        raise error("%s is truncated gzip data" % what)
    return data


def seconds(value, option, minimum=0.0, maximum=MAX_SECONDS, error=UntrustedInputError, allow_zero=True):
    """A number of seconds (int, float or numeric string) within [minimum, maximum].

    NaN, infinity, booleans and anything that is not a number are refused, naming ``option``.
    """
    number = value
    if isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise error("%s must be a number of seconds, got %r" % (option, value))
    if isinstance(number, bool) or not isinstance(number, (int, float)):
        raise error("%s must be a number of seconds, got %s" % (option, _type_name(value)))
    if isinstance(number, float) and (math.isnan(number) or math.isinf(number)):
        raise error("%s must be a finite number of seconds, got %r" % (option, value))
    if minimum is not None and number < minimum:
        raise error("%s must be at least %s seconds, got %r" % (option, _number_text(minimum), value))
    if not allow_zero and number == 0:
        raise error("%s must be more than 0 seconds, got %r" % (option, value))
    if maximum is not None and number > maximum:
        raise error("%s must be at most %s seconds (%s), got %r"
                    % (option, _number_text(maximum), _duration_text(maximum), value))
    return number


def finite_number(value, option, minimum=None, maximum=None, error=UntrustedInputError, integer=False):
    """An int (``integer``) or a finite float within bounds; names ``option`` when refused."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
        raise error("%s must be a %s, got %r" % (option, "whole number" if integer else "number", value))
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        raise error("%s must be a finite number, got %r" % (option, value))
    if minimum is not None and value < minimum:
        raise error("%s must be at least %s, got %r" % (option, _number_text(minimum), value))
    if maximum is not None and value > maximum:
        raise error("%s must be at most %s, got %r" % (option, _number_text(maximum), value))
    return value


def _number_text(number):
    return ("%d" % number) if float(number).is_integer() else ("%s" % number)


def _duration_text(total):
    if total >= 86400 and total % 86400 == 0:
        return "%d days" % (total // 86400)
    if total >= 3600 and total % 3600 == 0:
        return "%d hours" % (total // 3600)
    return "%s seconds" % _number_text(total)
