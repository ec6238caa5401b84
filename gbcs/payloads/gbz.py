"""GBZ, the GBCS wrapper of ZigBee Cluster Library frames: profile, components, ZCL frame."""

from __future__ import annotations

from contract.records import record
from gbcs.reader import ByteReader, encode_uint

SMART_ENERGY_PROFILE = 0x0109
ENCRYPTED = 0x02
FROM_DATE_TIME_PRESENT = 0x10
LAST_COMPONENT = 0x01


@record
class GbzComponent:
    """One GBZ use-case-specific component: its extended header and the ZCL frame it holds."""

    control: int
    cluster_id: int
    frame: bytes
    frame_offset: int = 0

    def to_bytes(self) -> bytes:
        return (
            encode_uint(self.control, 1, "GBZ control field")
            + encode_uint(self.cluster_id, 2, "GBZ cluster ID")
            + encode_uint(len(self.frame), 2, "GBZ command length")
            + self.frame
        )


def read_gbz(reader: ByteReader) -> list[GbzComponent]:
    reader.expect(SMART_ENERGY_PROFILE.to_bytes(2, "big"), "GBZ profile ID")
    count = reader.u8("GBZ component count")
    components = []
    for _ in range(count):
        control = reader.u8("GBZ control field")
        cluster = reader.uint(2, "GBZ cluster ID")
        body = reader.sub(reader.uint(2, "GBZ command length"), "GBZ component")
        components.append(GbzComponent(control, cluster, body.rest(), body.offset))
    return components


def write_gbz(components: list[GbzComponent]) -> bytes:
    head = SMART_ENERGY_PROFILE.to_bytes(2, "big") + encode_uint(
        len(components), 1, "GBZ component count"
    )
    return head + b"".join(component.to_bytes() for component in components)
