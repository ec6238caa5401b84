"""Key stores: the keys and certificates `gbcs.security` signs, MACs and checks with.

A `KeyStore` maps an entity (an 8-byte EUI-64, the GBCS header's form) and a `KeyUse`
to its key pairs: a public key, from a certificate or a bare public key, and the
private key where the store has it. It reads two formats (`KeyStore.load`):

- DCC Boxed's `keystore.json` (SmartDCCInnovation/dccboxed-keystore's schema):
  `{eui: {"digitalSignature" | "keyAgreement": {serial: {certificate, privateKey,
  role, name}}}}`; a digital-signing entry whose role is 135 or 137 (0x87, 0x89: a
  user's or the DSP's XML signing) is an XML-signing key;
- a folder in the RTDS layout: `{eui}-{ds|ka|xmlsign}.pem` (a certificate or a bare
  public key) and `.key` (a PKCS#8 private key), lower-case hex; `{eui}-{tag}-{use}`
  (the RTDS store's `-pp-ka`, the supplier's prepayment key agreement) is one more
  key pair of that entity and use.

An entity may hold several key pairs for one use (ZAZ1's Z1 and Z1b generations, a
supplier's prepayment key agreement): the first is the one `public_key`,
`private_key` and `certificate` give, and `public_keys`/`private_keys` give them all
for a verifier to try. In `keystore.json` the first is the earliest issued (the Z1
set, which the RTDS vectors use); in a folder the untagged file; `add` puts a new
pair first.

Certificates are not checked for validity when used (the Z1 test certificates
expired in 2025 and stay usable); `certificate_valid_at` says it for a caller who
wants to. `emulated_store` makes a reproducible test PKI for emulated devices, and
`save` writes any store in the RTDS layout. Files are read and written here, never
in `gbcs.security`; nothing reads a clock.
"""

from __future__ import annotations

import json
import re
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.utils import CryptographyDeprecationWarning
from cryptography.x509.oid import NameOID

from .errors import KeyStoreError
from .messages import format_entity_id
from .security import KeyUse

__all__ = ["DerivedKeyStore", "KeyEntry", "KeyStore", "emulated_authority", "emulated_store"]

ENTITY_SIZE = 8
_P256 = ec.SECP256R1.name
_JSON_USES = {"digitalSignature": KeyUse.DIGITAL_SIGNING, "keyAgreement": KeyUse.KEY_AGREEMENT}
_XML_SIGNING_ROLES = frozenset({0x87, 0x89})
_JSON_ENTRY_FIELDS = frozenset({"certificate", "privateKey", "role", "name"})
_EUI = re.compile(r"[0-9a-f]{16}")
_RTDS_FILE = re.compile(
    r"(?P<eui>[0-9a-fA-F]{16})-(?:(?P<tag>[a-z0-9]+)-)?(?P<use>ds|ka|xmlsign)\.(?P<ext>pem|key)"
)
_TAG = re.compile(r"[^a-z0-9]+")
_LATEST = datetime.max.replace(tzinfo=UTC)

# the emulated PKI: a fixed validity, keys derived from the seed
_EMULATED_FROM = datetime(2020, 1, 1, tzinfo=UTC)
_EMULATED_UNTIL = datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)
_EMULATED_DOMAIN = b"smetslab emulated GBCS PKI"
_P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
_CA_ENTITY = b"test CA"


@dataclass(frozen=True, slots=True)
class KeyEntry:
    """One key pair of an entity for one use. `public` is always there (from the
    certificate, a bare public key, or the private key); `label` says where it came
    from (a file's stem, a keystore.json name)."""

    public: ec.EllipticCurvePublicKey
    private: ec.EllipticCurvePrivateKey | None = None
    certificate: x509.Certificate | None = None
    label: str = ""


