"""Request bodies: content types, gzip with a hard cap, JSON parsing."""

from __future__ import annotations

import gzip
import time

import pytest

from switchyard.constants import MAX_INFLATED_BYTES
from switchyard.errors import BadRequest, PayloadTooLarge
from switchyard.ingest.body import check_content_type, inflate, parse_json_object, raw_body


def test_text_plain_is_parsed_as_json():
    check_content_type("text/plain;charset=UTF-8")
    assert parse_json_object(b'{"a": 1}') == {"a": 1}


@pytest.mark.parametrize("content_type", ["multipart/form-data; boundary=x", "image/png"])
def test_types_that_cannot_be_json_are_refused(content_type: str):
    with pytest.raises(BadRequest) as caught:
        check_content_type(content_type)
    assert caught.value.code == "unsupported_content_type"


def test_gzip_is_inflated():
    assert inflate(gzip.compress(b'{"a":1}'), "gzip") == b'{"a":1}'


def test_a_gzip_bomb_is_refused_without_inflating_it_all():
    bomb = gzip.compress(b"0" * (50 * 1024 * 1024))
    with pytest.raises(PayloadTooLarge):
        inflate(bomb, "gzip")


def test_gzip_just_under_the_cap_is_accepted():
    data = b"x" * MAX_INFLATED_BYTES
    assert len(inflate(gzip.compress(data), "gzip")) == MAX_INFLATED_BYTES


def test_corrupt_and_truncated_gzip_are_bad_requests():
    with pytest.raises(BadRequest) as corrupt:
        inflate(b"not gzip at all", "gzip")
    with pytest.raises(BadRequest) as truncated:
        inflate(gzip.compress(b'{"a": 1}' * 100)[:20], "gzip")
    assert corrupt.value.code == truncated.value.code == "invalid_gzip"


def test_every_member_of_a_multi_member_gzip_body_is_read():
    # RFC 1952 allows several members; `cat a.gz b.gz` makes one.
    body = gzip.compress(b'{"batch": [{"a": 1},') + gzip.compress(b"") + gzip.compress(b' {"b": 2}]}')
    assert inflate(body, "gzip") == b'{"batch": [{"a": 1}, {"b": 2}]}'


def test_the_cap_covers_all_members_together():
    half = gzip.compress(b"x" * (MAX_INFLATED_BYTES // 2 + 1))
    with pytest.raises(PayloadTooLarge):
        inflate(half + half, "gzip")


@pytest.mark.parametrize("trailer", [b"junk", b"\n", b"\x1f", gzip.compress(b"second")[:12]])
def test_trailing_data_that_is_not_a_whole_gzip_member_is_refused(trailer: bytes):
    with pytest.raises(BadRequest) as caught:
        inflate(gzip.compress(b'{"a": 1}') + trailer, "gzip")
    assert caught.value.code == "invalid_gzip"


def test_zero_padding_after_the_last_member_is_ignored_as_gzip_does():
    assert inflate(gzip.compress(b'{"a":1}') + b"\0" * 16, "gzip") == b'{"a":1}'


def test_many_tiny_members_are_refused_quickly():
    started = time.perf_counter()
    with pytest.raises(BadRequest):
        inflate(gzip.compress(b"") * 200_000, "gzip")
    assert time.perf_counter() - started < 0.5


def test_an_oversize_plain_body_is_refused():
    with pytest.raises(PayloadTooLarge):
        inflate(b" " * (MAX_INFLATED_BYTES + 1), None)


def test_unknown_content_encodings_are_refused():
    with pytest.raises(BadRequest) as caught:
        inflate(b"...", "br")
    assert caught.value.code == "unsupported_content_encoding"


@pytest.mark.parametrize("body", [b"", b"   ", b"{", b"[1, 2]", b'"text"', b'{"a": "\xff"}', b"[" * 2000 + b"]" * 2000])
def test_malformed_bodies_are_invalid_json(body: bytes):
    with pytest.raises(BadRequest) as caught:
        parse_json_object(body)
    assert caught.value.code == "invalid_json"


def test_base64_bodies_are_decoded():
    assert raw_body("eyJhIjoxfQ==", True) == b'{"a":1}'
    assert raw_body('{"a":1}', False) == b'{"a":1}'
    assert raw_body(None, False) == b""
