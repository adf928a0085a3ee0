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

from configsvc.errors import DecryptError, Problem
from configsvc.formats.snapshot import FileRead, read_together

MAX_KEY_FILE_BYTES = 64 * 1024

PREFIX = "configsvc1:"
KEY_BYTES = 32
KEY_VARIABLE = "CONFIGSVC_KEY"
KEY_FILE_VARIABLE = "CONFIGSVC_KEY_FILE"
DEFAULT_KEY_FILE = "master.key"
#: Set to 1 to accept a plaintext deployment file although a master key is configured (a deliberate
#: choice: without it, someone who can write the file but has no key could replace every value).
ALLOW_PLAINTEXT_VARIABLE = "CONFIGSVC_ALLOW_PLAINTEXT"
ALLOW_SOPS_VARIABLE = "CONFIGSVC_ALLOW_SOPS"


def derive(secret: bytes, purpose: str, length: int = 32) -> bytes:
    """A key for one purpose, derived with HKDF-SHA256 (domain separation between uses of one key)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.kdf.hkdf import HKDF

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


def _key_error(message: str, path: str | None = None, source: str = "master key") -> DecryptError:
    return DecryptError(Problem(message, kind="decrypt", source=source, path=path))


def key_file_path(environ: Mapping[str, str], deployment_file: Path | None) -> Path | None:
    """The key file to read when ``CONFIGSVC_KEY`` is not set."""
    named = environ.get(KEY_FILE_VARIABLE)
    if named:
        return Path(named).expanduser()
    if deployment_file is not None:
        return deployment_file.parent / DEFAULT_KEY_FILE
    return None


def configured_key(environ: Mapping[str, str], deployment_file: Path | None) -> str | None:
    """Where a master key is configured for this deployment file (``CONFIGSVC_KEY``, the file
    ``CONFIGSVC_KEY_FILE`` names, or a ``master.key`` beside the file), or None when none is.

    A deployment with a key expects an encrypted file: a plaintext one is refused (see
    :data:`ALLOW_PLAINTEXT_VARIABLE`).
    """
    if environ.get(KEY_VARIABLE):
        return KEY_VARIABLE
    if environ.get(KEY_FILE_VARIABLE):
        return KEY_FILE_VARIABLE
    path = key_file_path(environ, deployment_file)
    if path is not None and os.path.lexists(path):
        return str(path)
    return None


def plaintext_allowed(environ: Mapping[str, str]) -> bool:
    """True when the deployment opted out of refusing plaintext (``CONFIGSVC_ALLOW_PLAINTEXT=1``)."""
    return _yes(environ.get(ALLOW_PLAINTEXT_VARIABLE, ""))


def sops_allowed(environ: Mapping[str, str]) -> bool:
    """True when a deployment with a configsvc master key also accepts SOPS files
    (``CONFIGSVC_ALLOW_SOPS=1``): age recipients are public, so a SOPS file proves nothing about who wrote
    it, where a configsvc file's MAC does."""
    return _yes(environ.get(ALLOW_SOPS_VARIABLE, ""))


def _yes(value: str) -> bool:
    return value.strip().lower() in ("1", "true", "yes")


def load(environ: Mapping[str, str], deployment_file: Path | None,
         key_file: FileRead | None = None) -> list[MasterKey]:
    """The master keys, primary first. Raises :class:`DecryptError` when none can be had.

    ``key_file`` is the key file already read with the deployment file (one snapshot); without it the
    key file is read here.
    """
    if KEY_VARIABLE in environ:
        parts = environ[KEY_VARIABLE].split(",")
        return [parse(part, f"the {_ordinal(i)} key in {KEY_VARIABLE}") for i, part in enumerate(parts, 1)]
    path = key_file_path(environ, deployment_file)
    if path is None or not os.path.lexists(path):
        where = f" and there is no key file at {path}" if path else ""
        raise _key_error(
            f"no master key: {KEY_VARIABLE} is not set{where}; set {KEY_VARIABLE} or "
            f"{KEY_FILE_VARIABLE} (create a key with: configsvc keygen --out {DEFAULT_KEY_FILE})")
    if key_file is None or key_file.path != path:
        key_file = read_together([(path, MAX_KEY_FILE_BYTES, "a key file")])[0]
    return keys_from_file(key_file)


def keys_from_file(key_file: FileRead) -> list[MasterKey]:
    """The keys in a key file as read (refused: a problem reading it, or its mode)."""
    path = key_file.path
    if key_file.problem is not None or key_file.data is None or key_file.status is None:
        message = key_file.problem.message if key_file.problem is not None else "it cannot be read"
        raise _key_error(f"the key file cannot be used: {message}", str(path))
    data = key_file.data
    check_key_file_status(path, key_file.status, "key file")
    try:
        lines = data.decode("utf-8").splitlines()
    except UnicodeDecodeError:
        raise _key_error("the key file is not text", str(path)) from None
    entries = [(n, line) for n, line in enumerate(lines, 1) if line.strip() and not line.startswith("#")]
    if not entries:
        raise _key_error("the key file holds no key", str(path))
    return [parse(line, f"the key on line {n} of {path}") for n, line in entries]


def check_key_file_status(path: Path, status: os.stat_result, what: str, source: str = "master key") -> None:
    """Accept a key file owned by this process's user with no access for group or others (0600, 0400),
    or owned by root with group read and nothing for others (0640, 0440: Kubernetes ``fsGroup``, the rule
    PostgreSQL applies to its key file). Anything else is refused, with the mode and the fix."""
    mode = stat.S_IMODE(status.st_mode)
    own = status.st_uid == os.geteuid() and not mode & 0o077
    root_group = status.st_uid == 0 and not mode & 0o037
    if own or root_group:
        return
    raise _key_error(
        f"the {what} has mode {mode:04o} and owner uid {status.st_uid}: it must be readable by its owner "
        f"only (chmod 600 {path}), or owned by root and readable by one group (chown root:GROUP {path}; "
        f"chmod 640 {path})", str(path), source)


def write_new_key_file(path: Path) -> None:
    """Create ``path`` (mode 0600) holding a new key; an existing file is never overwritten."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(generate() + "\n")
        handle.flush()
        os.fsync(handle.fileno())
