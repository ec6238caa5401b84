"""The conformance reports of a real exchange (a device with a wrong counter in its
0x8F66 alert, R7): JUnit XML as a CI server reads it, and the self-contained HTML page
read back with the standard library's parser, section by section."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from dataclasses import replace
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
from tests.support.conformance import lab_build, run_conformance
from tests.support.html_page import check_page, read_page


@pytest.fixture(scope="module")
def defective() -> ConformanceReport:
    rules = [FaultRule(FaultKind.ALERT_COUNTER_MISMATCH, count=1)]
    return run_conformance(lab_build(rules=rules))


def test_junit_has_one_case_per_check_and_the_failure(defective: ConformanceReport) -> None:
    root = ET.fromstring(junit_xml(defective))
    (suite,) = root.findall("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("8", "1", "0")
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
    assert summary["counts"] == {"PASS": 7, "FAIL": 1, "SKIPPED": 0}
    assert list(summary["failed"]) == ["counter-echo"]
