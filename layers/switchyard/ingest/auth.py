"""Where the write key comes from: HTTP Basic (user name), the JSON body, or both."""

from __future__ import annotations

import base64
import binascii

from switchyard.errors import Unauthorized


def write_key_from_authorization(header: str | None) -> str | None:
    """The user name of a Basic credential: `base64("<key>:")`, or without the colon."""
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "basic" or not token:
        return None
    try:
        decoded = base64.b64decode(token.strip(), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    key = decoded.split(":", 1)[0]
    return key or None


def resolve_write_key(header: str | None, body_key: object) -> str:
    """The header's key when it has one, else the body's; refuse a request that carries neither."""
    key = write_key_from_authorization(header)
    if key:
        return key
    if isinstance(body_key, str) and body_key:
        return body_key
    raise Unauthorized(
        "missing_write_key",
        "No write key: send it as the Basic auth user name or as `writeKey` in the body.",
    )
