"""Reading and writing configuration files, YAML or JSON by extension, with lines and the text as written.

Everything is refused rather than guessed: files over the size limit, text that is not UTF-8, YAML tags,
duplicate keys, a top level that is not a mapping.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from configsvc.formats.json_format import dump_json, parse_json
from configsvc.formats.reading import (
    MAX_FILE_BYTES,
    FileProblem,
    ParsedFile,
    Plain,
    decode,
    read_bytes,
    read_text,
)
from configsvc.formats.yaml_format import dump_yaml, parse_yaml, parse_yaml_scalar, yaml_scalar

__all__ = ["MAX_FILE_BYTES", "FileProblem", "ParsedFile", "Plain", "decode", "dump", "dump_json", "dump_yaml",
           "parse", "parse_json", "parse_scalar", "parse_yaml", "read_bytes", "read_parsed", "read_text",
           "yaml_scalar"]


def parse(path: Path, text: str) -> ParsedFile:
    """Parse by the file's extension: ``.json`` is JSON, ``.yaml``/``.yml`` YAML."""
    suffix = path.suffix.lower()
    if suffix == ".json":
        return parse_json(text)
    if suffix in (".yaml", ".yml"):
        return parse_yaml(text)
    raise FileProblem(f"unknown file type {suffix or '(none)'!r}; name it .yaml, .yml or .json")



def parse_scalar(text: str, json_format: bool) -> Any:
    """One scalar's text read back the way its file format reads it (``0123`` in YAML is 83, kept raw)."""
    if json_format:
        return parse_json(f'{{"v": {text}}}').data["v"]
    return parse_yaml_scalar(text)



def dump(path: Path, data: dict[str, Any]) -> str:
    """Text for ``data`` in the format of ``path`` (by extension, as :func:`parse` reads it)."""
    return dump_json(data) + "\n" if path.suffix.lower() == ".json" else dump_yaml(data)


def read_parsed(path: Path, source: str, about: str = "") -> ParsedFile:
    """The file read and parsed; a problem is raised as a :class:`configsvc.FileError` naming the file,
    line and ``source`` (``about`` goes before the message)."""
    try:
        return parse(path, read_text(path))
    except FileProblem as problem:
        raise problem.as_error(path, source, about) from None
