"""GBCS security, sans-IO: General Signing signatures and General Ciphering MACs.

Bytes and keys in, bytes or verdicts out; no file, no clock. The algorithms are those
the DCC's RTDS 4.5.0 vectors were made with (`../shared/testdata/README.md`, checked
against every vector there):

- a signature is ECDSA P-256 with SHA-256 over the General Signing APDU from the byte
  after 0xDF to the end of the content; on the wire its field is `0x40 || r || s`;
- a MAC is the first 12 bytes of an AES-128-GCM tag over an empty plaintext, with the
  key from the GBCS KDF (SHA-256 of `00000001 || Z || OtherInfo`, Z the ECDH P-256
  shared x-coordinate, OtherInfo from the header), IV = originator system title ||
  invocation counter, AAD = `0x11 || 00 x5 || the whole General Signing APDU`.

The layout of both wrappers is `gbcs.envelope`'s; this module only computes and checks
the two fields. `protections` reads a message and says what it carries, each signature
and MAC checked with the keys of a `gbcs.keystore.KeyStore`.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from hashlib import sha256
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .codes import CraFlag
from .envelope import (
    MAC_SIZE,
    SECURITY_CONTROL_AUTHENTICATED,
    Envelope,
    GbcsHeader,
    GeneralCiphering,
    read_envelope,
    write_envelope,
)
from .errors import GbcsSecurityError
from .messages import format_entity_id

if TYPE_CHECKING:
    from .keystore import KeyStore

__all__ = [
    "DCC_ACCESS_CONTROL_BROKER_ID",
    "SIGNATURE_SIZE",
    "KeyUse",
    "Protection",
    "mac",
    "protect",
    "protections",
    "sign",
    "verify_mac",
    "verify_signature",
]

SIGNATURE_SIZE = 64  # r || s, 32 bytes each; the field's length byte is 0x40
_COORDINATE_SIZE = 32
_KEY_SIZE = 16
_KDF_COUNTER = b"\x00\x00\x00\x01"
# OtherInfo's AlgorithmID: the GBCS identifier of the KDF and AES-GCM-128.
_ALGORITHM_ID = bytes.fromhex("60857406080300")
_TRANSACTION_ID_LENGTH = b"\x09"  # CRA flag and originator counter
# The AAD's start: the security control byte and five zero bytes (README.md).
_AAD_PREFIX = bytes([SECURITY_CONTROL_AUTHENTICATED]) + bytes(5)
_ECDSA = ec.ECDSA(hashes.SHA256())
_P256 = ec.SECP256R1.name
# The DCC's Access Control Broker: it MACs every command the DCC sends (README.md).
DCC_ACCESS_CONTROL_BROKER_ID = bytes.fromhex("90B3D51F30000002")


class KeyUse(StrEnum):
    """What a key pair is for; the value is the suffix of its files in the RTDS layout."""

    DIGITAL_SIGNING = "ds"
    KEY_AGREEMENT = "ka"
    XML_SIGNING = "xmlsign"

    @property
    def long_name(self) -> str:
        """As errors and reasons name it: "digital-signing (ds)", "key-agreement (ka)"."""
        return _LONG_NAMES[self]


_LONG_NAMES = {
    KeyUse.DIGITAL_SIGNING: "digital-signing (ds)",
    KeyUse.KEY_AGREEMENT: "key-agreement (ka)",
    KeyUse.XML_SIGNING: "XML-signing (xmlsign)",
}


@dataclass(frozen=True, slots=True)
class Protection:
    """One signature or MAC a message carries, and whether it was found good.

    `by` is the owner of the key (DUIS form): for a signature, the signer; for a MAC,
    the sending side (the remote party whose key MACed a command, the device that
    MACed a response or alert). `valid` is None when it was not checked, and `reason`
    then says which keys were missing; when `valid` is False it says what failed."""

    kind: str  # "signature" or "mac"
    by: str
    valid: bool | None
    reason: str | None = None
    # set when a certificate it was checked with was not valid at the message's time
    # (test certificates stay usable after they expire; the time is stated)
    note: str | None = None


def sign(data: bytes, key: ec.EllipticCurvePrivateKey) -> bytes:
    """The General Signing APDU `data` (signature field absent or empty) with its
    signature field filled: `0x40 || r || s` over the APDU from the byte after 0xDF to
    the end of the content. Sign before MACing: a General Ciphering APDU is refused."""
    envelope = read_envelope(data)
    header = envelope.header
    if envelope.ciphering is not None:
        raise GbcsSecurityError(
            f"cannot sign {_describe(header)}: it is already a General Ciphering APDU"
            " (sign the General Signing APDU, then MAC it)"
        )
    if envelope.signature:
        raise GbcsSecurityError(
            f"cannot sign {_describe(header)}: it already carries a"
            f" {len(envelope.signature)}-byte signature"
        )
    _require_p256(key.curve, f"the signing key for {_describe(header)}")
    start = _signing_start(envelope)
    der = key.sign(envelope.data[start + 1 : envelope.payload_end], _ECDSA)
    r, s = decode_dss_signature(der)
    value = r.to_bytes(_COORDINATE_SIZE, "big") + s.to_bytes(_COORDINATE_SIZE, "big")
    return write_envelope(header, envelope.payload, value, None)


def verify_signature(data: bytes, key: ec.EllipticCurvePublicKey, signer: bytes) -> None:
    """Check the signature of a General Signing or General Ciphering APDU with the
    public key of `signer` (an 8-byte EUI-64, named in the error); raises
    GbcsSecurityError when the signature is absent, malformed or wrong."""
    envelope = read_envelope(data)
    _check_signature(envelope, key, signer)


def mac(data: bytes, own: ec.EllipticCurvePrivateKey, peer: ec.EllipticCurvePublicKey) -> bytes:
    """The General Signing APDU `data` wrapped in an authenticated General Ciphering
    APDU (invocation counter 0) with its 12-byte MAC, from `own`'s private
    key-agreement key and `peer`'s public one. An absent signature field is written
    as an empty one (length 0), as every General Ciphering APDU carries it."""
    envelope = read_envelope(data)
    header = envelope.header
    if envelope.ciphering is not None:
        raise GbcsSecurityError(
            f"cannot MAC {_describe(header)}: it is already a General Ciphering APDU"
        )
    _signing_start(envelope)  # refuses a General Signing APDU not in canonical form
    signature = b"" if envelope.signature is None else envelope.signature
    signed = write_envelope(header, envelope.payload, signature, None)
    tag = _gmac(signed, header, 0, own, peer, what=f"MAC of {_describe(header)}")
    return write_envelope(header, envelope.payload, signature, GeneralCiphering(mac=tag))


def verify_mac(
    data: bytes, own: ec.EllipticCurvePrivateKey, peer: ec.EllipticCurvePublicKey
) -> None:
    """Check the MAC of a General Ciphering APDU with one side's private key-agreement
    key and the other side's public one (either way round); raises GbcsSecurityError
    naming the originator, recipient and counter when it is missing or wrong."""
    envelope = read_envelope(data)
    _check_mac(envelope, own, peer)


def protect(
    precommand: bytes,
    *,
    signer: ec.EllipticCurvePrivateKey | None,
    mac_own: ec.EllipticCurvePrivateKey,
    mac_peer: ec.EllipticCurvePublicKey,
) -> bytes:
    """A pre-command (or an unsigned command) made into the command a device accepts:
    signed by `signer` when given (a critical command), then MACed with `mac_own`'s
    private key-agreement key (the Access Control Broker's) and `mac_peer`'s public
    one (the device's)."""
    signed = precommand if signer is None else sign(precommand, signer)
    return mac(signed, mac_own, mac_peer)


def protections(
    data: bytes,
    keys: KeyStore,
    *,
    as_party: bytes | None = None,
    at: datetime | None = None,
) -> list[Protection]:
    """Every signature and MAC `data` carries, each checked where `keys` holds what it
    needs. A signature is the originator's; for a command, `as_party` may name another
    signer (the supplier of a command the Access Control Broker sends on). A MAC is
    checked with whichever side's private key-agreement key `keys` holds and the other
    side's public key: the device and, for a command, the Access Control Broker or the
    originator, for a response or alert the recipient. A message the codec refuses
    raises GbcsDecodeError. The message's time is its header's date-time, else `at`: a
    certificate not valid then is still used, and the protection's `note` says so."""
    envelope = read_envelope(data)
    found: list[Protection] = []
    if envelope.signature:
        found.append(_signature_protection(envelope, keys, as_party))
    if envelope.ciphering is not None:
        found.append(_mac_protection(envelope, keys))
    when = _message_time(envelope.header, at)
    if when is None:
        return found
    return [_with_validity(protection, envelope.header, keys, when) for protection in found]


def _message_time(header: GbcsHeader, at: datetime | None) -> datetime | None:
    stamped = header.date_time.to_datetime() if header.date_time is not None else None
    return stamped or at


def _with_validity(
    protection: Protection, header: GbcsHeader, keys: KeyStore, when: datetime
) -> Protection:
    """`protection` with a note naming each certificate of its parties that was not
    valid at `when` (only for one that was checked and found good)."""
    if protection.valid is not True:
        return protection
    if protection.kind == "signature":
        parties = [(_entity_of(protection.by), KeyUse.DIGITAL_SIGNING)]
    elif header.cra_flag is CraFlag.COMMAND:  # the remote party that MACed, the device
        parties = [(_entity_of(protection.by), KeyUse.KEY_AGREEMENT)]
        parties.append((header.recipient_id, KeyUse.KEY_AGREEMENT))
    else:
        parties = [(header.originator_id, KeyUse.KEY_AGREEMENT)]
        parties.append((header.recipient_id, KeyUse.KEY_AGREEMENT))
    stale = []
    for entity, use in dict.fromkeys(parties):
        for entry in keys.entries(entity, use)[:1]:
            certificate = entry.certificate
            if certificate is None:
                continue
            moment = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
            if not certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc:
                stale.append(
                    f"the {use.long_name} certificate of {format_entity_id(entity)} is valid"
                    f" {certificate.not_valid_before_utc.date()} to"
                    f" {certificate.not_valid_after_utc.date()}, not at the message's time"
                    f" {moment.isoformat()}; used all the same"
                )
    if not stale:
        return protection
    return replace(protection, note="; ".join(stale))


def _entity_of(duis: str) -> bytes:
    """An EUI-64 in DUIS form (`90-B3-D5-1F-30-01-00-00`) as the header's 8 bytes."""
    return bytes.fromhex(duis.replace("-", ""))


def _signature_protection(envelope: Envelope, keys: KeyStore, as_party: bytes | None) -> Protection:
    header = envelope.header
    signer = header.originator_id
    if as_party is not None and header.cra_flag is CraFlag.COMMAND:
        signer = as_party
    by = format_entity_id(signer)
    use = KeyUse.DIGITAL_SIGNING
    candidates = keys.public_keys(signer, use)
    if not candidates:
        return Protection("signature", by, None, f"no {use.long_name} key of {by}")
    failure = ""
    for key in candidates:
        try:
            _check_signature(envelope, key, signer)
        except GbcsSecurityError as exc:
            failure = str(exc)
        else:
            return Protection("signature", by, True)
    return Protection("signature", by, False, failure)


def _mac_protection(envelope: Envelope, keys: KeyStore) -> Protection:
    header = envelope.header
    if header.cra_flag is CraFlag.COMMAND:
        device = header.recipient_id
        remotes = list(dict.fromkeys((DCC_ACCESS_CONTROL_BROKER_ID, header.originator_id)))
    else:
        device = header.originator_id
        remotes = [header.recipient_id]
    checked: list[bytes] = []
    failure = ""
    for remote in remotes:
        pairs = list(_key_pairs(keys, device, remote))
        if pairs:
            checked.append(remote)
        for own, peer in pairs:
            try:
                _check_mac(envelope, own, peer)
            except GbcsSecurityError as exc:
                failure = str(exc)
            else:
                return Protection("mac", _mac_sender(header, device, remote), True)
    if checked:
        sender = _mac_sender(header, device, checked[0])
        return Protection("mac", sender, False, failure)
    names = " or ".join(format_entity_id(party) for party in (device, *remotes))
    return Protection(
        "mac",
        _mac_sender(header, device, remotes[0]),
        None,
        f"no {KeyUse.KEY_AGREEMENT.long_name} key of {names} with the other side's public key",
    )


def _mac_sender(header: GbcsHeader, device: bytes, remote: bytes) -> str:
    return format_entity_id(remote if header.cra_flag is CraFlag.COMMAND else device)


def _key_pairs(
    keys: KeyStore, one: bytes, other: bytes
) -> Iterator[tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey]]:
    """Each private key-agreement key of either side with each public one of the other."""
    use = KeyUse.KEY_AGREEMENT
    for mine, theirs in ((one, other), (other, one)):
        for own in keys.private_keys(mine, use):
            for peer in keys.public_keys(theirs, use):
                yield own, peer


def _check_signature(envelope: Envelope, key: ec.EllipticCurvePublicKey, signer: bytes) -> None:
    header = envelope.header
    what = f"signature of {format_entity_id(signer)} on {_describe(header)}"
    signature = envelope.signature
    if not signature:
        state = "no signature field" if signature is None else "an empty signature field"
        raise GbcsSecurityError(f"{what}: absent (the message has {state})")
    if len(signature) != SIGNATURE_SIZE:
        raise GbcsSecurityError(
            f"{what}: malformed ({len(signature)} bytes, expected {SIGNATURE_SIZE})"
        )
    _require_p256(key.curve, f"the {KeyUse.DIGITAL_SIGNING.long_name} key for the {what}")
    start = _signing_start(envelope)
    r = int.from_bytes(signature[:_COORDINATE_SIZE], "big")
    s = int.from_bytes(signature[_COORDINATE_SIZE:], "big")
    try:
        key.verify(
            encode_dss_signature(r, s), envelope.data[start + 1 : envelope.payload_end], _ECDSA
        )
    except InvalidSignature:
        raise GbcsSecurityError(
            f"{what}: does not verify with its {KeyUse.DIGITAL_SIGNING.long_name} key"
        ) from None


def _check_mac(
    envelope: Envelope, own: ec.EllipticCurvePrivateKey, peer: ec.EllipticCurvePublicKey
) -> None:
    header = envelope.header
    what = f"MAC on {_describe(header)}"
    ciphering = envelope.ciphering
    if ciphering is None:
        raise GbcsSecurityError(f"{what}: absent (the message is not General Ciphering)")
    if ciphering.security_control != SECURITY_CONTROL_AUTHENTICATED:
        raise GbcsSecurityError(
            f"{what}: security control 0x{ciphering.security_control:02X},"
            f" expected 0x{SECURITY_CONTROL_AUTHENTICATED:02X}"
        )
    start = _signing_start(envelope)
    signed = envelope.data[start : len(envelope.data) - MAC_SIZE]
    expected = _gmac(signed, header, ciphering.invocation_counter, own, peer, what=what)
    if expected != ciphering.mac:
        raise GbcsSecurityError(
            f"{what} (invocation counter {ciphering.invocation_counter}): does not verify"
            f" with the given {KeyUse.KEY_AGREEMENT.long_name} keys"
        )


def _gmac(
    signed: bytes,
    header: GbcsHeader,
    invocation_counter: int,
    own: ec.EllipticCurvePrivateKey,
    peer: ec.EllipticCurvePublicKey,
    *,
    what: str,
) -> bytes:
    """The 12-byte GMAC over the General Signing APDU `signed` (README.md)."""
    for curve, whose in ((own.curve, "private"), (peer.curve, "public")):
        _require_p256(curve, f"the {whose} {KeyUse.KEY_AGREEMENT.long_name} key for the {what}")
    shared = _shared_secret(own, peer)
    other_info = b"".join(
        (
            _ALGORITHM_ID,
            header.originator_id,
            _TRANSACTION_ID_LENGTH,
            bytes([header.cra_flag]),
            header.originator_counter.to_bytes(8, "big"),
            header.recipient_id,
        )
    )
    key = sha256(_KDF_COUNTER + shared + other_info).digest()[:_KEY_SIZE]
    iv = header.originator_id + invocation_counter.to_bytes(4, "big")
    return AESGCM(key).encrypt(iv, b"", _AAD_PREFIX + signed)[:MAC_SIZE]


_SHARED_SECRETS: dict[tuple[int, int], tuple[object, object, bytes]] = {}
_SHARED_SECRETS_KEPT = 1 << 16


def _shared_secret(own: ec.EllipticCurvePrivateKey, peer: ec.EllipticCurvePublicKey) -> bytes:
    """Z, the ECDH P-256 shared x-coordinate of a private key and a peer's public key:
    the same for every message between the two, so it is kept by the key objects (which
    a key store hands out again; public keys are not hashable) with the keys themselves,
    so that an identity cannot be reused while its entry stands."""
    slot = (id(own), id(peer))
    kept = _SHARED_SECRETS.get(slot)
    if kept is not None:
        return kept[2]
    if len(_SHARED_SECRETS) >= _SHARED_SECRETS_KEPT:
        _SHARED_SECRETS.clear()
    shared = own.exchange(ec.ECDH(), peer)
    _SHARED_SECRETS[slot] = (own, peer, shared)
    return shared


def _signing_start(envelope: Envelope) -> int:
    """Where the General Signing APDU starts in `envelope.data`, its header and content
    checked against the codec's own encoding (so what is signed is what is sent)."""
    unsigned = write_envelope(envelope.header, envelope.payload, None, None)
    start = envelope.payload_end - len(unsigned)
    if start < 0 or envelope.data[start : envelope.payload_end] != unsigned:
        raise GbcsSecurityError(
            f"{_describe(envelope.header)}: its General Signing APDU is not in canonical form"
        )
    return start


def _require_p256(curve: ec.EllipticCurve, what: str) -> None:
    if curve.name != _P256:
        raise GbcsSecurityError(f"{what} is on {curve.name}, not P-256 (secp256r1)")


def _describe(header: GbcsHeader) -> str:
    kind = header.cra_flag.name.lower()
    return (
        f"the {kind} from {format_entity_id(header.originator_id)}"
        f" to {format_entity_id(header.recipient_id)}, counter {header.originator_counter}"
    )
