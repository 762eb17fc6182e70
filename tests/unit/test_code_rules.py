"""Rules the code keeps that no linter here checks."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PRODUCTION = ("layers", "functions", "infra")


def test_no_assert_in_production_code():
    """`python -O` removes asserts: a check that matters is an explicit error."""
    found = [
        f"{path.relative_to(ROOT)}:{node.lineno}"
        for folder in PRODUCTION
        for path in sorted((ROOT / folder).rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.Assert)
    ]
    assert found == []
