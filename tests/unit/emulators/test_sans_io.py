"""DESIGN §2 and the house shape: the emulators are sans-IO. No I/O module, no clock
read, no thread; nothing of dsp_core (its records are the contract's; docs/emulators.md E9)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.unit.test_layout import IO_MODULES, ROOT

ADAPTERS = {"runner.py"}  # the fleet runner: the one module that does I/O for the models
ALL_SOURCES = sorted((ROOT / "emulators").rglob("*.py"))
SOURCES = [path for path in ALL_SOURCES if path.name not in ADAPTERS]
CLOCK_READS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "sleep"}


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_emulators_import_no_io_and_nothing_of_dsp_core(path: Path) -> None:
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            names = {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = {node.module}
        else:
            continue
        roots = {name.split(".")[0] for name in names}
        assert not roots & IO_MODULES, f"{path.name} imports {roots & IO_MODULES}"
        dsp = {name for name in names if name.split(".")[0] == "dsp_core"}
        assert not dsp, f"{path.name} imports {dsp}"
        assert "bus" not in roots


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_emulators_never_read_a_clock(path: Path) -> None:
    calls = {
        node.func.attr
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & CLOCK_READS, f"{path.name} calls {calls & CLOCK_READS}"


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
