"""The shipped defaults: ``settings/settings.yaml``, a ``default`` section and one per environment."""

from __future__ import annotations

from functools import cached_property
from pathlib import Path
from typing import Any

from configsvc.errors import FileError, Problem
from configsvc.formats.files import FileProblem, ParsedFile, parse, read_text
from configsvc.sources.base import Layer, Source

DEFAULT_SECTION = "default"
SETTINGS_FILE_NAME = "settings.yaml"


class SettingsFile:
    """The defaults file, read once and shared by the ``default`` and environment layers."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @cached_property
    def parsed(self) -> ParsedFile:
        """The parsed file; raises :class:`FileError` naming it when it cannot be read."""
        try:
            return parse(self.path, read_text(self.path))
        except FileProblem as problem:
            raise FileError(
                Problem(problem.message, kind="file", source="defaults", path=str(self.path),
                        line=problem.line)
            ) from None

    def environments(self) -> list[str]:
        """The environment names the file has a section for."""
        return [name for name in self.parsed.data if name != DEFAULT_SECTION]

    def section(self, name: str) -> dict[str, Any]:
        """One section's settings (empty when the section is empty)."""
        value = self.parsed.data.get(name)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise FileError(
                Problem(f"section {name!r} must be a mapping of settings", kind="file",
                        source="defaults", path=str(self.path),
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


class SettingsSection(Source):
    """One section of the defaults file as a layer."""

    def __init__(self, settings: SettingsFile, section: str) -> None:
        self.settings = settings
        self.section_name = section
        self.name = "defaults" if section == DEFAULT_SECTION else f"settings[{section}]"

    def load(self) -> Layer | None:
        """The section's settings, with the lines they were written on."""
        data = self.settings.section(self.section_name)
        prefix = (self.section_name.lower(),)
        lines = {
            path[1:]: line
            for path, line in self.settings.parsed.lines.items()
            if path[:1] == prefix and len(path) > 1
        }
        return Layer(self.name, data, path=str(self.settings.path), lines=lines)
