"""A bench for the campaign model alone: a plan, a manual clock, and the response and
alert dicts the DSP publishes, built with the core's own `Response` and `Alert` records
so that their shape is the one on the bus (DESIGN §3)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from contract.codes import ResponseCode
from contract.requests import SendRequest
from contract.responses import Alert, Response
from gbcs.ota import OtaHeader, build_ota_image
from hil.campaign.model import CampaignModel
from hil.campaign.plan import CampaignPlan, FirmwareTarget
from hil.security import Signer, Verifier

USER = "90-B3-D5-1F-30-01-00-00"
T0 = datetime(2031, 1, 1, 9, 0, tzinfo=UTC)
NEW = "0123ABCF"
OLD = "0123ABCD"
IMAGE = build_ota_image(OtaHeader(0x1234, 1, int(NEW, 16)), b"image " * 40).to_bytes()
GPF = "00-DB-12-34-56-78-99-01"


def device_ids(count: int, first: int = 0xA0) -> tuple[str, ...]:
    return tuple(
        f"00-DB-12-34-56-78-{(first + i) >> 8:02X}-{(first + i) & 0xFF:02X}" for i in range(count)
    )


def target(ids: tuple[str, ...], *, one_step: bool = False) -> FirmwareTarget:
    model = "IHD-1" if one_step else "E-1"
    return FirmwareTarget.of("ACME", model, NEW, IMAGE, ids, one_step=one_step)


def make_plan(ids: tuple[str, ...], **overrides: Any) -> CampaignPlan:
    settings: dict[str, Any] = {
        "user_id": USER,
        "targets": (target(ids),),
        "max_retries": 2,
        "retry_backoff": timedelta(seconds=30),
        "max_backoff": timedelta(minutes=10),
        "response_wait": timedelta(minutes=10),
        "receipt_wait": timedelta(minutes=20),
        "batch_size": 10,
        "first_counter": 100,
    }
    settings.update(overrides)
    return CampaignPlan(**settings)


def response(
    request: SendRequest | str, code: str = "I0", body: dict[str, Any] | None = None
) -> dict[str, Any]:
    request_id = request if isinstance(request, str) else request.request_id
    srv = None if isinstance(request, str) else request.srv
    answer = Response(request_id, f"{request_id}/{code}", ResponseCode(code), T0, srv, body or {})
    return answer.to_json()


def alert(code: str, device_id: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    return Alert(code, device_id, T0, body or {}).to_json()


def outcome(version: str | None = NEW, code: int = 0) -> dict[str, Any]:
    """The body of an immediate 11.3 answer: the CS06 outcome fields (R5)."""
    return {"gbcs_payload": "", "response_code": code, "firmware_version": version}


def distributed(
    ids: tuple[str, ...], warnings: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """The body of the 11.1 I0: the DSPUpdateFirmwareWarning lists and the rest (R9)."""
    lists: dict[str, list[str]] = {
        "invalid_device_ids": [],
        "not_commissioned": [],
        "not_applicable_firmware": [],
    }
    lists.update(warnings or {})
    warned = {i for found in lists.values() for i in found}
    return {
        "DSPUpdateFirmwareWarning": lists,
        "distributed": [i for i in ids if i not in warned],
        "image_hash": "",
    }


def receipt(
    device_id: str, *, ok: bool = True, version: str | None = None, request_id: str | None = None
) -> dict[str, Any]:
    body = {"request_id": request_id, "hash_matches": ok, "firmware_version": version}
    return alert("FirmwareReceipt", device_id, body)


def inventory(records: dict[str, tuple[str, str]]) -> dict[str, Any]:
    """The body of an 8.2 I0: device ID -> (status, firmware version)."""
    return {
        "devices": [
            {"device_id": i, "status": status, "firmware_version": version}
            for i, (status, version) in records.items()
        ],
        "unknown_device_ids": [],
    }


@dataclass
class Bench:
    """Drives one CampaignModel on a manual clock; keeps every request it sent."""

    plan: CampaignPlan
    now: datetime = T0
    sent: list[SendRequest] = field(default_factory=list)
    answered: set[str] = field(default_factory=set)  # request IDs given a final answer
    signer: Signer | None = None  # security on: signs pre-commands (hil.security)
    verifier: Verifier | None = None

    def __post_init__(self) -> None:
        self.model = CampaignModel(self.plan, self.signer, self.verifier)

    def _keep(self, sends: list[SendRequest]) -> list[SendRequest]:
        self.sent += sends
        return sends

    def start(self) -> list[SendRequest]:
        return self._keep(self.model.start(self.now))

    def respond(self, message: dict[str, Any]) -> list[SendRequest]:
        if message["response_code"] != "I99":
            self.answered.add(message["request_id"])
        return self._keep(self.model.on_response(message, self.now))

    def alert(self, message: dict[str, Any]) -> list[SendRequest]:
        return self._keep(self.model.on_alert(message, self.now))

    def tick(self, delta: timedelta) -> list[SendRequest]:
        self.now += delta
        return self._keep(self.model.on_tick(self.now))

    def tick_to_due(self) -> list[SendRequest]:
        due = self.model.next_due()
        assert due is not None
        return self.tick(due - self.now)

    def distribute_all(self) -> dict[str, SendRequest]:
        """Start, answer each 11.1 with no warnings, send every receipt: the 11.3s."""
        activations: dict[str, SendRequest] = {}
        for request in self.start():
            ids = tuple(request.payload["body"]["device_ids"])
            self.respond(response(request, "I99"))
            self.respond(response(request, "I0", distributed(ids)))
            for device_id in ids:
                (activation,) = self.alert(receipt(device_id))
                activations[device_id] = activation
        return activations

    def answer_inventory(
        self, records: dict[str, tuple[str, str]] | None = None
    ) -> list[SendRequest]:
        """Answer every open 8.2: each device Commissioned on NEW unless `records` says."""
        sends = []
        records = records or {}
        for request in [
            r for r in self.sent if r.srv == "8.2" and r.request_id not in self.answered
        ]:
            ids = request.payload["body"]["device_ids"]
            found = {i: records.get(i, ("Commissioned", NEW)) for i in ids}
            sends += self.respond(response(request, "I0", inventory(found)))
        return sends
