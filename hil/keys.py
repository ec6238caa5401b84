"""The service user's `Signer` and `Verifier` on a GBCS key store (hil.security): the
lab's store (a fleet's `key_store()`, a `DerivedKeyStore` when its security is on), a
`--keys` store, or either with a physical device's certificates added from the lab
environment file's `certificates:` (docs/security.md, "The service user's side").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography import x509

from contract.ids import to_bytes, to_duis
from gbcs import GbcsDecodeError, GbcsSecurityError, KeyStoreError
from gbcs.keystore import KeyStore
from gbcs.security import KeyUse, protections, sign
from hil.errors import SigningError

from .security import MessageVerdict, judge, refused

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KeyStoreSigner:
    """Signs with the user's first digital-signing private key in `keys`."""

    keys: KeyStore

    def sign(self, pre_command: bytes, user_id: str) -> bytes:
        try:
            key = self.keys.private_key(to_bytes(user_id), KeyUse.DIGITAL_SIGNING)
            signed = sign(pre_command, key)
        except (GbcsSecurityError, GbcsDecodeError) as exc:
            raise SigningError(f"cannot sign the pre-command as {to_duis(user_id)}: {exc}") from exc
        log.debug("signed a %d-byte pre-command as %s", len(pre_command), to_duis(user_id))
        return signed


@dataclass(frozen=True, slots=True)
class KeyStoreVerifier:
    """Checks a device message's signature and MAC with `keys`: the device's
    certificates and the recipient's private key-agreement key (the supplier's, or the
    ACB's for a message sent to it)."""

    keys: KeyStore

    def verdict(
        self, data: bytes, *, what: str, device_id: str | None, at: datetime | None = None
    ) -> MessageVerdict:
        try:
            found = protections(data, self.keys, at=at)
        except (GbcsDecodeError, GbcsSecurityError) as exc:
            return refused(what, device_id, f"not a GBCS message the codec reads: {exc}")
        verdict = judge(found, what=what, device_id=device_id)
        if not verdict.valid:  # counted and shown by each user of verdicts; here, detail
            log.info("device %s: %s is %s: %s", device_id, what, verdict.integrity, verdict.reason)
        return verdict


def with_certificates(keys: KeyStore, certificates: Mapping[str, Sequence[Path]]) -> KeyStore:
    """`keys` with each device's certificates (PEM files) added first (to `keys` itself,
    which is returned), by their key usage: digital signing or key agreement. A file
    that cannot be read or is not a certificate raises `SigningError` naming the file
    and the device."""
    for device_id, paths in certificates.items():
        for path in paths:
            certificate = _read_certificate(path, device_id)
            use = _use_of(certificate, path)
            try:
                keys.add(to_bytes(device_id), use, certificate=certificate)
            except KeyStoreError as exc:  # not a P-256 key
                raise SigningError(
                    f"{path}: the certificate of {to_duis(device_id)}: {exc}"
                ) from exc
    return keys


def _read_certificate(path: Path, device_id: str) -> x509.Certificate:
    what = f"{path}: the certificate of {to_duis(device_id)}"
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise SigningError(f"{what} cannot be read: {exc}") from exc


def _use_of(certificate: x509.Certificate, path: Path) -> KeyUse:
    try:
        usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound as exc:
        raise SigningError(f"{path}: the certificate has no key usage extension") from exc
    if usage.key_agreement:
        return KeyUse.KEY_AGREEMENT
    if usage.digital_signature:
        return KeyUse.DIGITAL_SIGNING
    raise SigningError(f"{path}: the certificate is for neither signing nor key agreement")


def lab_security(
    keys: KeyStore | None,
) -> tuple[KeyStoreSigner, KeyStoreVerifier] | tuple[None, None]:
    """The signer and verifier of a lab whose fleet's security is on (`keys` its key
    store); (None, None) with security off."""
    if keys is None:
        return None, None
    return KeyStoreSigner(keys), KeyStoreVerifier(keys)


def load_keys(path: Path) -> KeyStore:
    """A `--keys` store (a keystore.json or an RTDS-layout PEM folder); `SigningError`
    naming the file when it cannot be read."""
    try:
        return KeyStore.load(path)
    except KeyStoreError as exc:
        raise SigningError(str(exc)) from exc