class KeyStore:
    """Key pairs by entity (8-byte EUI-64) and use; `source` names the store in errors."""

    __slots__ = ("_entries", "source")

    def __init__(self, source: str = "the key store") -> None:
        self.source = source
        self._entries: dict[tuple[bytes, KeyUse], list[KeyEntry]] = {}

    @classmethod
    def load(cls, path: Path) -> KeyStore:
        """DCC Boxed's keystore.json (a file) or the RTDS PEM layout (a folder)."""
        path = Path(path)
        if path.is_dir():
            return _load_folder(path)
        if path.is_file():
            return _load_json(path)
        raise KeyStoreError(f"{path}: no such key store (a keystore.json file or a PEM folder)")

    # reading

    def entities(self) -> set[bytes]:
        return {entity for entity, _ in self._entries}

    def entries(self, entity: bytes, use: KeyUse) -> tuple[KeyEntry, ...]:
        """Every key pair of `entity` for `use`, the first the one used to sign and MAC."""
        return tuple(self._entries.get((_entity(entity), KeyUse(use)), ()))

    def public_key(self, entity: bytes, use: KeyUse) -> ec.EllipticCurvePublicKey:
        return self._first(entity, use).public

    def public_keys(self, entity: bytes, use: KeyUse) -> list[ec.EllipticCurvePublicKey]:
        return [entry.public for entry in self.entries(entity, use)]

    def private_key(self, entity: bytes, use: KeyUse) -> ec.EllipticCurvePrivateKey:
        for entry in self.entries(entity, use):
            if entry.private is not None:
                return entry.private
        self._first(entity, use)  # raises when there is no key at all
        raise KeyStoreError(
            f"no private {_use_name(use)} key of {format_entity_id(entity)} in {self.source}"
            " (only its public key or certificate)"
        )

    def private_keys(self, entity: bytes, use: KeyUse) -> list[ec.EllipticCurvePrivateKey]:
        return [entry.private for entry in self.entries(entity, use) if entry.private is not None]

    def has_private(self, entity: bytes, use: KeyUse) -> bool:
        return any(entry.private is not None for entry in self.entries(entity, use))

    def certificate(self, entity: bytes, use: KeyUse) -> x509.Certificate:
        entry = self._first(entity, use)
        if entry.certificate is None:
            raise KeyStoreError(
                f"no {_use_name(use)} certificate of {format_entity_id(entity)} in"
                f" {self.source} (only a bare public or private key)"
            )
        return entry.certificate

    def certificate_valid_at(self, entity: bytes, use: KeyUse, when: datetime) -> bool:
        """Whether the certificate `certificate(entity, use)` is within its validity at
        `when` (a naive time is taken as UTC). Nothing else checks validity."""
        certificate = self.certificate(entity, use)
        moment = when if when.tzinfo is not None else when.replace(tzinfo=UTC)
        return certificate.not_valid_before_utc <= moment <= certificate.not_valid_after_utc

    def _first(self, entity: bytes, use: KeyUse) -> KeyEntry:
        found = self.entries(entity, use)
        if not found:
            raise KeyStoreError(
                f"no {_use_name(use)} key of {format_entity_id(entity)} in {self.source}"
            )
        return found[0]

    # changing and writing

    def add(
        self,
        entity: bytes,
        use: KeyUse,
        *,
        private: ec.EllipticCurvePrivateKey | None = None,
        certificate: x509.Certificate | None = None,
    ) -> None:
        """A key pair for `entity` and `use` (an emulated device's, say), put first: it
        is the one used from now on, and the earlier ones stay for verifiers."""
        what = f"the {_use_name(use)} key of {format_entity_id(entity)}"
        entry = _entry(what, private, certificate, None, label="added")
        self._entries.setdefault((_entity(entity), KeyUse(use)), []).insert(0, entry)

    def save(self, folder: Path) -> None:
        """Write every key pair in the RTDS layout, so that `KeyStore.load(folder)` reads
        the same store back: the first pair of an entity and use as `{eui}-{use}`, the
        others as `{eui}-{tag}-{use}`; certificates (or bare public keys) in `.pem`,
        private keys in `.key` (PKCS#8, unencrypted: these are test keys)."""
        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        for (entity, use), entries in sorted(self._entries.items()):
            tags: set[str] = set()
            for index, entry in enumerate(entries):
                stem = f"{entity.hex()}-{use.value}"
                if index:
                    tag = _tag(entry.label, stem)
                    if not tag or tag in tags:
                        tag = f"{tag or 'alt'}{index}"
                    tags.add(tag)
                    stem = f"{entity.hex()}-{tag}-{use.value}"
                _save_entry(folder, stem, entry)


