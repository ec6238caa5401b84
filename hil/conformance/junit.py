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
        timestamp=iso(report.info.started or recording.started),  # wall clock when recorded
        time=f"{_wall_seconds(report):.3f}",
    )
    _properties(suite, report)
    for result in report.results:
        _testcase(suite, recording.device_id, result, _case_seconds(report, result))
    timeline = "\n".join(_line(entry) for entry in recording.entries)
    ET.SubElement(suite, "system-out").text = _x(timeline)
    ET.indent(suites)
    data: bytes = ET.tostring(suites, encoding="utf-8", xml_declaration=True)
    return data


def write_junit(report: ConformanceReport, path: Path) -> None:
    path.write_bytes(junit_xml(report))


def _properties(suite: ET.Element, report: ConformanceReport) -> None:
    recording, device, info = report.recording, report.device, report.info
    properties = ET.SubElement(suite, "properties")
    for name, value in (
        ("device_id", recording.device_id),
        ("device_type", device.device_type or ""),
        ("manufacturer", device.manufacturer or ""),
        ("model", device.model or ""),
        ("hardware_version", "not held by the SMI"),
        ("firmware_before", device.firmware_before or ""),
        ("firmware_after", device.firmware_after or ""),
        ("user_id", recording.user_id),
        ("firmware", recording.firmware.version),
        ("second_firmware", recording.second_firmware.version),
        ("tolerance_s", f"{recording.tolerance.total_seconds():g}"),
        ("device_time", f"{iso(recording.started)} to {iso(recording.finished)}"),
        ("smetslab", info.smetslab),
        ("lab", info.lab),
        ("hub", info.hub),
    ):
        ET.SubElement(properties, "property", name=name, value=_x(value))


def _wall_seconds(report: ConformanceReport) -> float:
    """The run's wall time when recorded, else its device time."""
    recording = report.recording
    device = (recording.finished - recording.started).total_seconds()
    wall = report.info.wall_seconds
    return device if wall is None else wall


def _case_seconds(report: ConformanceReport, result: CheckResult) -> float:
    """A check's share of the run: the device time between the first and the last
    message it judged, in the run's wall seconds."""
    evidence = result.outcome.evidence
    recording = report.recording
    device = (recording.finished - recording.started).total_seconds()
    if len(evidence) < 2 or device <= 0:
        return 0.0
    span = (max(e.at for e in evidence) - min(e.at for e in evidence)).total_seconds()
    return span * _wall_seconds(report) / device


def _testcase(suite: ET.Element, device_id: str, result: CheckResult, seconds: float) -> None:
    check, outcome = result.check, result.outcome
    case = ET.SubElement(
        suite,
        "testcase",
        classname=f"smetslab.conformance.{device_id.replace('-', '')}",
        name=f"{check.id}: {check.title}",
        time=f"{seconds:.3f}",
    )
    pointed = [
        f"{m.where}: {m.field}: expected {m.expected}, found {m.found}" for m in outcome.mismatches
    ]
    details = "\n\n".join(
        [f"rules: {', '.join(check.rules)}", outcome.reason, *pointed]
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
