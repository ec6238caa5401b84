"""GBCS security, measured (issue 17's targets; figures in docs/performance.md):

1. `primitives`: signatures, signature checks, MACs and MAC checks per second on the
   RTDS vectors with the RTDS key store, each as a ratio to decoding the same message
   (the codec's rate, measured in the same run).
2. `dsp_core`: SR 11.2 round trips through the DSP core on in-memory state (as the `dsp`
   suite's `memory`), security off and on (the ACB MACs every command): the share of
   the rate that security keeps.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import gbcs
from contract.ids import DCC_ACCESS_CONTROL_BROKER, to_bytes
from dsp_core.core import DspCore
from dsp_core.keys import AcbKeys
from dsp_core.state import State
from dsp_core.turn import CoreConfig
from gbcs.keystore import DerivedKeyStore, KeyStore
from gbcs.security import KeyUse, mac, sign, verify_mac, verify_signature

from .codec import _rate
from .dsp import fleet, round_trip_events

SUPPLIER = bytes.fromhex("90B3D51F30010000")
ACB = to_bytes(DCC_ACCESS_CONTROL_BROKER)
ESME = bytes.fromhex("00DB1234567890A0")
_CS06 = "11.3_CS06/CS06_11.3_IMMEDIATE_SUCCESS_{}_GBCS.HEX"
_ECS52 = "11.2_ECS52/ECS52_11.2_SUCCESS_COMMAND_GBCS.HEX"


def _vector(vectors: Path, name: str) -> bytes:
    return bytes.fromhex("".join((vectors / name).read_text().split()))


def _ignore(_: object) -> None:
    return None


def primitives(vectors: Path, keys_folder: Path, seconds: float) -> dict[str, Any]:
    keys = KeyStore.load(keys_folder)
    pre = _vector(vectors, _CS06.format("PRECOMMAND"))
    command = _vector(vectors, _CS06.format("COMMAND"))
    ecs52 = _vector(vectors, _ECS52)
    signing_apdu = gbcs.encode(replace(gbcs.decode(ecs52), ciphering=None))
    signer = keys.private_key(SUPPLIER, KeyUse.DIGITAL_SIGNING)
    supplier_ds = keys.public_key(SUPPLIER, KeyUse.DIGITAL_SIGNING)
    acb_ka = keys.private_key(ACB, KeyUse.KEY_AGREEMENT)
    esme_ka = keys.public_key(ESME, KeyUse.KEY_AGREEMENT)
    work: dict[str, Callable[[], None]] = {
        "decode": lambda: _ignore(gbcs.decode(command)),
        "sign": lambda: _ignore(sign(pre, signer)),
        "verify_signature": lambda: verify_signature(command, supplier_ds, SUPPLIER),
        "mac": lambda: _ignore(mac(signing_apdu, acb_ka, esme_ka)),  # Z kept after the first
        "verify_mac": lambda: verify_mac(ecs52, acb_ka, esme_ka),
    }
    rates = {name: _rate(job, 1, seconds) for name, job in work.items()}
    decode = rates["decode"]
    return {
        "per_s": {name: round(rate) for name, rate in rates.items()},
        "ratio_to_decode": {
            name: round(rate / decode, 4) for name, rate in rates.items() if name != "decode"
        },
    }


def _core_rates(config: CoreConfig, count: int) -> tuple[float, float]:
    """Round trips per second to `count` devices, twice: the first time each device is
    met (its keys made, its shared secret computed) and the second (both kept)."""
    seed = fleet(count)
    state = State()
    state.load(**seed)
    core = DspCore(config)
    rates = []
    for first in (1, count + 1):
        pairs = round_trip_events(seed["devices"], first)
        start = time.perf_counter()
        for request, response in pairs:
            core.handle_event(request, state)
            core.handle_event(response, state)
            state.take_changes()
        rates.append(count / (time.perf_counter() - start))
    return rates[0], rates[1]


def dsp_core(count: int) -> dict[str, Any]:
    off_first, off_again = _core_rates(CoreConfig(), count)
    on_first, on_again = _core_rates(CoreConfig(security=AcbKeys(DerivedKeyStore(1))), count)
    return {
        "devices": count,
        "off_round_trips_per_s": {"first": round(off_first), "again": round(off_again)},
        "on_round_trips_per_s": {"first": round(on_first), "again": round(on_again)},
        "on_share_of_off": {
            "first": round(on_first / off_first, 3),
            "again": round(on_again / off_again, 3),
        },
    }


def run_security_benchmark(vectors: Path, seconds: float, trips: int = 5_000) -> dict[str, Any]:
    keys_folder = vectors.parents[1] / "keys" / "rtds"
    return {"primitives": primitives(vectors, keys_folder, seconds), "dsp_core": dsp_core(trips)}
