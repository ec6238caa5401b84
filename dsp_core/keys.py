"""`CommandSecurity` on a key store: the Access Control Broker's keys (D-SEC7, D-SEC8).

The store holds the ACB's private key-agreement key, each device's key-agreement
certificate and each service user's digital-signing certificate; an emulated lab's
store is made by `gbcs.keystore.emulated_store`, a physical lab names its own.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from contract.ids import DCC_ACCESS_CONTROL_BROKER, to_bytes
from gbcs import GbcsSecurityError, KeyStoreError
from gbcs.keystore import KeyStore
from gbcs.security import KeyUse, mac, verify_signature

from .turn import CoreConfig

_ACB = to_bytes(DCC_ACCESS_CONTROL_BROKER)


@dataclass(frozen=True, slots=True)
class AcbKeys:
    """The DSP's keys: it MACs as the ACB and checks users' signatures."""

    keys: KeyStore

    def __post_init__(self) -> None:
        self.keys.private_key(_ACB, KeyUse.KEY_AGREEMENT)  # KeyStoreError at start-up

    def missing_key(self, device_id: str) -> str | None:
        try:
            self.keys.public_key(to_bytes(device_id), KeyUse.KEY_AGREEMENT)
        except KeyStoreError as exc:
            return f"cannot MAC a command for {device_id}: {exc}"
        return None

    def protect(self, command: bytes, device_id: str) -> bytes:
        try:
            own = self.keys.private_key(_ACB, KeyUse.KEY_AGREEMENT)
            peer = self.keys.public_key(to_bytes(device_id), KeyUse.KEY_AGREEMENT)
        except KeyStoreError as exc:
            raise GbcsSecurityError(f"cannot MAC a command for {device_id}: {exc}") from exc
        return mac(command, own, peer)

    def check_user_signature(self, signed: bytes, user_id: str, at: datetime) -> None:
        signer = to_bytes(user_id)
        try:
            key = self.keys.public_key(signer, KeyUse.DIGITAL_SIGNING)
        except KeyStoreError as exc:
            raise GbcsSecurityError(f"cannot check the signature of {user_id}: {exc}") from exc
        verify_signature(signed, key, signer)


def secured(core: CoreConfig, keys: KeyStore | None) -> CoreConfig:
    """`core` acting as the ACB with `keys` (a fleet's `key_store()`); as it is when
    `keys` is None (security off)."""
    return core if keys is None else replace(core, security=AcbKeys(keys))
