"""The deployment file the app's ``file_variable`` names (``FLASK_CONFIG``), else its ``default_file``."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

from configsvc.core.keypath import key_path
from configsvc.crypto import keys, opening
from configsvc.errors import DecryptError, FileError, Problem
from configsvc.formats import MAX_FILE_BYTES, FileProblem, decode, parse
from configsvc.formats.snapshot import read_together
from configsvc.options import Options
from configsvc.sources.base import Layer, Source

SOURCE_NAME = "deployment file"
#: The roles the deployment file's bytes are kept under (plain or configsvc-encrypted, or SOPS).
PINNED_ROLES = (SOURCE_NAME, opening.SOPS_SOURCE_NAME)


def deployment_path(options: Options, environ: Mapping[str, str], cwd: Path | None = None) -> Path | None:
    """The deployment file to read: the one ``options.file_variable`` names (which must then exist),
    else ``options.default_file`` if present. A relative path is taken from ``cwd`` (default: the working
    directory)."""
    base = cwd or Path.cwd()
    variable = options.file_variable
    named = environ.get(variable)
    if named is not None:
        if not named.strip():
            raise FileError(
                Problem(f"{variable} is set but empty; name the deployment file or unset it",
                        kind="file", source=SOURCE_NAME, variable=variable)
            )
        return base / Path(named).expanduser()
    if options.default_file is None:
        return None
    default = base / Path(options.default_file).expanduser()
    return default if default.is_file() else None


class DeploymentFile(Source):
    """The deployment file as a layer; a file that is named must exist and parse."""

    name = SOURCE_NAME

    def __init__(self, path: Path | None, environ: Mapping[str, str] | None = None,
                 pinned: Mapping[str, bytes] | None = None) -> None:
        self.path = path
        self.environ = environ or {}
        # The file's bytes as a host kept them (a rollout's settled configuration), read instead of the
        # file; its key file is still read.
        self.pinned = next((data for role, data in (pinned or {}).items() if role in PINNED_ROLES), None)

    def load(self) -> Layer | None:
        """The file's settings with their lines; None when there is no deployment file."""
        if self.path is None:
            return None
        key_file = None
        if not self.environ.get(keys.KEY_VARIABLE):
            key_file = keys.key_file_path(self.environ, self.path)
        wanted = [(self.path, MAX_FILE_BYTES, "a configuration file")]
        if key_file is not None and os.path.lexists(key_file):
            wanted.append((key_file, keys.MAX_KEY_FILE_BYTES, "a key file"))
        reads = read_together(wanted)  # the file and its key as they were together
        watched = (self.path,) if key_file is None else (self.path, key_file)
        try:
            if reads[0].problem is not None and self.pinned is None:
                raise reads[0].problem
            data = self.pinned if self.pinned is not None else reads[0].data or b""
            text = decode(data)
            parsed = parse(self.path, text)
        except FileProblem as problem:
            raise problem.as_error(self.path, self.name) from None
        kind = opening.file_format(parsed.data)
        name = opening.SOPS_SOURCE_NAME if kind == "sops" else self.name
        refused = opening.unprotected_refusal(kind, self.environ, self.path)
        if refused is not None:
            raise DecryptError(Problem(refused, kind="decrypt", source=name, path=str(self.path)))
        key_read = reads[1] if len(reads) > 1 else None
        opened = opening.open_file(self.path, text, parsed, self.environ, key_read)
        return Layer(name, opened.tree, path=str(self.path), lines=parsed.lines,
                     secret_paths=frozenset(key_path(path) for path in opened.encrypted),
                     encryption=opened.format, file_digests={name: hashlib.sha256(data).hexdigest()},
                     file_bytes={name: data},
                     files=(*watched, *opened.files))
