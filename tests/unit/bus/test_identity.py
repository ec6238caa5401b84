"""Broker URLs read in one place: user names and passwords (percent-decoded), mqtts://
with a CA and client certificate, the options every command adds, and the password
masked wherever the URL is shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from bus.errors import BrokerUrlError
from bus.identity import BrokerAddress, BrokerOptions, TlsSettings, mask_url


def test_a_plain_url_is_anonymous_tcp() -> None:
    address = BrokerAddress.parse("mqtt://broker.lab:1884")
    assert (address.host, address.port, address.tls, address.username) == (
        "broker.lab",
        1884,
        None,
        None,
    )
    assert address.url == "mqtt://broker.lab:1884"


def test_credentials_are_percent_decoded_and_never_shown() -> None:
    address = BrokerAddress.parse("mqtt://dsp%40lab:p%3Ass%2Fw%40rd@127.0.0.1")
    assert (address.username, address.password_value()) == ("dsp@lab", "p:ss/w@rd")
    assert address.port == 1883
    assert address.url == "mqtt://dsp%40lab:***@127.0.0.1:1883"
    assert "w%40rd" not in repr(address)
    assert "w@rd" not in repr(address)


def test_mqtts_defaults_to_8883_and_reads_its_files() -> None:
    address = BrokerAddress.parse("mqtts://host?ca=/ca.pem&cert=/c.pem&key=/c.key")
    assert address.port == 8883
    assert address.tls == TlsSettings(Path("/ca.pem"), Path("/c.pem"), Path("/c.key"))
    assert address.url == "mqtts://host:8883"


def test_a_password_file_gives_its_first_line(tmp_path: Path) -> None:
    secret = tmp_path / "password"
    secret.write_text("first line\nsecond\n")
    url = BrokerOptions(password_file=secret).apply("mqtt://dsp@host:1883")
    address = BrokerAddress.parse(url)
    assert address.password_value() == "first line"
    assert address.url == "mqtt://dsp:***@host:1883"


@pytest.mark.parametrize(
    ("url", "says"),
    [
        ("http://host", "must look like"),
        ("mqtt://", "must look like"),
        ("mqtt://host:notaport", "port"),
        ("mqtt://host?ca=/ca.pem", "need mqtts://"),
        ("mqtt://host?colour=red", "unknown parameter 'colour'"),
        ("mqtt://:pw@host", "needs a user name"),
        ("mqtt://u:pw@host?password_file=/p", "a password and a password file"),
    ],
)
def test_a_bad_url_is_one_line_naming_it(url: str, says: str) -> None:
    with pytest.raises(BrokerUrlError, match=says) as caught:
        BrokerAddress.parse(url)
    assert "pw" not in str(caught.value)


def test_a_missing_password_file_is_named(tmp_path: Path) -> None:
    address = BrokerAddress.parse(f"mqtt://u@host?password_file={tmp_path / 'none'}")
    with pytest.raises(BrokerUrlError, match=r"password file .*none cannot be read"):
        address.password_value()


def test_a_missing_ca_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BrokerUrlError, match=r"CA file .*ca\.pem does not exist"):
        TlsSettings(tmp_path / "ca.pem").context()


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("mqtt://u:secret@h:1883", "mqtt://u:***@h:1883"),
        (
            "error: no connection to mqtts://u:x%40y@h (refused)",
            "error: no connection to mqtts://u:***@h (refused)",
        ),
        ("mqtt://u@h:1883", "mqtt://u@h:1883"),
        ("mqtt://h:1883", "mqtt://h:1883"),
        ("a mqtt://a:b@h and mqtt://c:d@k", "a mqtt://a:***@h and mqtt://c:***@k"),
    ],
)
def test_mask_url_hides_every_password(text: str, shown: str) -> None:
    assert mask_url(text) == shown


def test_options_are_added_to_the_url(tmp_path: Path) -> None:
    url = BrokerOptions(ca_file=Path("/ca.pem")).apply("mqtts://host:8883")
    assert BrokerAddress.parse(url).tls == TlsSettings(Path("/ca.pem"))
    assert BrokerOptions().apply("mqtt://host") == "mqtt://host"
    with pytest.raises(BrokerUrlError, match="need mqtts://"):
        BrokerOptions(ca_file=Path("/ca.pem")).apply("mqtt://host")
