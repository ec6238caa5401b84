"""Mutated vectors: nothing but GbcsDecodeError escapes, and what decodes re-encodes exactly."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gbcs
from tests.support.paths import read_hex, rtds_vectors

VECTORS = [read_hex(path) for path in rtds_vectors()]


@st.composite
def mutated(draw: st.DrawFn) -> bytes:
    data = bytearray(draw(st.sampled_from(VECTORS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["set", "flip", "truncate", "insert", "delete", "extend"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "set" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[at:]
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=8))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 8))]
        else:
            data += draw(st.binary(min_size=1, max_size=8))
    return bytes(data)


def _check(data: bytes) -> None:
    for decoder in (gbcs.decode, gbcs.decode_header):
        try:
            message = decoder(data)
        except gbcs.GbcsDecodeError as error:
            offset = error.offset
            assert 0 <= offset <= len(data), offset
            continue
        assert gbcs.encode(message) == data
        json.dumps(gbcs.message_fields(message))


@settings(max_examples=3000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutated())
def test_mutated_vectors_raise_only_decode_errors(data: bytes) -> None:
    _check(data)


@settings(max_examples=1000, deadline=None)
@given(
    st.sampled_from([b"\xdf", b"\xdd", b"\xdd\x00\x00\x00\x00\x00\x00"]), st.binary(max_size=200)
)
def test_random_bodies_behind_a_valid_tag(prefix: bytes, body: bytes) -> None:
    _check(prefix + body)
