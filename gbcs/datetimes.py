"""The DLMS COSEM date-time of the GBCS header (12 octets), carried field by field."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from contract.records import record

from .errors import GbcsDecodeError
from .reader import ByteReader, encode_uint

DLMS_DATE_TIME_SIZE = 12
NOT_SPECIFIED = 0xFF
YEAR_NOT_SPECIFIED = 0xFFFF
DEVIATION_NOT_SPECIFIED = -0x8000
MAX_DEVIATION_MINUTES = 720


@record
class DlmsDateTime:
    """Every field as sent; `to_datetime()` gives the instant when it is fully specified."""

    year: int
    month: int
    day: int
    day_of_week: int
    hour: int
    minute: int
    second: int
    hundredths: int
    deviation: int
    clock_status: int

    @classmethod
    def read(cls, reader: ByteReader) -> DlmsDateTime:
        raw = ByteReader(reader.take(DLMS_DATE_TIME_SIZE, "DLMS date-time"))
        year = raw.uint(2, "year")
        month, day, dow, hour, minute, second, hundredths = (
            raw.u8("date-time field") for _ in range(7)
        )
        deviation = int.from_bytes(raw.take(2, "deviation"), "big", signed=True)
        return cls(
            year,
            month,
            day,
            dow,
            hour,
            minute,
            second,
            hundredths,
            deviation,
            raw.u8("clock status"),
        )

    def to_bytes(self) -> bytes:
        head = encode_uint(self.year, 2, "year")
        middle = bytes(
            [
                self.month,
                self.day,
                self.day_of_week,
                self.hour,
                self.minute,
                self.second,
                self.hundredths,
            ]
        )
        deviation = self.deviation.to_bytes(2, "big", signed=True)
        return head + middle + deviation + bytes([self.clock_status])

    @classmethod
    def from_datetime(cls, value: datetime) -> DlmsDateTime:
        """A UTC instant as GBCS devices send it: deviation and clock status unspecified."""
        value = value.astimezone(UTC)
        return cls(
            value.year,
            value.month,
            value.day,
            value.isoweekday(),
            value.hour,
            value.minute,
            value.second,
            value.microsecond // 10_000,
            DEVIATION_NOT_SPECIFIED,
            NOT_SPECIFIED,
        )

    def to_datetime(self) -> datetime | None:
        """The instant, or None if any part is unspecified or out of range.

        UTC unless a deviation is given; the deviation is read with the older Blue Book
        sign (UTC = local time + deviation). GBCS devices leave it unspecified.
        """
        fields = (self.month, self.day, self.hour, self.minute, self.second)
        if self.year == YEAR_NOT_SPECIFIED or NOT_SPECIFIED in fields:
            return None
        hundredths = 0 if self.hundredths == NOT_SPECIFIED else self.hundredths
        zone = UTC
        if self.deviation != DEVIATION_NOT_SPECIFIED:
            if abs(self.deviation) > MAX_DEVIATION_MINUTES:
                return None
            zone = timezone(timedelta(minutes=-self.deviation))
        try:
            return datetime(
                self.year,
                self.month,
                self.day,
                self.hour,
                self.minute,
                self.second,
                hundredths * 10_000,
                tzinfo=zone,
            )
        except ValueError:
            return None


def read_optional_date_time(reader: ByteReader) -> DlmsDateTime | None:
    """An OCTET STRING date-time that is either empty (absent) or the 12 octets."""
    start = reader.offset
    size = reader.u8("date-time length")
    if size == 0:
        return None
    if size != DLMS_DATE_TIME_SIZE:
        raise GbcsDecodeError(start, "date-time length 0 or 12", str(size))
    return DlmsDateTime.read(reader)


def write_optional_date_time(value: DlmsDateTime | None) -> bytes:
    if value is None:
        return b"\x00"
    return bytes([DLMS_DATE_TIME_SIZE]) + value.to_bytes()


def iso(value: datetime) -> str:
    """ISO-8601 in UTC with a Z, as the JSON views print instants."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
