"""The vocabulary every part of smetslab shares (R1, R4; DESIGN §3): device types, SMI
statuses, user roles, CPL statuses, and the SMI and CPL records that SR 8.2 and the CPL
changes carry. The emulators, the bridges, `hil` and the DSP all import these from
here; the DSP's own records (journal, hub status) stay in `dsp_core.model`.
"""

from __future__ import annotations

from enum import StrEnum

from .records import record


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
