"""Pixel query decoding: base64 `data=` and flat dotted parameters."""

from __future__ import annotations

import base64
import json

import pytest

from switchyard.errors import BadRequest
from switchyard.ingest.pixel import TRANSPARENT_GIF, decode_pixel_query


def test_base64_data_is_decoded():
    data = base64.b64encode(json.dumps({"userId": "u", "event": "Opened"}).encode()).decode()
    assert decode_pixel_query({"data": data}) == {"userId": "u", "event": "Opened"}


def test_unpadded_url_safe_base64_is_decoded():
    raw = json.dumps({"userId": "ü?>", "event": "Opened"}).encode()
    data = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    assert decode_pixel_query({"data": data})["userId"] == "ü?>"


def test_flat_parameters_nest_on_dots():
    message = decode_pixel_query(
        {
            "userId": "u",
            "event": "Opened",
            "properties.subject": "Hi",
            "context.campaign.name": "nov",
            "writeKey": "k",
        }
    )
    assert message == {
        "userId": "u",
        "event": "Opened",
        "properties": {"subject": "Hi"},
        "context": {"campaign": {"name": "nov"}},
        "writeKey": "k",
    }


@pytest.mark.parametrize("data", ["%%%", base64.b64encode(b"[1]").decode(), base64.b64encode(b"{nope").decode()])
def test_bad_data_is_a_bad_request(data: str):
    with pytest.raises(BadRequest):
        decode_pixel_query({"data": data})


def test_the_pixel_is_a_gif():
    assert TRANSPARENT_GIF.startswith(b"GIF89a")


def test_data_nested_deeper_than_orjson_writes_is_decoded_not_a_crash():
    """Found by fuzzing (a TypeError behind the GIF). The message is then discarded as too deep."""
    deep = b'{"userId":"u","properties":' + b'{"a":' * 300 + b"1" + b"}" * 301
    message = decode_pixel_query({"data": base64.b64encode(deep).decode()})
    assert message["userId"] == "u"
