"""The report as one self-contained HTML page: inline CSS, no script, no external asset.

Sections (each an element with a fixed id, so tools and tests can find them):
`summary` (device, firmware, counts), `checks` (one `article.check` per check: verdict,
title, rules, reason, and each GBCS message it judged in hex with its decoding) and
`timeline` (every request, response, alert, hub message and note, in order). Every
piece of text is escaped.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path

from .checks import CheckResult, Verdict
from .recording import Entry
from .report import ConformanceReport
from .views import content_json, gbcs_view, hex_lines, iso, summary

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #1b1b1b; }
h1 { font-size: 1.5rem; } h2 { border-bottom: 2px solid #ccc; padding-bottom: .2rem; }
table { border-collapse: collapse; margin: .5rem 0; }
th, td { border: 1px solid #ccc; padding: .2rem .5rem; text-align: left; vertical-align: top; }
.verdict { font-weight: bold; padding: .1rem .5rem; border-radius: .3rem; color: #fff; }
.verdict.PASS { background: #1f7a1f; } .verdict.FAIL { background: #b00020; }
.verdict.SKIPPED { background: #777; }
table.decoding td { word-break: break-all; font-family: monospace; }
article.check { border: 1px solid #ccc; border-left-width: 6px; margin: 1rem 0;
  padding: .5rem 1rem; }
article.check.PASS { border-left-color: #1f7a1f; }
article.check.FAIL { border-left-color: #b00020; }
article.check.SKIPPED { border-left-color: #777; }
pre { background: #f4f4f4; padding: .4rem; overflow-x: auto; font-size: .85rem; }
.reason { font-style: italic; }
table.mismatches td.found { background: #fde7ea; color: #b00020; font-weight: bold; }
"""


def report_html(report: ConformanceReport) -> str:
    recording = report.recording
    title = f"smetslab conformance: {recording.device_id}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        _summary(report),
        _checks(report),
        _timeline(report),
        "</body></html>",
    ]
    return "\n".join(parts)


def write_html(report: ConformanceReport, path: Path) -> None:
    path.write_text(report_html(report), encoding="utf-8")


def _e(text: object) -> str:
    return escape(str(text), quote=True)


