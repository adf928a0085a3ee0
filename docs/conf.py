"""Sphinx configuration: the pages are Markdown (MyST), the API reference comes from the docstrings."""

from __future__ import annotations

from importlib.metadata import version as package_version

project = "configsvc"
author = "the configsvc authors"
copyright = "2026, the configsvc authors"
release = package_version("configsvc")
version = ".".join(release.split(".")[:2])

extensions = ["sphinx.ext.autodoc", "myst_parser"]
source_suffix = {".md": "markdown"}
exclude_patterns = ["_build", "_generated", "pypi.md"]
root_doc = "index"

# Headings get anchors (page.md#a-heading), so a link to a heading that does not exist is a warning,
# and make docs fails on warnings.
myst_heading_anchors = 3
myst_enable_extensions = ["colon_fence"]
suppress_warnings: list[str] = []

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_default_options: dict[str, object] = {}

html_theme = "alabaster"
html_title = f"configsvc {release}"