def emulated_authority(seed: int) -> x509.Certificate:
    """The self-signed certificate of `emulated_store(seed)`'s test CA."""
    key = _derived_key(seed, _CA_ENTITY, "ca")
    name = _ca_name(seed)
    builder = (
        _builder(seed, _CA_ENTITY, "ca", subject=name, issuer=name, public=key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
    )
    return builder.sign(key, hashes.SHA256())


def emulated_store(seed: int, entities: Iterable[tuple[bytes, Iterable[KeyUse]]]) -> KeyStore:
    """A test PKI: one key pair per (entity, use), each private key derived from `seed`,
    the entity and the use, each with a certificate issued by the seed's test CA
    (`emulated_authority`; subject CN = the EUI-64 in DUIS form; valid 2020 to 2099).
    Two calls with one seed give the same keys and the same to-be-signed
    certificates; ECDSA's random nonce makes the CA's signature bytes differ."""
    store = KeyStore(f"the emulated key store (seed {seed})")
    for entity, uses in entities:
        _entity(entity)
        for use in uses:
            key = _derived_key(seed, entity, KeyUse(use).value)
            certificate = _emulated_certificate(seed, entity, KeyUse(use), key)
            store.add(entity, use, private=key, certificate=certificate)
    return store


class DerivedKeyStore(KeyStore):
    """`emulated_store(seed, ...)` for every entity there is, made when first asked for:
    an emulated lab of thousands of devices pays for the keys it uses, and certificates
    are issued only when one is read. Entities of `base` (a physical device's
    certificate, an organisation's real keys) come from `base` instead."""

    __slots__ = ("_base", "_certificates", "seed")

    def __init__(self, seed: int, base: KeyStore | None = None) -> None:
        super().__init__(f"the emulated key store (seed {seed})")
        self.seed = seed
        self._base = base
        self._certificates: dict[tuple[bytes, KeyUse], x509.Certificate] = {}

    def entities(self) -> set[bytes]:
        base = self._base.entities() if self._base is not None else set()
        return base | super().entities()

    def entries(self, entity: bytes, use: KeyUse) -> tuple[KeyEntry, ...]:
        if self._base is not None and (found := self._base.entries(entity, use)):
            return found
        found = super().entries(entity, use)
        if found:
            return found
        key = _derived_key(self.seed, _entity(entity), KeyUse(use).value)
        self._entries[(entity, KeyUse(use))] = [KeyEntry(key.public_key(), key, None, "derived")]
        return super().entries(entity, use)

    def certificate(self, entity: bytes, use: KeyUse) -> x509.Certificate:
        entry = self.entries(entity, use)[0]
        if entry.certificate is not None or entry.label != "derived":
            return super().certificate(entity, use)
        slot = (entity, KeyUse(use))
        if slot not in self._certificates:
            assert entry.private is not None
            self._certificates[slot] = _emulated_certificate(
                self.seed, entity, KeyUse(use), entry.private
            )
        return self._certificates[slot]


def _emulated_certificate(
    seed: int, entity: bytes, use: KeyUse, key: ec.EllipticCurvePrivateKey
) -> x509.Certificate:
    ca_key = _derived_key(seed, _CA_ENTITY, "ca")
    ca_id = x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, format_entity_id(entity))])
    usage = _key_usage(agreement=use is KeyUse.KEY_AGREEMENT)
    return (
        _builder(
            seed, entity, use.value, subject=subject, issuer=_ca_name(seed), public=key.public_key()
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_id),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )


# keystore.json


def _load_json(path: Path) -> KeyStore:
    try:
        document: Any = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise KeyStoreError(f"{path}: not a readable keystore.json ({exc})") from exc
    if not isinstance(document, dict):
        raise KeyStoreError(f"{path}: a keystore.json is an object of EUI-64s")
    store = KeyStore(str(path))
    for eui, uses in document.items():
        if not isinstance(eui, str) or not _EUI.fullmatch(eui):
            raise KeyStoreError(f"{path}: {eui!r} is not an EUI-64 of 16 lower-case hex digits")
        entity = bytes.fromhex(eui)
        if not isinstance(uses, dict):
            raise KeyStoreError(f"{path}: {format_entity_id(entity)}: not an object of uses")
        for use_name, entries in uses.items():
            if use_name not in _JSON_USES:
                raise KeyStoreError(
                    f"{path}: {format_entity_id(entity)}: unknown use {use_name!r}"
                    f" (digitalSignature or keyAgreement)"
                )
            _load_json_entries(store, path, entity, _JSON_USES[use_name], entries)
    for entries in store._entries.values():
        entries.sort(key=_issued)  # stable: file order among equals
    return store


