"""A device's side of GBCS security, sans-IO: check the commands it receives, seal what
it sends (docs/security.md, "The devices' side", D-SEC11 to D-SEC19).

`DeviceKeys` holds one device's keys and trust anchors, read from a
`gbcs.keystore.KeyStore` (an emulated lab's `DerivedKeyStore`, or a folder of test keys):

- a command must be General Ciphering with a MAC made with the Access Control Broker's
  key-agreement key and the device's (D-SEC12); a critical one (it carries a signature,
  or its message code is critical: CS06) must be signed by its originator, who must be
  one of the remote parties the device trusts to sign (D-SEC14);
- a response or alert in General Signing is signed with the device's digital-signing
  key; an 11.2 read response in General Ciphering is MACed with the device's
  key-agreement key and its recipient's (the command's originator).

Bytes and keys in, bytes or `DeviceSecurityError` out; every check and seal is
`gbcs.security`'s. No clock, no file.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import NoReturn, TypeVar

from cryptography.hazmat.primitives.asymmetric import ec

from .codes import CraFlag, MessageCode, SecurityAlertCode, message_name
from .envelope import Envelope, GbcsHeader, read_envelope
from .errors import GbcsSecurityError, KeyStoreError
from .keystore import KeyStore
from .messages import format_entity_id
from .security import DCC_ACCESS_CONTROL_BROKER_ID, KeyUse, mac, sign, verify_mac, verify_signature

T = TypeVar("T")

log = logging.getLogger(__name__)

__all__ = ["CRITICAL_COMMANDS", "DeviceKeys", "DeviceSecurityError"]

# Message codes a device takes only signed by their originator (GBCS Critical commands
# among those smetslab models; CS06 is SR 11.3's, DUIS's Critical SR).
CRITICAL_COMMANDS = frozenset({MessageCode.CS06_ACTIVATE_FIRMWARE})
_DS = KeyUse.DIGITAL_SIGNING
_KA = KeyUse.KEY_AGREEMENT


class DeviceSecurityError(GbcsSecurityError):
    """A command a device refuses: names the device, the command, what failed and with
    which key; `alert_code` is the GBCS alert the device raises for it (D-SEC13)."""

    def __init__(self, device_id: bytes, reason: str, alert_code: SecurityAlertCode) -> None:
        self.device_id = device_id
        self.reason = reason
        self.alert_code = alert_code
        super().__init__(f"device {format_entity_id(device_id)} refused a command: {reason}")


@dataclass(frozen=True, slots=True)
class DeviceKeys:
    """One device's keys (its own private digital-signing and key-agreement keys) and its
    trust anchors (the ACB's key-agreement key; the digital-signing keys of `signers`,
    the remote parties allowed to sign critical commands), all read from `store`.

    `signers` None trusts any originator whose key `store` holds (a store of test keys);
    a lab names its supplier and network operator. Keys are read from the store when
    used, so a fleet of thousands of devices costs nothing until a device is spoken to
    (a `DerivedKeyStore` derives and keeps each key on first use)."""

    device_id: bytes
    store: KeyStore
    signers: frozenset[bytes] | None = None
    acb_id: bytes = DCC_ACCESS_CONTROL_BROKER_ID

    @classmethod
    def of(
        cls, store: KeyStore, device_id: bytes, signers: Iterable[bytes] | None = None
    ) -> DeviceKeys:
        return cls(device_id, store, None if signers is None else frozenset(signers))

    @property
    def hex_id(self) -> str:
        return format_entity_id(self.device_id)

    # --- incoming commands ---------------------------------------------------------------

    def check_command(self, data: bytes) -> GbcsHeader:
        """The header of `data` when the device may execute it; raises
        DeviceSecurityError naming what failed (GbcsDecodeError for bytes the codec
        refuses). The MAC is checked first, then the signature of a critical command."""
        envelope = read_envelope(data)
        header = envelope.header
        what = _describe(header)
        if header.cra_flag is not CraFlag.COMMAND:
            self._refuse(f"{what}: not a command", SecurityAlertCode.AUTHENTICATION_FAILED)
        if header.recipient_id != self.device_id:
            self._refuse(f"{what}: not addressed to it", SecurityAlertCode.AUTHENTICATION_FAILED)
        self._check_mac(envelope, what)
        if envelope.signature or header.message_code in CRITICAL_COMMANDS:
            self._check_signature(envelope, what)
        return header

    def _check_mac(self, envelope: Envelope, what: str) -> None:
        if envelope.ciphering is None:
            self._refuse(
                f"{what}: no MAC (General Signing, not General Ciphering)",
                SecurityAlertCode.AUTHENTICATION_FAILED,
            )
        pairs = list(self._pairs(self.acb_id))
        if not pairs:
            self._refuse(
                f"{what}: no {_KA.long_name} key of the ACB"
                f" {format_entity_id(self.acb_id)} to check its MAC with",
                SecurityAlertCode.AUTHENTICATION_FAILED,
            )
        failure = _first_success(lambda pair: verify_mac(envelope.data, *pair), pairs)
        if failure is None:
            return
        self._refuse(
            f"{failure} (the ACB {format_entity_id(self.acb_id)}'s key with the device's)",
            SecurityAlertCode.AUTHENTICATION_FAILED,
        )

    def _check_signature(self, envelope: Envelope, what: str) -> None:
        signer = envelope.header.originator_id
        name = format_entity_id(signer)
        if self.signers is not None and signer not in self.signers:
            self._refuse(
                f"{what}: {name} is not a remote party it trusts to sign"
                f" {message_name(envelope.header.message_code)}",
                SecurityAlertCode.SOURCE_NOT_AUTHORISED,
            )
        keys = self.store.public_keys(signer, _DS)
        if not keys:
            self._refuse(
                f"{what}: no {_DS.long_name} key of {name} to check its signature with",
                SecurityAlertCode.SOURCE_NOT_AUTHORISED,
            )
        failure = _first_success(lambda key: verify_signature(envelope.data, key, signer), keys)
        if failure is not None:
            self._refuse(failure, SecurityAlertCode.AUTHENTICATION_FAILED)

    def _pairs(
        self, peer: bytes
    ) -> Iterator[tuple[ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey]]:
        """The key-agreement pairs that make the device's shared secret with `peer`: the
        device's private key with `peer`'s public ones; for a store without the device's
        private key (the RTDS one: no device private keys are public), `peer`'s private
        key with the device's certificate, the same secret (D-SEC16)."""
        own = self.store.private_keys(self.device_id, _KA)
        if own:
            for key in own:
                for other in self.store.public_keys(peer, _KA):
                    yield key, other
            return
        for key in self.store.private_keys(peer, _KA):
            for mine in self.store.public_keys(self.device_id, _KA):
                yield key, mine

    def _refuse(self, reason: str, alert_code: SecurityAlertCode) -> NoReturn:
        log.debug("device %s: refused a command: %s", self.hex_id, reason)
        raise DeviceSecurityError(self.device_id, reason, alert_code)

    # --- outgoing responses and alerts (the `gbcs.replies.Sealer` protocol) --------------

    def sign(self, data: bytes) -> bytes:
        """A General Signing APDU of this device, signed with its digital-signing key."""
        try:
            key = self.store.private_key(self.device_id, _DS)
        except KeyStoreError as exc:
            raise GbcsSecurityError(f"device {self.hex_id} cannot sign: {exc}") from exc
        return sign(data, key)

    def mac(self, data: bytes) -> bytes:
        """A General Signing APDU of this device in General Ciphering, MACed with its
        key-agreement key and its recipient's (named in the header)."""
        recipient = read_envelope(data).header.recipient_id
        try:
            own = self.store.private_key(self.device_id, _KA)
            peer = self.store.public_key(recipient, _KA)
        except KeyStoreError as exc:
            raise GbcsSecurityError(
                f"device {self.hex_id} cannot MAC for {format_entity_id(recipient)}: {exc}"
            ) from exc
        return mac(data, own, peer)


def _describe(header: GbcsHeader) -> str:
    return (
        f"{message_name(header.message_code)} {header.cra_flag.name.lower()}"
        f" from {format_entity_id(header.originator_id)}, counter {header.originator_counter}"
    )


def _first_success(check: Callable[[T], None], candidates: Iterable[T]) -> str | None:
    """None once `check` passes for one of `candidates` (an entity may hold several key
    pairs, D-SEC4); otherwise the last failure's message."""
    failure = "nothing to check with"
    for candidate in candidates:
        try:
            check(candidate)
        except GbcsSecurityError as exc:
            failure = str(exc)
        else:
            return None
    return failure
