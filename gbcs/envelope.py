"""GBCS envelopes: the General Signing (0xDF) header and the General Ciphering (0xDD) wrapper.

Decoding here is generic: every GBCS message's header decodes, whatever its use case;
the payload is returned as bytes for `gbcs.payloads` to interpret.
"""

from __future__ import annotations

from struct import Struct

from contract.records import record

from .codes import CraFlag
from .datetimes import DlmsDateTime, read_optional_date_time, write_optional_date_time
from .errors import GbcsDecodeError, GbcsEncodeError
from .reader import ByteReader, encode_length, encode_uint, require_size

GENERAL_SIGNING_TAG = 0xDF
GENERAL_CIPHERING_TAG = 0xDD
# transaction-id, originator/recipient system titles, date-time and other-information
# are empty and key-info is absent in every GBCS General Ciphering APDU.
CIPHERING_EMPTY_FIELDS = bytes(6)
SECURITY_CONTROL_AUTHENTICATED = 0x11
ENCRYPTION_BIT = 0x20
MAC_SIZE = 12
SECURITY_HEADER_SIZE = 5
TRANSACTION_ID_SIZE = 9
ENTITY_ID_SIZE = 8
COUNTER_SIZE = 8
_MESSAGE_CODE_SIZE = 2
_WITH_SRP_ID = 10
_WITH_SRP_COUNTER = 18
_WITH_ORIGINATOR_COUNTER = 26
_CRA_FLAGS = {int(flag): flag for flag in CraFlag}
_ENTITY_ID_LENGTH = bytes([ENTITY_ID_SIZE])
_NO_SUPPLEMENTARY_FIELDS = (None, None, None, None)
# The fixed-size start of a General Signing header: tag, transaction ID length, CRA
# flag, originator counter, then length and value of the originator and recipient IDs.
_FIXED_HEAD = Struct(">BBBQB8sB8s")
_MARKERS = (GENERAL_SIGNING_TAG, TRANSACTION_ID_SIZE, ENTITY_ID_SIZE, ENTITY_ID_SIZE)


@record
class GbcsHeader:
    """The General Signing header fields shared by every GBCS message."""

    cra_flag: CraFlag
    originator_counter: int
    originator_id: bytes
    recipient_id: bytes
    date_time: DlmsDateTime | None
    message_code: int
    supplementary_remote_party_id: bytes | None = None
    supplementary_remote_party_counter: int | None = None
    supplementary_originator_counter: int | None = None
    supplementary_certificate: bytes | None = None


@record
class GeneralCiphering:
    """The authenticated General Ciphering wrapper; the MAC is carried as it is."""

    mac: bytes
    security_control: int = SECURITY_CONTROL_AUTHENTICATED
    invocation_counter: int = 0


@record
class Envelope:
    """A message split into its header, its undecoded payload and its security trailer."""

    header: GbcsHeader
    data: bytes
    payload_start: int
    payload_end: int
    signature: bytes | None
    ciphering: GeneralCiphering | None

    @property
    def payload(self) -> bytes:
        return self.data[self.payload_start : self.payload_end]

    def payload_reader(self) -> ByteReader:
        return ByteReader(self.data, self.payload_start, self.payload_end)


def read_envelope(data: bytes) -> Envelope:
    reader = ByteReader(data)
    tag = reader.peek()
    if tag == GENERAL_CIPHERING_TAG:
        envelope = _read_general_ciphering(reader, data)
    elif tag == GENERAL_SIGNING_TAG:
        envelope = _read_general_signing(reader, data, None)
    else:
        found = "no bytes" if tag is None else f"0x{tag:02X}"
        raise GbcsDecodeError(0, "General Ciphering 0xDD or General Signing 0xDF", found)
    reader.finish("the GBCS message")
    return envelope


