"""Key stores: DCC Boxed's ZAZ1 keystore.json and the RTDS PEM folder, found by EUI-64 and
use; one clear error for a missing key and for a malformed store; the emulated PKI,
reproducible from its seed, and the RTDS layout written and read back."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from gbcs import GbcsSecurityError, KeyStoreError
from gbcs.keystore import (
    DerivedKeyStore,
    KeyEntry,
    KeyStore,
    emulated_authority,
    emulated_store,
)
from gbcs.security import KeyUse, protect, protections
from tests.support.paths import RTDS_KEYS, ZAZ1_KEYSTORE, read_vector

DS, KA, XML = KeyUse.DIGITAL_SIGNING, KeyUse.KEY_AGREEMENT, KeyUse.XML_SIGNING
SUPPLIER = bytes.fromhex("90B3D51F30010000")
ACB = bytes.fromhex("90B3D51F30000002")
MDR = bytes.fromhex("90B3D51F30010009")
OTHER_USER = bytes.fromhex("00DB123456780004")
ESME = bytes.fromhex("00DB1234567890A0")
UNKNOWN = bytes.fromhex("00DB123456789999")


@pytest.fixture(scope="module")
def zaz1() -> KeyStore:
    return KeyStore.load(ZAZ1_KEYSTORE)


@pytest.fixture(scope="module")
def rtds() -> KeyStore:
    return KeyStore.load(RTDS_KEYS)


def _point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )


def test_the_zaz1_keystore_loads_every_organisation_by_eui64_and_use(zaz1: KeyStore) -> None:
    assert len(zaz1.entities()) == 10
    assert {SUPPLIER, ACB, MDR, OTHER_USER} <= zaz1.entities()
    pairs = sum(len(zaz1.entries(entity, use)) for entity in zaz1.entities() for use in KeyUse)
    assert pairs == 33  # README.md: 33 organisation certificates, each with its key
    for entity in zaz1.entities():
        for use in KeyUse:
            assert all(entry.private is not None for entry in zaz1.entries(entity, use))
    assert zaz1.has_private(SUPPLIER, DS)
    assert zaz1.has_private(ACB, KA)
    assert not zaz1.has_private(ESME, KA)


def test_zaz1_puts_the_z1_set_first_as_the_rtds_vectors_use(zaz1: KeyStore, rtds: KeyStore) -> None:
    assert [entry.label for entry in zaz1.entries(SUPPLIER, DS)] == [
        "Z1-supplier-ds",
        "Z1b-supplier-ds",
    ]
    assert zaz1.entries(SUPPLIER, KA)[0].label == "Z1-supplier-ka"
    assert len(zaz1.entries(SUPPLIER, KA)) == 4  # Z1, Z1b, and the prepayment ones
    for entity, use in ((SUPPLIER, DS), (SUPPLIER, KA), (ACB, KA)):
        assert _point(zaz1.public_key(entity, use)) == _point(rtds.public_key(entity, use))
        assert zaz1.certificate(entity, use) == rtds.certificate(entity, use)


def test_zaz1_xml_signing_keys_are_told_apart_by_their_role(zaz1: KeyStore) -> None:
    assert zaz1.entries(SUPPLIER, XML)[0].label == "xml-sign-90B3D51F30010000-ds"
    assert zaz1.entries(ACB, XML)[0].label == "dsp-xml-sign-90B3D51F30000002-ds"
    assert zaz1.entries(OTHER_USER, XML)[0].label == "xml-sign-00DB123456780004-ds"
    assert zaz1.entries(OTHER_USER, DS)[0].label == "otherUser-ds"
    assert not zaz1.entries(SUPPLIER, DS)[0].label.startswith("xml")


def test_the_mdr_certificates_with_null_ecdsa_parameters_load(zaz1: KeyStore) -> None:
    certificate = zaz1.certificate(MDR, DS)
    assert "MDR" in certificate.subject.rfc4514_string()
    public = certificate.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    assert _point(public) == _point(zaz1.private_key(MDR, DS).public_key())


def test_expired_certificates_stay_usable_and_their_validity_is_stated(zaz1: KeyStore) -> None:
    assert zaz1.certificate(SUPPLIER, DS).not_valid_after_utc.year == 2025
    assert zaz1.private_key(SUPPLIER, DS) is not None
    assert zaz1.certificate_valid_at(SUPPLIER, DS, datetime(2020, 1, 1, tzinfo=UTC))
    assert not zaz1.certificate_valid_at(SUPPLIER, DS, datetime(2026, 1, 1, tzinfo=UTC))
    assert zaz1.certificate_valid_at(SUPPLIER, DS, datetime(2020, 1, 1))  # naive is UTC


def test_the_rtds_folder_holds_device_certificates_and_organisation_key_pairs(
    rtds: KeyStore,
) -> None:
    assert len(rtds.entities()) == 211
    assert not rtds.has_private(ESME, DS)
    assert rtds.certificate(ESME, DS).not_valid_after_utc.year == 9999
    assert rtds.has_private(SUPPLIER, DS)
    assert rtds.has_private(ACB, KA)
    assert [entry.label for entry in rtds.entries(SUPPLIER, KA)] == [
        "90b3d51f30010000-ka",
        "90b3d51f30010000-pp-ka",
    ]


def test_bare_public_keys_and_lone_private_keys_are_key_pairs_too(rtds: KeyStore) -> None:
    bare = bytes.fromhex("FFFFFFFFFFFFFFFE")
    assert isinstance(rtds.public_key(bare, KA), ec.EllipticCurvePublicKey)
    with pytest.raises(KeyStoreError, match="no key-agreement \\(ka\\) certificate of FF-FF"):
        rtds.certificate(bare, KA)
    lone = bytes.fromhex("123456789ABCDEF0")
    assert rtds.has_private(lone, KA)
    assert _point(rtds.public_key(lone, KA)) == _point(rtds.private_key(lone, KA).public_key())


def test_a_missing_key_is_one_error_naming_the_entity_and_the_use(rtds: KeyStore) -> None:
    with pytest.raises(KeyStoreError) as caught:
        rtds.public_key(UNKNOWN, DS)
    assert str(caught.value) == (
        f"no digital-signing (ds) key of 00-DB-12-34-56-78-99-99 in {RTDS_KEYS}"
    )
    with pytest.raises(KeyStoreError, match="no private key-agreement \\(ka\\) key of 00-DB-12"):
        rtds.private_key(ESME, KA)
    assert isinstance(caught.value, GbcsSecurityError)
    assert rtds.public_keys(UNKNOWN, DS) == []
    assert not rtds.has_private(UNKNOWN, DS)


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        ("[1, 2]", "an object of EUI-64s"),
        ('{"90B3D51F30010000": {}}', "'90B3D51F30010000' is not an EUI-64"),
        ('{"90b3d51f30010000": {"signing": {}}}', "90-B3-D5-1F-30-01-00-00: unknown use"),
        (
            '{"90b3d51f30010000": {"keyAgreement": {"12": {}}}}',
            "the key-agreement \\(ka\\) keys of 90-B3-D5-1F-30-01-00-00, serial 12: neither",
        ),
        (
            '{"90b3d51f30010000": {"digitalSignature": {"12": {"certificate": "x"}}}}',
            "the digital-signing \\(ds\\) keys of 90-B3-D5-1F-30-01-00-00, serial 12: not a PEM",
        ),
        ('{"90b3d51f30010000": {"digitalSignature": {"1": {"extra": 1}}}}', "serial 1: an entry"),
        ("{not json", "not a readable keystore.json"),
    ],
)
def test_a_malformed_keystore_json_is_one_error_naming_the_file(
    tmp_path: Path, document: str, expected: str
) -> None:
    path = tmp_path / "keystore.json"
    path.write_text(document)
    with pytest.raises(KeyStoreError, match=expected) as caught:
        KeyStore.load(path)
    assert str(caught.value).startswith(str(path))


def test_a_keystore_json_entry_whose_key_does_not_match_its_certificate_is_refused(
    tmp_path: Path,
) -> None:
    document = json.loads(ZAZ1_KEYSTORE.read_text())
    entries = document["90b3d51f30010000"]["digitalSignature"]
    first, second = (entries[serial] for serial in list(entries)[1:3])
    first["privateKey"] = second["privateKey"]
    path = tmp_path / "keystore.json"
    path.write_text(json.dumps(document))
    with pytest.raises(KeyStoreError, match=r"90-B3-D5-1F-30-01-00-00.*do not match"):
        KeyStore.load(path)


def test_a_malformed_pem_folder_is_one_error_naming_the_file_entity_and_use(
    tmp_path: Path,
) -> None:
    broken = tmp_path / "00db1234567890a0-ds.pem"
    broken.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    with pytest.raises(KeyStoreError) as caught:
        KeyStore.load(tmp_path)
    text = str(caught.value)
    assert text.startswith(f"{broken}: the digital-signing (ds) key of 00-DB-12-34-56-78-90-A0")
    assert "not a PEM X.509 certificate" in text


def test_a_folder_whose_private_key_is_not_its_certificates_is_refused(tmp_path: Path) -> None:
    (tmp_path / "90b3d51f30010000-ds.pem").write_bytes(
        (RTDS_KEYS / "90b3d51f30010000-ds.pem").read_bytes()
    )
    (tmp_path / "90b3d51f30010000-ds.key").write_bytes(
        (RTDS_KEYS / "90b3d51f30010000-ka.key").read_bytes()
    )
    with pytest.raises(KeyStoreError, match="do not match"):
        KeyStore.load(tmp_path)


def test_an_empty_folder_or_a_missing_path_is_refused(tmp_path: Path) -> None:
    (tmp_path / "README.txt").write_text("not a key")
    with pytest.raises(KeyStoreError, match="no key files"):
        KeyStore.load(tmp_path)
    with pytest.raises(KeyStoreError, match="no such key store"):
        KeyStore.load(tmp_path / "absent.json")


def test_add_puts_a_key_pair_first_and_keeps_the_earlier_ones(rtds: KeyStore) -> None:
    store = KeyStore.load(RTDS_KEYS)
    device_key = ec.generate_private_key(ec.SECP256R1())
    store.add(ESME, DS, private=device_key)
    assert store.has_private(ESME, DS)
    assert store.private_key(ESME, DS) is device_key
    assert len(store.entries(ESME, DS)) == 2
    with pytest.raises(KeyStoreError, match="no digital-signing \\(ds\\) certificate"):
        store.certificate(ESME, DS)  # the pair added first has none
    with pytest.raises(KeyStoreError, match="do not match"):
        store.add(ESME, KA, private=device_key, certificate=rtds.certificate(ESME, KA))
    with pytest.raises(KeyStoreError, match="neither"):
        store.add(ESME, KA)
    with pytest.raises(KeyStoreError, match="8-byte EUI-64"):
        store.add(ESME[:4], KA, private=device_key)


EMULATED = [(ESME, [DS, KA]), (SUPPLIER, [DS, KA, XML]), (ACB, [KA])]


def _private_value(key: ec.EllipticCurvePrivateKey) -> int:
    return key.private_numbers().private_value


def test_emulated_store_is_reproducible_from_its_seed() -> None:
    first, second = emulated_store(7, EMULATED), emulated_store(7, EMULATED)
    other = emulated_store(8, EMULATED)
    assert first.entities() == {ESME, SUPPLIER, ACB}
    for entity, uses in EMULATED:
        for use in uses:
            key = first.private_key(entity, use)
            assert _private_value(key) == _private_value(second.private_key(entity, use))
            assert _private_value(key) != _private_value(other.private_key(entity, use))
            same = first.certificate(entity, use).tbs_certificate_bytes
            assert same == second.certificate(entity, use).tbs_certificate_bytes
    # one entity's keys do not depend on which others are in the store
    alone = emulated_store(7, [(ESME, [KA])])
    assert _private_value(alone.private_key(ESME, KA)) == _private_value(
        first.private_key(ESME, KA)
    )


def test_a_derived_store_gives_the_emulated_keys_of_any_entity_when_asked() -> None:
    derived = DerivedKeyStore(7)
    assert derived.entities() == set()  # nothing made before it is asked for
    listed = emulated_store(7, EMULATED)
    for entity, uses in EMULATED:
        for use in uses:
            key = derived.private_key(entity, use)
            assert _private_value(key) == _private_value(listed.private_key(entity, use))
            certificate = derived.certificate(entity, use)
            assert (
                certificate.tbs_certificate_bytes
                == listed.certificate(entity, use).tbs_certificate_bytes
            )
            certificate.verify_directly_issued_by(emulated_authority(7))
    assert derived.entities() == {ESME, SUPPLIER, ACB}
    assert _private_value(DerivedKeyStore(8).private_key(ESME, KA)) != _private_value(
        derived.private_key(ESME, KA)
    )


def test_a_derived_store_takes_the_base_stores_keys_first(rtds: KeyStore) -> None:
    """A physical device's certificate (here an RTDS device's) beside emulated keys."""
    device = bytes.fromhex("00db1234567890a0")
    derived = DerivedKeyStore(7, base=rtds)
    assert derived.certificate(device, KA) == rtds.certificate(device, KA)
    with pytest.raises(KeyStoreError, match="no private"):
        derived.private_key(device, KA)  # no device private keys are public
    assert derived.has_private(bytes.fromhex("00db1234567890ff"), KA)  # emulated


def test_emulated_certificates_are_issued_by_the_test_ca_for_2020_to_2099() -> None:
    store = emulated_store(7, EMULATED)
    authority = emulated_authority(7)
    assert authority.tbs_certificate_bytes == emulated_authority(7).tbs_certificate_bytes
    authority.verify_directly_issued_by(authority)
    for entity, uses in EMULATED:
        for use in uses:
            certificate = store.certificate(entity, use)
            certificate.verify_directly_issued_by(authority)
            names = certificate.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
            assert [name.value for name in names] == [entity.hex("-").upper()]
            assert certificate.not_valid_before_utc == datetime(2020, 1, 1, tzinfo=UTC)
            assert certificate.not_valid_after_utc == datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC)
            usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
            assert usage.key_agreement == (use is KA)
            assert usage.digital_signature == (use is not KA)
            assert store.certificate_valid_at(entity, use, datetime(2030, 1, 1, tzinfo=UTC))


def test_emulated_keys_sign_and_mac_a_cs06_precommand_a_device_store_accepts() -> None:
    lab = emulated_store(11, EMULATED)
    command = protect(
        read_vector("CS06_11.3_IMMEDIATE_SUCCESS_PRECOMMAND"),
        signer=lab.private_key(SUPPLIER, DS),
        mac_own=lab.private_key(ACB, KA),
        mac_peer=lab.public_key(ESME, KA),
    )
    found = protections(command, lab)
    assert [(p.kind, p.by, p.valid) for p in found] == [
        ("signature", "90-B3-D5-1F-30-01-00-00", True),
        ("mac", "90-B3-D5-1F-30-00-00-02", True),
    ]
    other_lab = emulated_store(12, EMULATED)
    assert [p.valid for p in protections(command, other_lab)] == [False, False]


def _same_store(left: KeyStore, right: KeyStore) -> None:
    """The same key pairs, the same first; the others may come in another order."""
    assert left.entities() == right.entities()
    for entity in left.entities():
        for use in KeyUse:
            mine, theirs = left.entries(entity, use), right.entries(entity, use)
            assert [_pair(e) for e in mine[:1]] == [_pair(e) for e in theirs[:1]]
            assert sorted(map(_pair, mine)) == sorted(map(_pair, theirs)), (entity.hex(), use)


def _pair(entry: KeyEntry) -> tuple[bytes, bytes, int]:
    certificate = b"" if entry.certificate is None else entry.certificate.tbs_certificate_bytes
    private = -1 if entry.private is None else _private_value(entry.private)
    return _point(entry.public), certificate, private


def test_an_emulated_store_saved_in_the_rtds_layout_loads_back(tmp_path: Path) -> None:
    store = emulated_store(7, EMULATED)
    store.save(tmp_path / "keys")
    names = sorted(path.name for path in (tmp_path / "keys").iterdir())
    assert "00db1234567890a0-ds.pem" in names
    assert "90b3d51f30010000-xmlsign.key" in names
    assert len(names) == 12  # six key pairs, a certificate and a private key each
    _same_store(store, KeyStore.load(tmp_path / "keys"))


def test_the_rtds_and_zaz1_stores_round_trip_through_the_rtds_layout(
    tmp_path: Path, rtds: KeyStore, zaz1: KeyStore
) -> None:
    rtds.save(tmp_path / "rtds")
    assert sorted(path.name for path in (tmp_path / "rtds").iterdir()) == sorted(
        path.name for path in RTDS_KEYS.iterdir() if path.suffix in (".pem", ".key")
    )
    _same_store(rtds, KeyStore.load(tmp_path / "rtds"))
    zaz1.save(tmp_path / "zaz1")
    assert (tmp_path / "zaz1" / "90b3d51f30010000-z1bsupplierds-ds.pem").is_file()
    _same_store(zaz1, KeyStore.load(tmp_path / "zaz1"))