def _summary(report: ConformanceReport) -> str:
    recording = report.recording
    verdict = "PASS" if report.passed else "FAIL"
    counts = ", ".join(f"{n} {v}" for v, n in report.counts.items())
    device, info = report.device, report.info
    unknown = "not in the SMI"
    started = "not recorded" if info.started is None else iso(info.started)
    rows = [
        ("verdict", f'<span class="verdict {verdict}">{verdict}</span>'),
        ("device", _e(recording.device_id)),
        ("device type", _e(device.device_type or unknown)),
        ("manufacturer, model", _e(f"{device.manufacturer or unknown}, {device.model or unknown}")),
        ("hardware version", _e("not held by the SMI (R1)")),
        ("firmware before, after", _e(f"{device.firmware_before}, {device.firmware_after}")),
        ("run (wall clock)", _e(f"{started}, {_seconds(info.wall_seconds)}")),
        ("lab", _e(f"{info.lab} ({info.hub})")),
        ("smetslab", _e(info.smetslab)),
        ("service user", _e(recording.user_id)),
        ("firmware (activated at once)", _e(_firmware(report, first=True))),
        ("firmware (future-dated, repeated)", _e(_firmware(report, first=False))),
        ("checks", _e(counts)),
        ("execution-time tolerance", _e(f"{recording.tolerance.total_seconds():g} s")),
        ("device time", _e(f"{iso(recording.started)} to {iso(recording.finished)}")),
    ]
    body = "".join(f"<tr><th>{_e(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f'<section id="summary"><h2>Summary</h2><table>{body}</table></section>'


def _seconds(value: float | None) -> str:
    return "duration not recorded" if value is None else f"{value:.1f} s"


def _firmware(report: ConformanceReport, *, first: bool) -> str:
    recording = report.recording
    image = recording.firmware if first else recording.second_firmware
    return f"{image.version}, SHA-256 {image.image_hash}"


def _checks(report: ConformanceReport) -> str:
    articles = "\n".join(_check(result) for result in report.results)
    return f'<section id="checks"><h2>Checks</h2>{articles}</section>'


def _check(result: CheckResult) -> str:
    check, outcome = result.check, result.outcome
    verdict = str(outcome.verdict)
    evidence = "".join(_evidence(entry) for entry in outcome.evidence)
    if evidence:
        shown = " open" if outcome.verdict is Verdict.FAIL else ""
        count = len(outcome.evidence)
        evidence = (
            f"<details{shown}><summary>{count} message(s) judged</summary>{evidence}</details>"
        )
    elif outcome.verdict is not Verdict.SKIPPED:
        evidence = "<p>No message to show: nothing was received for this check.</p>"
    return (
        f'<article class="check {verdict}" id="check-{_e(check.id)}">'
        f'<h3><span class="verdict {verdict}">{verdict}</span> {_e(check.id)}: '
        f"{_e(check.title)}</h3>"
        f'<p class="rules">Rules: {_e(", ".join(check.rules))}</p>'
        f'<p class="reason">{_e(outcome.reason)}</p>'
        f"{_mismatches(result)}"
        f'<div class="evidence">{evidence}</div></article>'
    )


def _mismatches(result: CheckResult) -> str:
    """The fields the check found wrong, each beside what it should have been."""
    mismatches = result.outcome.mismatches
    if not mismatches:
        return ""
    head = "<tr><th>message</th><th>field</th><th>expected</th><th>found</th></tr>"
    rows = "".join(
        f"<tr><td>{_e(m.where)}</td><td>{_e(m.field)}</td><td>{_e(m.expected)}</td>"
        f'<td class="found">{_e(m.found)}</td></tr>'
        for m in mismatches
    )
    return f'<table class="mismatches">{head}{rows}</table>'


def _evidence(entry: Entry) -> str:
    return (
        f'<div class="message"><p>#{entry.index} {_e(iso(entry.at))} '
        f"{_e(entry.source)}: {_e(summary(entry))}</p>{_gbcs(entry)}</div>"
    )


def _gbcs(entry: Entry) -> str:
    view = gbcs_view(entry)
    if view is None:
        return ""
    if view.fields is None:
        decoding = f'<p class="decode-error">Does not decode: {_e(view.error)}</p>'
    else:
        rows = "".join(
            f"<tr><th>{_e(k)}</th><td>{_e(_value(v))}</td></tr>" for k, v in view.fields.items()
        )
        decoding = f'<table class="decoding">{rows}</table>'
    return f'<pre class="gbcs-hex">{_e(hex_lines(view.hex))}</pre>{decoding}'


def _value(value: object) -> str:
    """A decoded field as `smetslab gbcs decode` prints it (JSON; strings bare)."""
    return value if isinstance(value, str) else json.dumps(value)


def _timeline(report: ConformanceReport) -> str:
    rows = "\n".join(_timeline_row(entry) for entry in report.recording.entries)
    head = "<tr><th>#</th><th>device time</th><th>step</th><th>what</th><th>detail</th></tr>"
    return (
        f'<section id="timeline"><h2>Timeline</h2>'
        f'<table class="timeline">{head}{rows}</table></section>'
    )


def _timeline_row(entry: Entry) -> str:
    detail = ""
    shown = content_json(entry)
    if shown is not None:
        detail += f"<details><summary>JSON</summary><pre>{_e(shown)}</pre></details>"
    if entry.gbcs is not None:
        detail += f"<details><summary>GBCS</summary>{_gbcs(entry)}</details>"
    return (
        f'<tr class="{_e(entry.source)}"><td>{entry.index}</td><td>{_e(iso(entry.at))}</td>'
        f"<td>{_e(entry.step or '')}</td><td>{_e(entry.source)}: {_e(summary(entry))}</td>"
        f"<td>{detail}</td></tr>"
    )
