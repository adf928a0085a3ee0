"""Encryption at rest for deployment files: per-value AES-256-GCM, readable keys, one MAC over the file.

A value is stored as ``ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]``. What is encrypted is the value's
text as written (so ``0123`` in YAML decrypts to exactly what the plaintext file would give), with its
key path and type as associated data: a value moved to another key does not decrypt. Each file has its
own random data key, wrapped for each master key with AES key wrap (RFC 3394) under a key derived from
the master key. An HMAC-SHA256 over every path, container and stored value (and the format's settings)
refuses a value that was added, removed, reordered, altered, or rolled back to an older encryption.
The metadata block is the top-level key ``configsvc_encryption``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import secrets
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from configsvc.core.keypath import ValuePath, dotted
from configsvc.crypto.keys import MasterKey, derive
from configsvc.errors import DecryptError, Problem
from configsvc.formats import Plain, parse_scalar

METADATA_KEY = "configsvc_encryption"
FORMAT = "configsvc"  # the encryption a layer read from such a file names
VERSION = 1
_ENC = re.compile(
    r"ENC\[AES256_GCM,data:([A-Za-z0-9+/=]*),iv:([A-Za-z0-9+/=]+),tag:([A-Za-z0-9+/=]+),"
    r"type:(str|int|float|bool|null)\]"
)



def is_encrypted(document: dict[str, Any]) -> bool:
    """True when a parsed file carries the encryption metadata block."""
    return METADATA_KEY in document


def first_token_path(node: Any, path: ValuePath = (), seen: set[int] | None = None) -> ValuePath | None:
    """Where the first value that looks like an ``ENC[...]`` token is, or None (for files without metadata:
    a truncated or hand-assembled file must not hand a token to the application as if it were a value).
    Each mapping or list is visited once, however often YAML aliases repeat it."""
    seen = set() if seen is None else seen
    if isinstance(node, dict | list):
        if id(node) in seen:
            return None
        seen.add(id(node))
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            found = first_token_path(value, (*path, key), seen)
            if found is not None:
                return found
        return None
    text = node.raw if isinstance(node, Plain) else node
    return path if isinstance(text, str) and text.startswith("ENC[") else None


@dataclass
class Opened:
    """A decrypted file: its plaintext tree, which paths were encrypted, and what re-sealing needs."""

    tree: dict[str, Any]
    encrypted: set[ValuePath]
    data_key: bytes = field(repr=False)
    only: str | None
    key_ids: list[str]


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def _aad(path: ValuePath, kind: str) -> bytes:
    return json.dumps([VERSION, list(path), kind], separators=(",", ":")).encode()


def _scalar_text(value: Any) -> tuple[str, str]:
    """(type, text) of a scalar as it was written."""
    if isinstance(value, Plain):
        kind = "bool" if isinstance(value.value, bool) else type(value.value).__name__
        return kind, value.raw
    if value is None:
        return "null", ""
    if isinstance(value, bool):
        return "bool", "true" if value else "false"
    if isinstance(value, int):
        return "int", str(value)
    if isinstance(value, float):
        return "float", repr(value)
    if isinstance(value, str):
        return "str", value
    raise TypeError(f"cannot encrypt a {type(value).__name__}")


def _walk(node: Any, path: ValuePath = ()) -> Iterator[tuple[ValuePath, Any]]:
    """Every node, containers included, depth first, mapping keys sorted."""
    yield path, node
    if isinstance(node, dict):
        for key in sorted(node):
            yield from _walk(node[key], (*path, key))
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from _walk(item, (*path, index))


def _mac(tree: dict[str, Any], only: str | None, data_key: bytes) -> str:
    entries = []
    for path, node in _walk(tree):
        if isinstance(node, dict):
            entries.append([list(path), "map", len(node)])
        elif isinstance(node, list):
            entries.append([list(path), "list", len(node)])
        else:
            entries.append([list(path), *_scalar_text(node)])
    canonical = json.dumps([VERSION, only, entries], separators=(",", ":"), ensure_ascii=False)
    return hmac.new(derive(data_key, "mac"), canonical.encode(), hashlib.sha256).hexdigest()


def _transform(node: Any, path: ValuePath, leaf: Any) -> Any:
    if isinstance(node, dict):
        return {key: _transform(value, (*path, key), leaf) for key, value in node.items()}
    if isinstance(node, list):
        return [_transform(item, (*path, index), leaf) for index, item in enumerate(node)]
    return leaf(path, node)


def seal(
    tree: dict[str, Any],
    master_key: MasterKey,
    *,
    only: str | None = None,
    data_key: bytes | None = None,
    encrypted: set[ValuePath] | None = None,
) -> dict[str, Any]:
    """The document to write: values encrypted, plus the metadata block.

    Values are encrypted when their dotted key matches ``only`` (all when None), or when their path is
    in ``encrypted`` (paths an earlier version of the file had encrypted stay encrypted).
    """
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap

    if METADATA_KEY in tree:
        raise ValueError(f"{METADATA_KEY} is reserved for the encryption metadata")
    data_key = data_key or secrets.token_bytes(32)
    pattern = re.compile(only) if only is not None else None
    value_key = AESGCM(derive(data_key, "values"))

    def encrypt(path: ValuePath, value: Any) -> Any:
        chosen = pattern is None or pattern.search(dotted(path)) is not None
        if not chosen and (encrypted is None or path not in encrypted):
            return value
        kind, text = _scalar_text(value)
        nonce = secrets.token_bytes(12)
        sealed = value_key.encrypt(nonce, text.encode(), _aad(path, kind))
        return (f"ENC[AES256_GCM,data:{_b64(sealed[:-16])},iv:{_b64(nonce)},tag:{_b64(sealed[-16:])},"
                f"type:{kind}]")

    document: dict[str, Any] = _transform(tree, (), encrypt)
    wrapped = aes_key_wrap(derive(master_key.secret, "wrap"), data_key)
    document[METADATA_KEY] = {
        "version": VERSION,
        "only": only,
        "keys": [{"id": master_key.id, "wrapped": _b64(wrapped)}],
        "mac": _mac(document, only, data_key),
    }
    return document


def open_document(document: dict[str, Any], master_keys: Sequence[MasterKey], where: str,
                  json_format: bool) -> Opened:
    """Decrypt a parsed document; raises :class:`DecryptError` saying which problem, naming the file."""
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    body = {key: value for key, value in document.items() if key != METADATA_KEY}
    metadata = _metadata(document.get(METADATA_KEY), where)
    data_key = _unwrap(metadata, master_keys, where)
    value_key = AESGCM(derive(data_key, "values"))
    problems: list[Problem] = []
    encrypted: set[ValuePath] = set()

    def decrypt(path: ValuePath, value: Any) -> Any:
        if not isinstance(value, str) or not value.startswith("ENC["):
            return value
        match = _ENC.fullmatch(value)
        if match is None:
            problems.append(_problem("an encrypted value is malformed", where, path))
            return None
        data, iv, tag, kind = match.groups()
        try:
            text = value_key.decrypt(_unb64(iv), _unb64(data) + _unb64(tag), _aad(path, kind)).decode()
        except (InvalidTag, ValueError):
            problems.append(_problem(
                "a value fails authentication: it was altered, or moved here from another key or file",
                where, path))
            return None
        encrypted.add(path)
        if kind == "str":
            return text
        return None if kind == "null" else parse_scalar(text, json_format)

    tree = _transform(body, (), decrypt)
    if problems:
        raise DecryptError(problems)
    # As bytes: compare_digest refuses a str with non-ASCII characters (TypeError), and the stored MAC
    # is whatever the file says.
    if not hmac.compare_digest(_mac(body, metadata["only"], data_key).encode(), metadata["mac"].encode()):
        raise DecryptError(_problem(
            "the file fails its integrity check (MAC): a value was added, removed, reordered, or "
            "replaced by an older one since it was encrypted", where))
    key_ids = [entry["id"] for entry in metadata["keys"]]
    return Opened(tree, encrypted, data_key, metadata["only"], key_ids)


def rewrap(document: dict[str, Any], master_keys: Sequence[MasterKey], primary: MasterKey,
           where: str) -> dict[str, Any]:
    """The same document with its data key wrapped for ``primary`` only (values untouched)."""
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap

    metadata = _metadata(document.get(METADATA_KEY), where)
    data_key = _unwrap(metadata, master_keys, where)
    wrapped = aes_key_wrap(derive(primary.secret, "wrap"), data_key)
    result = dict(document)
    result[METADATA_KEY] = {**document[METADATA_KEY], "keys": [{"id": primary.id, "wrapped": _b64(wrapped)}]}
    return result


def _problem(message: str, where: str, path: ValuePath = ()) -> Problem:
    return Problem(message, kind="decrypt", key=dotted(path) or None, source="deployment file", path=where)


def _metadata(raw: Any, where: str) -> dict[str, Any]:
    def plain(value: Any) -> Any:
        return value.value if isinstance(value, Plain) else value

    damaged = DecryptError(_problem(f"the {METADATA_KEY} block is damaged or was altered", where))
    if not isinstance(raw, dict):
        raise damaged
    version = plain(raw.get("version"))
    if version != VERSION:
        raise DecryptError(_problem(
            f"unsupported encryption format version (this configsvc reads version {VERSION})", where))
    only, mac, keys = raw.get("only"), raw.get("mac"), raw.get("keys")
    if not (only is None or isinstance(only, str)) or not isinstance(mac, str) or not isinstance(keys, list):
        raise damaged
    entries = []
    for entry in keys:
        if not isinstance(entry, dict) or not isinstance(entry.get("id"), str) \
                or not isinstance(entry.get("wrapped"), str):
            raise damaged
        entries.append({"id": entry["id"], "wrapped": entry["wrapped"]})
    if not entries:
        raise damaged
    return {"only": only, "mac": mac, "keys": entries}


def _unwrap(metadata: dict[str, Any], master_keys: Sequence[MasterKey], where: str) -> bytes:
    from cryptography.hazmat.primitives.keywrap import InvalidUnwrap, aes_key_unwrap

    by_id = {key.id: key for key in master_keys}
    for entry in metadata["keys"]:
        key = by_id.get(entry["id"])
        if key is None:
            continue
        try:
            return aes_key_unwrap(derive(key.secret, "wrap"), _unb64(entry["wrapped"]))
        except (InvalidUnwrap, ValueError):
            raise DecryptError(_problem(
                f"the wrapped data key for master key {entry['id']} is damaged or was altered",
                where)) from None
    wanted = ", ".join(entry["id"] for entry in metadata["keys"])
    have = ", ".join(key.id for key in master_keys)
    raise DecryptError(_problem(
        f"wrong master key: the file opens with key id {wanted}, and the keys given have id {have}",
        where))
