"""The house shape: every class of the emulators is slotted (a fleet holds a million
devices). That they are sans-IO and import nothing of dsp_core is tests/unit/test_layout.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
ALL_SOURCES = sorted((ROOT / "emulators").rglob("*.py"))


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("path", ALL_SOURCES, ids=lambda p: p.name)
def test_every_class_in_emulators_has_slots(path: Path) -> None:
    for node in ast.walk(_tree(path)):
        if not isinstance(node, ast.ClassDef) or _is_exempt(node):
            continue
        decorated = any("slots=True" in ast.unparse(d) for d in node.decorator_list)
        declared = any(
            isinstance(item, ast.Assign)
            and any(isinstance(t, ast.Name) and t.id == "__slots__" for t in item.targets)
            for item in node.body
        )
        assert decorated or declared, f"{path.name}: class {node.name} has no __slots__"


def _is_exempt(node: ast.ClassDef) -> bool:
    """Enums, exceptions and pydantic edge models need no slots."""
    bases = {ast.unparse(base) for base in node.bases}
    exempt = {"IntEnum", "StrEnum", "BaseModel", "Exception"}
    return bool(bases & exempt) or any(base.endswith("Error") for base in bases)
