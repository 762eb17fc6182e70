"""Integers beyond 64 bits, which orjson would silently turn into floats."""

from __future__ import annotations

import orjson
import pytest

from switchyard.ingest.numbers import exact_json, holds_out_of_range_integer, loses_integers, wrote_large_float


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"18446744073709551615", False),  # 2^64 - 1: orjson keeps it an int
        (b"-9223372036854775808", False),  # -2^63
        (b"18446744073709551616", True),  # 2^64
        (b"-9223372036854775809", True),
        (b'{"a": [1, {"b": 123456789012345678901234567890}]}', True),
        (b'{"a": 1.8446744073709552e19}', False),  # a float literal is a float
        (b'{"a": true, "b": "18446744073709551616"}', False),
    ],
)
def test_integers_orjson_cannot_hold_are_found(text: bytes, expected: bool):
    assert loses_integers(text, orjson.loads(text)) is expected
    assert holds_out_of_range_integer(exact_json(text)) is expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"n": 2.0**64}, True),
        ({"n": -(2.0**63) - 4096}, True),
        ({"n": 1e16}, True),  # orjson writes 1e+16: a closer look, not a refusal
        ({"n": 9.9e15, "t": "2026-11-30T12:00:00+00:00"}, False),
        ({"n": 1.5, "s": "a+b"}, False),
        ({"s": "+1 555 0100"}, False),
    ],
)
def test_the_hint_on_the_hot_path_is_a_float_orjson_writes_with_an_exponent(value: object, expected: bool):
    assert wrote_large_float(orjson.dumps(value)) is expected


def nested(depth: int, leaf: bytes) -> bytes:
    return b'{"a":' * depth + leaf + b"}" * depth


@pytest.mark.parametrize(("leaf", "expected"), [(b"1", False), (b"18446744073709551616", True)])
def test_values_orjson_reads_but_cannot_write_are_judged_without_raising(leaf: bytes, expected: bool):
    """Found by fuzzing: orjson reads 1,024 levels but writes 254; a pixel's `data` 300 deep made
    the check raise TypeError (a logged crash behind the GIF, a 500 on a source webhook)."""
    text = nested(300, leaf)
    assert loses_integers(text, orjson.loads(text)) is expected
