"""The pixel API: a message carried in a GET query string, for places that can only load images."""

from __future__ import annotations

import base64
import binascii
from typing import Any

import orjson

from switchyard.errors import BadRequest
from switchyard.ingest.numbers import OUT_OF_RANGE_DETAIL, loses_integers

# A 1x1 transparent GIF: the answer to every pixel request, whatever happened.
TRANSPARENT_GIF = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")


def decode_pixel_query(query: dict[str, str]) -> dict[str, Any]:
    """`?data=<base64 JSON>`, or flat parameters whose dotted names nest (`properties.subject=x`)."""
    data = query.get("data")
    if data is not None:
        try:
            padded = data + "=" * (-len(data) % 4)
            decoded = base64.b64decode(padded, altchars=b"-_" if ("-" in data or "_" in data) else None)
            message = orjson.loads(decoded)
        except (binascii.Error, ValueError, orjson.JSONDecodeError) as error:
            raise BadRequest("invalid_pixel_data", "`data` is not base64-encoded JSON.") from error
        if not isinstance(message, dict):
            raise BadRequest("invalid_pixel_data", "`data` must encode a JSON object.")
        if loses_integers(decoded, message):
            raise BadRequest("integer_out_of_range", OUT_OF_RANGE_DETAIL)
        return message
    message: dict[str, Any] = {}
    for name, value in query.items():
        target = message
        *parents, leaf = name.split(".")
        for parent in parents:
            child = target.get(parent)
            if not isinstance(child, dict):
                child = target[parent] = {}
            target = child
        target[leaf] = value
    return message
