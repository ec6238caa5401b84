"""The house's layout (docs/architecture.md, DESIGN §2), checked in one table.

`LAYOUT` says, for every package and for the parts of a package that differ from it,
which project modules it may import and whether it is sans-IO. The most specific row
for a module wins. A sans-IO module imports no I/O module of the standard library or
any library (`IO_MODULES`), no project module whose own row is not sans-IO, and reads
no clock (`CLOCK_READS`): it takes bytes or events and returns bytes, events or actions.
"""

from __future__ import annotations

import ast
import sys
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("contract", "gbcs", "bus", "dsp_core", "emulators", "bridge", "hil", "smetslab")
IO_MODULES = frozenset(
    {
        "asyncio",
        "socket",
        "time",
        "threading",
        "subprocess",
        "selectors",
        "aiomqtt",
        "paho",
        "amqtt",
        "serialx",
        "sqlalchemy",
        "psycopg",
    }
)
CLOCK_READS = frozenset({"now", "utcnow", "today", "time", "monotonic", "perf_counter", "sleep"})
EVERYTHING = frozenset(PACKAGES)


@dataclass(frozen=True, slots=True)
class Row:
    may_import: frozenset[str]  # project packages or modules (a prefix covers below it)
    sans_io: bool


def row(*may_import: str, sans_io: bool) -> Row:
    return Row(frozenset(may_import), sans_io)


_CORE = ("dsp_core", "gbcs", "contract")
_BRIDGE = ("bridge", "gbcs", "contract", "bus")
_HIL = ("hil", "contract", "gbcs", "bus", "dsp_core", "emulators", "bridge")

LAYOUT: dict[str, Row] = {
    # the contract and the codecs: the foundation, sans-IO
    "contract": row("contract", sans_io=True),
    "gbcs": row("gbcs", "contract.errors", "contract.records", "contract.times", sans_io=True),
    # the bus: MQTT and the clock
    "bus": row("bus", "contract", sans_io=False),
    "bus.errors": row("contract", sans_io=True),
    "bus.identity": row("bus.errors", "contract", sans_io=True),  # the broker URL, read
    # the DSP: a sans-IO core; its store and its service do the I/O
    "dsp_core": row(*_CORE, sans_io=True),
    "dsp_core.store": row(*_CORE, sans_io=False),
    "dsp_core.driver": row(*_CORE, sans_io=False),
    "dsp_core.service": row(*_CORE, "bus", sans_io=False),
    "dsp_core.outbox_relay": row(*_CORE, "bus", sans_io=False),
    # the emulators: sans-IO models; the fleet runner puts them on the bus
    "emulators": row("emulators", "gbcs", "contract", sans_io=True),
    "emulators.runner": row("emulators", "gbcs", "contract", "bus", sans_io=False),
    # the bridges: adapters around sans-IO protocol layers
    "bridge": row(*_BRIDGE, sans_io=False),
    "bridge.framing": row("bridge", "contract", sans_io=True),
    "bridge.messages": row("bridge", "contract", sans_io=True),
    "bridge.session": row("bridge", "contract", sans_io=True),
    "bridge.errors": row("contract", sans_io=True),
    "bridge.zigbee.actions": row("bridge", "gbcs", "contract", sans_io=True),
    "bridge.zigbee.answers": row("bridge", "gbcs", "contract", sans_io=True),
    "bridge.zigbee.frames": row("bridge", "gbcs", "contract", sans_io=True),
    "bridge.zigbee.jobs": row("bridge", "gbcs", "contract", sans_io=True),
    "bridge.zigbee.translate": row("bridge", "gbcs", "contract", sans_io=True),
    # where a rig or a radio is simulated: the only place the bridges use the emulators
    "bridge.simulators": row(*_BRIDGE, "emulators", sans_io=False),
    "bridge.simulators.zigbee_device": row("bridge", "gbcs", "contract", "emulators", sans_io=True),
    # hil: everything but the command line; in each room the model is sans-IO
    "hil": row(*_HIL, sans_io=False),
    "hil.errors": row("hil", "contract", sans_io=True),
    "hil.taskgroups": row(sans_io=True),
    "hil.campaign": row("hil.campaign", "hil.errors", "hil.security", "contract", sans_io=True),
    "hil.security": row("hil.errors", "contract", "gbcs", sans_io=True),
    "hil.campaign.runner": row(*_HIL, sans_io=False),
    "hil.lab.env": row(*_HIL, sans_io=True),
    "hil.lab.observations": row(sans_io=True),
    "hil.scenarios": row(*_HIL, sans_io=True),
    "hil.scenarios.runner": row(*_HIL, sans_io=False),
    "hil.conformance": row("hil", "contract", "gbcs", "dsp_core.commands", sans_io=True),
    "hil.conformance.runner": row(*_HIL, sans_io=False),
    "hil.conformance.on_lab": row(*_HIL, sans_io=False),
    # the command line: wiring only
    "smetslab": row(*EVERYTHING, sans_io=False),
}
# third-party libraries the foundation packages may use (anything else there is a slip)
THIRD_PARTY: dict[str, frozenset[str]] = {
    "contract": frozenset({"pydantic"}),
    # zigpy: its OTA header and ZCL types are sans-IO (D1); cryptography: the GBCS
    # signatures, MACs and certificates of gbcs.security and gbcs.keystore
    "gbcs": frozenset({"zigpy", "cryptography"}),
}


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def rule_for(module: str) -> tuple[str, Row]:
    """The most specific row covering `module`."""
    keys = [key for key in LAYOUT if module == key or module.startswith(f"{key}.")]
    if not keys:
        raise LookupError(f"no row of LAYOUT covers {module}")
    key = max(keys, key=len)
    return key, LAYOUT[key]


