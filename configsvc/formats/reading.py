"""Reading a configuration file safely: a regular file, a size limit, strict UTF-8; and what readers share.

:class:`Plain` keeps a number or boolean with the text it was written as, so a setting the schema says is
a string gets exactly what was written (``secret_key: 0123`` stays ``"0123"``, not the octal 83).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from configsvc.core.keypath import KeyPath
from configsvc.errors import FileError, Problem

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

    def as_error(self, path: Path, source: str, about: str = "") -> FileError:
        """The :class:`FileError` that names the file, the line and key where known, and the source
        (``about`` goes before the message: "the example file cannot be read: ")."""
        return FileError(Problem(about + self.message, kind="file", source=source, path=str(path),
                                 line=self.line, key=self.key))




def read_bytes(path: Path, limit: int = MAX_FILE_BYTES, what: str = "a configuration file") -> bytes:
    """The file's bytes: a regular file (a FIFO, device or socket is refused, never waited on) of at most
    ``limit`` bytes, read with that bound whatever the file claims."""
    return read_with_status(path, limit, what)[0]


def read_with_status(path: Path, limit: int = MAX_FILE_BYTES, what: str = "a configuration file"
                     ) -> tuple[bytes, os.stat_result]:
    """:func:`read_bytes`, with the status of the very file read (owner, mode), for checks on it."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise FileProblem("the file does not exist") from None
    except PermissionError:
        raise FileProblem("the file cannot be read (permission denied)") from None
    except OSError as error:
        raise FileProblem(f"the file cannot be read ({error.strerror})") from None
    try:
        status = os.fstat(descriptor)
        mode = status.st_mode
        if stat.S_ISDIR(mode):
            raise FileProblem("this is a folder, not a file")
        if not stat.S_ISREG(mode):
            raise FileProblem(f"this is not a regular file ({_file_kind(mode)}); point to a file")
        size = status.st_size
        if size > limit:
            raise FileProblem(f"the file is {size} bytes, over the {limit} byte limit for {what}")
        chunks: list[bytes] = []
        remaining = limit + 1
        while remaining > 0 and (chunk := os.read(descriptor, min(remaining, 1 << 16))):
            chunks.append(chunk)
            remaining -= len(chunk)
    except OSError as error:
        raise FileProblem(f"the file cannot be read ({error.strerror})") from None
    finally:
        os.close(descriptor)
    data = b"".join(chunks)
    if len(data) > limit:
        raise FileProblem(f"the file is over the {limit} byte limit for {what}")
    return data, status


def _file_kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "a FIFO"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


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


def require_mapping(data: Any) -> None:
    if data is None:
        raise FileProblem("the file holds no settings (only comments or null)")
    if not isinstance(data, dict):
        kind = "a list" if isinstance(data, list) else "a single value"
        raise FileProblem(f"the top level must be a mapping of settings, not {kind}", 1)
