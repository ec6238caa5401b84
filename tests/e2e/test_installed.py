"""smetslab as a user gets it: the wheel installed with its pytest extra into a fresh
virtual environment, run from a folder outside the repository: `--version`, the demo
(its fleet from the installed package data), `init` and the plugin in a new project
with no asyncio settings (issue: operations)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e
REPO = Path(__file__).resolve().parents[2]
LOCAL_ONLY = shutil.ignore_patterns(
    ".git", ".venv", "build", "*.egg-info", "__pycache__", ".*_cache", ".hypothesis", "smetslab-lab"
)


def run(*argv: str | Path, cwd: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    return subprocess.run(
        [str(a) for a in argv],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv with the wheel built from this checkout and `smetslab[pytest]`."""
    root = tmp_path_factory.mktemp("installed")
    wheels, venv, source = root / "wheels", root / "venv", root / "source"
    shutil.copytree(REPO, source, ignore=LOCAL_ONLY)  # setuptools builds in the tree it gets
    built = run(
        sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", wheels, source, cwd=root
    )
    assert built.returncode == 0, built.stderr
    wheel = next(wheels.glob("smetslab-*.whl"))
    base = getattr(sys, "_base_executable", sys.executable)
    assert run(base, "-m", "venv", venv, cwd=root).returncode == 0
    done = run(venv / "bin" / "pip", "install", "-q", f"{wheel}[pytest]", cwd=root, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return venv / "bin"


def test_the_installed_command_says_its_version_and_runs_the_demo(
    installed: Path, tmp_path: Path
) -> None:
    version = run(installed / "smetslab", "--version", cwd=tmp_path)
    assert version.returncode == 0, version.stderr
    assert version.stdout.startswith("smetslab 0.")
    demo = run(
        installed / "smetslab",
        "demo",
        "--premises",
        "4",
        "--scale",
        "480",
        "--json",
        cwd=tmp_path,
    )
    assert demo.returncode == 0, demo.stderr[-2000:]
    summary = json.loads(demo.stdout)
    assert summary["smi_mismatches"] == 0
    assert summary["suspended"] > 0


def test_init_and_the_plugin_work_in_a_project_of_ones_own(installed: Path, tmp_path: Path) -> None:
    made = run(installed / "smetslab", "init", "lab", cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    lab = tmp_path / "lab"
    tested = run(installed / "pytest", "-q", "-p", "no:cacheprovider", "test_lab.py", cwd=lab)
    assert tested.returncode == 0, tested.stdout[-3000:] + tested.stderr[-2000:]
    assert "1 passed" in tested.stdout
