"""What smetslab says of itself: its version, and the commit it runs from when that is
a git checkout (a lab files both with a conformance report)."""

from __future__ import annotations

import subprocess
from functools import cache
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]


@cache
def smetslab_version() -> str:
    try:
        return version("smetslab")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"


@cache
def smetslab_commit() -> str | None:
    """The commit of the checkout smetslab runs from, `+dirty` if changed; None when it
    was installed from a wheel or git is not there."""
    if not (CHECKOUT / ".git").exists():
        return None
    try:
        head = _git("rev-parse", "--short=12", "HEAD")
        dirty = _git("status", "--porcelain", "--untracked-files=no")
    except (OSError, subprocess.SubprocessError):
        return None
    return head + ("+dirty" if dirty else "")


def describe() -> str:
    """`smetslab 0.1.0 (commit 0123456789ab)`, as `smetslab --version` prints it."""
    commit = smetslab_commit()
    return f"smetslab {smetslab_version()}" + (f" (commit {commit})" if commit else "")


def _git(*args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(CHECKOUT), *args], capture_output=True, text=True, timeout=5, check=True
    )
    return done.stdout.strip()
