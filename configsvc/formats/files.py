"""Reading YAML and JSON files safely: size limit, strict UTF-8, no tags, no duplicate keys, lines kept.

YAML is read with PyYAML's C parser and a safe constructor. Numbers and booleans written plainly in the
file are kept with their original text (:class:`Plain`), so a setting the schema says is a string gets
exactly what was written (``secret_key: 0123`` stays ``"0123"``, not the octal 83).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from configsvc.core.keypath import KeyPath

MAX_FILE_BYTES = 1024 * 1024


@dataclass(frozen=True, slots=True)
class Plain:
    """A number or boolean read from a file, with the text it was written as."""

    value: Any
    raw: str


@dataclass
class ParsedFile:
    """A file's top-level mapping, and the line (1-based) each key is written on where known."""

    data: dict[Any, Any]
    lines: dict[KeyPath, int] = field(default_factory=dict)


class FileProblem(Exception):
    """Raised inside the readers; the source turns it into a :class:`Problem` naming the file."""

    def __init__(self, message: str, line: int | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line
        self.key = key


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


def _plain_scalar(base: Any) -> Any:
    def construct(loader: Any, node: Any) -> Any:
        value = base(loader, node)
        # plain (unquoted) style is None from the Python parser and "" from the C parser
        return Plain(value, node.value) if not node.style else value

    return construct


def _refuse(loader: Any, node: Any) -> Any:
    raise FileProblem(
        f"the YAML tag {node.tag!r} is not allowed; write plain values", node.start_mark.line + 1
    )


_C = yaml.constructor.SafeConstructor
_Loader.add_constructor("tag:yaml.org,2002:map", _Loader.construct_yaml_map)
_Loader.add_constructor("tag:yaml.org,2002:int", _plain_scalar(_C.construct_yaml_int))
_Loader.add_constructor("tag:yaml.org,2002:float", _plain_scalar(_C.construct_yaml_float))
_Loader.add_constructor("tag:yaml.org,2002:bool", _plain_scalar(_C.construct_yaml_bool))
# Dates stay the text they were written as: configuration has no date settings, and JSON has no dates.
_Loader.add_constructor("tag:yaml.org,2002:timestamp", lambda loader, node: node.value)
for _tag in ("binary", "set", "omap", "pairs"):
    _Loader.add_constructor(f"tag:yaml.org,2002:{_tag}", _refuse)
_Loader.add_constructor(None, _refuse)  # any other tag: !!python/object, !custom, ...


def read_bytes(path: Path) -> bytes:
    """The file's bytes, refusing what is not a readable file or is too large."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > MAX_FILE_BYTES:
                raise FileProblem(
                    f"the file is {size} bytes, over the {MAX_FILE_BYTES} byte limit for a "
                    "configuration file"
                )
            data = handle.read(MAX_FILE_BYTES + 1)
    except FileNotFoundError:
        raise FileProblem("the file does not exist") from None
    except IsADirectoryError:
        raise FileProblem("this is a folder, not a file") from None
    except PermissionError:
        raise FileProblem("the file cannot be read (permission denied)") from None
    except OSError as error:
        raise FileProblem(f"the file cannot be read ({error.strerror})") from None
    if len(data) > MAX_FILE_BYTES:
        raise FileProblem(f"the file is over the {MAX_FILE_BYTES} byte limit")
    return data


def decode(data: bytes) -> str:
    """A file's bytes as text: strict UTF-8 (a BOM is accepted), and not empty."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise FileProblem(
            f"the file is not valid UTF-8 (byte {error.start}); save it as UTF-8", line
        ) from None
    if not text.strip():
        raise FileProblem("the file is empty; it must hold a mapping of settings")
    return text


def read_text(path: Path) -> str:
    """The file's text, refusing what is not a regular file, too large, empty, or not UTF-8."""
    return decode(read_bytes(path))


