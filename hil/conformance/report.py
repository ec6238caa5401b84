"""A conformance run's result: the recording and every check's outcome."""

from __future__ import annotations

from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from .checks import CHECKS, Check, CheckResult, Verdict, evaluate
from .evidence import DeviceFacts, device_facts
from .recording import Recording
from .views import iso


@dataclass(frozen=True, slots=True)
class RunInfo:
    """What a test lead files with a report beside the exchange itself: when it ran (wall
    clock), which smetslab ran it, on which lab, and whether the device was emulated or
    behind a bridge. The command line fills it; a run without it says "not recorded"."""

    started: datetime | None = None  # wall clock, UTC
    finished: datetime | None = None
    smetslab: str = "not recorded"  # `smetslab 0.1.0 (commit ...)`
    lab: str = "not recorded"  # the environment file, or the broker joined
    hub: str = "not recorded"  # emulated, serial, zigbee; or unknown (a running lab)

    @property
    def wall_seconds(self) -> float | None:
        if self.started is None or self.finished is None:
            return None
        return (self.finished - self.started).total_seconds()

    def to_json(self) -> dict[str, Any]:
        return {
            "started": None if self.started is None else iso(self.started),
            "finished": None if self.finished is None else iso(self.finished),
            "smetslab": self.smetslab,
            "lab": self.lab,
            "hub": self.hub,
        }


@dataclass(frozen=True, slots=True)
class ConformanceReport:
    recording: Recording
    results: tuple[CheckResult, ...]
    info: RunInfo = field(default_factory=RunInfo)

    @classmethod
    def of(cls, recording: Recording, checks: tuple[Check, ...] = CHECKS) -> ConformanceReport:
        return cls(recording, evaluate(recording, checks))

    @property
    def passed(self) -> bool:
        """No check failed (a skipped check does not fail the run)."""
        return all(result.passed for result in self.results)

    @property
    def counts(self) -> dict[Verdict, int]:
        found = Counter(result.outcome.verdict for result in self.results)
        return {verdict: found[verdict] for verdict in Verdict}

    def failed(self) -> list[str]:
        return [r.check.id for r in self.results if r.outcome.verdict is Verdict.FAIL]

    @property
    def device(self) -> DeviceFacts:
        return device_facts(self.recording)

    def with_info(self, info: RunInfo) -> ConformanceReport:
        return ConformanceReport(self.recording, self.results, info)

    def summary(self) -> dict[str, Any]:
        """The run in one JSON object (what `smetslab hil conform --json` prints)."""
        recording = self.recording
        return {
            "device_id": recording.device_id,
            "device": asdict(self.device),
            "run": self.info.to_json(),
            "user_id": recording.user_id,
            "firmware": recording.firmware.version,
            "second_firmware": recording.second_firmware.version,
            "passed": self.passed,
            "counts": {str(v): n for v, n in self.counts.items()},
            "checks": {r.check.id: str(r.outcome.verdict) for r in self.results},
            "failed": {
                r.check.id: r.outcome.reason
                for r in self.results
                if r.outcome.verdict is Verdict.FAIL
            },
            "mismatches": {
                r.check.id: [asdict(m) for m in r.outcome.mismatches]
                for r in self.results
                if r.outcome.mismatches
            },
        }
