"""Shipped labs and scenarios, paced for a test on a loaded machine: the future-dated
execution nearer (the wait for it is device time on the scaled clock, wall time here),
and the response time-out generous where no step expects an E21, so that a process
starved past it cannot turn an answer into an E21 the scenario does not expect (R8)."""

from __future__ import annotations

from hil.lab.env import LabEnv
from hil.scenarios.file import ExpectResponseStep, Scenario, SendStep


def sooner(scenario: Scenario, execute_in: float) -> Scenario:
    """`scenario` with every future-dated 11.3 executed `execute_in` device seconds after
    it is sent (the shipped scenarios say 600: 5 s of wall time at a lab's scale 120)."""
    steps = [
        step.model_copy(update={"execute_in": execute_in})
        if isinstance(step, SendStep) and step.execute_in is not None
        else step
        for step in scenario.steps
    ]
    return scenario.model_copy(update={"steps": steps})


def patient(env: LabEnv, scenario: Scenario, response_timeout: float) -> LabEnv:
    """`env` with the DSP's response time-out `response_timeout` device seconds, for a
    scenario that expects no E21 (refused otherwise: there the time-out is the point)."""
    expects_e21 = any(
        isinstance(step, ExpectResponseStep) and "E21" in step.code for step in scenario.steps
    )
    if expects_e21:
        raise ValueError(f"scenario {scenario.name} expects an E21: keep its time-out")
    dsp = env.dsp.model_copy(update={"response_timeout": response_timeout})
    return env.model_copy(update={"dsp": dsp})
