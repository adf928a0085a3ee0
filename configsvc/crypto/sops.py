"""Reading SOPS files natively: age recipients, every value decrypted, the MAC verified as sops verifies it.

A deployment file with a top-level ``sops`` block was written by the ``sops`` tool. Its data key is
wrapped for each age recipient (an armored age file in ``sops.age[].enc``); each value is
``ENC[AES256_GCM,data,iv,tag,type]``, encrypted with the data key and, as associated data, its key path
joined with ``:`` plus a trailing ``:`` (list items add nothing). The MAC is SHA-512 over every value's
text as Go renders it, in document order (only the encrypted ones, after a fixed prefix, with
``mac_only_encrypted``), stored encrypted with ``lastmodified`` as associated data. A file whose MAC does
not verify is refused, as sops refuses it. No ``sops`` binary is needed. Checked against sops 3.11.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import yaml
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from configsvc.core.keypath import ValuePath, dotted
from configsvc.crypto.age_identities import Identities, find_identities
from configsvc.crypto.sops_values import GoTime, parse_typed, printed_float_text, resolve_plain, to_bytes
from configsvc.errors import DecryptError, Problem
from configsvc.formats import Plain

METADATA_KEY = "sops"
SOURCE_NAME = "deployment file (SOPS)"
FORMAT = "sops"  # the encryption a layer read from a SOPS file names
# sops's fixed prefix for the MAC of a file with mac_only_encrypted (so the two kinds of MAC differ).
MAC_ONLY_ENCRYPTED_PREFIX = bytes.fromhex("8a3fd2ad54ce66527b1034f3d147be0b0b975b3bf44f72c6fdadec8176f27d69")
# What to run instead, for each configsvc command that would change a file.
COMMANDS = {
    "set": "sops set PATH '[\"key\"]' '\"value\"'",
    "edit": "sops edit PATH",
    "rotate-key": "sops updatekeys PATH (recipients) or sops rotate --in-place PATH (a new data key)",
    "encrypt": "sops edit PATH (the file is already encrypted)",
}
OTHER_KEY_TYPES = ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms")
_ENC = re.compile(r"ENC\[AES256_GCM,data:(.+),iv:(.+),tag:(.+),type:(.+)\]")


def is_sops(document: Mapping[str, Any]) -> bool:
    """True when a parsed deployment file carries a top-level ``sops`` mapping."""
    return isinstance(document.get(METADATA_KEY), dict)


@dataclass
class SopsOpened:
    """A decrypted SOPS file: the values (typed as ``sops decrypt`` prints them), which were encrypted,
    and the identity files (watched for changes)."""

    tree: dict[str, Any]
    encrypted: set[ValuePath]
    files: list[Path] = field(default_factory=list)


def open_sops(path: Path, text: str, environ: Mapping[str, str]) -> SopsOpened:
    """Decrypt and verify a SOPS file's text (YAML or JSON by ``path``'s extension). Raises
    :class:`DecryptError` naming the file, never a value or an identity."""
    where = str(path)
    try:
        tree = _json_tree(text) if path.suffix.lower() == ".json" else _yaml_tree(text)
        metadata = dict(tree.pop(METADATA_KEY))
        _refuse_comment_rules(metadata, where)
        recipients = _age_recipients(metadata, where)
        identities = find_identities(environ, where)
        data_key = _data_key(recipients, identities, where)
        return _decrypt(tree, metadata, data_key, where, identities.files)
    except DecryptError:
        raise
    except Exception as error:  # a document sops itself would not read; never its text
        raise _error(f"the SOPS file cannot be read ({type(error).__name__})", where) from None


def _refuse_comment_rules(metadata: dict[str, Any], where: str) -> None:
    for rule in ("encrypted_comment_regex", "unencrypted_comment_regex"):
        if metadata.get(rule):
            raise _error(f"the file chooses what to encrypt by comments ({rule}), which configsvc does not "
                         "read: use encrypted_regex or unencrypted_suffix, or decrypt with sops", where)


# --- the document, as sops's stores read it ----------------------------------------------------------


def _yaml_tree(text: str) -> dict[str, Any]:
    loader = yaml.CSafeLoader(text) if hasattr(yaml, "CSafeLoader") else yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
    finally:
        loader.dispose()
    if not isinstance(node, yaml.MappingNode):
        raise ValueError("not a mapping")
    tree: dict[str, Any] = _from_node(node)
    return tree


def _from_node(node: Any) -> Any:
    if isinstance(node, yaml.MappingNode):
        return {key.value: _from_node(value) for key, value in node.value}
    if isinstance(node, yaml.SequenceNode):
        return [_from_node(item) for item in node.value]
    if node.style:  # quoted or block: text, whatever it looks like
        return node.value
    return resolve_plain(node.value)


def _json_tree(text: str) -> dict[str, Any]:
    tree: dict[str, Any] = json.loads(text, parse_int=float, parse_float=float)  # sops 3.11: all float64
    return tree


# --- keys ---------------------------------------------------------------------------------------------


def _age_recipients(metadata: dict[str, Any], where: str) -> list[dict[str, Any]]:
    groups = metadata.get("key_groups")
    if groups:
        if not isinstance(groups, list) or len(groups) > 1:
            count = len(groups) if isinstance(groups, list) else "several"
            raise _error(f"the data key is split into {count} key groups (Shamir secret sharing), which "
                         "configsvc does not read: use a single group of age recipients, or decrypt with "
                         "sops", where)
        metadata = {**metadata, **groups[0]}
    age = metadata.get("age") or []
    if not isinstance(age, list) or not all(isinstance(entry, dict) and isinstance(entry.get("enc"), str)
                                            for entry in age):
        raise _error("the sops block is malformed (age)", where)
    if not age:
        others = [kind for kind in OTHER_KEY_TYPES if metadata.get(kind)]
        kinds = ", ".join(others) or "no key type"
        raise _error(f"this SOPS file can be opened only with {kinds} keys; configsvc reads age keys: add "
                     "an age recipient (sops updatekeys) or decrypt it with sops", where)
    return age


def _data_key(recipients: list[dict[str, Any]], identities: Identities, where: str) -> bytes:
    import pyrage

    if not identities.identities:
        raise _error("no age identity found (sops's places: " + ", ".join(identities.looked)
                     + "); set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY", where)
    for entry in recipients:
        try:
            key: bytes = pyrage.decrypt(entry["enc"].encode(), identities.identities)
        except Exception:
            continue
        if len(key) == 32:
            return key
    wanted = ", ".join(str(entry.get("recipient", "?")) for entry in recipients)
    raise _error(f"none of the age identities ({', '.join(identities.places)}) opens this file; it is "
                 f"encrypted for {wanted}", where)


# --- values and the MAC -------------------------------------------------------------------------------


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
                raise _error(f"the sops block is malformed ({name})", where)
            if name.endswith("_regex"):
                try:
                    with warnings.catch_warnings():  # Python warns about RE2 syntax it reads differently
                        warnings.simplefilter("ignore")
                        value = re.compile(value)
                except re.error:
                    raise _error(f"{name} is not a regular expression configsvc can read; decrypt with sops",
                                 where) from None
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


def _decrypt(tree: dict[str, Any], metadata: dict[str, Any], data_key: bytes, where: str,
             files: list[Path]) -> SopsOpened:
    walk = _Walk(metadata, _Selectors.read(metadata, where), AESGCM(data_key), where)
    if metadata.get("mac_only_encrypted"):
        walk.mac.update(MAC_ONLY_ENCRYPTED_PREFIX)
    plain = walk.walk(tree, [], ())
    if walk.problems:
        raise DecryptError(walk.problems)
    expected = _stored_mac(metadata, walk.cipher, where)
    if not hmac.compare_digest(walk.mac.hexdigest().upper().encode(), expected.encode()):
        raise _error("the file fails sops's integrity check (MAC): a value was added, removed or changed "
                     "since sops wrote it; edit it with sops", where)
    return SopsOpened(_as_configuration(plain), walk.encrypted, files)


def _stored_mac(metadata: dict[str, Any], cipher: AESGCM, where: str) -> str:
    mac, stamp = metadata.get("mac"), metadata.get("lastmodified")
    match = _ENC.match(mac) if isinstance(mac, str) else None
    try:
        associated = _rfc3339(stamp).encode() if isinstance(stamp, str) else None
    except ValueError:
        associated = None
    if match is None or associated is None:
        raise _error("the sops block is malformed (mac, lastmodified)", where)
    try:
        data, iv, tag = (base64.b64decode(part, validate=True) for part in match.group(1, 2, 3))
        return cipher.decrypt(iv, data + tag, associated).decode()
    except (InvalidTag, ValueError):
        raise _error("the file fails sops's integrity check: its MAC or lastmodified was altered",
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


def _error(message: str, where: str) -> DecryptError:
    return DecryptError(Problem(message, kind="decrypt", source=SOURCE_NAME, path=where))
