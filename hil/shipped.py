"""The example files that ship with smetslab (the repository's configs/, installed as
`smetslab.configs`): the demo's fleet, the default lab, the MP105 scenarios."""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

PACKAGE = "smetslab.configs"  # data, not code: read as files, never imported here


def shipped(name: str) -> Path:
    """The shipped file `name` (`demo-fleet.yaml`, `scenarios/lost-11.3-...yaml`)."""
    return Path(str(files(PACKAGE).joinpath(name)))


def shipped_scenarios() -> list[Path]:
    return sorted(shipped("scenarios").glob("*.yaml"))
