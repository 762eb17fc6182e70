"""A source function's webhook request, as the function sees it (`switchyard.functions.runtime.Request`)."""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from switchyard.config.compiled import FunctionConfig
from switchyard.errors import ApiError, BadRequest, PayloadTooLarge, ServiceUnavailable, Unauthorized
from switchyard.functions.runtime import (
    BAD_REQUEST,
    INVALID_OUTPUT,
    REJECTED,
    RETRYABLE,
    SOURCE,
    UNSUPPORTED,
    SourceResult,
)
from switchyard.functions.secrets import token_hash
from switchyard.ingest import body as bodies

if TYPE_CHECKING:
    from switchyard.ingest.service import HttpRequest

# What the caller is told of a function's failure: never the function's own text, which may hold
# its data or secrets. That goes to the operator's log (ApiError.log_detail).
_FAILURE_ANSWERS = {
    REJECTED: "The function rejected the request.",
    UNSUPPORTED: "The function does not handle this request.",
    INVALID_OUTPUT: "The function emitted something that is not JSON.",
    BAD_REQUEST: "The function failed on this request.",
}


def token_matches(function: FunctionConfig | None, token: str) -> bool:
    """Whether `token` opens this source function's webhook; False for no such function too."""
    presented = token_hash(token)  # hashed either way: an unknown id costs what a wrong token does
    expected = function.token_sha256 if function is not None and function.kind == SOURCE else ""
    return bool(expected) and hmac.compare_digest(presented, expected)


def no_such_webhook() -> Unauthorized:
    """One answer for an unknown function and a wrong token, so function ids cannot be probed."""
    return Unauthorized("invalid_token", "No source function has this id and token.")


def function_failure(function_id: str, result: SourceResult) -> ApiError:
    detail = f"source function {function_id}: {result.code}: {result.message}"
    if result.code in RETRYABLE:
        return ServiceUnavailable(result.code, "The function did not finish; retry.", log_detail=detail)
    answer = _FAILURE_ANSWERS.get(result.code, "The function refused the request.")
    return BadRequest(result.code, answer, log_detail=detail)


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
    except BadRequest:
        if declared_json:
            raise
    else:
        webhook["json"] = parsed
    return webhook
