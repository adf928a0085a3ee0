"""The package's floors: what core/ may import, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.support.reference import PROJECT

CORE = PROJECT / "configsvc" / "core"
#: What the ground floor may import from configsvc: itself, the error root and the file formats.
BELOW = ("configsvc.core", "configsvc.errors", "configsvc.formats")


def imported(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return {name for name in names if name == "configsvc" or name.startswith("configsvc.")}


def test_core_imports_nothing_above_it() -> None:
    above = {f"{path.name}: {name}" for path in sorted(CORE.glob("*.py")) for name in imported(path)
             if not name.startswith(BELOW)}
    assert not above, sorted(above)
