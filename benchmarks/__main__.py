"""Run the benchmarks and write their figures as JSON (`make bench`)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .bus import run_bus_benchmark
from .codec import run_codec_benchmark
from .dsp import run_dsp_benchmark
from .emulators import run_emulators_benchmark
from .scale import run_scale_benchmark
from .security import run_security_benchmark

DEFAULT_VECTORS = Path(__file__).resolve().parents[1].parent / "shared/testdata/gbcs/rtds-4.5.0"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks")
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    parser.add_argument("--vectors", type=Path, default=DEFAULT_VECTORS)
    parser.add_argument("--seconds", type=float, default=2.0, help="time per measurement")
    parser.add_argument("--devices", type=int, default=100_000, help="DSP benchmark SMI size")
    parser.add_argument(
        "--sqlite-trips", type=int, default=2_000, help="11.2 round trips on SQLite"
    )
    parser.add_argument(
        "--postgresql-url",
        help="dsp: also through PostgreSQL, an empty database; scale: the server on which "
        "each configuration gets a fresh database (postgresql://user@host/db)",
    )
    parser.add_argument("--bus-messages", type=int, default=50_000, help="raw MQTT messages")
    parser.add_argument("--bus-trips", type=int, default=10_000, help="11.2 round trips on MQTT")
    parser.add_argument(
        "--campaign-premises", type=int, default=10_000, help="premises of the MP105 campaign"
    )
    parser.add_argument(
        "--scale-premises", type=int, default=10_000, help="campaign premises of the scale suite"
    )
    parser.add_argument(
        "--scale-trips", type=int, default=2_000, help="11.2 round trips of the scale suite"
    )
    parser.add_argument(
        "--only",
        choices=["codec", "dsp", "emulators", "bus", "scale", "security"],
        action="append",
    )
    args = parser.parse_args(argv)
    suites: dict[str, Callable[[], Any]] = {
        "codec": lambda: run_codec_benchmark(args.vectors, args.seconds),
        "dsp": lambda: run_dsp_benchmark(args.devices, args.sqlite_trips, args.postgresql_url),
        "emulators": run_emulators_benchmark,
        "bus": lambda: run_bus_benchmark(args.bus_messages, args.bus_trips, args.campaign_premises),
        "security": lambda: run_security_benchmark(args.vectors, args.seconds),
        "scale": lambda: run_scale_benchmark(
            args.scale_trips, args.scale_premises, args.postgresql_url
        ),
    }
    results: dict[str, Any] = {
        "python": platform.python_version(),
        "machine": platform.machine(),
        "cpus": os.cpu_count(),
    }
    for name, suite in suites.items():
        if not args.only or name in args.only:
            results[name] = suite()
    text = json.dumps(results, indent=2)
    print(text)
    if args.out:
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