def _covers(prefixes: frozenset[str], module: str) -> bool:
    return any(module == p or module.startswith(f"{p}.") for p in prefixes)


@cache
def _tree(path: Path) -> ast.Module:
    return ast.parse(path.read_text(), filename=str(path))


def _is_module(name: str) -> bool:
    base = ROOT.joinpath(*name.split("."))
    return base.with_suffix(".py").is_file() or (base / "__init__.py").is_file()


def imports_of(path: Path) -> set[str]:
    """Every module `path` imports, relative imports resolved; `from pkg import mod`
    counts as importing `pkg.mod` when that is a module."""
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(_tree(path)):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                module = ".".join([*base, *([node.module] if node.module else [])])
            else:
                module = node.module or ""
            found.add(module)
            found.update(
                f"{module}.{a.name}" for a in node.names if _is_module(f"{module}.{a.name}")
            )
    return found - {"__future__"}


def reaches_io(module: str) -> bool:
    """Whether importing `module` brings I/O in: its row is not sans-IO, or it is a
    package whose `__init__` gathers a part that is (a room's runner)."""
    if not rule_for(module)[1].sans_io:
        return True
    init = ROOT.joinpath(*module.split("."), "__init__.py")
    if not init.is_file():
        return False
    inner = {m for m in imports_of(init) if m.split(".")[0] in PACKAGES and m != module}
    return any(reaches_io(m) for m in inner)


def sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", sources(), ids=module_name)
def test_each_module_imports_what_its_row_allows(path: Path) -> None:
    module = module_name(path)
    key, rule = rule_for(module)
    project = {m for m in imports_of(path) if m.split(".")[0] in PACKAGES}
    outside = {m for m in project if not _covers(rule.may_import, m)}
    assert not outside, f"{module} (row {key}) imports {sorted(outside)}"


def sans_io_sources() -> list[Path]:
    """The sans-IO modules; a package's `__init__` only gathers its API (the runner
    too), so it is not one of them."""
    return [p for p in sources() if p.name != "__init__.py" and rule_for(module_name(p))[1].sans_io]


@pytest.mark.parametrize("path", sans_io_sources(), ids=module_name)
def test_sans_io_modules_do_no_io_and_read_no_clock(path: Path) -> None:
    module = module_name(path)
    imported = imports_of(path)
    roots = {m.split(".")[0] for m in imported}
    assert not roots & IO_MODULES, f"{module} imports I/O: {sorted(roots & IO_MODULES)}"
    own_packages = {module.rsplit(".", n)[0] for n in range(1, module.count(".") + 1)}
    project = {m for m in imported if m.split(".")[0] in PACKAGES} - own_packages
    reaching = {m for m in project if reaches_io(m)}
    assert not reaching, f"{module} is sans-IO but imports {sorted(reaching)}, which are not"
    calls = {
        node.func.attr
        for node in ast.walk(_tree(path))
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
    }
    assert not calls & CLOCK_READS, f"{module} reads a clock: {sorted(calls & CLOCK_READS)}"


@pytest.mark.parametrize("package", sorted(THIRD_PARTY))
def test_the_foundation_packages_use_only_their_declared_libraries(package: str) -> None:
    stdlib = set(sys.stdlib_module_names)
    found = set().union(*(imports_of(p) for p in (ROOT / package).rglob("*.py")))
    third_party = {m.split(".")[0] for m in found} - stdlib - set(PACKAGES)
    assert third_party <= THIRD_PARTY[package], f"{package} uses {sorted(third_party)}"


def test_the_table_covers_every_module_and_sees_the_sans_io_parts() -> None:
    modules = [module_name(p) for p in sources()]
    for module in modules:
        rule_for(module)  # raises for a module no row covers
    sans_io = {module_name(p) for p in sans_io_sources()}
    expected = {
        "dsp_core.core",
        "dsp_core.service_requests",
        "emulators.models.firmware",
        "bridge.session",
        "bridge.zigbee.translate",
        "hil.campaign.model",
        "hil.scenarios.model",
        "hil.conformance.model",
        "hil.security",
        "gbcs.envelope",
        "contract.requests",
    }
    assert expected <= sans_io, expected - sans_io
    assert not {"dsp_core.service", "emulators.runner", "hil.campaign.runner"} & sans_io
    assert all(key in modules or any(m.startswith(f"{key}.") for m in modules) for key in LAYOUT)


def test_no_public_class_name_is_defined_twice() -> None:
    """One name, one thing: a reader who meets `Phase` or `Job` knows which it is."""
    homes: dict[str, list[str]] = {}
    for path in sources():
        for node in _tree(path).body:
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                homes.setdefault(node.name, []).append(module_name(path))
    twice = {name: where for name, where in homes.items() if len(where) > 1}
    assert not twice, twice


def test_pyproject_lists_every_package_so_the_wheel_has_them_all() -> None:
    """`[tool.setuptools] packages` is written out (configs/ ships as smetslab.configs):
    a package added to the tree and not to the list would be missing from the wheel."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    listed = set(config["packages"])
    tree = {module_name(p) for p in sources() if p.name == "__init__.py"}
    assert tree <= listed, f"not in pyproject.toml's packages: {sorted(tree - listed)}"
    mapped = {name for name in listed if name in config.get("package-dir", {})}
    assert listed - tree == mapped, f"listed, not in the tree: {sorted(listed - tree - mapped)}"
