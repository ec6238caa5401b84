"""Firmware-activation conformance for device manufacturers (docs/conformance.md).

target = ConformanceTarget(broker, user_id, device_id, FirmwareImage.from_image(data))
report = await ConformanceRunner(target, ConformanceOptions()).run()
write_junit(report, Path("conformance.xml"))
write_html(report, Path("conformance.html"))
"""

from .checks import CHECKS, Check, CheckResult, Outcome, Verdict, evaluate
from .errors import ConformanceError, TargetError
from .html import report_html, write_html
from .junit import junit_xml, write_junit
from .model import ConformanceModel
from .recording import ConformanceStep, Entry, Recording, Source, StepRun
from .report import ConformanceReport
from .runner import ConformanceRunner
from .target import ConformanceOptions, ConformanceTarget, FirmwareImage

__all__ = [
    "CHECKS",
    "Check",
    "CheckResult",
    "ConformanceError",
    "ConformanceOptions",
    "ConformanceReport",
    "ConformanceRunner",
    "ConformanceModel",
    "ConformanceTarget",
    "Entry",
    "FirmwareImage",
    "Outcome",
    "Recording",
    "Source",
    "ConformanceStep",
    "StepRun",
    "TargetError",
    "Verdict",
    "evaluate",
    "junit_xml",
    "report_html",
    "write_html",
    "write_junit",
]
