"""Scenarios: the steps of one MP105 case and what they must show, run unchanged on an
emulated or a bridged lab (docs/hil.md).

`load_scenario` reads a scenario file; `ScenarioModel` is the sans-IO interpreter
(steps in, instructions out); `ScenarioRunner` carries its instructions out on a lab
(`smetslab hil run`) and writes a transcript, which `diff_transcripts` compares step
by step (`smetslab hil diff`).
"""

from .file import Scenario, load_scenario
from .model import ScenarioModel
from .runner import ScenarioResult, ScenarioRunner, run_scenario, run_scenarios
from .target import ScenarioTarget
from .transcript import Transcript, diff_transcripts, format_diff, load_transcript

__all__ = [
    "Scenario",
    "ScenarioModel",
    "ScenarioResult",
    "ScenarioRunner",
    "ScenarioTarget",
    "Transcript",
    "diff_transcripts",
    "format_diff",
    "load_scenario",
    "load_transcript",
    "run_scenario",
    "run_scenarios",
]
