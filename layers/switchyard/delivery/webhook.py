"""The webhook destination: POST events as JSON, signed with HMAC-SHA256, within a time-out.

Signing: `X-Switchyard-Timestamp: <unix seconds>` and `X-Switchyard-Signature: sha256=<hex>`, the
HMAC-SHA256 of `<timestamp>.<body>`, so a receiver can refuse an old request replayed at it. While a
secret is rotated, the signature header carries one `sha256=` value per secret, comma-separated;
a receiver accepts the request if any of them matches a key it knows (see `verify_signature`).
"""

from __future__ import annotations

import errno
import hashlib
import hmac
import socket
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

import orjson
from urllib3.exceptions import (
    ConnectTimeoutError,
    HTTPError,
    NameResolutionError,
    ProtocolError,
    ReadTimeoutError,
)

from switchyard.config.compiled import Destination
from switchyard.delivery.attempts import RETRY, Attempt, classify_status, parse_retry_after
from switchyard.delivery.http import BoundedHttp, DeadlineExceeded

SIGNATURE_HEADER = "X-Switchyard-Signature"
TIMESTAMP_HEADER = "X-Switchyard-Timestamp"
# How old a signed request a receiver should still accept (what `verify_signature` allows).
SIGNATURE_TOLERANCE_SECONDS = 300
USER_AGENT = "Switchyard-Webhook/1.0"
SAMPLE_CHARS = 2048
# Headers never shown in Event Delivery samples.
_SECRET_HEADERS = {"authorization", "x-api-key", SIGNATURE_HEADER.lower()}
CREDENTIALS_UNAVAILABLE = "credentials_unavailable"


class Credentials(Protocol):
    def get(self, destination_id: str) -> dict[str, Any]: ...


def shown_url(url: str) -> str:
    """The URL without user info or query, which may carry credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if parts.port:
        host = f"{host}:{parts.port}"
    return urlunsplit((parts.scheme, host, parts.path, "<redacted>" if parts.query else "", ""))


def without_query(text: str, url: str) -> str:
    query = urlsplit(url).query
    return text.replace(query, "<redacted>") if query else text


def signature(secret: str, signed: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_headers(secrets: Sequence[str], body: bytes, timestamp: int) -> dict[str, str]:
    signed = f"{timestamp}.".encode() + body
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: ",".join(signature(key, signed) for key in secrets)}


def verify_signature(
    secret: str, headers: Mapping[str, str], body: bytes, now: float, tolerance: float = SIGNATURE_TOLERANCE_SECONDS
) -> bool:
    """For receivers: the request is signed with `secret` and no older than `tolerance` seconds."""
    timestamp = headers.get(TIMESTAMP_HEADER, "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance:
        return False
    expected = signature(secret, f"{timestamp}.".encode() + body)
    offered = headers.get(SIGNATURE_HEADER, "").split(",")
    return any(hmac.compare_digest(expected, value.strip()) for value in offered)


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__ or getattr(current, "reason", None)
        if not isinstance(current, BaseException):
            current = None
    return chain


def _network_code(error: BaseException) -> str:
    """The errno-style code Segment shows for a failed connection.

    The cause chain is read before the exception's class: urllib3's NewConnectionError (a refused
    connection) is a subclass of ConnectTimeoutError. A passed deadline comes first: its cause is
    the reset the watchdog caused.
    """
    if isinstance(error, DeadlineExceeded):
        return "ETIMEDOUT"
    for cause in _causes(error):
        if isinstance(cause, NameResolutionError | socket.gaierror):
            return "ENOTFOUND"
        if isinstance(cause, ConnectionRefusedError):
            return "ECONNREFUSED"
        if isinstance(cause, ConnectionResetError | BrokenPipeError):
            return "ECONNRESET"
        if isinstance(cause, OSError) and cause.errno in (errno.ECONNREFUSED, errno.ECONNRESET):
            return errno.errorcode[cause.errno]
    if isinstance(error, ConnectTimeoutError | ReadTimeoutError | TimeoutError | socket.timeout):
        return "ETIMEDOUT"
    if isinstance(error, ProtocolError):
        return "ECONNRESET"
    return "ECONNERROR"


class NoCredentials:
    def get(self, destination_id: str) -> dict[str, Any]:
        return {}


class WebhookAdapter:
    def __init__(
        self,
        http: BoundedHttp | None = None,
        credentials: Credentials | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._http = http or BoundedHttp()
        self._credentials = credentials or NoCredentials()
        self._clock = clock

    def body_for(self, events: Sequence[dict[str, Any]], batch_size: int) -> bytes:
        if batch_size > 1:
            return orjson.dumps({"batch": list(events)})
        return orjson.dumps(events[0])

    def send(self, destination: Destination, events: Sequence[dict[str, Any]], deadline: float) -> Attempt:
        """One POST that ends by `deadline` (time.monotonic) or by the destination's time-out."""
        settings = destination.settings
        try:
            credentials = self._credentials.get(destination.id) if destination.credentials else {}
        except Exception as error:  # noqa: BLE001 - SSM unreachable or throttled: later, never unsigned
            return Attempt(RETRY, CREDENTIALS_UNAVAILABLE, response={"error": type(error).__name__})
        if set(destination.credentials) - set(credentials):  # applied, but not stored yet
            return Attempt(RETRY, CREDENTIALS_UNAVAILABLE, response={"error": "not stored yet"})
        body = self.body_for(events, settings.get("batch_size", 1))
        configured_headers: dict[str, str] = credentials.get("headers", {})
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **configured_headers}
        keys = [key for key in (credentials.get("secret"), credentials.get("previous_secret")) if key]
        if keys:
            headers.update(signature_headers(keys, body, int(self._clock())))
        timeout = float(settings.get("timeout_seconds", 10))
        # Samples are kept for operators: no credential in them. Headers the operator configured
        # are hidden (they are often API keys), and so are the URL's query and user info.
        configured = {name.lower() for name in configured_headers}
        request = {
            "method": "POST",
            "url": shown_url(settings["url"]),
            "headers": {
                name: ("<redacted>" if name.lower() in _SECRET_HEADERS | configured else value)
                for name, value in headers.items()
            },
            "body": body[:SAMPLE_CHARS].decode("utf-8", "replace"),
        }
        try:
            answer = self._http.request(
                "POST",
                settings["url"],
                body=body,
                headers=headers,
                deadline=min(deadline, time.monotonic() + timeout),
            )
        except (HTTPError, OSError) as error:
            code = _network_code(error)
            return Attempt(
                RETRY,
                code,
                request=request,
                response={"error": without_query(f"{code}: {error}", settings["url"])[:SAMPLE_CHARS]},
                answered_at=time.time(),
            )
        answered = time.time()
        status = classify_status(answer.status)
        return Attempt(
            status,
            str(answer.status),
            retry_after=parse_retry_after(answer.headers.get("Retry-After"), answered),
            request=request,
            response={
                "status": answer.status,
                "body": answer.body[:SAMPLE_CHARS].decode("utf-8", "replace"),
            },
            answered_at=answered,
        )
