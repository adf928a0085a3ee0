"""``<prefix>*`` environment variables: ``APP_PORT``, nested keys with ``__`` (``APP_CELERY__BROKER_URL``).

Values stay the strings they are here; the schema types them later. ``<prefix>ENV`` selects the
environment and is not a setting.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from configsvc.core.keypath import KeyPath
from configsvc.errors import ValidationError
from configsvc.sources.base import Layer, Source

NESTING = "__"
SOURCE_NAME = "environment"


class EnvironmentVariables(Source):
    """The ``<prefix>*`` variables of the environment passed in, as a nested layer."""

    name = SOURCE_NAME

    def __init__(self, environ: Mapping[str, str], prefix: str = "APP_") -> None:
        self.environ = environ
        self.prefix = prefix.upper()

    def load(self) -> Layer | None:
        """Every ``<prefix>*`` variable but ``<prefix>ENV``, nested by ``__``, keys lower-cased."""
        data: dict[str, Any] = {}
        variables: dict[KeyPath, str] = {}
        layer = Layer(self.name, data, variables=variables)
        problems = []
        prefix, selector = self.prefix, f"{self.prefix}ENV"
        for name in sorted(self.environ):
            upper = name.upper()
            if not upper.startswith(prefix) or upper == selector:
                continue
            path = tuple(part.lower() for part in name[len(prefix):].split(NESTING))
            if not all(path):
                variables[path] = name
                problems.append(layer.problem(
                    f"variable {name} has an empty key part; nest keys with a double underscore "
                    f"between non-empty names ({prefix}CELERY__BROKER_URL)", path))
                continue
            variables[path] = name
            conflict = _place(data, path, self.environ[name])
            if conflict is not None:
                problems.append(layer.problem(
                    f"variable {name} sets a key inside {'.'.join(conflict)}, which another variable "
                    "sets to a single value; keep one of them", path))
        if problems:
            raise ValidationError(problems)
        return layer if data else None


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
