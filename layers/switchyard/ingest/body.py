"""Turning an HTTP request body into JSON, within the API's limits and never trusting its size."""

from __future__ import annotations

import base64
import binascii
import zlib
from typing import Any

import orjson

from switchyard.constants import MAX_BATCH_BYTES, MAX_GZIP_MEMBERS, MAX_INFLATED_BYTES
from switchyard.errors import BadRequest, PayloadTooLarge
from switchyard.ingest.numbers import OUT_OF_RANGE_DETAIL, exact_json, holds_out_of_range_integer, wrote_large_float

# Types a JSON text cannot be sent as. Anything else (text/plain from browsers, no type at all,
# application/x-www-form-urlencoded from odd clients) is parsed as JSON all the same.
_NON_JSON_TYPES = ("multipart/", "image/", "audio/", "video/", "application/octet-stream")
_GZIP_MAGIC = b"\x1f\x8b"


def raw_body(body: str | None, is_base64_encoded: bool) -> bytes:
    """The body bytes as the client sent them (API Gateway base64-encodes binary bodies)."""
    if not body:
        return b""
    if is_base64_encoded:
        try:
            return base64.b64decode(body, validate=False)
        except (binascii.Error, ValueError) as error:
            raise BadRequest("invalid_body", "The request body is not valid base64.") from error
    return body.encode("utf-8", "surrogatepass")


def check_content_type(content_type: str | None) -> None:
    if content_type and content_type.strip().lower().startswith(_NON_JSON_TYPES):
        raise BadRequest(
            "unsupported_content_type",
            f"Content-Type {content_type.split(';')[0]!r} cannot carry JSON; send application/json.",
        )


def inflate(data: bytes, content_encoding: str | None) -> bytes:
    """Decompress a gzip body with a hard cap on its inflated size (no gzip bombs)."""
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        if len(data) > MAX_BATCH_BYTES:
            raise _too_large(len(data))
        return data
    if encoding not in ("gzip", "x-gzip"):
        raise BadRequest("unsupported_content_encoding", f"Content-Encoding {encoding!r} is not supported; use gzip.")
    return _gunzip(data)


def _gunzip(data: bytes) -> bytes:
    """Every member of a gzip body (RFC 1952 allows several: `cat a.gz b.gz`), within one cap.

    Data after the last member is refused rather than ignored, except zero padding, which gzip
    itself skips. Members are capped in number: each one's end copies the rest of the input.
    """
    parts: list[bytes] = []
    room = MAX_INFLATED_BYTES
    for _ in range(MAX_GZIP_MEMBERS):
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
        try:
            inflated = inflater.decompress(data, room + 1)
        except zlib.error as error:
            raise BadRequest("invalid_gzip", "The request body is not valid gzip.") from error
        room -= len(inflated)
        if room < 0 or inflater.unconsumed_tail:
            raise _too_large(None)
        if not inflater.eof:
            raise BadRequest("invalid_gzip", "The gzip body is truncated.")
        parts.append(inflated)
        data = inflater.unused_data
        if not data.strip(b"\0"):
            return parts[0] if len(parts) == 1 else b"".join(parts)
        if not data.startswith(_GZIP_MAGIC):
            raise BadRequest("invalid_gzip", "The gzip body is followed by data that is not gzip.")
    raise BadRequest("invalid_gzip", f"The gzip body has more than {MAX_GZIP_MEMBERS} members.")


def parse_json_value(data: bytes) -> Any:
    """Any JSON value the pipeline can write back unchanged; a BadRequest names what is wrong.

    orjson reads 1,024 levels of nesting but writes only 254, and what is parsed here is written
    again (a source function's invocation): deeper is refused now rather than failing later. The
    one writing also shows whether an integer became a float (see ingest.numbers).
    """
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise BadRequest("invalid_json", f"The request body is not valid JSON: {error}.") from error
    try:
        written = orjson.dumps(value)
    except orjson.JSONEncodeError as error:
        raise BadRequest("body_too_deep", "The request body is nested more than 254 levels deep.") from error
    if wrote_large_float(written) and holds_out_of_range_integer(exact_json(data)):
        raise BadRequest("integer_out_of_range", OUT_OF_RANGE_DETAIL)
    return value


def parse_json_object(data: bytes) -> dict[str, Any]:
    """Parse the body as a JSON object; orjson also refuses invalid UTF-8 and absurd nesting."""
    if not data.strip():
        raise BadRequest("invalid_json", "The request body is empty; send a JSON object.")
    try:
        parsed = orjson.loads(data)
    except orjson.JSONDecodeError as error:
        raise BadRequest("invalid_json", f"The request body is not valid JSON: {error}.") from error
    if not isinstance(parsed, dict):
        raise BadRequest("invalid_json", "The request body must be a JSON object.")
    return parsed


def _too_large(size: int | None) -> PayloadTooLarge:
    shown = f" ({size} bytes)" if size is not None else ""
    return PayloadTooLarge(
        "request_too_large",
        f"The request body{shown} is over the {MAX_BATCH_BYTES}-byte limit once inflated.",
    )
