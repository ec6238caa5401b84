"""Where the tests find the project and the DCC reference data: `../shared/testdata`
beside the project (or `SMETSLAB_SHARED`), read in place. tests/conftest.py stops the
run when it is missing: a missing shared/ is an error, never a skip."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SMETSLAB_SHARED", ROOT.parent / "shared"))
RTDS_DIR = SHARED / "testdata" / "gbcs" / "rtds-4.5.0"
DUIS_REQUESTS = SHARED / "testdata" / "duis" / "requests"


def rtds_vectors() -> list[Path]:
    return sorted(RTDS_DIR.rglob("*.HEX"))


def read_hex(path: Path) -> bytes:
    return bytes.fromhex(path.read_text().strip())
