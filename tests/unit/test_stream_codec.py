"""Stream records deflated with the Segment dictionary: round trips, size, both forms read, bad data refused."""

from __future__ import annotations

import zlib

import orjson
import pytest

from switchyard import stream_codec
from switchyard.stream_codec import decode, encode

USER_AGENT = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Safari/537.36"
)
# Adler-32 of the shipped dictionary. Records on the stream name it: changing the dictionary in
# place would make them undecodable, so add a new one instead (see stream_codec).
SEGMENT_DICTIONARY_V1_ID = 0x74F83B6B
RECORD_DEFLATED_WITH_V1 = bytes.fromhex("486a74f83b6bc3996191eb7678e89402a31000a0c90fe1")


def browser_track() -> dict:
    """A track call as analytics.js sends it, as ingest stores it."""
    return {
        "type": "track",
        "event": "Product Viewed",
        "properties": {
            "product_id": "sku-31337",
            "sku": "KTL-31337-GRN-M",
            "name": "Kettle – “Smörgåsbord” edition",
            "category": "Kitchen",
            "brand": "Hjem",
            "price": 49.5,
            "currency": "EUR",
            "quantity": 1,
            "url": "https://shop.example.eu/p/sku-31337",
        },
        "context": {
            "library": {"name": "analytics.js", "version": "next-1.72.0"},
            "page": {
                "path": "/p/sku-31337",
                "referrer": "https://www.google.com/",
                "search": "?utm_source=google&utm_medium=cpc&utm_campaign=winter",
                "title": "Kettle – Hjem 🫖",
                "url": "https://shop.example.eu/p/sku-31337?utm_source=google&utm_medium=cpc&utm_campaign=winter",
            },
            "userAgent": USER_AGENT,
            "userAgentData": {
                "brands": [{"brand": "Chromium", "version": "131"}, {"brand": "Google Chrome", "version": "131"}],
                "mobile": False,
                "platform": "macOS",
            },
            "locale": "de-CH",
            "timezone": "Europe/Zurich",
            "campaign": {"source": "google", "medium": "cpc", "name": "winter"},
            "screen": {"width": 1512, "height": 982, "density": 2},
            "ip": "203.0.113.41",
        },
        "messageId": "ajs-next-7c1f3e0a-5b2d-4f8e-9a61-0d3c2b7e94f5",
        "anonymousId": "e3b1c9a2-84f6-4d07-b5e2-61a9f0c7d318",
        "userId": None,
        "timestamp": "2026-11-30T12:00:00.123Z",
        "integrations": {},
        "_metadata": {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []},
        "originalTimestamp": "2026-11-30T12:00:00.123Z",
        "sentAt": "2026-11-30T12:00:01.000Z",
        "receivedAt": "2026-11-30T12:00:01.412Z",
        "projectId": "web",
        "receivedRegion": "eu-west-1",
    }


def server_identify() -> dict:
    return {
        "type": "identify",
        "userId": "user_8841",
        "traits": {"email": "zoë@example.com", "name": "Zoë 山田", "plan": "pro", "logins": 2**53 + 1},
        "context": {"library": {"name": "analytics-python", "version": "2.3.3"}, "ip": "198.51.100.7"},
        "messageId": "0b9e4c2d-1f3a-4e5b-8c7d-6a5b4c3d2e1f",
        "timestamp": "2026-11-30T12:00:00.123+00:00",
        "integrations": {"All": False, "Mixpanel": True},
        "receivedAt": "2026-11-30T12:00:01.412Z",
        "projectId": "backend",
        "receivedRegion": "us-west-2",
    }


@pytest.mark.parametrize("message", [browser_track(), server_identify(), {"type": "track", "event": "x"}, {}])
def test_messages_come_back_byte_for_byte(message: dict):
    data = orjson.dumps(message)
    encoded = encode(data)
    assert encoded[:1] != b"{"
    assert decode(encoded) == data


def test_a_typical_browser_event_fits_one_kinesis_billing_unit():
    data = orjson.dumps(browser_track())
    assert 1300 <= len(data) <= 1500
    assert len(encode(data)) < 1024
    assert len(encode(data)) < len(data) / 3  # the dictionary's doing: deflate alone halves it


def test_plain_json_records_pass_through_unchanged():
    data = orjson.dumps(browser_track())
    assert decode(data) is data


def test_records_name_the_dictionary_they_were_deflated_with():
    encoded = encode(b'{"type":"track"}')
    assert encoded[0] & 0x0F == zlib.DEFLATED and encoded[1] & 0x20  # zlib header with FDICT
    assert int.from_bytes(encoded[2:6], "big") == stream_codec.DICTIONARY_ID


def test_the_shipped_dictionary_never_changes():
    """Records deflated with it stay on the stream for days; they must decode for as long."""
    assert zlib.adler32(stream_codec._SEGMENT_DICTIONARY_V1) == SEGMENT_DICTIONARY_V1_ID
    assert decode(RECORD_DEFLATED_WITH_V1) == b'{"type":"track","event":"Signed Up","userId":"u1"}'
    assert stream_codec.DICTIONARY_ID == SEGMENT_DICTIONARY_V1_ID  # the one ingest writes with


def unknown_dictionary_record() -> bytes:
    deflater = zlib.compressobj(zdict=b'"some other dictionary"')
    return deflater.compress(b'{"type":"track"}') + deflater.flush()


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not json",
        b"\x00\x01\x02\x03\x04\x05\x06\x07",
        zlib.compress(b'{"type":"track"}'),  # no dictionary
        unknown_dictionary_record(),
        encode(b'{"type":"track"}')[:-3],  # truncated
        encode(b'{"type":"track"}') + b"tail",
        encode(b'{"type":"track"}')[:8] + b"\xff" * 8,  # corrupt body
    ],
    ids=["empty", "text", "binary", "no-dictionary", "unknown-dictionary", "truncated", "trailing", "corrupt"],
)
def test_anything_else_is_a_value_error(data: bytes):
    with pytest.raises(ValueError):
        decode(data)


def test_a_record_inflating_past_the_limit_is_refused():
    huge = b'{"pad":"' + b" " * (2 * 1024 * 1024) + b'"}'
    with pytest.raises(ValueError, match="1 MiB"):
        decode(encode(huge))
