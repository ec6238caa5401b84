"""Scenario transcripts compared step by step (`smetslab hil diff A.jsonl B.jsonl`).

A transcript (hil/scenarios/runner.py) is JSONL: a `run` header naming the hub, its
devices by type, the versions `running` and `upgrade` stood for and the users; then,
per step, the step, the requests sent, everything the users received, the SMI reads,
the result, and the DSP journal entries written while the step ran.

To compare a run on an emulated premises with one on a bridged premises, each line is
normalised: what legitimately differs between two runs goes (times, response IDs,
originator counters, the device's own bytes), and IDs become names (`<ESME>`,
`<supplier>`, `<request 2>`, `<upgrade:ESME>`), so that two runs of one scenario on
two premises give the same lines. Then, step by step, the lines of one run that the
other does not have (as multisets: responses and alerts come on different topics, so
their order within a step is not part of the contract) are the difference.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hil.errors import TranscriptError

# Keys whose values differ between two good runs of one scenario.
VOLATILE = frozenset(
    {
        "at",
        "datetime",
        "response_datetime",
        "response_id",
        "alert_id",  # unique per message sent (D-W2)
        "gbcs_payload",
        "gbcs_hex",
        "originator_counter",
        "command_originator_counter",
        "execution_datetime",
        "signature_hex",
        "mac_hex",
        "date_time",
        "pre_command",  # a CS06 pre-command: counters and times inside (D-SEC23)
        "expires",  # when that pre-command expires
    }
)
# Line kinds that matter: what the scenario did and saw, and what the DSP decided.
MATTERS = frozenset({"step", "sent", "observed", "smi", "result", "end", "dsp"})


@dataclass(frozen=True, slots=True)
class Transcript:
    source: str
    header: dict[str, Any]
    lines: tuple[dict[str, Any], ...]

    @property
    def scenario(self) -> str:
        return str(self.header.get("scenario", "?"))


@dataclass(frozen=True, slots=True)
class StepDiff:
    step: int
    action: str
    only_first: tuple[str, ...]
    only_second: tuple[str, ...]


def load_transcript(path: Path) -> Transcript:
    """Read a transcript; `TranscriptError` names the file and line that is not one."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TranscriptError(f"{path}: cannot read: {exc}") from exc
    return parse_transcript(text.splitlines(), str(path))


def parse_transcript(lines: Iterable[str], source: str = "transcript") -> Transcript:
    parsed: list[dict[str, Any]] = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise TranscriptError(f"{source}, line {number}: not JSON: {exc}") from exc
        if not isinstance(value, dict) or "kind" not in value:
            raise TranscriptError(f"{source}, line {number}: not a transcript line (no kind)")
        if value["kind"] != "run" and not isinstance(value.get("step"), int):
            raise TranscriptError(f"{source}, line {number}: a {value['kind']} line with no step")
        parsed.append(value)
    if not parsed or parsed[0]["kind"] != "run":
        raise TranscriptError(f"{source}: a transcript starts with its run header")
    return Transcript(source, parsed[0], tuple(parsed[1:]))


def normalise(transcript: Transcript, kinds: frozenset[str] = MATTERS) -> dict[int, Counter[str]]:
    """Step number -> the step's normalised lines (canonical JSON), as a multiset."""
    names = _names(transcript)
    versions: dict[str, str] = {}
    for symbol, version in _versions(transcript).items():
        versions.setdefault(version, f"<{symbol}>")  # the first symbol of a version names it
    steps: dict[int, Counter[str]] = {}
    for line in transcript.lines:
        if line["kind"] not in kinds:
            continue
        clean = _clean(line, names, versions)
        steps.setdefault(int(line["step"]), Counter())[json.dumps(clean, sort_keys=True)] += 1
    return steps


def diff_transcripts(
    first: Transcript, second: Transcript, kinds: frozenset[str] = MATTERS
) -> list[StepDiff]:
    """The steps where the two runs differ; empty when they agree on every step."""
    if first.scenario != second.scenario:
        raise TranscriptError(
            f"{first.source} is scenario {first.scenario}, {second.source} is {second.scenario}"
        )
    a, b = normalise(first, kinds), normalise(second, kinds)
    actions = _actions(first) | _actions(second)
    found = []
    for step in sorted(set(a) | set(b)):
        left, right = a.get(step, Counter()), b.get(step, Counter())
        if left != right:
            only_first = tuple(sorted((left - right).elements()))
            only_second = tuple(sorted((right - left).elements()))
            found.append(StepDiff(step, actions.get(step, "?"), only_first, only_second))
    return found


def format_diff(differences: list[StepDiff], first: str = "A", second: str = "B") -> str:
    out = []
    for difference in differences:
        out.append(f"step {difference.step} ({difference.action}):")
        out += [f"  - only in {first}: {line}" for line in difference.only_first]
        out += [f"  + only in {second}: {line}" for line in difference.only_second]
    return "\n".join(out)


# ---- normalising ---------------------------------------------------------------------


def _names(transcript: Transcript) -> list[tuple[str, str]]:
    """(text, name) pairs to replace, longest first: request IDs, then device and user
    IDs in both their DUIS and compact forms."""
    header = transcript.header
    pairs: list[tuple[str, str]] = []
    for line in transcript.lines:
        if line["kind"] == "sent" and "request_id" in line:
            pairs.append((str(line["request_id"]), f"<request {line.get('number', '?')}>"))
    for group, prefix in ((header.get("devices", {}), ""), (header.get("users", {}), "user:")):
        for name, entity in dict(group).items():
            text = str(entity)
            pairs += [(text, f"<{prefix}{name}>"), (text.replace("-", ""), f"<{prefix}{name}>")]
    return sorted(pairs, key=lambda pair: len(pair[0]), reverse=True)


def _versions(transcript: Transcript) -> dict[str, str]:
    versions = transcript.header.get("versions", {})
    return {str(k): str(v) for k, v in dict(versions).items()}


def _clean(value: Any, names: list[tuple[str, str]], versions: dict[str, str]) -> Any:
    match value:
        case dict():
            return {
                key: _clean(item, names, versions)
                for key, item in value.items()
                if key not in VOLATILE
            }
        case list():
            return [_clean(item, names, versions) for item in value]
        case str():
            return _rename(value, names, versions)
    return value


def _rename(text: str, names: list[tuple[str, str]], versions: dict[str, str]) -> str:
    if text.upper() in versions:
        return versions[text.upper()]
    for old, new in names:
        text = text.replace(old, new)
    return text


def _actions(transcript: Transcript) -> dict[int, str]:
    return {
        int(line["step"]): str(line.get("action", "?"))
        for line in transcript.lines
        if line["kind"] == "step"
    }
