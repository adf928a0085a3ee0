"""The app's defaults file: a ``default`` section, and one section per environment (``<prefix>ENV``).

The file ships with the app's code (``ConfigService(defaults=...)``) and holds no secrets. Any section may
be missing; a missing section is empty.
"""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from configsvc.errors import FileError, Problem
from configsvc.formats import ParsedFile, read_parsed
from configsvc.sources.base import Layer, Source

DEFAULT_SECTION = "default"
STANDARD_ENVIRONMENTS = ("development", "testing", "production")
SOURCE_NAME = "defaults"


class DefaultsFile:
    """The defaults file, read once and shared by the ``default`` and environment layers.

    ``path`` None: the app has no defaults file (every section is empty).
    """

    def __init__(self, path: Path | None) -> None:
        self.path = path

    @cached_property
    def parsed(self) -> ParsedFile:
        """The parsed file; raises :class:`FileError` naming it when it cannot be read."""
        if self.path is None:
            return ParsedFile({})
        return read_parsed(self.path, SOURCE_NAME)

    def environments(self) -> list[str]:
        """The environments there are: the standard three, plus every section the file has."""
        named = [str(name) for name in self.parsed.data if name != DEFAULT_SECTION]
        return list(dict.fromkeys([*STANDARD_ENVIRONMENTS, *named]))

    def section(self, name: str) -> dict[str, Any]:
        """One section's settings (empty when the section is missing or empty)."""
        value = self.parsed.data.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise FileError(
                Problem(f"section {name!r} must be a mapping of settings", kind="file",
                        source=SOURCE_NAME, path=str(self.path),
                        line=self.parsed.lines.get((name.lower(),)))
            )
        return value

    def shipped_values(self, key: str) -> list[Any]:
        """Every value the file gives a top-level key in any section (to spot shipped defaults)."""
        values = []
        for section in self.parsed.data.values():
            if isinstance(section, dict):
                for name, value in section.items():
                    if isinstance(name, str) and name.lower() == key:
                        values.append(getattr(value, "raw", value))
        return values


class DefaultsSection(Source):
    """One section of the defaults file as a layer: ``defaults`` or ``defaults[<environment>]``."""

    def __init__(self, defaults: DefaultsFile, section: str) -> None:
        self.defaults = defaults
        self.section_name = section
        self.name = SOURCE_NAME if section == DEFAULT_SECTION else f"{SOURCE_NAME}[{section}]"

    def load(self) -> Layer | None:
        """The section's settings, with the lines they were written on; None when it has none."""
        data = self.defaults.section(self.section_name)
        if not data:
            return None
        prefix = (self.section_name.lower(),)
        lines = {
            path[1:]: line
            for path, line in self.defaults.parsed.lines.items()
            if path[:1] == prefix and len(path) > 1
        }
        return Layer(self.name, data, path=str(self.defaults.path), lines=lines, defaults=True)
