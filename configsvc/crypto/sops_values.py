"""Values as sops (Go) sees them: how its YAML library types a plain scalar, how Go prints a number.

sops's MAC is a hash of every value's text as Go renders it (``True``/``False`` for booleans, floats in
Go's shortest fixed notation), and sops reads YAML with go-yaml v3 (YAML 1.2 rules: ``yes`` is text,
``0123`` is octal 83, ``1e3`` is a float) — not PyYAML's YAML 1.1. To verify a MAC exactly as sops does,
unencrypted values are typed here the way go-yaml types them. Checked against sops 3.11 and go-yaml 3.0.4.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal
from typing import Any

_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_DATE = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})")
_STAMP = re.compile(r"(\d{4})-(\d{1,2})-(\d{1,2})([Tt ])(\d{1,2}):(\d{1,2}):(\d{1,2})(\.\d{1,9})?"
                    r"(Z|[+-]\d{2}:\d{2})?")
_ATOI = re.compile(r"[+-]?[0-9]+")
_MAP = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False,
        "": None, "~": None, "null": None, "Null": None, "NULL": None,
        ".nan": math.nan, ".NaN": math.nan, ".NAN": math.nan,
        ".inf": math.inf, ".Inf": math.inf, ".INF": math.inf, "+.inf": math.inf, "+.Inf": math.inf,
        "+.INF": math.inf, "-.inf": -math.inf, "-.Inf": -math.inf, "-.INF": -math.inf}


class GoTime(str):
    """A timestamp go-yaml resolved, kept as the text Go's ``MarshalText`` gives it."""


def resolve_plain(text: str) -> Any:
    """A plain (unquoted, untagged) YAML scalar typed as go-yaml v3 types it: None, bool, int, float,
    a :class:`GoTime`, or the text."""
    if text in _MAP:
        return _MAP[text]
    first = text[:1]
    if first == ".":
        return _go_float(text, text)
    if first.isdigit() or first in "+-":
        stamp = _timestamp(text)
        if stamp is not None:
            return stamp
        plain = text.replace("_", "")
        number = _go_int(plain)
        if number is not None:
            return number
        if _FLOAT.fullmatch(plain):
            return _go_float(plain, text)
        for prefix, base in (("0b", 2), ("-0b", 2), ("0o", 8), ("-0o", 8)):
            if plain.startswith(prefix):
                try:
                    value = int(plain[len(prefix):], base)
                except ValueError:
                    break
                return -value if prefix.startswith("-") else value
    return text


def _go_int(plain: str) -> int | None:
    """Go's ``strconv.ParseInt(s, 0, 64)`` (and ParseUint): a sign, then decimal, ``0x``, ``0o``,
    ``0b``, or a leading ``0`` for octal."""
    body = plain.lstrip("+-")
    sign = -1 if plain.startswith("-") else 1
    if plain[:1] in "+-" and body[:1] in "+-":
        return None
    try:
        if body[:2] in ("0x", "0X"):
            value = int(body[2:], 16)
        elif body[:2] in ("0o", "0O"):
            value = int(body[2:], 8)
        elif body[:2] in ("0b", "0B"):
            value = int(body[2:], 2)
        elif len(body) > 1 and body.startswith("0"):
            value = int(body[1:], 8)
        elif body.isdigit():
            value = int(body)
        else:
            return None
    except ValueError:
        return None
    value *= sign
    return value if -(2**63) <= value < 2**64 else None


def _go_float(number: str, text: str) -> Any:
    try:
        return float(number)
    except ValueError:
        return text


def _timestamp(text: str) -> GoTime | None:
    match = _STAMP.fullmatch(text)
    if match is None:
        date = _DATE.fullmatch(text)
        if date is None:
            return None
        try:
            moment = datetime(int(date[1]), int(date[2]), int(date[3]), tzinfo=UTC)
        except ValueError:
            return None
        return GoTime(marshal_time(moment, 0))
    if match[4] == " " and match[9]:
        return None  # go-yaml's space-separated form has no zone
    zone = match[9] or "Z"
    offset = 0 if zone == "Z" else (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 60 + int(zone[4:6]))
    try:
        moment = datetime(int(match[1]), int(match[2]), int(match[3]), int(match[5]), int(match[6]),
                          int(match[7]), tzinfo=timezone(timedelta(minutes=offset)))
    except ValueError:
        return None
    nanos = int((match[8] or ".0")[1:].ljust(9, "0"))
    return GoTime(marshal_time(moment, nanos))


def marshal_time(moment: datetime, nanos: int) -> str:
    """Go's ``time.MarshalText`` (RFC 3339 with nanoseconds, trailing zeros dropped)."""
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        text += "." + f"{nanos:09d}".rstrip("0")
    offset = moment.utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    if minutes == 0:
        return text + "Z"
    sign = "+" if minutes > 0 else "-"
    return f"{text}{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def go_float_text(value: float) -> str:
    """Go's ``strconv.FormatFloat(value, 'f', -1, 64)``: the shortest digits that read back, no exponent."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    text = format(Decimal(repr(value)).normalize(), "f")
    return "-0" if text in ("-0", "-0.0") else text


def printed_float_text(value: float) -> str:
    """A float as ``sops decrypt --output-type json`` prints it (Go's encoding/json): fixed notation from
    1e-6 up to 1e21, the shortest exponent form outside that range."""
    if math.isnan(value) or math.isinf(value) or value == 0 or 1e-6 <= abs(value) < 1e21:
        return go_float_text(value)
    mantissa, _, exponent = repr(value).partition("e")
    return f"{mantissa}e{exponent[0]}{exponent[1:].lstrip('0') or '0'}"


def to_bytes(value: Any) -> bytes:
    """sops's ``ToBytes``: a value's text as it enters the MAC and the encryption."""
    if isinstance(value, bool):
        return b"True" if value else b"False"
    if isinstance(value, int):
        return str(value).encode()
    if isinstance(value, float):
        return go_float_text(value).encode()
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    raise TypeError(f"sops cannot hash a {type(value).__name__}")


def parse_typed(text: str, kind: str) -> Any:
    """A decrypted value of sops type ``kind`` (Go's Atoi, ParseFloat, ParseBool, UnmarshalText)."""
    if kind == "str":
        return text
    if kind == "int":
        if not _ATOI.fullmatch(text):
            raise ValueError("not an integer")
        return int(text)
    if kind == "float":
        return float(text)
    if kind == "bool":
        if text in ("1", "t", "T", "TRUE", "true", "True"):
            return True
        if text in ("0", "f", "F", "FALSE", "false", "False"):
            return False
        raise ValueError("not a boolean")
    if kind == "bytes":
        return text.encode()
    if kind == "time":
        stamp = _timestamp(text)
        if stamp is None:
            raise ValueError("not a time")
        return stamp
    raise ValueError(f"unknown sops value type {kind!r}")
