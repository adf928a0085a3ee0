"""Casting one value to a setting's type: what the schema's types accept, and how a mismatch is told.

A string is parsed as the setting's type (``"4"`` for an int, ``"false"`` for a bool, ``"a,b"`` or
``'["a","b"]'`` for a list, a JSON object for a mapping); a string setting keeps exactly the text it was
given. A :class:`Mismatch` says what was expected and what kind of value came, never the value.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from configsvc.core.schema import Setting
from configsvc.formats import FileProblem, Plain
from configsvc.formats.limits import check_json_nesting

_INT = re.compile(r"[+-]?\d+")
_TRUE = frozenset({"true", "yes", "on", "1"})
_FALSE = frozenset({"false", "no", "off", "0"})


class Mismatch(Exception):
    """A value that does not fit its setting's type; ``message`` says how, without the value."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message




def kind_of(value: Any) -> str:
    """What a value is, without showing it."""
    if isinstance(value, Plain):
        value = value.value
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, list | tuple):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__}"


def as_str(value: Any) -> str:
    if isinstance(value, Plain):
        return value.raw
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise Mismatch(f"expected text, got {kind_of(value)}")


def as_int(value: Any) -> int:
    if isinstance(value, bool):
        raise Mismatch("expected an integer, got true/false")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and _INT.fullmatch(value.strip()):
        return int(value.strip())
    if isinstance(value, str):
        raise Mismatch("expected an integer, got text that is not a whole number")
    raise Mismatch(f"expected an integer, got {kind_of(value)}")


def check_range(setting: Setting, number: int) -> None:
    low, high = setting.minimum, setting.maximum
    if (low is not None and number < low) or (high is not None and number > high):
        if low is None:
            bounds = f"up to {high}"
        else:
            bounds = f"from {low}" + (f" to {high}" if high is not None else " up")
        raise Mismatch(f"expected an integer {bounds}, got one outside that range")


def as_float(value: Any) -> float:
    if isinstance(value, bool):
        raise Mismatch("expected a number, got true/false")
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            raise Mismatch("expected a number, got text that is not a number") from None
    else:
        raise Mismatch(f"expected a number, got {kind_of(value)}")
    if not math.isfinite(number):
        raise Mismatch("expected a finite number")
    return number


def as_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in _TRUE:
            return True
        if word in _FALSE:
            return False
        raise Mismatch("expected true or false (also yes/no, on/off, 1/0), got other text")
    raise Mismatch(f"expected true or false, got {kind_of(value)}")


def as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        text = value.strip()
        if text.startswith("["):
            value = _json(text, "expected a list: text starting with '[' must be a JSON array")
        else:
            return [item.strip() for item in text.split(",") if item.strip()]
    if not isinstance(value, list | tuple):
        raise Mismatch(f"expected a list, got {kind_of(value)}")
    items = []
    for item in value:
        if isinstance(item, Plain):
            item = item.raw
        if not isinstance(item, str):
            raise Mismatch(f"expected a list of text, found {kind_of(item)} in it")
        items.append(item)
    return items


def json_object(text: str) -> Any:
    return _json(text, "expected a mapping: give a JSON object ({...})")


def _json(text: str, problem: str) -> Any:
    """JSON given as text in a variable, bounded like a file (the decoder recurses)."""
    try:
        check_json_nesting(text)
        return json.loads(text)
    except FileProblem as bounded:
        raise Mismatch(f"{problem}; {bounded.message}") from None
    except (ValueError, RecursionError):  # also Python's limit on integer digits
        raise Mismatch(problem) from None
