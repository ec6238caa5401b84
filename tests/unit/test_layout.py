"""DESIGN §2: protocol logic is sans-IO, and each package imports only what its row allows."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
IO_MODULES = {"asyncio", "socket", "time", "threading", "aiomqtt", "amqtt", "serialx", "subprocess"}
ALLOWED_THIRD_PARTY = {
    # zigpy: its OTA header and ZCL foundation types are sans-IO (docs/decisions.md, D1)
    "gbcs": {"zigpy"},
}
PROJECT_PACKAGES = {"contract", "gbcs", "bus", "dsp_core", "emulators", "bridge", "hil", "smetslab"}


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("path", sorted((ROOT / "gbcs").rglob("*.py")), ids=lambda p: p.name)
def test_gbcs_is_sans_io(path: Path) -> None:
    imported = _imports(path)
    assert not imported & IO_MODULES, f"{path.name} imports I/O: {imported & IO_MODULES}"
    others = imported & PROJECT_PACKAGES - {"gbcs", "contract"}
    assert not others, f"{path.name} imports project packages {others}"


def test_gbcs_third_party_imports_are_the_declared_ones() -> None:
    stdlib = set(sys.stdlib_module_names) | {"__future__"}
    found = set().union(*(_imports(p) for p in (ROOT / "gbcs").rglob("*.py")))
    third_party = found - stdlib - PROJECT_PACKAGES
    assert third_party <= ALLOWED_THIRD_PARTY["gbcs"], third_party
