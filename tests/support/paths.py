"""Where the tests find the project and the DCC reference data: `../shared/testdata`
beside the project (or `SMETSLAB_SHARED`), read in place. tests/conftest.py stops the
run when it is missing: a missing shared/ is an error, never a skip."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("SMETSLAB_SHARED", ROOT.parent / "shared"))
RTDS_DIR = SHARED / "testdata" / "gbcs" / "rtds-4.5.0"
RTDS_DISTRIBUTION_DIR = SHARED / "testdata" / "gbcs" / "rtds-4.5.0-distribution"
DUIS_REQUESTS = SHARED / "testdata" / "duis" / "requests"
RTDS_KEYS = SHARED / "testdata" / "keys" / "rtds"
ZAZ1_KEYSTORE = SHARED / "testdata" / "keys" / "zaz1" / "keystore.json"


def rtds_vectors() -> list[Path]:
    return sorted(RTDS_DIR.rglob("*.HEX"))


def rtds_vector(name: str) -> Path:
    """One RTDS vector by its name, the file's stem less `_GBCS`
    (`CS06_11.3_IMMEDIATE_SUCCESS_COMMAND`, `CCS08_NA_NA_ALERT`): in `{SRV}_{use case}/`
    of rtds-4.5.0 or rtds-4.5.0-distribution. A named vector that is not there fails."""
    use_case, srv = name.split("_")[:2]
    for root in (RTDS_DIR, RTDS_DISTRIBUTION_DIR):
        path = root / f"{srv}_{use_case}" / f"{name}_GBCS.HEX"
        if path.is_file():
            return path
    raise FileNotFoundError(f"no RTDS vector {name} in {RTDS_DIR} or {RTDS_DISTRIBUTION_DIR}")


def read_vector(name: str) -> bytes:
    return read_hex(rtds_vector(name))


def read_hex(path: Path) -> bytes:
    return bytes.fromhex(path.read_text().strip())
