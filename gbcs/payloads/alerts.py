"""A device's generic alert (message codes 0x1000 critical, 0x1001 non-critical): the GBZ
alert form, with no use-case component.

As SmartDCCInnovation/gbcs-parser (`src/zigbee.ts`, `parseGbzAlertPayload`) and
Wireshark's GBCS dissector (`epan/dissectors/packet-gbcs.c`) read it: profile ID 0x0109,
the number of GBZ components (0 here), the alert code (2 bytes, big-endian), the time
stamp (ZigBee UTCTime: seconds since 2000-01-01T00:00:00Z, 4 bytes big-endian), then
the use-case components, if any (carried as bytes). The RTDS GSME receipt alert
(`FDRA-ZigBee_NA_8F72_ALERT`) has the same head. smetslab raises it for every device
type when a command is refused (docs/security.md D-SEC13); an ESME's DLMS form of
the same alert is not modelled.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from contract.records import record
from contract.times import iso
from gbcs.errors import GbcsDecodeError, GbcsEncodeError
from gbcs.reader import ByteReader, encode_uint

from .gbz import SMART_ENERGY_PROFILE

ZIGBEE_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_TIME_SIZE = 4


@record
class DeviceAlert:
    """A generic alert: its code, the device's time, and any use-case components."""

    alert_code: int
    timestamp: datetime
    components: bytes = b""
    component_count: int = 0

    def to_bytes(self) -> bytes:
        return (
            SMART_ENERGY_PROFILE.to_bytes(2, "big")
            + encode_uint(self.component_count, 1, "GBZ component count")
            + encode_uint(self.alert_code, 2, "alert code")
            + encode_uint(zigbee_time(self.timestamp), _TIME_SIZE, "alert time stamp")
            + self.components
        )

    def fields(self) -> dict[str, Any]:
        return {
            "alert_code": f"{self.alert_code:04X}",
            "alert_timestamp": iso(self.timestamp),
            "component_count": self.component_count,
        }


def zigbee_time(when: datetime) -> int:
    """ZigBee UTCTime: whole seconds since 2000-01-01T00:00:00Z (an aware `when`)."""
    if when.tzinfo is None:
        raise GbcsEncodeError(f"an alert time stamp needs a time zone, not {when!r}")
    seconds = (when - ZIGBEE_EPOCH) // timedelta(seconds=1)
    if not 0 <= seconds < 1 << 32:
        raise GbcsEncodeError(f"{when.isoformat()} is outside ZigBee UTCTime")
    return seconds


def read_alert(reader: ByteReader) -> DeviceAlert:
    reader.expect(SMART_ENERGY_PROFILE.to_bytes(2, "big"), "GBZ profile ID")
    count = reader.u8("GBZ component count")
    code = reader.uint(2, "alert code")
    offset = reader.offset
    seconds = reader.uint(_TIME_SIZE, "alert time stamp")
    if seconds == (1 << 32) - 1:
        raise GbcsDecodeError(offset, "a ZigBee UTCTime", "0xFFFFFFFF (invalid)")
    when = ZIGBEE_EPOCH + timedelta(seconds=seconds)
    return DeviceAlert(code, when, reader.rest(), count)