def _read_general_ciphering(reader: ByteReader, data: bytes) -> Envelope:
    reader.take(1, "General Ciphering tag")
    reader.expect(CIPHERING_EMPTY_FIELDS, "empty General Ciphering fields")
    service = reader.sub(reader.length("ciphered service length"), "ciphered service")
    control_offset = service.offset
    control = service.u8("security control byte")
    if control & ENCRYPTION_BIT:
        raise GbcsDecodeError(
            control_offset, "an authenticated-only security control byte", f"0x{control:02X}"
        )
    counter = service.uint(4, "invocation counter")
    if service.remaining < MAC_SIZE:
        raise GbcsDecodeError(service.offset, f"{MAC_SIZE}-byte MAC", f"{service.remaining} left")
    signed = service.sub(service.remaining - MAC_SIZE, "General Signing content")
    mac = service.take(MAC_SIZE, "MAC")
    ciphering = GeneralCiphering(mac=mac, security_control=control, invocation_counter=counter)
    envelope = _read_general_signing(signed, data, ciphering)
    signed.finish("General Signing content")
    return envelope


def _read_general_signing(
    reader: ByteReader, data: bytes, ciphering: GeneralCiphering | None
) -> Envelope:
    cra_flag, counter, originator, recipient = _read_fixed_head(reader)
    date_time = read_optional_date_time(reader)
    other = _read_other_information(reader)
    payload = reader.sub(reader.length("content length"), "content")
    signature: bytes | None = None
    if not reader.at_end():
        signature = reader.take(reader.length("signature length"), "signature")
    header = GbcsHeader(cra_flag, counter, originator, recipient, date_time, *other)
    return Envelope(header, data, payload.offset, payload.end, signature, ciphering)


def _read_fixed_head(reader: ByteReader) -> tuple[CraFlag, int, bytes, bytes]:
    """CRA flag, originator counter, originator and recipient IDs: in one unpack when
    the fixed-size start of the header is well formed, else field by field, which
    names the first fault."""
    fields = reader.peek_struct(_FIXED_HEAD)
    if fields is not None:
        tag, size, cra_value, counter, originator_size, originator, recipient_size, recipient = (
            fields
        )
        cra_flag = _CRA_FLAGS.get(cra_value)
        if cra_flag is not None and (tag, size, originator_size, recipient_size) == _MARKERS:
            reader.skip(_FIXED_HEAD.size)
            return cra_flag, counter, originator, recipient
    return _read_fixed_head_by_field(reader)


def _read_fixed_head_by_field(reader: ByteReader) -> tuple[CraFlag, int, bytes, bytes]:
    reader.expect_u8(GENERAL_SIGNING_TAG, "General Signing tag")
    reader.expect_u8(TRANSACTION_ID_SIZE, "transaction ID length")
    cra_offset = reader.offset
    cra_value = reader.u8("CRA flag")
    cra_flag = _CRA_FLAGS.get(cra_value)
    if cra_flag is None:
        raise GbcsDecodeError(cra_offset, "CRA flag 1, 2 or 3", str(cra_value))
    counter = reader.uint(COUNTER_SIZE, "originator counter")
    originator = _read_entity_id(reader, "originator system title")
    recipient = _read_entity_id(reader, "recipient system title")
    return cra_flag, counter, originator, recipient


def _read_entity_id(reader: ByteReader, what: str) -> bytes:
    reader.expect_u8(ENTITY_ID_SIZE, f"{what} length")
    return reader.take(ENTITY_ID_SIZE, what)


