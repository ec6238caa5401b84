"""The conformance HTML page as a browser renders it: headless Chromium (Debian package
`chromium`, installed by .ci/run) loads the file and dumps its DOM, which is then checked
section by section against the report. Under CI=true a missing Chromium fails the test;
elsewhere it is skipped, and the page is still checked by the standard library's parser
(tests/unit/hil/test_conformance_reports.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from emulators.faults import FaultKind, FaultRule
from hil.conformance import write_html
from tests.support.conformance import lab_build, run_conformance
from tests.support.html_page import check_page

pytestmark = pytest.mark.e2e


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser")
    if found is not None:
        return found
    message = "chromium not found (Debian package chromium)"
    if os.environ.get("CI") == "true":
        pytest.fail(message + "; CI must install it (.ci/run)")
    pytest.skip(message)


def rendered(browser: str, page: Path) -> str:
    """The DOM after Chromium parsed and laid out the page (no network: file:// only)."""
    done = subprocess.run(
        [browser, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


@pytest.mark.parametrize("defect", [False, True], ids=["conforming", "wrong-0x8F66-counter"])
def test_the_report_renders_in_headless_chromium(defect: bool, tmp_path: Path) -> None:
    browser = chromium()
    rules = [FaultRule(FaultKind.ALERT_COUNTER_MISMATCH, count=1)] if defect else []
    report = run_conformance(lab_build(rules=rules))
    page = tmp_path / "conformance.html"
    write_html(report, page)
    dom = rendered(browser, page)
    found = check_page(dom, report)
    failing = {a for a, (classes, _) in found.articles.items() if "FAIL" in classes}
    assert failing == ({"check-counter-echo"} if defect else set())
