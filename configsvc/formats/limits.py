"""Bounds every file must fit before anything recursive sees it: nesting depth and expanded size.

PyYAML's C composer recurses once per nesting level (100,000 ``[`` crash it), the JSON decoder and the
encrypted-file walkers recurse too, and YAML aliases can expand a small file into billions of values.
Configuration needs neither: a file is refused when it nests deeper than :data:`MAX_DEPTH` or expands to
more than :data:`MAX_VALUES` values, before it is composed, decrypted or typed.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from configsvc.formats.reading import FileProblem

MAX_DEPTH = 64
MAX_VALUES = 100_000

_Parser: Any = getattr(yaml, "CBaseLoader", None)  # libyaml's parser (events only)
# A string (anchored possessively: no backtracking), a bracket, or a lone quote: what is left when the
# string cannot end, where the scan stops. Without the lone quote, a regex that searches for whole
# strings restarts at every quote of an unterminated string full of escaped quotes: quadratic, about an
# hour for a megabyte.
_JSON_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*+"|[\[\]{}]|"', re.DOTALL)


def check_yaml_nesting(text: str) -> None:
    """Refuse YAML nested deeper than :data:`MAX_DEPTH`, from the parser's events (libyaml's parser
    keeps its own stack, so this is safe for any input; composing is what recurses)."""
    depth = 0
    try:
        parser = _Parser(text) if _Parser is not None else yaml.SafeLoader(text)
    except yaml.YAMLError:
        return  # the real parse reports it, with its line
    try:
        while (event := parser.get_event()) is not None:
            kind = type(event)
            if kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
                depth += 1
                if depth > MAX_DEPTH:
                    raise FileProblem(_too_deep(), event.start_mark.line + 1)
            elif kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
                depth -= 1
            elif kind is yaml.StreamEndEvent:
                return
    except yaml.YAMLError as error:
        if "nesting depth" in str(getattr(error, "problem", "")):  # libyaml's own limit (1,000 levels)
            raise FileProblem(_too_deep(), depth_line(error)) from None
        return  # the real parse reports the syntax error, with its line
    finally:
        parser.dispose()


def depth_line(error: yaml.YAMLError) -> int | None:
    mark = getattr(error, "problem_mark", None)
    return mark.line + 1 if mark is not None else None


def check_json_nesting(text: str) -> None:
    """Refuse JSON nested deeper than :data:`MAX_DEPTH` (strings skipped, so brackets in them do not
    count). Linear in the length of ``text`` whatever it holds: every step moves forward."""
    at = json_too_deep(text, MAX_DEPTH)
    if at is not None:
        raise FileProblem(_too_deep(), text.count("\n", 0, at) + 1)


def json_too_deep(text: str, limit: int) -> int | None:
    """The offset of the first bracket that nests JSON deeper than ``limit``, or None. Brackets inside
    strings do not count; an unterminated string ends the scan (the real parser reports it)."""
    depth = 0
    for match in _JSON_TOKEN.finditer(text):
        token = match.group()
        if token == "[" or token == "{":
            depth += 1
            if depth > limit:
                return match.start()
        elif token == "]" or token == "}":
            depth -= 1
        elif token == '"':
            return None  # a string that does not end: nothing after it is a bracket
    return None


def check_expanded(data: Any) -> None:
    """Refuse data that, with YAML aliases expanded, holds more than :data:`MAX_VALUES` values or nests
    deeper than :data:`MAX_DEPTH`. Shared nodes are measured once (no expansion happens here)."""
    sizes: dict[int, tuple[int, int]] = {}  # id -> (values, depth) with aliases expanded
    open_nodes: set[int] = set()  # expanded, not finished: the ancestors of what is being looked at
    stack: list[tuple[Any, bool]] = [(data, False)]
    while stack:
        node, children_done = stack.pop()
        if not isinstance(node, dict | list) or (id(node) in sizes and not children_done):
            continue
        children = list(node.values()) if isinstance(node, dict) else node
        if not children_done:
            if id(node) in open_nodes:
                continue  # reached twice before it finished (shared by two parents): done once
            open_nodes.add(id(node))
            stack.append((node, True))
            for child in children:
                if isinstance(child, dict | list) and id(child) not in sizes:
                    if id(child) in open_nodes:
                        raise FileProblem("the settings refer to themselves (a YAML alias inside its "
                                          "own anchor); write them out")
                    stack.append((child, False))
            continue
        open_nodes.discard(id(node))
        values, depth = 1, 1
        for child in children:
            child_values, child_depth = sizes.get(id(child), (1, 0))
            values += child_values
            depth = max(depth, child_depth + 1)
        if values > MAX_VALUES:
            raise FileProblem(f"the file expands to more than {MAX_VALUES} values (YAML aliases?); "
                              "write the settings out")
        if depth > MAX_DEPTH:
            raise FileProblem(_too_deep())
        sizes[id(node)] = (values, depth)


def _too_deep() -> str:
    return f"the settings nest more than {MAX_DEPTH} levels deep; configuration never needs that"
