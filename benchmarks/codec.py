"""GBCS codec throughput over the RTDS firmware vectors."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gbcs


def _rate(work: Callable[[], None], batch: int, seconds: float) -> float:
    """Operations per second: repeat `work` (doing `batch` operations) for about `seconds`."""
    done = 0
    start = time.perf_counter()
    elapsed = 0.0
    while elapsed < seconds:
        work()
        done += batch
        elapsed = time.perf_counter() - start
    return done / elapsed


def run_codec_benchmark(vectors: Path, seconds: float) -> dict[str, Any]:
    blobs = [bytes.fromhex(p.read_text().strip()) for p in sorted(vectors.rglob("*.HEX"))]
    if not blobs:
        raise SystemExit(f"no .HEX vectors under {vectors}")
    messages = [gbcs.decode(blob) for blob in blobs]

    def decode_all() -> None:
        for blob in blobs:
            gbcs.decode(blob)

    def header_all() -> None:
        for blob in blobs:
            gbcs.decode_header(blob)

    def encode_all() -> None:
        for message in messages:
            gbcs.encode(message)

    batch = len(blobs)
    return {
        "vectors": batch,
        "mean_bytes": round(sum(map(len, blobs)) / batch, 1),
        "decode_per_s": round(_rate(decode_all, batch, seconds)),
        "decode_header_per_s": round(_rate(header_all, batch, seconds)),
        "encode_per_s": round(_rate(encode_all, batch, seconds)),
    }
