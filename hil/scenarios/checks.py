"""What a scenario step expects, checked against what the lab saw (sans-IO).

Each waiting step looks, among the observations no step has taken yet, for the one it is
about (`find_*`); once found, that observation is taken and its fields are checked
(`check_*`), which gives None when it fits, else what differs. An observation a step is
not about stays for a later step: alerts and responses travel on different topics, so
an N29 may arrive before the I0 that caused it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from contract.codes import ResponseCode
from contract.responses import activation_code, firmware_version
from contract.vocabulary import CplEntry
from hil.lab.observations import Observation, ObservationKind

from .file import AssertNoAlertStep, ExpectAlertStep, ExpectResponseStep


@dataclass(frozen=True, slots=True)
class Expected:
    """A step's field expectations with its names resolved (versions as 8 hex, or None
    for "no version")."""

    firmware_version: str | None = None
    check_version: bool = False


def find_response(
    pending: list[Observation], step: ExpectResponseStep, request_id: str
) -> Observation | None:
    """The first response to `request_id` not yet taken; I99 only when it is expected."""
    for observation in pending:
        if observation.kind is not ObservationKind.RESPONSE:
            continue
        content = observation.content
        if content.get("request_id") != request_id:
            continue
        if content.get("response_code") == ResponseCode.I99 and ResponseCode.I99 not in step.code:
            continue
        return observation
    return None


def check_response(
    observation: Observation, step: ExpectResponseStep, expected: Expected
) -> str | None:
    content = observation.content
    code = content.get("response_code")
    body = _body(content)
    if code not in step.code:
        reason = body.get("reason")
        return f"expected {' or '.join(step.code)}, saw {code}" + (f" ({reason})" if reason else "")
    return _check_fields(
        body,
        expected,
        {
            "activate_image_response_code": (
                step.activate_image_response_code,
                activation_code(body),
            ),
            "late": (step.late, body.get("late") is True),
            "command_accepted": (step.command_accepted, body.get("command_accepted") is True),
        },
    )


def find_alert(
    pending: list[Observation],
    code: str,
    device_id: str | None,
    user_id: str | None,
) -> Observation | None:
    for observation in pending:
        if observation.kind is not ObservationKind.ALERT:
            continue
        content = observation.content
        if content.get("alert_code") != code:
            continue
        if device_id is not None and content.get("device_id") != device_id:
            continue
        if user_id is not None and observation.user_id != user_id:
            continue
        return observation
    return None


def check_alert(observation: Observation, step: ExpectAlertStep, expected: Expected) -> str | None:
    body = _body(observation.content)
    return _check_fields(
        body,
        expected,
        {
            "activate_image_response_code": (
                step.activate_image_response_code,
                activation_code(body),
            ),
            "hash_matches": (step.hash_matches, body.get("hash_matches")),
        },
    )


def unwanted_alert(
    pending: list[Observation], step: AssertNoAlertStep, device_id: str | None
) -> Observation | None:
    return find_alert(pending, step.code, device_id, None)


def find_cpl_result(pending: list[Observation], entry: CplEntry) -> Observation | None:
    """The DSP's answer to a CPL change (D13): the same entry, applied or not."""
    for observation in pending:
        if observation.kind is not ObservationKind.CPL_RESULT:
            continue
        content = observation.content
        if content.get("applied") is False:
            return observation  # a refusal names no entry
        fields = (
            content.get("manufacturer"),
            content.get("model"),
            content.get("firmware_version"),
        )
        same = fields == (entry.manufacturer, entry.model, entry.firmware_version)
        if same and content.get("status") == str(entry.status):
            return observation
    return None


def check_cpl_result(observation: Observation) -> str | None:
    if observation.content.get("applied") is True:
        return None
    return f"the DSP did not apply the CPL change: {observation.content.get('reason')}"


def describe(observation: Observation) -> str:
    """One observation in a failure message."""
    content = observation.content
    match observation.kind:
        case ObservationKind.RESPONSE:
            return f"{content.get('response_code')} to {content.get('request_id')}"
        case ObservationKind.ALERT:
            return f"alert {content.get('alert_code')} about {content.get('device_id')}"
        case ObservationKind.CPL_RESULT:
            applied = content.get("applied") is True
            return (
                "CPL change applied" if applied else f"CPL change refused: {content.get('reason')}"
            )
        case _:
            return f"{observation.kind} {content}"


def _check_fields(
    body: Mapping[str, Any], expected: Expected, others: dict[str, tuple[object, object]]
) -> str | None:
    wrong = []
    if expected.check_version:
        seen = firmware_version(body)
        if seen != expected.firmware_version:
            want = expected.firmware_version or "no firmware_version"
            wrong.append(f"firmware_version {want} expected, saw {seen or 'none'}")
    for name, (wanted, found) in others.items():
        if wanted is not None and wanted != found:
            wrong.append(f"{name} {wanted} expected, saw {found}")
    return "; ".join(wrong) or None


def _body(content: Mapping[str, Any]) -> Mapping[str, Any]:
    body = content.get("body")
    return body if isinstance(body, Mapping) else {}
