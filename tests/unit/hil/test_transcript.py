"""Transcripts: what differs between two good runs is normalised away (times, IDs,
counters, device bytes); what a run did or saw differently is found, step by step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from hil.errors import TranscriptError
from hil.scenarios.transcript import (
    diff_transcripts,
    format_diff,
    load_transcript,
    normalise,
    parse_transcript,
)


def run(
    device: str,
    counter: int,
    *,
    code: str = "I0",
    version: str = "0123ABCE",
    extra: list[dict[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """A two-step transcript of an 11.2 to an ESME whose ID and request counter vary."""
    compact = device.replace("-", "")
    request_id = f"90-B3-D5-1F-30-01-00-00:{device}:{counter}"
    return [
        {
            "kind": "run",
            "scenario": "s",
            "hub": "h",
            "devices": {"ESME": device, "CHF": "00-DB-07-00-00-00-00-01"},
            "versions": {"running:ESME": "0123ABCD", "upgrade:ESME": "0123ABCE"},
            "users": {"supplier": "90-B3-D5-1F-30-01-00-00"},
        },
        {
            "kind": "step",
            "step": 1,
            "at": f"2031-01-01T00:00:0{counter % 10}Z",
            "action": "send",
            "to": "ESME",
        },
        {"kind": "sent", "step": 1, "request_id": request_id, "number": 1, "srv": "11.2"},
        {"kind": "step", "step": 2, "at": "x", "action": "expect_response"},
        {
            "kind": "observed",
            "step": 2,
            "type": "response",
            "user_id": "90-B3-D5-1F-30-01-00-00",
            "content": {
                "request_id": request_id,
                "response_id": f"{request_id}/{code}",
                "response_code": code,
                "response_datetime": f"2031-01-01T00:00:{counter % 60:02d}Z",
                "body": {"firmware_version": version, "gbcs_payload": f"AAAA{counter}"},
            },
        },
        {
            "kind": "dsp",
            "step": 2,
            "entry": {
                "kind": "device-message",
                "device_id": device,
                "detail": {"ch_id": compact, "originator_counter": counter, "gbcs_hex": "DD00"},
            },
        },
        *(extra or []),
    ]


def parsed(lines: list[dict[str, Any]], source: str = "t") -> Any:
    return parse_transcript([json.dumps(line) for line in lines], source)


def test_two_runs_on_two_premises_with_other_ids_times_and_counters_do_not_differ() -> None:
    a = parsed(run("00-DB-07-00-00-00-00-02", 1712))
    b = parsed(run("00-DB-12-99-99-99-99-99", 3))
    assert diff_transcripts(a, b) == []


def test_ids_and_versions_become_names_and_volatile_keys_go() -> None:
    steps = normalise(parsed(run("00-DB-07-00-00-00-00-02", 1712)))
    (observed,) = [json.loads(line) for line in steps[2] if '"observed"' in line]
    assert observed["content"] == {
        "request_id": "<request 1>",
        "response_code": "I0",
        "body": {"firmware_version": "<upgrade:ESME>"},
    }
    assert observed["user_id"] == "<user:supplier>"
    (journal,) = [json.loads(line) for line in steps[2] if '"dsp"' in line]
    assert journal["entry"]["device_id"] == "<ESME>"
    assert journal["entry"]["detail"] == {"ch_id": "<ESME>"}  # the compact form too
    assert all('"at"' not in line for line in steps[1])


def test_a_different_answer_is_a_difference_at_its_step() -> None:
    a = parsed(run("00-DB-07-00-00-00-00-02", 1, version="0123ABCE"), "emulated")
    b = parsed(run("00-DB-07-00-00-00-00-03", 2, version="0123ABCD"), "bridged")
    (difference,) = diff_transcripts(a, b)
    assert (difference.step, difference.action) == (2, "expect_response")
    assert len(difference.only_first) == len(difference.only_second) == 1
    assert "<upgrade:ESME>" in difference.only_first[0]
    assert "<running:ESME>" in difference.only_second[0]
    text = format_diff([difference], "emulated", "bridged")
    assert text.startswith("step 2 (expect_response):\n  - only in emulated:")
    assert "\n  + only in bridged:" in text


def test_order_within_a_step_does_not_matter_but_a_missing_line_does() -> None:
    alert = {"kind": "observed", "step": 2, "type": "alert", "content": {"alert_code": "N29"}}
    twice = run("00-DB-07-00-00-00-00-02", 1, extra=[alert, alert])
    once = run("00-DB-07-00-00-00-00-02", 1, extra=[alert])
    shuffled = [twice[0], *reversed(twice[1:])]
    assert diff_transcripts(parsed(twice), parsed(shuffled)) == []
    (difference,) = diff_transcripts(parsed(twice), parsed(once))
    assert difference.only_first == (
        '{"content": {"alert_code": "N29"}, "kind": "observed", "step": 2, "type": "alert"}',
    )
    assert difference.only_second == ()


def test_transcripts_of_two_scenarios_are_not_compared() -> None:
    other = run("00-DB-07-00-00-00-00-02", 1)
    other[0] = {**other[0], "scenario": "t"}
    with pytest.raises(TranscriptError, match=r"is scenario s, .* is t"):
        diff_transcripts(parsed(run("00-DB-07-00-00-00-00-02", 1)), parsed(other))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "starts with its run header"),
        ('{"kind": "step", "step": 1}', "starts with its run header"),
        ('{"kind": "run"}\nnot json', "line 2: not JSON"),
        ('{"kind": "run"}\n[1, 2]', "line 2: not a transcript line"),
        ('{"kind": "run"}\n{"kind": "observed"}', "line 2: a observed line with no step"),
    ],
)
def test_a_file_that_is_no_transcript_is_refused_naming_the_line(
    tmp_path: Path, text: str, message: str
) -> None:
    path = tmp_path / "a.jsonl"
    path.write_text(text)
    with pytest.raises(TranscriptError, match=message):
        load_transcript(path)
    with pytest.raises(TranscriptError, match="cannot read"):
        load_transcript(tmp_path / "missing.jsonl")
