"""The README and the docs link only to files of this repository that exist (Sphinx checks the links
between the pages and to their headings when ``make docs`` builds them; the README is not one of them)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from tests.support.reference import PROJECT

PAGES = [PROJECT / "README.md", *sorted((PROJECT / "docs").glob("*.md"))]
LINK = re.compile(r"\]\(([^)\s]+)\)")


@pytest.mark.parametrize("page", PAGES, ids=lambda page: page.name)
def test_every_relative_link_names_a_file_that_exists(page: Path) -> None:
    for target in LINK.findall(page.read_text(encoding="utf-8")):
        assert not target.startswith(("http:", "https:")), f"{page.name} links outside: {target}"
        path = target.split("#")[0]
        if path:
            assert (page.parent / path).exists(), f"{page.name}: {target} does not exist"
