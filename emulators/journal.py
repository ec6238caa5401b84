"""The fleet's journal (R11): every device event and every fault that fired, counted,
and written one JSON object per line when a file is given."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from contract.times import iso

from .actions import DeviceEvent, FaultFired, Output, Uplink


class FleetJournal:
    __slots__ = ("_file", "events", "faults")

    def __init__(self, path: Path | None = None) -> None:
        self.events: Counter[str] = Counter()
        self.faults: Counter[tuple[str, int | None]] = Counter()  # (fault, message code)
        self._file: IO[str] | None = path.open("a", encoding="utf-8") if path else None

    def record(self, outputs: Iterable[Output]) -> list[Uplink]:
        """Journal the events and faults among `outputs`; return the uplinks."""
        uplinks: list[Uplink] = []
        for output in outputs:
            match output:
                case Uplink():
                    uplinks.append(output)
                case DeviceEvent():
                    self.events[output.kind] += 1
                    self._write(_event_line(output))
                case FaultFired():
                    self.faults[output.fault, output.message_code] += 1
                    self._write(_fault_line(output))
        return uplinks

    def faults_fired(self, fault: str, message_code: int | None = None) -> int:
        return sum(
            n
            for (kind, code), n in self.faults.items()
            if kind == fault and (message_code is None or code == message_code)
        )

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _write(self, line: dict[str, Any]) -> None:
        if self._file is not None:
            self._file.write(json.dumps(line) + "\n")


def _event_line(event: DeviceEvent) -> dict[str, Any]:
    return {
        "at": iso(event.at),
        "kind": str(event.kind),
        "device_id": event.device_id,
        "detail": event.detail,
    }


def _fault_line(fault: FaultFired) -> dict[str, Any]:
    code = None if fault.message_code is None else f"{fault.message_code:04X}"
    return {
        "at": iso(fault.at),
        "fault": str(fault.fault),
        "device_id": fault.device_id,
        "message_code": code,
        "detail": fault.detail,
    }
