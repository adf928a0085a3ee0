"""Opening a deployment file: which format it is in, which key opens it, and the no-downgrade rules.

Every reader of a deployment file — the deployment-file source at start and on every reload, and the file
commands (``decrypt``, ``set``, ``edit``, ``rotate-key``) — opens it with :func:`open_file`, which decides
the format (plaintext, configsvc's, SOPS) and the key (the configsvc master key, or the age identities).
The rules that keep a running deployment from being downgraded live here too: a file the master key does
not protect is refused at start (:func:`unprotected_refusal`), and a running process never moves from one
format to another on a reload (:func:`format_change_problem`).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from configsvc.core.keypath import ValuePath, dotted
from configsvc.crypto import document, keys
from configsvc.errors import DecryptError, Problem
from configsvc.formats import ParsedFile
from configsvc.formats.snapshot import FileRead

#: How a deployment file is written: plaintext (None), configsvc's format, or a SOPS file.
Format = Literal["configsvc", "sops"] | None
#: The block a SOPS file carries (the SOPS modules are imported only to open one).
SOPS_METADATA_KEY = "sops"
#: What problems with a SOPS file name as their source.
SOPS_SOURCE_NAME = "deployment file (SOPS)"


@dataclass
class OpenedFile:
    """A deployment file opened: its format, its plaintext values and which of them were encrypted."""

    path: Path
    format: Format
    #: The file as written (its lines, its metadata block).
    parsed: ParsedFile
    #: The plaintext values (the metadata block left out).
    tree: dict[str, Any]
    encrypted: set[ValuePath] = field(default_factory=set)
    #: configsvc's format: what re-sealing the file needs (its data key, ``--only`` and key ids).
    sealed: document.Opened | None = None
    #: Other files it was opened with, to watch with it (age identity files).
    files: tuple[Path, ...] = ()


def file_format(data: dict[str, Any]) -> Format:
    """The format of a parsed deployment file."""
    if isinstance(data.get(SOPS_METADATA_KEY), dict):
        return "sops"
    return "configsvc" if document.is_encrypted(data) else None


def open_file(path: Path, text: str, parsed: ParsedFile, environ: Mapping[str, str],
              key_file: FileRead | None = None) -> OpenedFile:
    """Open a parsed deployment file: a SOPS file with the age identities ``environ`` names, a configsvc
    file with the master key (``key_file``: the key file read together with the file, one snapshot),
    plaintext as it is (refusing an ``ENC[...]`` value without the metadata that opens it). Raises
    :class:`DecryptError` naming the file, never a value."""
    kind = file_format(parsed.data)
    if kind == "sops":
        from configsvc.crypto import sops

        opened = sops.open_sops(path, text, environ)
        return OpenedFile(path, kind, parsed, opened.tree, opened.encrypted, files=tuple(opened.files))
    if kind == "configsvc":
        sealed = document.open_document(parsed.data, keys.load(environ, path, key_file), str(path),
                                        json_format=path.suffix.lower() == ".json")
        return OpenedFile(path, kind, parsed, sealed.tree, sealed.encrypted, sealed=sealed)
    token = document.first_token_path(parsed.data)
    if token is not None:
        keys_only = tuple(str(part) for part in token if isinstance(part, str))
        raise DecryptError(Problem(
            f"holds an encrypted value but no {document.METADATA_KEY} block: the file is incomplete "
            "(half-written?) or was assembled by hand; write it with configsvc encrypt, set or edit",
            kind="decrypt", key=dotted(token), source="deployment file", path=str(path),
            line=parsed.lines.get(keys_only)))
    return OpenedFile(path, None, parsed, parsed.data)


def unprotected_refusal(kind: Format, environ: Mapping[str, str], deployment_file: Path | None) -> str | None:
    """Why a deployment file the master key does not protect — plaintext (``kind`` None) or a SOPS file
    — is refused while a master key is configured; None when it is taken (no key is configured, the file
    is in configsvc's format, or the deployment opted in)."""
    key_source = keys.configured_key(environ, deployment_file)
    if key_source is None or kind == "configsvc":
        return None
    if kind is None and not keys.plaintext_allowed(environ):
        return (f"the file is not encrypted, but a master key is configured ({key_source}): a plaintext "
                "file is refused, since anyone who can write it could replace every value without the "
                f"key. Encrypt it (configsvc encrypt), or accept plaintext on purpose with "
                f"{keys.ALLOW_PLAINTEXT_VARIABLE}=1")
    if kind == "sops" and not keys.sops_allowed(environ):
        return (f"the file is a SOPS file, but a configsvc master key is configured ({key_source}): "
                "refused, since age is public-key encryption: anyone who can write the file can read the "
                "recipients it lists and make a valid SOPS file with values of their choice. Encrypt it "
                f"with configsvc encrypt, or accept SOPS files on purpose with {keys.ALLOW_SOPS_VARIABLE}=1")
    return None

FORMAT_NAMES = {None: "plaintext", "configsvc": "encrypted (configsvc)", "sops": "a SOPS file"}


def format_change_problem(was: str | None, now: str | None, environ: Mapping[str, str],
                          path: str | os.PathLike[str] | None = None) -> Problem | None:
    """Why a running process refuses to move from a deployment file in format ``was`` to one in ``now``
    (``None`` plaintext, ``"configsvc"``, ``"sops"``); None when the move is taken.

    Never from encrypted to plaintext (someone who removed the key and wrote plaintext could choose every
    value), unless the deployment opted out with ``CONFIGSVC_ALLOW_PLAINTEXT=1``; never between
    configsvc's format and SOPS (anyone can write a SOPS file for the file's public age recipients), even
    where both are accepted at start (``CONFIGSVC_ALLOW_SOPS=1``): a restart switches. Plaintext to
    encrypted is taken: nobody gains by it.
    """
    if was is None or now == was:
        return None
    if now is None and keys.plaintext_allowed(environ):
        return None
    how = (f"restart with {keys.ALLOW_PLAINTEXT_VARIABLE}=1 to accept plaintext on purpose" if now is None
           else "restart the process to change formats")
    return Problem(
        f"the deployment file was {FORMAT_NAMES[was]} and is now {FORMAT_NAMES[now]}: refused, a running "
        f"process does not switch formats on a reload (put the file back as it was, or {how})",
        kind="decrypt", source="deployment file", path=os.fspath(path) if path is not None else None)
