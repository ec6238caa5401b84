"""The conformance reports of a real exchange (a device with a wrong counter in its
0x8F66 alert, R7): JUnit XML as a CI server reads it, and the self-contained HTML page
read back with the standard library's parser, section by section."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from emulators.faults import FaultKind, FaultRule
from hil.conformance import (
    CHECKS,
    ConformanceReport,
    Source,
    junit_xml,
    report_html,
    write_html,
    write_junit,
)
from hil.conformance.report import RunInfo
from tests.support.conformance import RUNNING, lab_build, run_conformance
from tests.support.html_page import check_page, read_page


@pytest.fixture(scope="module")
def defective() -> ConformanceReport:
    rules = [FaultRule(FaultKind.ALERT_COUNTER_MISMATCH, count=1)]
    return run_conformance(lab_build(rules=rules))


def test_junit_has_one_case_per_check_and_the_failure(defective: ConformanceReport) -> None:
    root = ET.fromstring(junit_xml(defective))
    (suite,) = root.findall("testsuite")
    # device-signatures is skipped: the lab's security is off (D-SEC25)
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("9", "1", "1")
    cases = suite.findall("testcase")
    assert [c.get("name", "").split(":")[0] for c in cases] == [c.id for c in CHECKS]
    failing = [c for c in cases if c.find("failure") is not None]
    assert [c.get("name", "").split(":")[0] for c in failing] == ["counter-echo"]
    failure = failing[0].find("failure")
    assert failure is not None
    assert "command originator counter 1006" in (failure.get("message") or "")
    alert = next(
        e for e in defective.recording.entries if e.source is Source.ALERT and e.code == "8F66"
    )
    assert alert.gbcs is not None
    assert alert.gbcs.hex().upper() in (failure.text or "")  # the bytes judged
    assert '"command_originator_counter": 1006' in (failure.text or "")  # and their decoding
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["device_id"] == defective.recording.device_id
    timeline = suite.find("system-out")
    assert timeline is not None
    assert len((timeline.text or "").splitlines()) == len(defective.recording.entries)


def test_junit_carries_a_skipped_check_and_text_xml_cannot_hold(
    defective: ConformanceReport,
) -> None:
    first = defective.results[0]
    odd = replace(first.outcome, verdict=first.outcome.verdict.SKIPPED, reason="bell \x07 <ok>")
    report = replace(defective, results=(replace(first, outcome=odd), *defective.results[1:]))
    root = ET.fromstring(junit_xml(report))  # still well-formed XML
    skipped = root.find("testsuite/testcase/skipped")
    assert skipped is not None
    assert skipped.get("message") == "bell \ufffd <ok>"


def test_the_html_page_has_every_section(defective: ConformanceReport) -> None:
    page = report_html(defective)
    found = check_page(page, defective)
    assert found.articles["check-counter-echo"][0] == {"check", "FAIL"}
    shown = found.article_text("check-counter-echo")
    assert '"command_originator_counter"' not in shown  # the decoding is a table
    assert "command_originator_counter1006" in shown  # ...of field and value


def test_the_html_page_escapes_what_it_shows(defective: ConformanceReport) -> None:
    first = defective.results[0]
    hostile = "<script>alert('x')</script> & <img src=http://evil/>"
    report = replace(
        defective,
        results=(
            replace(first, outcome=replace(first.outcome, reason=hostile)),
            *defective.results[1:],
        ),
    )
    page = report_html(report)
    assert "<script>" not in page
    found = check_page(page, report)  # no script, no external source
    assert hostile in found.article_text(f"check-{first.check.id}")


def test_the_reports_are_written(defective: ConformanceReport, tmp_path: Path) -> None:
    write_junit(defective, tmp_path / "c.xml")
    write_html(defective, tmp_path / "c.html")
    assert ET.parse(tmp_path / "c.xml").getroot().tag == "testsuites"
    check_page((tmp_path / "c.html").read_text(encoding="utf-8"), defective)
    assert read_page((tmp_path / "c.html").read_text()).ids[:1] == ["summary"]


def test_the_summary_is_json(defective: ConformanceReport) -> None:
    summary = json.loads(json.dumps(defective.summary()))
    assert summary["passed"] is False
    assert summary["counts"] == {"PASS": 7, "FAIL": 1, "SKIPPED": 1}  # security off
    assert list(summary["failed"]) == ["counter-echo"]


# ---- what a test lead files (issue: operations) ---------------------------------------

RUN = RunInfo(
    datetime(2026, 12, 4, 9, 0, tzinfo=UTC),
    datetime(2026, 12, 4, 9, 0, 40, tzinfo=UTC),
    "smetslab 9.9 (commit abc)",
    "configs/lab-emulated.yaml",
    "emulated (smets2)",
)


def test_the_failing_field_is_pointed_at_beside_what_it_should_be(
    defective: ConformanceReport,
) -> None:
    (failed,) = [r for r in defective.results if r.check.id == "counter-echo"]
    (mismatch,) = failed.outcome.mismatches
    assert (mismatch.where, mismatch.field) == ("0x00CA alert", "command originator counter")
    assert (mismatch.expected, mismatch.found) == ("1005", "1006")
    assert all(not r.outcome.mismatches for r in defective.results if r.passed)
    page = report_html(defective)
    assert '<td class="found">1006</td>' in page
    failure = ET.fromstring(junit_xml(defective)).find(".//failure")
    assert failure is not None
    assert "command originator counter: expected 1005, found 1006" in (failure.text or "")
    assert json.loads(json.dumps(defective.summary()))["mismatches"] == {
        "counter-echo": [
            {
                "where": "0x00CA alert",
                "field": "command originator counter",
                "expected": "1005",
                "found": "1006",
            }
        ]
    }


def test_the_reports_say_which_device_which_run_and_which_smetslab(
    defective: ConformanceReport,
) -> None:
    report = defective.with_info(RUN)
    device = report.device
    assert (device.device_type, device.firmware_before) == ("ESME", RUNNING)
    assert device.firmware_after == report.recording.second_firmware.version
    assert device.manufacturer
    assert device.model
    suite = ET.fromstring(junit_xml(report)).find("testsuite")
    assert suite is not None
    assert suite.get("timestamp") == "2026-12-04T09:00:00Z"  # the wall clock, not device time
    assert suite.get("time") == "40.000"
    properties = {p.get("name"): p.get("value") for p in suite.iter("property")}
    assert properties["smetslab"] == "smetslab 9.9 (commit abc)"
    assert properties["lab"] == "configs/lab-emulated.yaml"
    assert properties["hub"] == "emulated (smets2)"
    assert properties["device_type"] == "ESME"
    cases = {c.get("name", "").split(":")[0]: float(c.get("time") or 0) for c in suite}
    assert any(seconds > 0 for seconds in cases.values())  # a case's share of the 40 s
    assert sum(cases.values()) <= 40 * len(cases)
    page = report_html(report)
    for shown in ("smetslab 9.9 (commit abc)", "emulated (smets2)", "2026-12-04T09:00:00Z"):
        assert shown in page
    summary = report.summary()
    assert summary["run"]["smetslab"] == "smetslab 9.9 (commit abc)"
    assert summary["device"]["device_type"] == "ESME"