def _read_other_information(
    reader: ByteReader,
) -> tuple[int, bytes | None, int | None, int | None, bytes | None]:
    start = reader.offset
    other = reader.sub(reader.length("other-information length"), "other-information")
    size = other.remaining
    if size < _WITH_SRP_COUNTER and size not in (_MESSAGE_CODE_SIZE, _WITH_SRP_ID):
        raise GbcsDecodeError(start, "other-information of 2, 10, 18 or more bytes", str(size))
    code = other.uint(_MESSAGE_CODE_SIZE, "message code")
    if size == _MESSAGE_CODE_SIZE:  # the usual case: no supplementary fields
        return code, None, None, None, None
    srp_id = other.take(ENTITY_ID_SIZE, "supplementary remote party ID") if size > 2 else None
    srp_counter = originator_counter = certificate = None
    if size >= _WITH_SRP_COUNTER:
        srp_counter = other.uint(COUNTER_SIZE, "supplementary remote party counter")
    if size == _WITH_ORIGINATOR_COUNTER:
        originator_counter = other.uint(COUNTER_SIZE, "supplementary originator counter")
    elif size > _WITH_SRP_COUNTER:
        certificate = other.rest()
    return code, srp_id, srp_counter, originator_counter, certificate


def write_envelope(
    header: GbcsHeader,
    payload: bytes,
    signature: bytes | None,
    ciphering: GeneralCiphering | None,
) -> bytes:
    signed = _write_general_signing(header, payload, signature)
    if ciphering is None:
        return signed
    if ciphering.security_control & ENCRYPTION_BIT:
        raise GbcsEncodeError("only authenticated (not encrypted) General Ciphering is supported")
    service = (
        encode_uint(ciphering.security_control, 1, "security control")
        + encode_uint(ciphering.invocation_counter, 4, "invocation counter")
        + signed
        + require_size(ciphering.mac, MAC_SIZE, "MAC")
    )
    return (
        bytes([GENERAL_CIPHERING_TAG])
        + CIPHERING_EMPTY_FIELDS
        + encode_length(len(service))
        + service
    )


def _write_general_signing(header: GbcsHeader, payload: bytes, signature: bytes | None) -> bytes:
    if header.cra_flag not in _CRA_FLAGS:
        raise GbcsEncodeError(f"CRA flag {header.cra_flag} is not 1, 2 or 3")
    other = _write_other_information(header)
    parts = [
        bytes((GENERAL_SIGNING_TAG, TRANSACTION_ID_SIZE, header.cra_flag)),
        encode_uint(header.originator_counter, COUNTER_SIZE, "originator counter"),
        _ENTITY_ID_LENGTH,
        require_size(header.originator_id, ENTITY_ID_SIZE, "originator ID"),
        _ENTITY_ID_LENGTH,
        require_size(header.recipient_id, ENTITY_ID_SIZE, "recipient ID"),
        write_optional_date_time(header.date_time),
        encode_length(len(other)),
        other,
        encode_length(len(payload)),
        payload,
    ]
    if signature is not None:
        parts += (encode_length(len(signature)), signature)
    return b"".join(parts)


def _write_other_information(header: GbcsHeader) -> bytes:
    out = encode_uint(header.message_code, _MESSAGE_CODE_SIZE, "message code")
    optional = (
        header.supplementary_remote_party_id,
        header.supplementary_remote_party_counter,
        header.supplementary_originator_counter,
        header.supplementary_certificate,
    )
    srp_id, srp_counter, originator_counter, certificate = optional
    if srp_id is None:
        if optional != _NO_SUPPLEMENTARY_FIELDS:
            raise GbcsEncodeError("supplementary fields need a supplementary remote party ID")
        return out
    out += require_size(srp_id, ENTITY_ID_SIZE, "supplementary remote party ID")
    if srp_counter is None:
        if originator_counter is not None or certificate is not None:
            raise GbcsEncodeError("supplementary fields need a supplementary remote party counter")
        return out
    out += encode_uint(srp_counter, COUNTER_SIZE, "supplementary remote party counter")
    if originator_counter is not None and certificate is not None:
        raise GbcsEncodeError("a supplementary originator counter excludes a certificate")
    if originator_counter is not None:
        return out + encode_uint(
            originator_counter, COUNTER_SIZE, "supplementary originator counter"
        )
    if certificate is not None:
        if len(certificate) in (0, COUNTER_SIZE):
            raise GbcsEncodeError(f"a {len(certificate)}-byte certificate cannot be told apart")
        out += certificate
    return out
