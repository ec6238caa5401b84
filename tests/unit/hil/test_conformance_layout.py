"""DESIGN §2: the conformance sequence and checks are sans-IO; only runner.py and on_lab.py do I/O.
They may read GBCS (gbcs), the DSP's pure records and tables (dsp_core.ids, .errors,
.model, .commands) and topic names (bus.topics, bus.errors), nothing that connects."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.unit.test_layout import IO_MODULES, ROOT

IO_PARTS = {"runner.py", "on_lab.py"}  # on the bus; on a lab started from its file
SOURCES = sorted(p for p in (ROOT / "hil" / "conformance").glob("*.py") if p.name not in IO_PARTS)
ALLOWED_PROJECT = {
    "contract",
    "gbcs",
    "hil",
    "dsp_core.ids",
    "dsp_core.errors",
    "dsp_core.model",
    "dsp_core.commands",
    "bus.topics",
    "bus.errors",
}
PROJECT = {"gbcs", "bus", "dsp_core", "emulators", "bridge", "hil", "smetslab"}
CLOCK_READS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "sleep"}


def _modules(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module)
    return found


def _allowed(module: str) -> bool:
    return any(module == a or module.startswith(f"{a}.") for a in ALLOWED_PROJECT)


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_conformance_logic_is_sans_io(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    modules = _modules(tree)
    roots = {m.split(".")[0] for m in modules}
    assert not roots & IO_MODULES, f"{path.name} imports {roots & IO_MODULES}"
    project = {m for m in modules if m.split(".")[0] in PROJECT}
    assert all(_allowed(m) for m in project), f"{path.name} imports {project}"
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & CLOCK_READS, f"{path.name} calls {calls & CLOCK_READS}"


def test_the_layout_test_sees_the_package() -> None:
    names = {p.name for p in SOURCES}
    assert {"checks.py", "sequence.py", "recording.py", "html.py", "junit.py"} <= names
