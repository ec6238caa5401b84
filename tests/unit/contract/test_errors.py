"""One root: every exception class a package of smetslab defines derives from
`SmetslabError`, so the command line (and any caller) can catch the root."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
import typer

from contract.errors import SmetslabError

PACKAGES = ["contract", "gbcs", "bus", "dsp_core", "emulators", "bridge", "hil", "smetslab"]


def _exceptions(package: str) -> list[type[BaseException]]:
    root = importlib.import_module(package)
    found: dict[str, type[BaseException]] = {}
    for info in pkgutil.walk_packages(root.__path__, f"{package}."):
        if info.name.endswith("__main__"):
            continue
        module = importlib.import_module(info.name)
        for _, value in inspect.getmembers(module, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__ == info.name:
                found[f"{info.name}.{value.__name__}"] = value
    return list(found.values())


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exception_a_package_defines_is_a_smetslab_error(package: str) -> None:
    """An exit code is not an error: a `typer.Exit` (a command stopped by a signal,
    `smetslab.signals.Stopped`) is how the command line ends, and is left out."""
    exceptions = [e for e in _exceptions(package) if not issubclass(e, typer.Exit)]
    outside = [e.__qualname__ for e in exceptions if not issubclass(e, SmetslabError)]
    assert not outside, f"{package}: {outside} do not derive from SmetslabError"


def test_the_scan_sees_the_package_trees() -> None:
    names = {e.__name__ for p in PACKAGES for e in _exceptions(p)}
    assert {"GbcsError", "BusError", "DspError", "EmulatorError", "BridgeError"} <= names
    assert {"HilError", "ContractError", "IllegalTransitionError"} <= names
