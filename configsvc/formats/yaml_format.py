"""YAML: PyYAML's C parser with a safe constructor that keeps key lines and the text of plain scalars,
refuses tags and duplicate keys; and writing YAML back with numbers as they were written."""

from __future__ import annotations

import re
from typing import Any

import yaml

from configsvc.core.keypath import KeyPath
from configsvc.formats.limits import check_expanded, check_yaml_nesting
from configsvc.formats.reading import FileProblem, ParsedFile, Plain, require_mapping

_MERGE_TAG = "tag:yaml.org,2002:merge"
_Base: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_Base):  # type: ignore[misc]
    """Safe loading that keeps key lines, refuses duplicate keys and non-JSON types."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.key_lines: dict[int, dict[Any, int]] = {}

    def construct_mapping(self, node: Any, deep: bool = False) -> dict[Any, Any]:
        written = sum(1 for key_node, _ in node.value if key_node.tag != _MERGE_TAG)
        self.flatten_mapping(node)  # applies YAML merge keys (<<), which come first
        merged = len(node.value) - written
        mapping: dict[Any, Any] = {}
        lines: dict[Any, int] = {}
        explicit: set[str] = set()
        for index, (key_node, value_node) in enumerate(node.value):
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, Plain):
                key = key.raw
            if not isinstance(key, str):
                raise FileProblem("a key must be text", key_node.start_mark.line + 1)
            if index >= merged:  # keys written here may override merged ones, not each other
                if key in explicit:
                    raise FileProblem(
                        f"key {key!r} appears twice in one mapping; keep one",
                        key_node.start_mark.line + 1,
                    )
                explicit.add(key)
            lines[key] = key_node.start_mark.line + 1
            mapping[key] = self.construct_object(value_node, deep=deep)
        self.key_lines[id(mapping)] = lines
        return mapping

    def construct_yaml_map(self, node: Any) -> Any:
        # SafeConstructor fills a new dict from construct_mapping's; the lines follow it there.
        data: dict[Any, Any] = {}
        yield data
        value = self.construct_mapping(node)
        data.update(value)
        self.key_lines[id(data)] = self.key_lines.pop(id(value), {})


def _plain_scalar(base: Any, kind: str) -> Any:
    def construct(loader: Any, node: Any) -> Any:
        try:
            value = base(loader, node)
        except Exception:  # an explicit !!int on text: the message would quote the value
            raise FileProblem(f"a value tagged as {kind} is not one; remove the tag",
                              node.start_mark.line + 1) from None
        # plain (unquoted) style is None from the Python parser and "" from the C parser
        return Plain(value, node.value) if not node.style else value

    return construct


def _refuse(loader: Any, node: Any) -> Any:
    # The tag is not quoted back: a secret may have been written where a tag is read (`!<secret>`).
    raise FileProblem("a YAML tag is not allowed here; write plain values", node.start_mark.line + 1)


_C = yaml.constructor.SafeConstructor
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)
_Loader.add_constructor("tag:yaml.org,2002:int", _plain_scalar(_C.construct_yaml_int, "an integer"))
_Loader.add_constructor("tag:yaml.org,2002:float", _plain_scalar(_C.construct_yaml_float, "a number"))
_Loader.add_constructor("tag:yaml.org,2002:bool", _plain_scalar(_C.construct_yaml_bool, "true/false"))
# Dates stay the text they were written as: configuration has no date settings, and JSON has no dates.
_Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: node.value)
for _tag in ("binary", "set", "omap", "pairs"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse)
_Loader.add_constructor(None, _refuse)  # any other tag: !!python/object, !custom, ...


def parse_yaml(text: str) -> ParsedFile:
    """Parse YAML text into a mapping, with key lines; raises :class:`FileProblem` for anything wrong.

    The nesting is bounded before the text is composed, the expanded size before it is used; no exception
    but :class:`FileProblem` leaves, and no message quotes the file's text.
    """
    loader: _Loader | None = None
    try:
        check_yaml_nesting(text)
        loader = _Loader(text)
        data = loader.get_single_data()
    except FileProblem:
        raise
    except yaml.reader.ReaderError as error:  # a control character; the reader checks before parsing
        at = text.count("\n", 0, error.position) + 1
        raise FileProblem("invalid YAML: the file holds a control character YAML does not allow",
                          at) from None
    except yaml.MarkedYAMLError as error:
        # str(error) quotes the offending source line; the message is rebuilt without it.
        mark = error.problem_mark or error.context_mark
        what = _QUOTED.sub("(...)", error.problem or error.context or "invalid YAML")
        raise FileProblem(f"invalid YAML: {what}", mark.line + 1 if mark is not None else None) from None
    except Exception as error:  # whatever else a parser or constructor raises: never its text
        raise FileProblem(f"invalid YAML ({type(error).__name__})") from None
    finally:
        if loader is not None:
            loader.dispose()
    require_mapping(data)
    check_expanded(data)
    return ParsedFile(data, _collect_lines(data, loader.key_lines))


# A single plain YAML scalar with nothing in it the parser treats specially: typed directly by YAML's
# implicit resolvers and configsvc's constructors (what composing ``v: TEXT`` would do, without a parser).
_SIMPLE_PLAIN = re.compile(r"(?:[A-Za-z0-9_+.~]|-(?=[A-Za-z0-9_+.~]))[A-Za-z0-9_+.:~-]*(?<!:)")
_RESOLVER: Any = yaml.resolver.Resolver()


def parse_yaml_scalar(text: str) -> Any:
    """One scalar's text as YAML reads it in a file (``0123`` is 83, kept raw with its text)."""
    if _SIMPLE_PLAIN.fullmatch(text):
        tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
        construct = _Loader.yaml_constructors.get(tag)
        if construct is not None:
            try:
                return construct(_SCALAR_LOADER, yaml.ScalarNode(tag, text, style=""))
            except Exception:  # anything unusual: the parser decides, as below
                pass
    return parse_yaml(f"v: {text}\n").data["v"]


