"""The DSP's domain records (R1, R4) and the codes it answers with (DESIGN §3)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import field
from datetime import datetime
from enum import StrEnum
from typing import Any

from gbcs.records import record


class SmiStatus(StrEnum):
    """R1: the Smart Metering Inventory statuses."""

    PENDING = "Pending"
    WHITELISTED = "Whitelisted"
    INSTALLED_NOT_COMMISSIONED = "InstalledNotCommissioned"
    COMMISSIONED = "Commissioned"
    DECOMMISSIONED = "Decommissioned"
    WITHDRAWN = "Withdrawn"
    SUSPENDED = "Suspended"
    RECOVERY = "Recovery"
    RECOVERED = "Recovered"


# R1: the statuses in which a device may be communicated with in response to a request.
COMMUNICABLE = frozenset(
    {
        SmiStatus.COMMISSIONED,
        SmiStatus.INSTALLED_NOT_COMMISSIONED,
        SmiStatus.WHITELISTED,
        SmiStatus.PENDING,
        SmiStatus.RECOVERED,
    }
)


class DeviceType(StrEnum):
    ESME = "ESME"
    GSME = "GSME"
    GPF = "GPF"
    CHF = "CHF"
    PPMID = "PPMID"
    HCALCS = "HCALCS"


class Role(StrEnum):
    """DCC user roles, as the DUIS request matrix names them."""

    IMPORT_SUPPLIER = "IS"
    EXPORT_SUPPLIER = "ES"
    GAS_SUPPLIER = "GS"
    REGISTERED_SUPPLIER_AGENT = "RSA"
    ELECTRICITY_DISTRIBUTOR = "ED"
    GAS_TRANSPORTER = "GT"
    OTHER_USER = "OU"


SUPPLIER_ROLES = frozenset({Role.IMPORT_SUPPLIER, Role.GAS_SUPPLIER})
NETWORK_OPERATOR_ROLES = frozenset({Role.ELECTRICITY_DISTRIBUTOR, Role.GAS_TRANSPORTER})


class UserStatus(StrEnum):
    ACTIVE = "Active"
    SUSPENDED = "Suspended"


class CplStatus(StrEnum):
    CURRENT = "Current"
    REMOVED = "Removed"


class ResponseCode(StrEnum):
    """DUIS response codes (DESIGN §3), plus S-codes of our own (docs/decisions.md D7, D9)."""

    I0 = "I0"
    I99 = "I99"
    E1 = "E1"
    E2 = "E2"
    E3 = "E3"
    E4 = "E4"
    E5 = "E5"
    E11 = "E11"
    E12 = "E12"
    E19 = "E19"
    E20 = "E20"
    E21 = "E21"
    E30 = "E30"
    S1_SRV_NOT_SUPPORTED = "S1"
    S2_NOT_CARRIED = "S2"
    S3_REPLAYED_REQUEST = "S3"
    S4_INVALID_REQUEST = "S4"


@record
class Device:
    """One SMI record (R1)."""

    device_id: str
    device_type: DeviceType
    smets: int
    manufacturer: str
    model: str
    firmware_version: str
    status: SmiStatus
    comms_hub_id: str
    mpxn: str
    status_before_suspension: SmiStatus | None = None
    status_before_recovery: SmiStatus | None = None

    def with_firmware_version(self, version: str) -> Device:
        """The record after a version change (R5): spelt out, as dataclasses.replace
        costs twice as much and this runs on every report."""
        return Device(
            self.device_id,
            self.device_type,
            self.smets,
            self.manufacturer,
            self.model,
            version,
            self.status,
            self.comms_hub_id,
            self.mpxn,
            self.status_before_suspension,
            self.status_before_recovery,
        )


@record
class User:
    user_id: str
    roles: frozenset[Role]
    status: UserStatus = UserStatus.ACTIVE


@record
class Registration:
    """Registration data for one MPxN: who may act for the devices at that meter point."""

    mpxn: str
    supplier_id: str
    network_operator_id: str


@record
class CplEntry:
    """One Central Products List entry (R4): a firmware version for a device model."""

    manufacturer: str
    model: str
    firmware_version: str
    status: CplStatus
    image_hash: str  # SHA-256 of the OTA file, 64 upper-case hex characters (R9)


class JournalKind(StrEnum):
    REQUEST = "request"
    RESPONSE = "response"
    ALERT = "alert"
    COMMAND = "command"
    DEVICE_MESSAGE = "device-message"
    STATUS_CHANGE = "status-change"
    FIRMWARE_CHANGE = "firmware-change"
    CPL_CHANGE = "cpl-change"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    HUB_STATUS = "hub-status"  # a comms hub's link went online or offline (D-E1)


@record
class JournalEntry:
    """One line of the append-only event journal."""

    at: datetime
    kind: JournalKind
    device_id: str | None = None
    user_id: str | None = None
    request_id: str | None = None
    code: str | None = None
    detail: Mapping[str, Any] = field(default_factory=dict)


@record
class HubStatus:
    """What the DSP last took from a comms hub's status topic (D-E1): whether the DSP can
    communicate with the devices behind it. A hub with no record is online (emulated
    hubs publish no status)."""

    ch_id: str
    online: bool
    reason: str
    since: datetime  # DSP time at which the hub went online or offline
    reported_at: datetime | None = None  # the publisher's `at` of the status last taken
