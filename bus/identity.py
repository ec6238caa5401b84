"""Who a link is to its broker, and how it trusts it: the broker URL read in one place.

    mqtt://host:1883                         anonymous, plain TCP
    mqtt://user:pass@host:1883               a user name and password (percent-decoded)
    mqtts://host:8883?ca=/etc/lab/ca.pem     TLS, the server checked against that CA
    mqtts://user@host:8883?ca=..&cert=..&key=..&password_file=..

The query parameters `ca`, `cert`, `key` and `password_file` are what the commands'
`--broker-ca`, `--broker-cert`, `--broker-key` and `--password-file` options add
(`BrokerOptions.apply`), so one string carries a link's identity through every command
and to the processes a lab starts. A password is never shown: `mask_url` puts `***` in
its place wherever a URL is logged, printed or named in an error (sans-IO, except
`BrokerAddress.password_value` and `TlsSettings.context`, which read files).
"""

from __future__ import annotations

import re
import ssl
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import parse_qs, quote, unquote, urlencode, urlsplit, urlunsplit

from .errors import BrokerUrlError

PLAIN_SCHEMES = frozenset({"mqtt", "tcp"})
TLS_SCHEMES = frozenset({"mqtts", "ssl"})
PARAMETERS = ("ca", "cert", "key", "password_file")
MASK = "***"
_PASSWORD = re.compile(r"(?P<head>://[^/@:?#\s]*):(?P<password>[^/@?#\s]*)@")


def mask_url(text: str) -> str:
    """`text` with the password of every URL in it replaced by `***` (works on any
    string, a URL that does not parse included, so errors can use it)."""
    return _PASSWORD.sub(lambda m: f"{m['head']}:{MASK}@", text)


@dataclass(frozen=True, slots=True)
class TlsSettings:
    """TLS for a link: the CA that signed the broker's certificate (None: the system's
    trusted CAs) and, for a broker that asks for one, this client's certificate and key."""

    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def context(self) -> ssl.SSLContext:
        """An `ssl` client context that checks the broker's certificate and name."""
        for what, path in (("CA", self.ca_file), ("certificate", self.cert_file)):
            if path is not None and not path.is_file():
                raise BrokerUrlError(f"broker TLS {what} file {path} does not exist")
        if self.key_file is not None and self.cert_file is None:
            raise BrokerUrlError(f"broker TLS key {self.key_file} given without a certificate")
        try:
            context = ssl.create_default_context(cafile=str(self.ca_file) if self.ca_file else None)
            if self.cert_file is not None:
                key = str(self.key_file) if self.key_file else None
                context.load_cert_chain(str(self.cert_file), key)
        except (OSError, ssl.SSLError) as exc:
            raise BrokerUrlError(f"broker TLS files cannot be read: {exc}") from exc
        return context


@dataclass(frozen=True, slots=True)
class BrokerAddress:
    """A broker URL, read: where, as whom, and over what."""

    host: str
    port: int
    tls: TlsSettings | None = None
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    password_file: Path | None = None

    @classmethod
    def parse(cls, url: str) -> BrokerAddress:
        shown = mask_url(url)
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise BrokerUrlError(f"broker URL {shown!r}: {exc}") from exc
        secure = parts.scheme in TLS_SCHEMES
        if parts.scheme not in PLAIN_SCHEMES | TLS_SCHEMES or not parts.hostname:
            raise BrokerUrlError(
                f"broker URL {shown!r} must look like mqtt://[user[:password]@]host:port "
                "or mqtts://host:port?ca=FILE"
            )
        query = parse_qs(parts.query, keep_blank_values=True)
        unknown = sorted(set(query) - set(PARAMETERS))
        if unknown:
            raise BrokerUrlError(
                f"broker URL {shown!r}: unknown parameter {unknown[0]!r} "
                f"(known: {', '.join(PARAMETERS)})"
            )
        files = {name: Path(values[-1]) for name, values in query.items() if values[-1]}
        if not secure and any(name in files for name in ("ca", "cert", "key")):
            raise BrokerUrlError(f"broker URL {shown!r}: ca, cert and key need mqtts://")
        tls = TlsSettings(files.get("ca"), files.get("cert"), files.get("key")) if secure else None
        username = unquote(parts.username) if parts.username is not None else None
        password = unquote(parts.password) if parts.password is not None else None
        password_file = files.get("password_file")
        if password is not None and password_file is not None:
            raise BrokerUrlError(f"broker URL {shown!r}: a password and a password file")
        if (password is not None or password_file is not None) and not username:
            raise BrokerUrlError(f"broker URL {shown!r}: a password needs a user name")
        default = 8883 if secure else 1883
        return cls(parts.hostname, port or default, tls, username, password, password_file)

    @property
    def scheme(self) -> str:
        return "mqtts" if self.tls is not None else "mqtt"

    @property
    def url(self) -> str:
        """The broker as logs and errors name it: scheme, user, host and port; never the
        password (`***` if there is one)."""
        who = ""
        if self.username is not None:
            secret = f":{MASK}" if self.password or self.password_file else ""
            who = f"{quote(self.username, safe='')}{secret}@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{self.scheme}://{who}{host}:{self.port}"

    def password_value(self) -> str | None:
        """The password, from the URL or read from its file (the first line)."""
        if self.password_file is None:
            return self.password
        try:
            text = self.password_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise BrokerUrlError(
                f"broker password file {self.password_file} cannot be read: {exc.strerror}"
            ) from exc
        lines = text.splitlines()
        if not lines or not lines[0]:
            raise BrokerUrlError(f"broker password file {self.password_file} is empty")
        return lines[0]


@dataclass(frozen=True, slots=True)
class BrokerOptions:
    """The identity and TLS options every command takes the same way (`--password-file`,
    `--broker-ca`, `--broker-cert`, `--broker-key`, or the environment file's
    `broker_password_file`, `broker_ca`, `broker_cert`, `broker_key`); `apply` puts them
    into the broker URL, which then carries them everywhere."""

    password_file: Path | None = None
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None

    def apply(self, url: str) -> str:
        given = {
            "password_file": self.password_file,
            "ca": self.ca_file,
            "cert": self.cert_file,
            "key": self.key_file,
        }
        added = {name: str(path) for name, path in given.items() if path is not None}
        if not added:
            return url
        parts = urlsplit(url)
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        query.update(added)
        merged = urlunsplit(parts._replace(query=urlencode(query)))
        BrokerAddress.parse(merged)  # bad combinations named now, not at first connect
        return merged
