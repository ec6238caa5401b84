"""GBCS security on the campaign's side (D-SEC21, D-SEC22): a Critical SR's CV 4 is
answered with a pre-command, which the campaign signs and sends back as CV 5 under the
same request ID; every device message (a response or alert with `gbcs_payload`) gets a
verdict on its signature and MAC. Functions on the campaign's state."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from contract.ids import DCC_ACCESS_CONTROL_BROKER, RequestId
from contract.requests import SendRequest, signed_pre_command_request
from contract.responses import PreCommand, ResponseMessage
from hil.errors import SigningError
from hil.security import verdict_on

from .state import CampaignState, CampaignTimer
from .tracking import Outstanding, RequestEvent, RequestState

log = logging.getLogger(__name__)

UNSIGNED = "unsigned"  # the final code of a request whose pre-command was not signed


def sign_pre_command(
    state: CampaignState, sent: Outstanding, pre: PreCommand, now: datetime
) -> SendRequest | str:
    """The CV 5 carrying `pre` signed, with the request moved to Signed; or, when it
    cannot be signed, the reason (the request is then AwaitingSignature)."""
    sent.step(RequestEvent.PRE_COMMAND)
    device_id = sent.job.target
    if pre.device_id is not None and pre.device_id != device_id:
        return f"the pre-command is for {pre.device_id}, not {device_id}"
    if state.signer is None:
        return "the DSP sent a pre-command to sign and the campaign has no signing key"
    try:
        signed = state.signer.sign(pre.data, state.plan.user_id)
    except SigningError as exc:
        return str(exc)
    sent.step(RequestEvent.SIGNED)
    state.signed += 1
    state.timers.set((CampaignTimer.ANSWER, sent.request_id), now + state.plan.response_wait)
    counter = RequestId.parse(sent.request_id).counter
    log.info("device %s: pre-command signed, CV 5 sent (%s)", device_id, sent.request_id)
    return signed_pre_command_request(state.plan.user_id, sent.job.srv, device_id, counter, signed)


def unsigned(response: ResponseMessage) -> ResponseMessage:
    """The answer as the campaign takes it when it could not sign: a refusal."""
    return replace(response, code=UNSIGNED)


def may_sign(sent: Outstanding) -> bool:
    """Only the attempt still open is signed: a late pre-command would send a command
    its retry has replaced."""
    return sent.state is RequestState.OPEN


def judge_message(
    state: CampaignState,
    what: tuple[str, str],
    body: Mapping[str, Any],
    device_id: str | None,
    now: datetime,
) -> None:
    """Keep the verdict on the device message in `body`, if there is one and a verifier;
    `what` is the kind ("response", "alert") and its name (request ID, alert code)."""
    if state.verifier is None:
        return
    device = None if device_id == DCC_ACCESS_CONTROL_BROKER else device_id
    verdict = verdict_on(state.verifier, body, what=" ".join(what), device_id=device, at=now)
    if verdict is not None:
        state.integrity.add(verdict)
