"""A SOPS file's values: which sops encrypted, each one decrypted, and the MAC over them all verified.

Each value is ``ENC[AES256_GCM,data,iv,tag,type]``, encrypted with the data key and, as associated data,
its key path joined with ``:`` plus a trailing ``:`` (list items add nothing). The MAC is SHA-512 over
every value's text as Go renders it, in document order (only the encrypted ones, after a fixed prefix,
with ``mac_only_encrypted``), stored encrypted with ``lastmodified`` as associated data. Checked against
sops 3.11. The metadata (recipients, the data key) is :mod:`configsvc.crypto.sops`'s.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import warnings
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from configsvc.core.keypath import ValuePath, dotted
from configsvc.crypto.opening import SOPS_SOURCE_NAME
from configsvc.crypto.sops_values import GoTime, parse_typed, printed_float_text, to_bytes
from configsvc.errors import DecryptError, Problem
from configsvc.formats import Plain

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

SOURCE_NAME = SOPS_SOURCE_NAME
# sops's fixed prefix for the MAC of a file with mac_only_encrypted (so the two kinds of MAC differ).
MAC_ONLY_ENCRYPTED_PREFIX = bytes.fromhex("8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69")
_ENC = re.compile(r"ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")


@dataclass
class SopsOpened:
    """A decrypted SOPS file: the values (typed as ``sops decrypt`` prints them), which were encrypted,
    and the identity files (watched for changes)."""

    tree: dict[str, Any]
    encrypted: set[ValuePath]
    files: list[Path] = field(default_factory=list)


@dataclass(frozen=True)
class _Selectors:
    """Which values sops encrypted: its suffixes and regexes (Go's regexp.Match: a search, unanchored)."""

    unencrypted_suffix: str = ""
    encrypted_suffix: str = ""
    unencrypted_regex: re.Pattern[str] | None = None
    encrypted_regex: re.Pattern[str] | None = None

    @classmethod
    def read(cls, metadata: dict[str, Any], where: str) -> _Selectors:
        chosen: dict[str, Any] = {}
        for name in ("unencrypted_suffix", "encrypted_suffix", "unencrypted_regex", "encrypted_regex"):
            value = metadata.get(name)
            if value is None or value == "":
                continue
            if not isinstance(value, str):
                raise sops_error(f"the sops block is malformed ({name})", where)
            if name.endswith("_regex"):
                try:
                    with warnings.catch_warnings():  # Python warns about RE2 syntax it reads differently
                        warnings.simplefilter("ignore")
                        value = re.compile(value)
                except re.error:
                    raise sops_error(f"{name} is not a regular expression configsvc can read; decrypt "
                                     "with sops", where) from None
            chosen[name] = value
        return cls(**chosen)

    def encrypts(self, path: list[str]) -> bool:
        """sops's ``shouldBeEncrypted`` for a value at ``path`` (comment rules are refused earlier)."""
        encrypted = True
        if self.unencrypted_suffix and any(part.endswith(self.unencrypted_suffix) for part in path):
            encrypted = False
        if self.encrypted_suffix:
            encrypted = any(part.endswith(self.encrypted_suffix) for part in path)
        if self.unencrypted_regex is not None and any(self.unencrypted_regex.search(part) for part in path):
            encrypted = False
        if self.encrypted_regex is not None:
            encrypted = any(self.encrypted_regex.search(part) for part in path)
        return encrypted


@dataclass
class _Walk:
    metadata: dict[str, Any]
    selectors: _Selectors
    cipher: AESGCM
    where: str
    mac: Any = field(default_factory=hashlib.sha512)
    encrypted: set[ValuePath] = field(default_factory=set)
    problems: list[Problem] = field(default_factory=list)

    def leaf(self, value: Any, path: list[str], at: ValuePath) -> Any:
        if value is None:
            return None  # sops neither encrypts nor hashes a null
        encrypted = self.selectors.encrypts(path)
        if encrypted:
            value = self.decrypt(value, path, at)
            if value is _FAILED:
                return None
        if not self.metadata.get("mac_only_encrypted") or encrypted:
            self.mac.update(to_bytes(value))
        return value

    def decrypt(self, value: Any, path: list[str], at: ValuePath) -> Any:
        from cryptography.exceptions import InvalidTag

        if not isinstance(value, str):
            return self.fail(at, "a value sops would have encrypted is not encrypted")
        if value == "":
            return ""  # sops leaves empty strings as they are
        match = _ENC.match(value)
        if match is None:
            return self.fail(at, "a value sops would have encrypted is not encrypted")
        try:
            data, iv, tag = (base64.b64decode(part, validate=True) for part in match.group(1, 2, 3))
            text = self.cipher.decrypt(iv, data + tag, (":".join(path) + ":").encode()).decode()
            typed = parse_typed(text, match.group(4))
        except (InvalidTag, ValueError):
            return self.fail(at, "a value fails authentication: it was altered, or moved here from another "
                                 "key or file")
        self.encrypted.add(at)
        return typed

    def fail(self, at: ValuePath, message: str) -> Any:
        self.problems.append(Problem(message, kind="decrypt", key=dotted(at) or None, source=SOURCE_NAME,
                                     path=self.where))
        return _FAILED

    def walk(self, node: Any, path: list[str], at: ValuePath) -> Any:
        if isinstance(node, dict):
            return {key: self.walk(value, [*path, str(key)], (*at, key)) for key, value in node.items()}
        if isinstance(node, list):
            return [self.walk(item, path, (*at, index)) for index, item in enumerate(node)]
        return self.leaf(node, path, at)


_FAILED: Any = object()


def decrypt_values(tree: dict[str, Any], metadata: dict[str, Any], data_key: bytes, where: str,
             files: list[Path]) -> SopsOpened:
    """Decrypt every value of a SOPS file's ``tree`` with its data key and verify the MAC over them, as
    sops does; raises :class:`DecryptError` naming the file (and the key of a value that fails)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    walk = _Walk(metadata, _Selectors.read(metadata, where), AESGCM(data_key), where)
    if metadata.get("mac_only_encrypted"):
        walk.mac.update(MAC_ONLY_ENCRYPTED_PREFIX)
    plain = walk.walk(tree, [], ())
    if walk.problems:
        raise DecryptError(walk.problems)
    expected = _stored_mac(metadata, walk.cipher, where)
    if not hmac.compare_digest(walk.mac.hexdigest().upper().encode(), expected.encode()):
        raise sops_error("the file fails sops's integrity check (MAC): a value was added, removed or changed "
                         "since sops wrote it; edit it with sops", where)
    return SopsOpened(_as_configuration(plain), walk.encrypted, files)


def _stored_mac(metadata: dict[str, Any], cipher: AESGCM, where: str) -> str:
    from cryptography.exceptions import InvalidTag

    mac, stamp = metadata.get("mac"), metadata.get("lastmodified")
    match = _ENC.match(mac) if isinstance(mac, str) else None
    try:
        associated = _rfc3339(stamp).encode() if isinstance(stamp, str) else None
    except ValueError:
        associated = None
    if match is None or associated is None:
        raise sops_error("the sops block is malformed (mac, lastmodified)", where)
    try:
        data, iv, tag = (base64.b64decode(part, validate=True) for part in match.group(1, 2, 3))
        return cipher.decrypt(iv, data + tag, associated).decode()
    except (InvalidTag, ValueError):
        raise sops_error("the file fails sops's integrity check: its MAC or lastmodified was altered",
                         where) from None


def _rfc3339(stamp: str) -> str:
    """``lastmodified`` as Go formats it back after parsing (RFC 3339, seconds, ``Z`` for UTC)."""
    moment = datetime.fromisoformat(stamp.replace("Z", "+00:00").replace("z", "+00:00"))
    offset = moment.utcoffset()
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    if offset is None or not offset.total_seconds():
        return text + "Z"
    minutes = int(offset.total_seconds() // 60)
    return f"{text}{'+' if minutes > 0 else '-'}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


def _as_configuration(node: Any) -> Any:
    """Values as ``sops decrypt`` prints them, read back as configsvc reads files: numbers and booleans
    keep the text Go printed (an integral float prints as an integer), timestamps their text."""
    if isinstance(node, dict):
        return {key: _as_configuration(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_as_configuration(item) for item in node]
    if isinstance(node, bool):
        return Plain(node, "true" if node else "false")
    if isinstance(node, float) and node.is_integer() and abs(node) < 1e21:
        return Plain(int(node), str(int(node)))
    if isinstance(node, int | float):
        return Plain(node, printed_float_text(node) if isinstance(node, float) else str(node))
    if isinstance(node, GoTime | bytes):
        return str(node) if isinstance(node, GoTime) else node.decode("utf-8", errors="replace")
    return node


def sops_error(message: str, where: str) -> DecryptError:
    """A problem with the SOPS file ``where``, never naming a value or an identity."""
    return DecryptError(Problem(message, kind="decrypt", source=SOURCE_NAME, path=where))
