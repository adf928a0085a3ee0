"""``<prefix>*`` environment variables: ``APP_PORT``, nested keys with ``__`` (``APP_CELERY__BROKER_URL``),
and ``<prefix><KEY>_FILE=/path``, which reads that key's value from a file (Docker and Kubernetes secrets).

Values stay the strings they are here; the schema types them later. ``<prefix>ENV`` selects the
environment and is not a setting. A value read through ``_FILE`` is secret whatever its key, has one
trailing newline dropped, and its file is watched like the deployment file.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from configsvc.core.keypath import KeyPath
from configsvc.errors import Problem, raise_for
from configsvc.formats import FileProblem, read_bytes
from configsvc.sources.base import Layer, Source

NESTING = "__"
FILE_SUFFIX = "_FILE"
SOURCE_NAME = "environment"


class EnvironmentVariables(Source):
    """The ``<prefix>*`` variables of the environment passed in, as a nested layer."""

    name = SOURCE_NAME

    def __init__(self, environ: Mapping[str, str], prefix: str = "APP_",
                 pinned: Mapping[str, bytes] | None = None) -> None:
        self.environ = environ
        self.prefix = prefix.upper()
        # ``_FILE`` files' bytes as a host kept them (by variable), read instead of the files.
        self.pinned = pinned or {}

    def load(self) -> Layer | None:
        """Every ``<prefix>*`` variable but ``<prefix>ENV``, nested by ``__``, keys lower-cased; the
        ``_FILE`` ones read from their files."""
        data: dict[str, Any] = {}
        variables: dict[KeyPath, str] = {}
        layer = Layer(self.name, data, variables=variables)
        problems = []
        secret: set[KeyPath] = set()
        files: list[Path] = []
        prefix, selector = self.prefix, f"{self.prefix}ENV"
        names = {name.upper() for name in self.environ}
        for name in sorted(self.environ):
            upper = name.upper()
            if not upper.startswith(prefix) or upper == selector:
                continue
            from_file = upper.endswith(FILE_SUFFIX) and len(upper) > len(prefix) + len(FILE_SUFFIX)
            stem = name[len(prefix):len(name) - len(FILE_SUFFIX)] if from_file else name[len(prefix):]
            path = tuple(part.lower() for part in stem.split(NESTING))
            if not all(path):
                variables[path] = name
                problems.append(layer.problem(
                    f"variable {name} has an empty key part; nest keys with a double underscore "
                    f"between non-empty names ({prefix}CELERY__BROKER_URL)", path))
                continue
            variables[path] = name
            value = self.environ[name]
            if from_file:
                if upper[: -len(FILE_SUFFIX)] in names:
                    problems.append(layer.problem(
                        f"both {name[: -len(FILE_SUFFIX)]} and {name} are set; keep one", path))
                    continue
                file_path = Path(value).expanduser()
                files.append(file_path)
                try:
                    kept = self.pinned.get(name)
                    content = kept if kept is not None else read_bytes(file_path, what="a value file")
                    value = _one_value(content)
                except FileProblem as problem:
                    problems.append(Problem(
                        f"{file_path}: {problem.message}", kind="file", key=".".join(path),
                        source=self.name, variable=name))
                    continue
                layer.file_digests[name] = hashlib.sha256(content).hexdigest()
                layer.file_bytes[name] = content
                secret.add(path)
            conflict = _place(data, path, value)
            if conflict is not None:
                problems.append(layer.problem(
                    f"variable {name} sets a key inside {'.'.join(conflict)}, which another variable "
                    "sets to a single value; keep one of them", path))
        if problems:
            raise_for(problems)
        layer.secret_paths = frozenset(secret)
        layer.files = tuple(files)
        return layer if data else None


def _one_value(content: bytes) -> str:
    """A value file's text, one trailing line ending (``\n`` or ``\r\n``) dropped: what ``echo`` and
    editors add, on Linux or Windows."""
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as error:
        raise FileProblem(f"the file is not valid UTF-8 (byte {error.start})") from None
    for ending in ("\r\n", "\n"):
        if text.endswith(ending):
            return text[: -len(ending)]
    return text


def _place(data: dict[str, Any], path: KeyPath, value: str) -> KeyPath | None:
    """Store value at path; returns the conflicting prefix when a scalar and a mapping collide."""
    node = data
    for depth, part in enumerate(path[:-1]):
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            return path[: depth + 1]
        node = child
    if isinstance(node.get(path[-1]), dict):
        return path
    node[path[-1]] = value
    return None
