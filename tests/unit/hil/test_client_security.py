"""The service user's signer and verifier (hil.security, hil.keys), sans-IO: with the
emulated store a lab derives from its seed, and with the RTDS keys and vectors (read in
place, by name). Device messages are sealed here with gbcs.security (sign, mac), so that
the verifier is tested without the device side."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import pytest
import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from contract.ids import to_duis
from gbcs import CraFlag, GbcsHeader
from gbcs.envelope import write_envelope
from gbcs.keystore import DerivedKeyStore, KeyStore
from gbcs.security import KeyUse, Protection, mac, sign, verify_signature
from hil.errors import LabError, SigningError
from hil.keys import KeyStoreSigner, KeyStoreVerifier, lab_security, with_certificates
from hil.lab.env import load_lab_env
from hil.security import Integrity, device_bytes, judge, verdict_on
from tests.support.paths import ROOT, RTDS_KEYS, read_vector

DS, KA = KeyUse.DIGITAL_SIGNING, KeyUse.KEY_AGREEMENT
SUPPLIER = "90-B3-D5-1F-30-01-00-00"
ESME = "00-DB-12-34-56-78-90-A0"
DEVICE = "00-DB-77-77-77-77-77-01"
RTDS = KeyStore.load(RTDS_KEYS)
AT = datetime(2026, 1, 1, tzinfo=UTC)


def lab_store() -> DerivedKeyStore:
    return DerivedKeyStore(20240611)


def device_message(originator: str, recipient: str, cra: CraFlag = CraFlag.RESPONSE) -> bytes:
    header = GbcsHeader(
        cra_flag=cra,
        originator_counter=7,
        originator_id=bytes.fromhex(originator.replace("-", "")),
        recipient_id=bytes.fromhex(recipient.replace("-", "")),
        date_time=None,
        message_code=0x00CA,
    )
    return write_envelope(header, b"\x01\x02\x03", None, None)


def _id(text: str) -> bytes:
    return bytes.fromhex(text.replace("-", ""))


# ---- the signer ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["CS06_11.3_IMMEDIATE_SUCCESS_PRECOMMAND", "CS06_11.3_FUTURE_DATED_SUCCESS_PRECOMMAND"]
)
def test_the_signer_signs_an_rtds_pre_command_as_the_supplier(name: str) -> None:
    pre = read_vector(name)
    signed = KeyStoreSigner(RTDS).sign(pre, SUPPLIER)
    assert signed[: len(pre)] == pre
    assert signed[len(pre)] == 64
    assert len(signed) == len(pre) + 65
    verify_signature(signed, RTDS.public_key(_id(SUPPLIER), DS), _id(SUPPLIER))


def test_the_signer_signs_with_the_lab_key_the_dsp_checks() -> None:
    keys = lab_store()
    pre = read_vector("CS06_11.3_IMMEDIATE_SUCCESS_PRECOMMAND")
    signed = KeyStoreSigner(keys).sign(pre, SUPPLIER.replace("-", ""))
    # another process deriving the same lab checks it with the certificate it derives
    verify_signature(signed, lab_store().public_key(_id(SUPPLIER), DS), _id(SUPPLIER))


def test_signing_without_the_users_key_or_twice_is_one_clear_error() -> None:
    pre = read_vector("CS06_11.3_IMMEDIATE_SUCCESS_PRECOMMAND")
    with pytest.raises(SigningError, match=f"as {ESME}: .*no private"):
        KeyStoreSigner(RTDS).sign(pre, ESME)  # a device's private key is never public
    signed = KeyStoreSigner(RTDS).sign(pre, SUPPLIER)
    with pytest.raises(SigningError, match="already carries"):
        KeyStoreSigner(RTDS).sign(signed, SUPPLIER)


# ---- the verifier ------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "CS06_11.3_IMMEDIATE_SUCCESS_RESPONSE",
        "CS06_11.3_8F66_FUTURE_DATED_SUCCESS_ALERT",
        "ECS52_11.2_SUCCESS_RESPONSE",
        "GCS38_11.2_SUCCESS_RESPONSE",
    ],
)
def test_rtds_device_messages_are_valid_with_the_rtds_keys(name: str) -> None:
    verdict = KeyStoreVerifier(RTDS).verdict(read_vector(name), what=name, device_id=ESME, at=AT)
    assert verdict.integrity is Integrity.VALID, verdict
    assert verdict.reason is None
    assert verdict.protections


def test_a_flipped_signature_byte_is_invalid_and_says_which() -> None:
    data = bytearray(read_vector("CS06_11.3_IMMEDIATE_SUCCESS_RESPONSE"))
    data[-1] ^= 0x01
    verdict = KeyStoreVerifier(RTDS).verdict(bytes(data), what="r", device_id=ESME)
    assert verdict.integrity is Integrity.INVALID
    assert verdict.reason is not None
    assert verdict.reason.startswith(f"signature by {ESME}")


def test_bytes_the_codec_refuses_are_invalid_not_raised() -> None:
    verdict = KeyStoreVerifier(RTDS).verdict(b"\xdf\x00", what="alert 8F66", device_id=ESME)
    assert verdict.integrity is Integrity.INVALID
    assert verdict.reason is not None
    assert "codec" in verdict.reason


def test_an_unprotected_device_message_is_invalid() -> None:
    verdict = KeyStoreVerifier(lab_store()).verdict(
        device_message(DEVICE, SUPPLIER), what="response", device_id=DEVICE
    )
    assert verdict.integrity is Integrity.INVALID
    assert verdict.reason == "carries neither a signature nor a MAC"


def test_a_message_sealed_with_the_lab_keys_is_valid_and_a_stranger_s_is_not() -> None:
    keys = lab_store()
    message = device_message(DEVICE, SUPPLIER)
    signed = sign(message, keys.private_key(_id(DEVICE), DS))
    sealed = mac(signed, keys.private_key(_id(DEVICE), KA), keys.public_key(_id(SUPPLIER), KA))
    verifier = KeyStoreVerifier(lab_store())  # another process, the same seed
    assert verifier.verdict(sealed, what="r", device_id=DEVICE).valid
    forged = sign(message, DerivedKeyStore(1).private_key(_id(DEVICE), DS))
    verdict = verifier.verdict(forged, what="r", device_id=DEVICE)
    assert verdict.integrity is Integrity.INVALID
    assert [p.kind for p in verdict.protections] == ["signature"]


def test_a_store_without_the_device_s_certificate_leaves_it_unchecked() -> None:
    keys = lab_store()
    signed = sign(device_message(DEVICE, SUPPLIER), keys.private_key(_id(DEVICE), DS))
    verdict = KeyStoreVerifier(RTDS).verdict(signed, what="r", device_id=DEVICE)
    assert verdict.integrity is Integrity.UNCHECKED
    assert verdict.reason is not None
    assert DEVICE in verdict.reason


def test_judge_is_invalid_before_unchecked_before_valid() -> None:

    good, unknown = Protection("mac", ESME, True), Protection("signature", ESME, None, "no key")
    bad = Protection("signature", ESME, False, "wrong")
    assert judge([good], what="w", device_id=None).integrity is Integrity.VALID
    assert judge([good, unknown], what="w", device_id=None).integrity is Integrity.UNCHECKED
    assert judge([unknown, bad], what="w", device_id=None).integrity is Integrity.INVALID


def test_a_body_without_device_bytes_gets_no_verdict() -> None:
    verifier = KeyStoreVerifier(RTDS)
    assert verdict_on(verifier, {"devices": []}, what="8.2", device_id=None) is None
    assert device_bytes({"gbcs_payload": "not base64!"}) == b""
    data = read_vector("ECS52_11.2_SUCCESS_RESPONSE")
    body = {"gbcs_payload": base64.b64encode(data).decode()}
    verdict = verdict_on(verifier, body, what="11.2", device_id=ESME, at=AT)
    assert verdict is not None
    assert verdict.valid
    assert verdict.to_json()["integrity"] == "valid"


def test_lab_security_is_nothing_with_security_off() -> None:
    assert lab_security(None) == (None, None)
    signer, verifier = lab_security(lab_store())
    assert signer is not None
    assert verifier is not None


# ---- a physical device's certificates, from the environment file ---------------------


def _write_env(tmp_path: Path, certificates: object) -> Path:
    data = {"fleet": str(ROOT / "configs" / "lab-fleet.yaml"), "certificates": certificates}
    path = tmp_path / "lab.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_the_env_file_names_device_certificates_relative_to_itself(tmp_path: Path) -> None:
    keys = lab_store()
    for use in (DS, KA):
        pem = keys.certificate(_id(DEVICE), use).public_bytes(serialization.Encoding.PEM)
        (tmp_path / f"meter-{use}.pem").write_bytes(pem)
    env = load_lab_env(
        _write_env(tmp_path, {DEVICE: ["meter-ds.pem", "meter-ka.pem"], ESME: "meter-ds.pem"})
    )
    assert env.certificates["00DB777777777701"] == [
        (tmp_path / "meter-ds.pem").resolve(),
        (tmp_path / "meter-ka.pem").resolve(),
    ]
    store = with_certificates(KeyStore.load(RTDS_KEYS), env.certificates)
    signed = sign(device_message(DEVICE, SUPPLIER), keys.private_key(_id(DEVICE), DS))
    assert KeyStoreVerifier(store).verdict(signed, what="r", device_id=DEVICE).valid
    assert store.public_key(_id(DEVICE), KA) == keys.public_key(_id(DEVICE), KA)


def test_a_bad_certificates_entry_is_one_line_naming_file_and_field(tmp_path: Path) -> None:
    path = _write_env(tmp_path, {"not-an-id": "x.pem"})
    with pytest.raises(LabError, match=r"lab.yaml: invalid lab environment: .*certificates"):
        load_lab_env(path)


def test_an_unreadable_certificate_names_the_file_and_device(tmp_path: Path) -> None:
    (tmp_path / "bad.pem").write_text("nothing")
    with pytest.raises(SigningError, match=f"bad.pem: the certificate of {DEVICE}"):
        with_certificates(KeyStore(), {DEVICE: [tmp_path / "bad.pem"]})
    assert to_duis(DEVICE) == DEVICE


def _certificate(tmp_path: Path, curve: ec.EllipticCurve, *, usage: bool = True) -> Path:
    key = ec.generate_private_key(curve)
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, DEVICE)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime(2020, 1, 1, tzinfo=UTC))
        .not_valid_after(datetime(2099, 1, 1, tzinfo=UTC))
    )
    if usage:
        flags = dict.fromkeys(
            (
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "key_cert_sign",
                "crl_sign",
                "encipher_only",
                "decipher_only",
            ),
            False,
        )
        builder = builder.add_extension(x509.KeyUsage(digital_signature=True, **flags), True)
    path = tmp_path / f"{curve.name}-{usage}.pem"
    certificate = builder.sign(key, hashes.SHA256())
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


def test_a_certificate_off_p256_or_without_key_usage_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SigningError, match=f"p384.*the certificate of {DEVICE}"):
        with_certificates(KeyStore(), {DEVICE: [_certificate(tmp_path, ec.SECP384R1())]})
    bare = _certificate(tmp_path, ec.SECP256R1(), usage=False)
    with pytest.raises(SigningError, match="no key usage"):
        with_certificates(KeyStore(), {DEVICE: [bare]})
    signing = _certificate(tmp_path, ec.SECP256R1())
    store = with_certificates(KeyStore(), {DEVICE: [signing]})
    assert store.entries(_id(DEVICE), DS)
