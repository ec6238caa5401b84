"""DESIGN §2: the scenario interpreter and what it uses are sans-IO: no asyncio, broker,
socket or clock; the runner (hil/scenario_runner.py) and the lab do the I/O."""

from __future__ import annotations

import ast
from asyncio import CancelledError
from pathlib import Path

import pytest

from hil.taskgroups import unwrap_body_error
from tests.unit.test_layout import IO_MODULES, ROOT

SANS_IO = sorted(
    ROOT / "hil" / name
    for name in (
        "scenario.py",
        "scenario_checks.py",
        "scenario_run.py",
        "scenario_target.py",
        "observations.py",
        "lab_env.py",
        "transcript.py",
        "taskgroups.py",
    )
)
CLOCK_READS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "sleep"}
IO_PROJECT_MODULES = {
    "bus",
    "bridge",
    "hil.lab",
    "hil.lab_client",
    "hil.lab_hubs",
    "dsp_core.store",
}


def _imports(tree: ast.Module) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(("hil." if node.level else "") + node.module)
    return found


@pytest.mark.parametrize("path", SANS_IO, ids=lambda p: p.name)
def test_scenario_logic_imports_no_io_and_reads_no_clock(path: Path) -> None:
    tree = ast.parse(path.read_text(), filename=str(path))
    imported = _imports(tree)
    roots = {name.split(".")[0] for name in imported}
    assert not roots & IO_MODULES, f"{path.name} imports {roots & IO_MODULES}"
    reaching_io = {
        name
        for name in imported
        if any(name == m or name.startswith(m + ".") for m in IO_PROJECT_MODULES)
    }
    assert not reaching_io, f"{path.name} imports {reaching_io}"
    calls = {
        node.func.attr
        for node in ast.walk(tree)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & CLOCK_READS, f"{path.name} calls {calls & CLOCK_READS}"


class _FailedError(Exception):
    pass


def test_a_group_of_one_gives_back_the_error_of_the_body_or_of_the_task() -> None:
    """What a lab raises at its end: the body's own error; a background task's, when the
    body ended or was cancelled for it (D-S6); the group when there are several."""
    body, task = _FailedError("body"), _FailedError("task")
    assert unwrap_body_error(BaseExceptionGroup("g", [body]), body) is body
    assert unwrap_body_error(BaseExceptionGroup("g", [task]), None) is task
    assert unwrap_body_error(BaseExceptionGroup("g", [task]), CancelledError()) is task
    both = BaseExceptionGroup("g", [body, task])
    assert unwrap_body_error(both, body) is both
    nested = BaseExceptionGroup("g", [BaseExceptionGroup("inner", [task])])
    assert unwrap_body_error(nested, None) is task
