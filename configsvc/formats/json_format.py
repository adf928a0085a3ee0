"""JSON: numbers kept with the text they were written as, duplicate keys refused; and writing it back."""

from __future__ import annotations

import json
from typing import Any

from configsvc.formats.limits import check_expanded, check_json_nesting
from configsvc.formats.reading import FileProblem, ParsedFile, Plain, require_mapping


def parse_json(text: str) -> ParsedFile:
    """Parse JSON text into a mapping (numbers kept with their text); raises :class:`FileProblem` for
    anything wrong, the nesting bounded before the decoder (which recurses) sees the text."""

    def number(raw: str, kind: type) -> Plain:
        try:
            return Plain(kind(raw), raw)
        except ValueError:  # Python's limit on integer digits
            raise FileProblem("a number has too many digits") from None

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        mapping: dict[str, Any] = {}
        for key, value in items:
            if key in mapping:
                raise FileProblem(f"key {key!r} appears twice in one object; keep one")
            mapping[key] = value
        return mapping

    check_json_nesting(text)
    try:
        data = json.loads(
            text,
            parse_int=lambda raw: number(raw, int),
            parse_float=lambda raw: number(raw, float),
            parse_constant=lambda raw: _refuse_constant(raw),
            object_pairs_hook=pairs,
        )
    except FileProblem:
        raise
    except json.JSONDecodeError as error:
        raise FileProblem(f"invalid JSON: {error.msg} (column {error.colno})", error.lineno) from None
    except Exception as error:  # never the decoder's text
        raise FileProblem(f"invalid JSON ({type(error).__name__})") from None
    require_mapping(data)
    check_expanded(data)
    return ParsedFile(data)


def _refuse_constant(raw: str) -> Any:
    raise FileProblem(f"{raw} is not a valid JSON number")



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
