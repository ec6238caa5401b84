"""A conformance run's result: the recording and every check's outcome."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from .checks import CHECKS, Check, CheckResult, Verdict, evaluate
from .recording import Recording


@dataclass(frozen=True, slots=True)
class ConformanceReport:
    recording: Recording
    results: tuple[CheckResult, ...]

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

    def summary(self) -> dict[str, Any]:
        """The run in one JSON object (what `smetslab hil conform --json` prints)."""
        recording = self.recording
        return {
            "device_id": recording.device_id,
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
        }
