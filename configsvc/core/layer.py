"""A layer: the raw settings one source contributes, and where each of them was written.

The type every source produces (:mod:`configsvc.sources`) and the core types and merges
(:mod:`configsvc.core.coerce`, :mod:`configsvc.core.layering`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from configsvc.core.keypath import KeyPath
from configsvc.errors import Problem, ProblemKind


@dataclass
class Layer:
    """The raw settings one source contributes, and where each of them was written."""

    name: str
    data: dict[Any, Any]
    path: str | None = None
    lines: dict[KeyPath, int] = field(default_factory=dict)
    variables: dict[KeyPath, str] = field(default_factory=dict)
    # Keys whose values were encrypted at rest: secret whatever their name.
    secret_paths: frozenset[KeyPath] = frozenset()
    # How the source was encrypted at rest: "configsvc" (its own format), "sops", or None. A reload never
    # switches from an encrypted format to another format on its own (see refuse_format_change).
    encryption: str | None = None
    # The source is a defaults layer (configsvc's, the app's file, the embedded broker): what applies when
    # nobody configured a value.
    defaults: bool = False
    # Files this layer was read from that can change while the app runs (watched for reloads).
    files: tuple[Path, ...] = ()
    # Files that can change while the app runs, as read for this layer: role (the source, or the
    # variable naming the file) -> SHA-256 of the bytes read. The fingerprint is made of these.
    file_digests: dict[str, str] = field(default_factory=dict)
    # The bytes behind ``file_digests`` (same roles): what a host keeps of the configuration a rollout
    # settled (:mod:`configsvc.rollout.settled`). Never in a repr.
    file_bytes: dict[str, bytes] = field(default_factory=dict, repr=False)

    @property
    def encrypted(self) -> bool:
        """True when the source was an encrypted file (either format)."""
        return self.encryption is not None

    def origin(self, path: KeyPath) -> str:
        """Where the value at ``path`` was written, for humans: ``file:line``, a variable, or the source."""
        if self.path is not None:
            line = self.lines.get(path)
            return f"{self.path}:{line}" if line is not None else self.path
        variable = self.variables.get(path)
        if variable is not None:
            return variable
        return self.name

    def problem(self, message: str, path: KeyPath = (), kind: ProblemKind = "validation") -> Problem:
        """A problem located at ``path`` in this layer."""
        return Problem(
            message,
            kind=kind,
            key=".".join(path) or None,
            source=self.name,
            path=self.path,
            line=self.lines.get(path) if self.path is not None else None,
            variable=self.variables.get(path),
        )
