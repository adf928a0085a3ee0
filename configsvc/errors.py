"""One error root for every configuration problem, and the problems it carries.

A message names where the problem is (file and line, environment variable, or overrides), the dotted key
and the source, and says how to fix it. It never contains a configured value.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

ProblemKind = Literal["file", "decrypt", "validation", "config"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with the configuration, located as precisely as the source allows."""

    message: str
    kind: ProblemKind = "validation"
    key: str | None = None
    source: str | None = None
    path: str | None = None
    line: int | None = None
    variable: str | None = None

    @property
    def location(self) -> str:
        """Where to look: ``file:line``, ``environment variable X``, or the source's name."""
        if self.path is not None:
            return f"{self.path}:{self.line}" if self.line is not None else self.path
        if self.variable is not None:
            return f"environment variable {self.variable}"
        return self.source or "configuration"

    def __str__(self) -> str:
        parts = [self.location]
        if self.key:
            parts.append(self.key)
        text = ": ".join(parts) + ": " + self.message
        if self.source and self.path is None and self.variable is None:
            return text
        if self.source:
            text += f" [source: {self.source}]"
        return text


class ConfigError(Exception):
    """The root of every configuration error; carries all the problems found in one resolution.

    configsvc's commands print it as ``error: <message>`` with exit status 1; raised by ``init_app``
    while a click command builds the app (``flask run``, ``flask routes``) it is also a click error, so
    that command line prints it the same way, never as a traceback.
    """

    def __init__(self, problems: Problem | str | Iterable[Problem]) -> None:
        if isinstance(problems, str):
            problems = [Problem(problems, kind="config")]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: Sequence[Problem] = tuple(problems)
        self.warnings: Sequence[str] = ()  # warnings from the same resolution, which may explain it
        super().__init__(self._render())

    def _render(self) -> str:
        if len(self.problems) == 1:
            return str(self.problems[0])
        lines = [f"{len(self.problems)} configuration problems:"]
        lines.extend(f"  - {problem}" for problem in self.problems)
        return "\n".join(lines)

    @property
    def path(self) -> str | None:
        """The file of the first problem that names one."""
        return next((p.path for p in self.problems if p.path), None)

    @property
    def key(self) -> str | None:
        """The dotted key of the first problem that names one."""
        return next((p.key for p in self.problems if p.key), None)

    @property
    def source(self) -> str | None:
        """The source of the first problem that names one."""
        return next((p.source for p in self.problems if p.source), None)


class FileError(ConfigError):
    """A deployment or settings file is missing, unreadable, too large, or does not parse."""


class DecryptError(ConfigError):
    """An encrypted value or file could not be decrypted or authenticated."""


class ValidationError(ConfigError):
    """Values were read but do not fit the schema or the environment's rules."""


class ConfigUsageError(RuntimeError):
    """configsvc was used the wrong way in code: not a problem of the configuration itself.

    Raised for a Celery placeholder used before ``init_app``, an extension registered twice on one app,
    or options that cannot work (an unknown schema type, an empty prefix).
    """


class CeleryNotConfigured(ConfigUsageError):
    """The Celery placeholder was used before ``init_app`` bound a configuration into it."""

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or (
            "the Celery app is used before init_app(app) bound a configuration to it: build the Flask "
            "app first (your create_app()), and start workers from a module that does "
            "(celery -A yourapp.worker.celery worker); nothing falls back to a default broker"))


class AlreadyRegistered(ConfigUsageError):
    """An extension's ``init_app`` was called a second time on the same Flask app."""


class ConfigWarning(UserWarning):
    """A configuration that works but should be changed (old setting names, unknown keys)."""


def raise_for(problems: Sequence[Problem]) -> None:
    """Raise one error for all problems, of the most specific class they all share."""
    if not problems:
        return
    kinds = {p.kind for p in problems}
    cls = _CLASS_FOR_KIND[kinds.pop()] if len(kinds) == 1 else ConfigError
    raise cls(problems)


_CLASS_FOR_KIND: dict[str, type[ConfigError]] = {
    "file": FileError,
    "decrypt": DecryptError,
    "validation": ValidationError,
    "config": ConfigError,
}
