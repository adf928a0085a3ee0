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


def test_the_figures_the_docs_give_about_the_suite_are_what_it_does() -> None:
    """The process count and the Chromium command the docs give are the ones pyproject.toml and CI use,
    and a time the docs give comes with the date and machine it was measured on."""
    developing = (PROJECT / "docs" / "developing.md").read_text()
    addopts = re.search(r'^addopts = "([^"]+)"', (PROJECT / "pyproject.toml").read_text(), re.M)
    assert addopts is not None
    processes = re.search(r"-n (\d+)", addopts[1])
    assert processes is not None
    words = {"2": "two", "3": "three", "4": "four", "5": "five", "6": "six"}
    assert f"pytest ({processes[1]} processes)" in developing
    assert f"{words[processes[1]]} test processes" in developing
    pyproject_comment = (PROJECT / "pyproject.toml").read_text()
    assert f"{words[processes[1]].capitalize()} test processes on two cores" in pyproject_comment
    ci = (PROJECT / ".ci" / "run").read_text()
    install = re.search(r"apt-get install -y -q ((?:--\S+ )*chromium)", ci)
    assert install is not None
    for page in (developing, (PROJECT / "README.md").read_text()):
        assert f"apt-get install {install[1]}" in page
    for took in re.finditer(r"took about [^.]*", developing):
        assert re.search(r"on \d{4}-\d{2}-\d{2}", took[0]) and "machine" in took[0], took[0]
