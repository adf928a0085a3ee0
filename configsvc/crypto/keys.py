"""Master keys: generated, parsed and loaded from ``CONFIGSVC_KEY`` or a key file. Never shown.

A master key is 32 random bytes written as ``configsvc1:`` + URL-safe base64. ``CONFIGSVC_KEY`` holds one
or more, comma-separated: the first encrypts, any may decrypt. Otherwise the key file is read: the one
``CONFIGSVC_KEY_FILE`` names, else ``master.key`` beside the deployment file; one key per line, and the
file must not be readable or writable by group or others (as ssh insists for private keys).
"""

from __future__ import annotations

import base64
import os
import secrets
import stat
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from configsvc.errors import DecryptError, Problem

PREFIX = "configsvc1:"
KEY_BYTES = 32
KEY_VARIABLE = "CONFIGSVC_KEY"
KEY_FILE_VARIABLE = "CONFIGSVC_KEY_FILE"
DEFAULT_KEY_FILE = "master.key"


def derive(secret: bytes, purpose: str, length: int = 32) -> bytes:
    """A key for one purpose, derived with HKDF-SHA256 (domain separation between uses of one key)."""
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None,
                info=f"configsvc-v1-{purpose}".encode()).derive(secret)


@dataclass(frozen=True)
class MasterKey:
    """One master key; ``id`` names it in a file's metadata without revealing it."""

    secret: bytes = field(repr=False)
    source: str = ""

    @property
    def id(self) -> str:
        return derive(self.secret, "key-id", 8).hex()

    def __repr__(self) -> str:
        return f"MasterKey(id={self.id!r}, source={self.source!r})"


def generate() -> str:
    """A new master key, as text."""
    return PREFIX + base64.urlsafe_b64encode(secrets.token_bytes(KEY_BYTES)).decode().rstrip("=")


def parse(text: str, where: str) -> MasterKey:
    """A master key from its text; ``where`` names it in errors (never the key itself)."""
    text = text.strip()
    if not text:
        raise _key_error(f"{where} is empty; generate a key with: configsvc keygen")
    if not text.startswith(PREFIX):
        raise _key_error(f"{where} is not a configsvc key (it must start with {PREFIX!r})")
    body = text[len(PREFIX):]
    try:
        secret = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    except (ValueError, TypeError):
        raise _key_error(f"{where} is malformed (not base64)") from None
    if len(secret) != KEY_BYTES:
        raise _key_error(f"{where} is malformed (it must hold {KEY_BYTES} bytes)")
    return MasterKey(secret, where)


def _ordinal(index: int) -> str:
    return {1: "1st", 2: "2nd", 3: "3rd"}.get(index, f"{index}th")


def _key_error(message: str, path: str | None = None) -> DecryptError:
    return DecryptError(Problem(message, kind="decrypt", source="master key", path=path))


def key_file_path(environ: Mapping[str, str], deployment_file: Path | None) -> Path | None:
    """The key file to read when ``CONFIGSVC_KEY`` is not set."""
    named = environ.get(KEY_FILE_VARIABLE)
    if named:
        return Path(named).expanduser()
    if deployment_file is not None:
        return deployment_file.parent / DEFAULT_KEY_FILE
    return None


def load(environ: Mapping[str, str], deployment_file: Path | None) -> list[MasterKey]:
    """The master keys, primary first. Raises :class:`DecryptError` when none can be had."""
    if KEY_VARIABLE in environ:
        parts = environ[KEY_VARIABLE].split(",")
        return [parse(part, f"the {_ordinal(i)} key in {KEY_VARIABLE}") for i, part in enumerate(parts, 1)]
    path = key_file_path(environ, deployment_file)
    if path is None or not path.exists():
        where = f" and there is no key file at {path}" if path else ""
        raise _key_error(
            f"no master key: {KEY_VARIABLE} is not set{where}; set {KEY_VARIABLE} or "
            f"{KEY_FILE_VARIABLE} (create a key with: configsvc keygen --out {DEFAULT_KEY_FILE})")
    return read_key_file(path)


def read_key_file(path: Path) -> list[MasterKey]:
    """The keys in a key file, refusing a file that group or others may read or write."""
    try:
        mode = path.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise _key_error(
                f"the key file is open to group or others (mode {stat.S_IMODE(mode):04o}); "
                f"run: chmod 600 {path}", str(path))
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as error:
        raise _key_error(f"the key file cannot be read ({error.strerror})", str(path)) from None
    except UnicodeDecodeError:
        raise _key_error("the key file is not text", str(path)) from None
    entries = [(n, line) for n, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")]
    if not entries:
        raise _key_error("the key file holds no key", str(path))
    return [parse(line, f"the key on line {n} of {path}") for n, line in entries]


def write_new_key_file(path: Path) -> None:
    """Create ``path`` (mode 0600) holding a new key; an existing file is never overwritten."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(generate() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
