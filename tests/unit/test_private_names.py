"""No module imports another module's private names (``from x import _y``): private means private.

import-linter checks which modules import which; this checks *what* they import. Tests may reach into
privates (they patch internals); shipped code (shared, functions, infra) may not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
SHIPPED = ("shared", "functions", "infra")


def _modules() -> list[Path]:
    return [
        p for root in SHIPPED for p in sorted((REPO / root).rglob("*.py")) if "__pycache__" not in p.parts
    ]


def _private_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] in SHIPPED:
            for alias in node.names:
                if alias.name.startswith("_") and not alias.name.startswith("__"):
                    found.append(
                        f"{path.relative_to(REPO)}:{node.lineno}: from {node.module} import {alias.name}"
                    )
    return found


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(REPO)))
def test_no_private_name_is_imported_from_another_module(path: Path) -> None:
    assert _private_imports(path) == []
