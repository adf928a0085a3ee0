"""configsvc's own defaults, the lowest layer: production-safe Celery settings every app gets.

They live in ``configsvc/defaults.yaml`` inside the package; an app's defaults file, the deployment file
and the environment override any of them.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from configsvc.formats import ParsedFile, parse_yaml
from configsvc.sources.base import Layer, Source

SOURCE_NAME = "configsvc defaults"


@cache
def _shipped() -> tuple[str, ParsedFile]:
    resource = resources.files("configsvc").joinpath("defaults.yaml")
    return str(resource), parse_yaml(resource.read_text(encoding="utf-8"))


class PackageDefaults(Source):
    """configsvc's shipped defaults as a layer."""

    name = SOURCE_NAME

    def load(self) -> Layer:
        """The shipped settings (a fresh copy of the top level: layers may not share mutable state)."""
        where, parsed = _shipped()
        return Layer(self.name, dict(parsed.data), path=where, lines=dict(parsed.lines), defaults=True)
