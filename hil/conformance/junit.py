"""The report as JUnit XML (stdlib `xml.etree`): one test case per check, a failure with
its reason and the GBCS it judged, a skipped check as `<skipped>`, the timeline in the
suite's `<system-out>`. CI servers (Jenkins, GitLab) read it as test results."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

from .checks import CheckResult, Verdict
from .recording import Entry
from .report import ConformanceReport
from .views import gbcs_view, iso, summary

# Characters XML 1.0 cannot carry (a device or a DSP may send anything in a string).
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def _x(text: str) -> str:
    return _NOT_XML.sub("\ufffd", text)


def junit_xml(report: ConformanceReport) -> bytes:
    recording = report.recording
    counts = report.counts
    suites = ET.Element("testsuites", name="smetslab conformance")
    suite = ET.SubElement(
        suites,
        "testsuite",
        name=f"conformance {recording.device_id}",
        tests=str(len(report.results)),
        failures=str(counts[Verdict.FAIL]),
        errors="0",
        skipped=str(counts[Verdict.SKIPPED]),
        timestamp=iso(recording.started),
        time=f"{(recording.finished - recording.started).total_seconds():.3f}",
    )
    _properties(suite, report)
    for result in report.results:
        _testcase(suite, recording.device_id, result)
    timeline = "\n".join(_line(entry) for entry in recording.entries)
    ET.SubElement(suite, "system-out").text = _x(timeline)
    ET.indent(suites)
    data: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return data


def write_junit(report: ConformanceReport, path: Path) -> None:
    path.write_bytes(junit_xml(report))


def _properties(suite: ET.Element, report: ConformanceReport) -> None:
    recording = report.recording
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("device_id", recording.device_id),
        ("user_id", recording.user_id),
        ("firmware", recording.firmware.version),
        ("second_firmware", recording.second_firmware.version),
        ("tolerance_s", f"{recording.tolerance.total_seconds():g}"),
    ):
        ET.SubElement(properties, "property", name=name, value=_x(value))


def _testcase(suite: ET.Element, device_id: str, result: CheckResult) -> None:
    check, outcome = result.check, result.outcome
    case = ET.SubElement(
        suite,
        "testcase",
        classname=f"smetslab.conformance.{device_id.replace('-', '')}",
        name=f"{check.id}: {check.title}",
        time="0",
    )
    details = "\n\n".join(
        [f"rules: {', '.join(check.rules)}", outcome.reason]
        + [_evidence(entry) for entry in outcome.evidence]
    )
    match outcome.verdict:
        case Verdict.FAIL:
            failure = ET.SubElement(case, "failure", message=_x(outcome.reason), type="FAIL")
            failure.text = _x(details)
        case Verdict.SKIPPED:
            ET.SubElement(case, "skipped", message=_x(outcome.reason))
    ET.SubElement(case, "system-out").text = _x(details)


def _evidence(entry: Entry) -> str:
    lines = [_line(entry)]
    view = gbcs_view(entry)
    if view is not None:
        lines.append(f"  GBCS: {view.hex}")
        decoded = view.error if view.fields is None else json.dumps(view.fields)
        lines.append(f"  decoded: {decoded}")
    return "\n".join(lines)


def _line(entry: Entry) -> str:
    step = entry.step or "-"
    return f"#{entry.index} {iso(entry.at)} [{step}] {entry.source}: {summary(entry)}"