def _load_json_entries(
    store: KeyStore, path: Path, entity: bytes, use: KeyUse, entries: Any
) -> None:
    where = f"{path}: the {_use_name(use)} keys of {format_entity_id(entity)}"
    if not isinstance(entries, dict):
        raise KeyStoreError(f"{where}: not an object of serial numbers")
    for serial, fields in entries.items():
        what = f"{where}, serial {serial}"
        if not isinstance(serial, str) or not serial.isdigit():
            raise KeyStoreError(f"{what}: the serial number is not decimal digits")
        if not isinstance(fields, dict) or not set(fields) <= _JSON_ENTRY_FIELDS:
            raise KeyStoreError(f"{what}: an entry has only certificate, privateKey, role and name")
        role = fields.get("role")
        if role is not None and not isinstance(role, int | float):
            raise KeyStoreError(f"{what}: role {role!r} is not a number")
        texts = [fields.get(name) for name in ("certificate", "privateKey", "name")]
        if not all(text is None or isinstance(text, str) for text in texts):
            raise KeyStoreError(f"{what}: certificate, privateKey and name are strings")
        certificate_pem, private_pem, name = texts
        if certificate_pem is None and private_pem is None:
            raise KeyStoreError(f"{what}: neither a certificate nor a private key")
        certificate = None if certificate_pem is None else _certificate(what, certificate_pem)
        private = None if private_pem is None else _private_key(what, private_pem)
        actual = KeyUse.XML_SIGNING if role in _XML_SIGNING_ROLES else use
        entry = _entry(what, private, certificate, None, label=name or serial)
        store._entries.setdefault((entity, actual), []).append(entry)


def _issued(entry: KeyEntry) -> datetime:
    return _LATEST if entry.certificate is None else entry.certificate.not_valid_before_utc


# the RTDS PEM folder


def _load_folder(folder: Path) -> KeyStore:
    parts: dict[tuple[bytes, str, KeyUse], dict[str, Any]] = {}
    for path in sorted(folder.iterdir()):
        match = _RTDS_FILE.fullmatch(path.name)
        if match is None or not path.is_file():
            continue
        entity = bytes.fromhex(match["eui"])
        use = KeyUse(match["use"])
        what = f"{path}: the {_use_name(use)} key of {format_entity_id(entity)}"
        kind, value = _read_pem(path, what)
        found = parts.setdefault((entity, match["tag"] or "", use), {"what": what})
        if kind in found:
            raise KeyStoreError(f"{what}: a second {kind} for it ({found[kind + ' file']})")
        found[kind] = value
        found[kind + " file"] = path.name
    if not parts:
        raise KeyStoreError(
            f"{folder}: no key files ({{eui64}}-{{ds|ka|xmlsign}}.pem or .key) in the folder"
        )
    store = KeyStore(str(folder))
    for (entity, tag, use), found in sorted(parts.items(), key=lambda item: item[0]):
        entry = _entry(
            found["what"],
            found.get("private key"),
            found.get("certificate"),
            found.get("public key"),
            label=f"{entity.hex()}-{tag + '-' if tag else ''}{use.value}",
        )
        # the untagged pair first, then the tagged ones by tag ("" sorts first)
        store._entries.setdefault((entity, use), []).append(entry)
    return store


def _read_pem(path: Path, what: str) -> tuple[str, Any]:
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise KeyStoreError(f"{what}: cannot be read ({exc})") from exc
    if "BEGIN CERTIFICATE" in text:
        return "certificate", _certificate(what, text)
    if "BEGIN PUBLIC KEY" in text:
        try:
            key = serialization.load_pem_public_key(text.encode())
        except ValueError as exc:
            raise KeyStoreError(f"{what}: not a PEM public key ({exc})") from exc
        return "public key", _p256_public(what, key)
    if "PRIVATE KEY" in text:
        return "private key", _private_key(what, text)
    raise KeyStoreError(f"{what}: neither a certificate, a public key nor a private key")


def _tag(label: str, stem: str) -> str:
    """The tag of an extra key pair's files: its own from the RTDS layout (`pp` of
    `90b3d51f30010000-pp-ka`), else its label in lower-case letters and digits."""
    eui, _, use = stem.partition("-")
    prefix, suffix = f"{eui}-", f"-{use}"
    if label.startswith(prefix) and label.endswith(suffix):
        return _TAG.sub("", label[len(prefix) : -len(suffix)])
    return _TAG.sub("", label.lower())


