"""The tracking API's OpenAPI 3.1 document (openapi.json beside this module), served at `GET /openapi.json`.

Read on the first request that asks for it, never at import: ingest's cold start is user-facing.
"""

from __future__ import annotations

import functools
from pathlib import Path

import orjson

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")


@functools.cache
def openapi_text() -> str:
    """The document as compact JSON text (the file itself is indented for people)."""
    return orjson.dumps(orjson.loads(DOCUMENT_PATH.read_bytes())).decode()
