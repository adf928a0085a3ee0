"""Reading SOPS files natively: age recipients, every value decrypted, the MAC verified as sops verifies it.

A deployment file with a top-level ``sops`` block was written by the ``sops`` tool. This module reads
the document and its metadata: the age recipients, each with the data key wrapped for it (an armored age
file in ``sops.age[].enc``), and unwraps the data key with the identities it finds. The values and the
MAC are :mod:`configsvc.crypto.sops_decrypt`'s. A file whose MAC does not verify is refused, as sops
refuses it. No ``sops`` binary is needed. Checked against sops 3.11.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from configsvc.crypto.age_identities import Identities, find_identities
from configsvc.crypto.opening import SOPS_METADATA_KEY
from configsvc.crypto.sops_decrypt import SOURCE_NAME as SOURCE_NAME
from configsvc.crypto.sops_decrypt import SopsOpened, decrypt_values, sops_error
from configsvc.crypto.sops_values import resolve_plain
from configsvc.errors import DecryptError

METADATA_KEY = SOPS_METADATA_KEY
FORMAT = "sops"  # the encryption a layer read from a SOPS file names
# What to run instead, for each configsvc command that would change a file.
COMMANDS = {
    "set": "sops set PATH '[\"key\"]' '\"value\"'",
    "edit": "sops edit PATH",
    "rotate-key": "sops updatekeys PATH (recipients) or sops rotate --in-place PATH (a new data key)",
    "encrypt": "sops edit PATH (the file is already encrypted)",
}
OTHER_KEY_TYPES = ("pgp", "kms", "gcp_kms", "azure_kv", "hc_vault", "hckms")


def is_sops(document: Mapping[str, Any]) -> bool:
    """True when a parsed deployment file carries a top-level ``sops`` mapping."""
    return isinstance(document.get(METADATA_KEY), dict)


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
        return decrypt_values(tree, metadata, data_key, where, identities.files)
    except DecryptError:
        raise
    except Exception as error:  # a document sops itself would not read; never its text
        raise sops_error(f"the SOPS file cannot be read ({type(error).__name__})", where) from None


def _refuse_comment_rules(metadata: dict[str, Any], where: str) -> None:
    for rule in ("encrypted_comment_regex", "unencrypted_comment_regex"):
        if metadata.get(rule):
            raise sops_error(f"the file chooses what to encrypt by comments ({rule}), which configsvc does "
                             "not read: use encrypted_regex or unencrypted_suffix, or decrypt with sops",
                             where)


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
            raise sops_error(f"the data key is split into {count} key groups (Shamir secret sharing), which "
                             "configsvc does not read: use a single group of age recipients, or decrypt with "
                             "sops", where)
        metadata = {**metadata, **groups[0]}
    age = metadata.get("age") or []
    if not isinstance(age, list) or not all(isinstance(entry, dict) and isinstance(entry.get("enc"), str)
                                            for entry in age):
        raise sops_error("the sops block is malformed (age)", where)
    if not age:
        others = [kind for kind in OTHER_KEY_TYPES if metadata.get(kind)]
        kinds = ", ".join(others) or "no key type"
        raise sops_error(f"this SOPS file can be opened only with {kinds} keys; configsvc reads age keys: "
                         "add an age recipient (sops updatekeys) or decrypt it with sops", where)
    return age


def _data_key(recipients: list[dict[str, Any]], identities: Identities, where: str) -> bytes:
    import pyrage

    if not identities.identities:
        raise sops_error("no age identity found (sops's places: " + ", ".join(identities.looked)
                         + "); set SOPS_AGE_KEY_FILE or SOPS_AGE_KEY", where)
    for entry in recipients:
        try:
            key: bytes = pyrage.decrypt(entry["enc"].encode(), identities.identities)
        except Exception:
            continue
        if len(key) == 32:
            return key
    wanted = ", ".join(str(entry.get("recipient", "?")) for entry in recipients)
    raise sops_error(f"none of the age identities ({', '.join(identities.places)}) opens this file; it is "
                     f"encrypted for {wanted}", where)