def _save_entry(folder: Path, stem: str, entry: KeyEntry) -> None:
    if entry.certificate is not None:
        pem = entry.certificate.public_bytes(serialization.Encoding.PEM)
        (folder / f"{stem}.pem").write_bytes(pem)
    elif entry.private is None:
        pem = entry.public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        (folder / f"{stem}.pem").write_bytes(pem)
    if entry.private is not None:
        pem = entry.private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (folder / f"{stem}.key").write_bytes(pem)


# one key pair


def _entry(
    what: str,
    private: ec.EllipticCurvePrivateKey | None,
    certificate: x509.Certificate | None,
    public: ec.EllipticCurvePublicKey | None,
    *,
    label: str,
) -> KeyEntry:
    """A key pair from what there is of it; the parts must be one P-256 key."""
    publics = []
    if certificate is not None:
        publics.append(_p256_public(f"{what}: its certificate", certificate.public_key()))
    if public is not None:
        publics.append(_p256_public(what, public))
    if private is not None:
        _p256_private(what, private)
        publics.append(private.public_key())
    if not publics:
        raise KeyStoreError(f"{what}: neither a certificate, a public key nor a private key")
    points = {_point(key) for key in publics}
    if len(points) > 1:
        raise KeyStoreError(f"{what}: its certificate, public key and private key do not match")
    return KeyEntry(publics[0], private, certificate, label)


def _certificate(what: str, pem: str) -> x509.Certificate:
    try:
        with warnings.catch_warnings():
            # DCC Boxed's MDR certificates write NULL parameters after ecdsa-with-SHA256
            # (not DER); cryptography below 47 reads them with this warning.
            warnings.simplefilter("ignore", CryptographyDeprecationWarning)
            return x509.load_pem_x509_certificate(pem.encode())
    except ValueError as exc:
        raise KeyStoreError(f"{what}: not a PEM X.509 certificate ({exc})") from exc


def _private_key(what: str, pem: str) -> ec.EllipticCurvePrivateKey:
    try:
        key = serialization.load_pem_private_key(pem.encode(), password=None)
    except (ValueError, TypeError) as exc:
        raise KeyStoreError(f"{what}: not an unencrypted PEM private key ({exc})") from exc
    return _p256_private(what, key)


def _p256_public(what: str, key: object) -> ec.EllipticCurvePublicKey:
    if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != _P256:
        raise KeyStoreError(f"{what}: not a P-256 (secp256r1) public key")
    return key


def _p256_private(what: str, key: object) -> ec.EllipticCurvePrivateKey:
    if not isinstance(key, ec.EllipticCurvePrivateKey) or key.curve.name != _P256:
        raise KeyStoreError(f"{what}: not a P-256 (secp256r1) private key")
    return key


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def _entity(entity: bytes) -> bytes:
    if not isinstance(entity, bytes) or len(entity) != ENTITY_SIZE:
        raise KeyStoreError(f"an entity is an 8-byte EUI-64, not {entity!r}")
    return entity


def _use_name(use: KeyUse) -> str:
    return KeyUse(use).long_name


# the emulated PKI


def _derived_key(seed: int, entity: bytes, use: str) -> ec.EllipticCurvePrivateKey:
    digest = _digest(seed, entity, use, b"key")
    scalar = int.from_bytes(digest, "big") % (_P256_ORDER - 1) + 1
    return ec.derive_private_key(scalar, ec.SECP256R1())


def _digest(seed: int, entity: bytes, use: str, what: bytes) -> bytes:
    parts = (_EMULATED_DOMAIN, str(seed).encode(), entity, use.encode(), what)
    return sha256(b"|".join(parts)).digest()


def _ca_name(seed: int) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "07"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"smetslab test CA {seed}"),
        ]
    )


def _builder(
    seed: int,
    entity: bytes,
    use: str,
    *,
    subject: x509.Name,
    issuer: x509.Name,
    public: ec.EllipticCurvePublicKey,
) -> x509.CertificateBuilder:
    serial = int.from_bytes(_digest(seed, entity, use, b"serial")[:16], "big") >> 1 or 1
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(_EMULATED_FROM)
        .not_valid_after(_EMULATED_UNTIL)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
    )


def _key_usage(*, agreement: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not (agreement or cert_sign),
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=agreement,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )
