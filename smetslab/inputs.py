"""Reading what a user hands the command line: hex text, a file, or standard input."""

from __future__ import annotations

import base64
import binascii
import re
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

from contract.errors import SmetslabError

_HEX_TEXT = re.compile(rb"^[0-9A-Fa-f\s]+$")
ARGUMENT = "the argument"
_DUIS_NS = "{http://www.dccinterface.co.uk/ServiceUserGateway}"


class InputError(SmetslabError, ValueError):
    """Input that is not what the command expects; the message says what was wrong."""


_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=\s]+")


def read_source(source: str) -> tuple[bytes, str]:
    """The raw bytes behind SOURCE (`-` for stdin, a path, or literal hex) and their origin."""
    if source == "-":
        return sys.stdin.buffer.read(), "standard input"
    if _is_file(source):
        return Path(source).read_bytes(), source
    return source.encode("ascii", "replace"), ARGUMENT


def _is_file(source: str) -> bool:
    try:
        return Path(source).is_file()
    except OSError:  # a long hex argument is not a path
        return False


def gbcs_bytes(source: str) -> bytes:
    """GBCS bytes from hex text (the RTDS .HEX form), or from a binary file as it is."""
    raw, origin = read_source(source)
    stripped = raw.strip()
    if stripped and _HEX_TEXT.match(stripped):
        text = re.sub(rb"\s+", b"", stripped)
        if len(text) % 2:
            raise InputError(f"{origin}: odd number of hex digits ({len(text)})")
        return bytes.fromhex(text.decode("ascii"))
    if origin == ARGUMENT:
        raise InputError(f"{source!r} is neither a file nor hex digits")
    if not stripped:
        raise InputError(f"{origin} is empty")
    return raw


def ota_bytes(source: str) -> bytes:
    """An OTA file: binary, base64 text, or the FirmwareImage of a DUIS 11.1/11.4 request."""
    raw, origin = read_source(source)
    if raw.lstrip().startswith(b"<"):
        return _firmware_image_from_duis(raw, origin)
    if raw[:4] == b"\x1e\xf1\xee\x0b":
        return raw
    if origin == ARGUMENT and not _BASE64_TEXT.fullmatch(raw.strip()):
        raise InputError(f"{source!r}: no such file, and not base64 text either")
    try:
        return base64.b64decode(raw, validate=False)
    except binascii.Error as exc:
        raise InputError(f"{origin}: neither an OTA file nor base64 ({exc})") from exc


def _firmware_image_from_duis(raw: bytes, origin: str) -> bytes:
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise InputError(f"{origin}: not well-formed XML ({exc})") from exc
    node = root.find(f".//{_DUIS_NS}FirmwareImage")
    if node is None or not (node.text or "").strip():
        raise InputError(f"{origin}: no sr:FirmwareImage element")
    try:
        return base64.b64decode((node.text or "").strip(), validate=True)
    except binascii.Error as exc:
        raise InputError(f"{origin}: FirmwareImage is not base64 ({exc})") from exc
