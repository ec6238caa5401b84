"""The tests' own layout: what tests share lives in tests/support/, and a test module
imports only from there (and the product), never from another test module, from
tests.conftest (its fixtures reach tests without an import) or from a helper file beside
it. A test module then runs, moves or goes alone, and a shared helper has one home."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parents[1]
SUPPORT = "tests.support"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(TESTS.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def files_of_the_tests() -> list[Path]:
    """Every Python file of the tests: test modules, conftest, tests/support."""
    return sorted(TESTS.rglob("*.py"))


def unwanted_imports(path: Path) -> list[str]:
    """The imports of `path` that reach a part of tests/ other than tests.support:
    relative imports (a sibling file) and absolute ones alike."""
    found: list[str] = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.ImportFrom) and node.level:
            found.append(f"line {node.lineno}: relative import from {'.' * node.level}")
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module is not None:
            names = [node.module]
            if node.module == "tests":  # `from tests import x` imports tests.x
                names = [f"tests.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            inside = name == "tests" or name.startswith("tests.")
            if inside and not (name == SUPPORT or name.startswith(f"{SUPPORT}.")):
                found.append(f"line {node.lineno}: {name}")
    return found


@pytest.mark.parametrize("path", files_of_the_tests(), ids=module_name)
def test_tests_import_from_tests_support_only(path: Path) -> None:
    unwanted = unwanted_imports(path)
    assert not unwanted, f"{module_name(path)} imports outside tests.support: {unwanted}"


def test_what_tests_share_lives_in_tests_support() -> None:
    """Beside the tests, only test modules, conftest.py and package markers."""
    support = TESTS / "support"
    helpers = [
        module_name(p)
        for p in files_of_the_tests()
        if support not in p.parents
        and not p.name.startswith("test_")
        and p.name not in {"conftest.py", "__init__.py"}
    ]
    assert not helpers, f"shared test code outside tests/support: {helpers}"


def test_the_check_sees_what_it_forbids(tmp_path: Path) -> None:
    sample = tmp_path / "test_sample.py"
    sample.write_text(
        "from tests.support.paths import ROOT\n"
        "from tests.conftest import SHARED\n"
        "from tests.unit.dsp_core import test_core_rules\n"
        "import tests.e2e.test_serial_cli\n"
        "from tests import support, conftest\n"
        "from .lab import Lab\n"
        "from bus.adapter import MqttAdapter\n"
    )
    assert unwanted_imports(sample) == [
        "line 2: tests.conftest",
        "line 3: tests.unit.dsp_core",
        "line 4: tests.e2e.test_serial_cli",
        "line 5: tests.conftest",
        "line 6: relative import from .",
    ]
