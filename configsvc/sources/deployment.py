"""The deployment file ``FLASK_CONFIG`` names (default ``./secrets/api-config.yaml`` if it exists)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from configsvc.crypto import document as encryption
from configsvc.crypto import keys
from configsvc.errors import DecryptError, FileError, Problem
from configsvc.formats.files import FileProblem, parse, read_text
from configsvc.sources.base import KeyPath, Layer, Source

DEFAULT_DEPLOYMENT_FILE = Path("secrets") / "api-config.yaml"
SOURCE_NAME = "deployment file"


def deployment_path(environ: Mapping[str, str], cwd: Path | None = None) -> Path | None:
    """The deployment file to read: ``FLASK_CONFIG`` (which must then exist), else the default if present.

    A relative path is taken from ``cwd`` (the working directory when not given).
    """
    base = cwd or Path.cwd()
    named = environ.get("FLASK_CONFIG")
    if named is not None:
        if not named.strip():
            raise FileError(
                Problem("FLASK_CONFIG is set but empty; name the deployment file or unset it",
                        kind="file", source=SOURCE_NAME, variable="FLASK_CONFIG")
            )
        return base / Path(named).expanduser()
    default = base / DEFAULT_DEPLOYMENT_FILE
    return default if default.is_file() else None


class DeploymentFile(Source):
    """The deployment file as a layer; a file that is named must exist and parse."""

    name = SOURCE_NAME

    def __init__(self, path: Path | None, environ: Mapping[str, str] | None = None) -> None:
        self.path = path
        self.environ = environ or {}

    def load(self) -> Layer | None:
        """The file's settings with their lines; None when there is no deployment file."""
        if self.path is None:
            return None
        try:
            parsed = parse(self.path, read_text(self.path))
        except FileProblem as problem:
            raise FileError(
                Problem(problem.message, kind="file", source=self.name, path=str(self.path),
                        line=problem.line, key=problem.key)
            ) from None
        if not encryption.is_encrypted(parsed.data):
            token = encryption.first_token_path(parsed.data)
            if token is not None:
                key = encryption.dotted(token)
                keys_only = tuple(str(part) for part in token if isinstance(part, str))
                raise DecryptError(Problem(
                    f"holds an encrypted value but no {encryption.METADATA_KEY} block: the file is "
                    "incomplete (half-written?) or was assembled by hand; write it with configsvc "
                    "encrypt, set or edit", kind="decrypt", key=key, source=self.name,
                    path=str(self.path), line=parsed.lines.get(keys_only)))
            return Layer(self.name, parsed.data, path=str(self.path), lines=parsed.lines)
        master_keys = keys.load(self.environ, self.path)
        opened = encryption.open_document(parsed.data, master_keys, str(self.path),
                                          json_format=self.path.suffix.lower() == ".json")
        secret: set[KeyPath] = {
            tuple(str(part).lower() for part in path if isinstance(part, str))
            for path in opened.encrypted
        }
        return Layer(self.name, opened.tree, path=str(self.path), lines=parsed.lines,
                     secret_paths=frozenset(secret))
