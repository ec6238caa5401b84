"""DESIGN §2: the rig-link protocol layers are sans-IO (no I/O module, no clock read) and
import from the project only what the bridge's row allows."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.unit.test_layout import IO_MODULES, ROOT

PROTOCOL = [ROOT / "bridge" / name for name in ("framing.py", "messages.py", "session.py")] + [
    ROOT / "bridge" / "zigbee" / name
    for name in (
        "actions.py",
        "answers.py",
        "jobs.py",
        "translate.py",
        "frames.py",
        "emulated_device.py",
    )
]
CLOCK_READS = {"now", "utcnow", "today", "time", "monotonic", "perf_counter", "sleep"}
ALLOWED = {"contract", "gbcs", "bus", "emulators", "bridge"}  # emulators: the rig simulator only


def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("path", PROTOCOL, ids=lambda p: p.name)
def test_the_protocol_layers_do_no_io_and_read_no_clock(path: Path) -> None:
    roots = {name.split(".")[0] for name in _imports(path)}
    assert not roots & IO_MODULES, f"{path.name} imports {roots & IO_MODULES}"
    calls = {
        node.func.attr
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & CLOCK_READS, f"{path.name} calls {calls & CLOCK_READS}"


# where a rig (or a radio) is simulated: the only modules that may use the emulators
SIMULATED = {"rig_simulator.py", "emulated_device.py", "emulated_radio.py"}


@pytest.mark.parametrize("path", sorted((ROOT / "bridge").rglob("*.py")), ids=lambda p: p.name)
def test_the_bridge_imports_what_its_row_allows(path: Path) -> None:
    project = {"gbcs", "bus", "dsp_core", "emulators", "bridge", "hil", "smetslab"}
    roots = {name.split(".")[0] for name in _imports(path)} & project
    assert roots <= ALLOWED, f"{path.name} imports {roots - ALLOWED}"
    if path.name not in SIMULATED:
        assert "emulators" not in roots, f"{path.name}: emulators only where a rig is simulated"
