"""A source function's webhook request, as the function sees it (`switchyard.functions.runtime.Request`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from switchyard.errors import BadRequest, PayloadTooLarge
from switchyard.ingest import body as bodies
from switchyard.ingest.numbers import OUT_OF_RANGE_DETAIL, loses_integers

if TYPE_CHECKING:
    from switchyard.ingest.service import HttpRequest


def function_request(request: HttpRequest) -> dict[str, Any]:
    """JSON or form bodies, as text, up to 512 KiB; a JSON body parsed too (`request.json()`).

    Parsed once, strictly (orjson: no NaN or Infinity, no integer rounded to a float), so the
    function reads what the pipeline would. A body that is not JSON is a 400 only when it says it
    is JSON; otherwise (a form, say) it is the function's to read.
    """
    bodies.check_content_type(request.headers.get("content-type"))
    try:
        raw = bodies.inflate(request.body, request.headers.get("content-encoding"))
    except PayloadTooLarge as error:  # webhooks answer 400 for any body they cannot take
        raise BadRequest(error.code, error.message) from error
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise BadRequest("invalid_body", "The request body is not UTF-8 text.") from error
    content_type = (request.headers.get("content-type") or "").split(";")[0].strip().lower()
    declared_json = content_type.endswith("json") or (not content_type and text.lstrip()[:1] in ("{", "["))
    webhook: dict[str, Any] = {
        "method": "POST",
        "url": request.url,
        "headers": dict(request.headers),
        "query": dict(request.query),
        "body": text,
    }
    try:
        parsed = bodies.parse_json_value(raw)
        if loses_integers(raw, parsed):
            raise BadRequest("integer_out_of_range", OUT_OF_RANGE_DETAIL)
    except BadRequest:
        if declared_json:
            raise
    else:
        webhook["json"] = parsed
    return webhook
