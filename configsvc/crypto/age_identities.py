"""age identities found where sops looks for them: ``SOPS_AGE_KEY``, ``SOPS_AGE_KEY_FILE``, and
``$XDG_CONFIG_HOME/sops/age/keys.txt`` (``~/.config/sops/age/keys.txt``); all of them, as sops does.

Identity files follow the same rule as configsvc's key files (owner-only, or root-owned and readable by
one group). Identities are never shown; a post-quantum ``AGE-SECRET-KEY-PQ-1`` identity, which sops reads
but the age library configsvc uses does not, is named as such.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from configsvc.crypto.keys import MAX_KEY_FILE_BYTES, check_key_file_status
from configsvc.errors import DecryptError, Problem
from configsvc.formats.snapshot import read_together

KEY_VARIABLE = "SOPS_AGE_KEY"
KEY_FILE_VARIABLE = "SOPS_AGE_KEY_FILE"
USER_KEYS = Path("sops") / "age" / "keys.txt"
PQ_PREFIX = "AGE-SECRET-KEY-PQ-1"


@dataclass
class Identities:
    """The age identities found, where they came from, and the files to watch for changes."""

    identities: list[Any] = field(default_factory=list, repr=False)
    places: list[str] = field(default_factory=list)
    looked: list[str] = field(default_factory=list)
    files: list[Path] = field(default_factory=list)


def user_keys_file(environ: Mapping[str, str]) -> Path | None:
    """sops's default identity file: ``sops/age/keys.txt`` under the user's config folder."""
    base = environ.get("XDG_CONFIG_HOME") or (str(Path(environ["HOME"]) / ".config")
                                              if environ.get("HOME") else None)
    return Path(base) / USER_KEYS if base else None


def find_identities(environ: Mapping[str, str], where: str) -> Identities:
    """Every identity in sops's places; raises :class:`DecryptError` for a file that cannot be used."""
    found = Identities()
    if KEY_VARIABLE in environ:
        _add(found, environ[KEY_VARIABLE].replace(",", "\n"), KEY_VARIABLE, where)
    else:
        found.looked.append(KEY_VARIABLE)
    paths = []
    if environ.get(KEY_FILE_VARIABLE):
        paths.append((Path(environ[KEY_FILE_VARIABLE]).expanduser(), KEY_FILE_VARIABLE))
    else:
        found.looked.append(KEY_FILE_VARIABLE)
    default = user_keys_file(environ)
    if default is not None:
        paths.append((default, str(default)))
    for path, label in paths:
        found.files.append(path)
        if not os.path.lexists(path) and label != KEY_FILE_VARIABLE:
            found.looked.append(str(path))
            continue
        (read,) = read_together([(path, MAX_KEY_FILE_BYTES, "an age identity file")])
        if read.problem is not None or read.data is None or read.status is None:
            message = read.problem.message if read.problem is not None else "it cannot be read"
            raise _error(f"the age identity file {path} ({label}) cannot be used: {message}", where)
        check_key_file_status(path, read.status, "age identity file", label)
        _add(found, read.data.decode("utf-8", errors="replace"), f"{label} ({path})", where)
    return found


def _add(found: Identities, text: str, place: str, where: str) -> None:
    from pyrage import x25519

    count = 0
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(PQ_PREFIX):
            raise _error(f"{place} holds a post-quantum age identity (AGE-SECRET-KEY-PQ-1), which configsvc "
                         "cannot read; use an X25519 identity, or decrypt with sops", where)
        try:
            found.identities.append(x25519.Identity.from_str(line))
        except Exception:  # the identity is never quoted back
            raise _error(f"{place} holds a line that is not an age identity", where) from None
        count += 1
    if count:
        found.places.append(place)


def _error(message: str, where: str) -> DecryptError:
    return DecryptError(Problem(message, kind="decrypt", source="age identity", path=where))
