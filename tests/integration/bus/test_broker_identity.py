"""Broker identities and TLS against a real mosquitto: a password file with anonymous
clients refused, a TLS listener with a test CA, client-certificate authentication."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from bus.errors import BrokerUnavailableError
from bus.identity import BrokerOptions
from bus.mosquitto import ListenerTls
from tests.support.brokers import BrokerSecurity, Mosquitto, mosquitto
from tests.support.bus import connected, link, take
from tests.support.tls import LabPki, make_pki

pytestmark = pytest.mark.integration

USER, PASSWORD = "dsp", "s3cret:p@ss/word"  # characters a URL must percent-encode


@pytest.fixture
def password_broker(tmp_path: Path) -> Iterator[Mosquitto]:
    with mosquitto(tmp_path, BrokerSecurity(users=((USER, PASSWORD),))) as broker:
        yield broker


@pytest.fixture
def pki(tmp_path: Path) -> LabPki:
    return make_pki(tmp_path / "pki")


def _tls(pki: LabPki, require_certificate: bool = False) -> BrokerSecurity:
    listener = ListenerTls(pki.ca, pki.server_cert, pki.server_key, require_certificate)
    return BrokerSecurity(tls=listener)


def _with_user(url: str, password: str) -> str:
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{USER}:{quote(password, safe='')}@{rest}"


async def test_the_right_password_in_the_url_connects(password_broker: Mosquitto) -> None:
    url = _with_user(password_broker.url, PASSWORD)
    async with connected(link(url, "sub", "t/#")) as sub, connected(link(url, "pub")) as pub:
        pub.publish("t/a", b"hello")
        [message] = await take(sub, 1)
    assert message.payload == b"hello"


async def test_a_password_file_connects(password_broker: Mosquitto, tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text(PASSWORD + "\n")
    url = BrokerOptions(password_file=secret).apply(
        password_broker.url.replace("://", f"://{USER}@")
    )
    async with connected(link(url, "pub")) as pub:
        assert pub.connected.is_set()


async def test_a_wrong_password_is_one_clear_error_without_it(
    password_broker: Mosquitto, caplog: pytest.LogCaptureFixture
) -> None:
    url = _with_user(password_broker.url, "wrong-guess")
    with caplog.at_level(logging.INFO):
        async with link(url, "pub") as pub:
            with pytest.raises(BrokerUnavailableError) as caught:
                await pub.wait_connected(timeout=1.0)
    text = str(caught.value)
    assert f"mqtt://{USER}:***@127.0.0.1:{password_broker.port}" in text
    assert "refused" in text
    assert "wrong-guess" not in text
    assert "wrong-guess" not in caplog.text


async def test_anonymous_clients_are_refused(password_broker: Mosquitto) -> None:
    async with link(password_broker.url, "pub") as pub:
        with pytest.raises(BrokerUnavailableError, match="refused"):
            await pub.wait_connected(timeout=1.0)


async def test_tls_with_the_test_ca_makes_a_round_trip(tmp_path: Path, pki: LabPki) -> None:
    with mosquitto(tmp_path, _tls(pki)) as broker:
        url = BrokerOptions(ca_file=pki.ca).apply(broker.url)
        assert url.startswith("mqtts://")
        async with connected(link(url, "sub", "t/#")) as sub, connected(link(url, "pub")) as pub:
            pub.publish("t/a", b"over TLS")
            [message] = await take(sub, 1)
    assert message.payload == b"over TLS"


async def test_tls_without_the_ca_is_refused_with_a_clear_line(tmp_path: Path, pki: LabPki) -> None:
    with mosquitto(tmp_path, _tls(pki)) as broker:
        async with link(broker.url, "pub") as pub:
            with pytest.raises(BrokerUnavailableError) as caught:
                await pub.wait_connected(timeout=1.0)
    assert f"mqtts://127.0.0.1:{broker.port}" in str(caught.value)
    assert "CERTIFICATE_VERIFY_FAILED" in str(caught.value)


async def test_a_client_certificate_is_required_and_accepted(tmp_path: Path, pki: LabPki) -> None:
    with mosquitto(tmp_path, _tls(pki, require_certificate=True)) as broker:
        with_cert = BrokerOptions(
            ca_file=pki.ca, cert_file=pki.client_cert, key_file=pki.client_key
        ).apply(broker.url)
        async with connected(link(with_cert, "pub")) as pub:
            assert pub.connected.is_set()
        without = BrokerOptions(ca_file=pki.ca).apply(broker.url)
        async with link(without, "anonymous") as bare:
            with pytest.raises(BrokerUnavailableError) as caught:
                await bare.wait_connected(timeout=1.0)
    assert f"mqtts://127.0.0.1:{broker.port}" in str(caught.value)
