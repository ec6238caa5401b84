"""The exception tree of `hil`."""

from __future__ import annotations

from contract.errors import SmetslabError


class HilError(SmetslabError):
    """Base class of every error `hil` raises."""


class PlanError(HilError, ValueError):
    """A campaign plan that cannot be run; the message names the field."""


class CampaignError(HilError):
    """The campaign model was driven in a way its own rules do not allow."""


class LabError(HilError):
    """A lab environment that cannot be loaded or started (a DSP worker, a fleet, a
    bridge), or asked for something its hubs cannot do (a fault on a bridged hub); the
    message names the file, the hub or the worker."""


class ScenarioError(HilError, ValueError):
    """A scenario file that cannot be run: names the file, the step and the field."""


class ScenarioFailedError(HilError):
    """A scenario step whose expectation was not met: names the scenario, the step and
    what was expected against what was seen."""

    def __init__(self, scenario: str, step: int, action: str, detail: str) -> None:
        self.scenario = scenario
        self.step = step
        self.action = action
        self.detail = detail
        super().__init__(f"scenario {scenario}, step {step} ({action}): {detail}")


class TranscriptError(HilError, ValueError):
    """A journal that is not a scenario transcript; names the file and the line."""


class DemoError(HilError):
    """The demo story could not go on (alerts that never came); says what to check."""


class SigningError(HilError):
    """A pre-command that could not be signed (no key of the user, not a pre-command),
    or a key file that could not be read; names the user, the device or the file."""
