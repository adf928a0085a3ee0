"""How a value given to a file command is typed and checked: as the file's format reads it, against the
app's schema (``configsvc set``), and an edited file's text (``configsvc edit``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from configsvc.core.coerce import coerce_layer
from configsvc.core.keypath import parse_key
from configsvc.core.layer import Layer
from configsvc.core.schema import Schema
from configsvc.crypto import document as encryption
from configsvc.errors import Problem, ValidationError
from configsvc.formats import FileProblem, parse, yaml_scalar
from configsvc.options import Options

_YAML_TYPED = frozenset({"tag:yaml.org,2002:int", "tag:yaml.org,2002:float", "tag:yaml.org,2002:bool",
                         "tag:yaml.org,2002:null"})


def as_the_file_reads(path: Path, key: str, value: str, options: Options) -> Any:
    """``value`` as the file's format reads it: a number, true/false or null where YAML (or JSON, for a
    ``.json`` file) reads one — in YAML kept with the text given, as :class:`Plain` — else the text; and
    always the text for a key the schema types as text."""
    setting = Schema(options.typed_schema).setting_for(parse_key(key))
    if setting is not None and setting.type == "str":
        return value
    if path.suffix.lower() != ".json":
        return yaml_scalar(value, _YAML_TYPED)
    try:
        read = json.loads(value)
    except ValueError:
        return value
    return read if read is None or isinstance(read, bool | int | float) else value


def check_value(path: Path, key: str, value: Any, options: Options) -> list[str]:
    """Type one value as the app would read it from ``path``; raise when it does not fit."""
    parts = parse_key(key)
    nested: Any = value
    for part in reversed(parts):
        nested = {part: nested}
    typed = coerce_layer(Layer(f"configsvc set {key}", nested, path=str(path)), Schema(options.typed_schema),
                         env_prefix=options.env_prefix)
    if typed.problems:
        raise ValidationError([
            Problem(f"{problem.message}; {path} is unchanged", kind="validation", key=problem.key,
                    source="configsvc set", path=str(path)) for problem in typed.problems])
    return typed.warnings


def check_edited(path: Path, text: str, options: Options) -> list[str]:
    """Problems with edited text: it must parse, and fit the schema's types."""
    try:
        parsed = parse(path, text) if text.strip() else None
    except FileProblem as problem:
        return [f"line {problem.line}: {problem.message}" if problem.line else problem.message]
    if parsed is None:
        return ["the file is empty"]
    if encryption.METADATA_KEY in parsed.data:
        return [f"{encryption.METADATA_KEY} is reserved for the encryption metadata; remove it"]
    typed = coerce_layer(Layer("edited file", parsed.data, lines=parsed.lines), Schema(options.typed_schema),
                         env_prefix=options.env_prefix)
    return [f"line {p.line}: {p.key}: {p.message}" if p.line else f"{p.key}: {p.message}"
            for p in typed.problems]
