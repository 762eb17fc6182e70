"""The tracking API's OpenAPI 3.1 document (openapi.json beside this module), served at `GET /openapi.json`.

Read on the first request that asks for it, never at import: ingest's cold start is user-facing.

The file describes the HTTP API's layout, the one the handler routes (`/v1/...`, `/functions/{id}`,
`/openapi.json` at the root). Behind the firewall (the `waf` stack option) the tracking API is a
REST API whose every path sits below its `v1` stage (constants.REST_API_STAGE): the document served
there says so, with the server URL `/v1` and the paths relative to it, so each one still resolves
to where that API answers (`/v1/track`, `/v1/functions/{id}`, `/v1/openapi.json`).
"""

from __future__ import annotations

import functools
from pathlib import Path

import orjson

DOCUMENT_PATH = Path(__file__).with_name("openapi.json")


@functools.cache
def openapi_text(below_stage: str | None = None) -> str:
    """The document as compact JSON text (the file itself is indented for people)."""
    document = orjson.loads(DOCUMENT_PATH.read_bytes())
    if below_stage:
        prefix = f"/{below_stage}"
        document["servers"] = [
            {"url": prefix, "description": f"The REST API's `{below_stage}` stage: every path below sits under it."}
        ]
        document["paths"] = {
            path.removeprefix(prefix) if path.startswith(f"{prefix}/") else path: item
            for path, item in document["paths"].items()
        }
    return orjson.dumps(document).decode()