def parse_yaml(text: str) -> ParsedFile:
    """Parse YAML text into a mapping, with key lines; raises :class:`FileProblem`."""
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
    except yaml.MarkedYAMLError as error:
        # str(error) may quote the offending source line; the message is rebuilt without it.
        mark = error.problem_mark or error.context_mark
        what = error.problem or error.context or "invalid YAML"
        line = mark.line + 1 if mark is not None else None
        raise FileProblem(f"invalid YAML: {what}", line) from None
    except yaml.YAMLError as error:
        raise FileProblem(f"invalid YAML: {type(error).__name__}") from None
    finally:
        loader.dispose()
    _require_mapping(data)
    return ParsedFile(data, _collect_lines(data, loader.key_lines))


def parse_json(text: str) -> ParsedFile:
    """Parse JSON text into a mapping (numbers kept with their text); raises :class:`FileProblem`."""

    def number(raw: str, kind: type) -> Plain:
        return Plain(kind(raw), raw)

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        for key, value in items:
            if key in mapping:
                raise FileProblem(f"key {key!r} appears twice in one object; keep one")
            mapping[key] = value
        return mapping

    try:
        data = json.loads(
            text,
            parse_int=lambda raw: number(raw, int),
            parse_float=lambda raw: number(raw, float),
            parse_constant=lambda raw: _refuse_constant(raw),
            object_pairs_hook=pairs,
        )
    except json.JSONDecodeError as error:
        raise FileProblem(f"invalid JSON: {error.msg} (column {error.colno})", error.lineno) from None
    _require_mapping(data)
    return ParsedFile(data)


def _refuse_constant(raw: str) -> Any:
    raise FileProblem(f"{raw} is not a valid JSON number")


def parse(path: Path, text: str) -> ParsedFile:
    """Parse by the file's extension: ``.json`` is JSON, ``.yaml``/``.yml`` YAML."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return parse_json(text)
    if suffix in (".yaml", ".yml"):
        return parse_yaml(text)
    raise FileProblem(f"unknown file type {suffix or '(none)'!r}; name it .yaml, .yml or .json")


def _require_mapping(data: Any) -> None:
    if data is None:
        raise FileProblem("the file holds no settings (only comments or null)")
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "a single value"
        raise FileProblem(f"the top level must be a mapping of settings, not {kind}", 1)


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


def parse_scalar(text: str, json_format: bool) -> Any:
    """One scalar's text read back the way its file format reads it (``0123`` in YAML is 83, kept raw)."""
    if json_format:
        return parse_json(f'{{"v": {text}}}').data["v"]
    return parse_yaml(f"v: {text}\n").data["v"]


class _Dumper(yaml.SafeDumper):
    """Writes numbers and booleans exactly as they were read (:class:`Plain`)."""


def _represent_plain(dumper: yaml.SafeDumper, plain: Plain) -> yaml.ScalarNode:
    kind = "bool" if isinstance(plain.value, bool) else type(plain.value).__name__
    return dumper.represent_scalar(f"tag:yaml.org,2002:{kind}", plain.raw)


_Dumper.add_representer(Plain, _represent_plain)


def dump_yaml(data: dict[str, Any]) -> str:
    """YAML text for a mapping read by :func:`parse_yaml`, numbers kept as written. Comments are lost."""
    return yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False)


def dump_json(data: Any, indent: int = 0) -> str:
    """JSON text for a mapping read by :func:`parse_json`, numbers kept as written."""
    pad, inner = "  " * indent, "  " * (indent + 1)
    if isinstance(data, Plain):
        return data.raw
    if isinstance(data, dict):
        if not data:
            return "{}"
        items = [f"{inner}{json.dumps(k)}: {dump_json(v, indent + 1)}" for k, v in data.items()]
        return "{\n" + ",\n".join(items) + f"\n{pad}}}"
    if isinstance(data, list):
        if not data:
            return "[]"
        return "[\n" + ",\n".join(f"{inner}{dump_json(v, indent + 1)}" for v in data) + f"\n{pad}]"
    return json.dumps(data, ensure_ascii=False)


def dump(path: Path, data: dict[str, Any]) -> str:
    """Text for ``data`` in the format of ``path`` (by extension, as :func:`parse` reads it)."""
    return dump_json(data) + "\n" if path.suffix.lower() == ".json" else dump_yaml(data)
