"""What does not fit an app's settings model, as configsvc problems: located where the value was set
(file and line, variable, or source), by dotted key, and never carrying a value."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from configsvc.core.coerce import TypedLayer
from configsvc.core.keypath import KeyPath
from configsvc.core.layering import leaves
from configsvc.errors import Problem
from configsvc.typed.model import Invalid, Issue, SettingsModel, without_values


def model_problems(invalid: Invalid, model: SettingsModel, values: Mapping[str, Any],
                   winners: Mapping[KeyPath, TypedLayer], env_prefix: str) -> Iterator[Problem]:
    """One problem per issue. A validator's message is cleared of every value given to the model (it may
    quote any of them, or compare two)."""
    given = [value for path, value in leaves(dict(values)) if path[:1] and path[0] in model.keys]
    for issue in invalid.issues:
        yield _problem(issue, model, given, winners, env_prefix)


def _problem(issue: Issue, model: SettingsModel, given: Iterable[Any],
             winners: Mapping[KeyPath, TypedLayer], env_prefix: str) -> Problem:
    path = tuple(part.lower() for part in issue.loc if isinstance(part, str))
    key = _display(issue.loc)
    if issue.missing:
        variable = env_prefix + "__".join(part.upper() for part in path)
        return Problem(f"missing: {model.name} requires it (set it in a defaults or deployment file, or "
                       f"{variable})", key=key or None, source=f"settings model {model.name}")
    message = without_values(issue.message, given) if issue.from_validator else issue.message
    for length in range(len(path), 0, -1):
        winner = winners.get(path[:length])
        if winner is not None:
            located = winner.layer.problem(message, winner.written_path(path[:length]))
            return Problem(located.message, key=key, source=located.source, path=located.path,
                           line=located.line, variable=located.variable)
    return Problem(message, key=key or None, source=f"settings model {model.name}")


def _display(loc: tuple[str | int, ...]) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text