def yaml_scalar(text: str, tags: frozenset[str]) -> Any:
    """``text`` typed as YAML reads a plain scalar, when it reads as one of ``tags`` (a number as
    :class:`Plain`, which is written back as the same text; null as None); anything else is the text.
    No parser runs: only text with nothing YAML treats specially is typed at all."""
    if not _SIMPLE_PLAIN.fullmatch(text) and text not in ("~", ""):
        return text
    tag = _RESOLVER.resolve(yaml.ScalarNode, text, (True, False))
    construct = _Loader.yaml_constructors.get(tag)
    if tag not in tags or construct is None:
        return text
    try:
        return construct(_SCALAR_LOADER, yaml.ScalarNode(tag, text, style=""))
    except Exception:  # what YAML would not read as that type stays text
        return text


# Quoted text of three or more characters without a space in a parser's message is file content (an alias
# name, a token); "',' or ']'" is the parser's own wording and stays.
_QUOTED = re.compile(r"'[^'\s]{3,}'|\"[^\"\s]{3,}\"")



def _collect_lines(data: dict[Any, Any], key_lines: dict[int, dict[Any, int]]) -> dict[KeyPath, int]:
    lines: dict[KeyPath, int] = {}
    stack: list[tuple[KeyPath, dict[Any, Any]]] = [((), data)]
    seen: set[int] = set()
    while stack:
        prefix, mapping = stack.pop()
        if id(mapping) in seen:  # an alias: its lines are where the anchor was written
            continue
        seen.add(id(mapping))
        for key, line in key_lines.get(id(mapping), {}).items():
            path = (*prefix, key.lower())
            lines[path] = line
            value = mapping.get(key)
            if isinstance(value, dict):
                stack.append((path, value))
    return lines



class _Dumper(yaml.SafeDumper):
    """Writes numbers and booleans exactly as they were read (:class:`Plain`)."""


def _represent_plain(dumper: yaml.SafeDumper, plain: Plain) -> yaml.ScalarNode:
    kind = "bool" if isinstance(plain.value, bool) else type(plain.value).__name__
    return dumper.represent_scalar(f"tag:yaml.org,2002:{kind}", plain.raw)


_Dumper.add_representer(Plain, _represent_plain)


def dump_yaml(data: dict[str, Any]) -> str:
    """YAML text for a mapping read by :func:`parse_yaml`, numbers kept as written. Comments are lost."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)


_SCALAR_LOADER = _Loader("")  # constructors of scalars use no loader state
