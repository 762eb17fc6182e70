"""`type: webhook`: POST events as JSON to a URL, signed with HMAC-SHA256, within a time-out.

Signing: `X-Switchyard-Timestamp: <unix seconds>` and `X-Switchyard-Signature: sha256=<hex>`, the
HMAC-SHA256 of `<timestamp>.<body>`, so a receiver can refuse an old request replayed at it. While a
secret is rotated, the signature header carries one `sha256=` value per secret, comma-separated;
a receiver accepts the request if any of them matches a key it knows (see `verify_signature`).
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, model_validator

from switchyard.destinations.base import (
    URL_PATTERN,
    CallContext,
    DestinationSettings,
    DestinationType,
    HttpCall,
    Item,
    Limits,
    SecretText,
    join_json_array,
)

SIGNATURE_HEADER = "X-Switchyard-Signature"
TIMESTAMP_HEADER = "X-Switchyard-Timestamp"
# How old a signed request a receiver should still accept (what `verify_signature` allows).
SIGNATURE_TOLERANCE_SECONDS = 300
USER_AGENT = "Switchyard-Webhook/1.0"
# Requests larger than this are split (events of up to 256 KiB each, as the queue carries them).
MAX_REQUEST_BYTES = 5 * 1024 * 1024
EVENTS = "events"


class WebhookSettings(DestinationSettings):
    """`type: webhook`: POST each event (or batches of `batch_size`) as JSON to `url`."""

    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("secret", "previous_secret", "headers")

    url: str = Field(pattern=URL_PATTERN, description="Where to POST (the webhook's endpoint)")
    secret: SecretText | None = Field(default=None, min_length=8, description="HMAC-SHA256 key of the signature")
    previous_secret: SecretText | None = Field(
        default=None, min_length=8, description="While rotating: the old key, whose signature is sent too"
    )
    headers: dict[str, SecretText] = Field(default_factory=dict, description="Extra headers (kept as secrets)")
    batch_size: int = Field(default=1, ge=1, le=100, description='Above 1: `{"batch": [...]}` bodies')

    @model_validator(mode="after")
    def _rotation_needs_a_secret(self) -> WebhookSettings:
        if self.previous_secret and not self.secret:
            raise ValueError("`previous_secret` is only for rotating: set the new `secret` too")
        return self


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


class Webhook(DestinationType):
    name = "webhook"
    title = "Webhook"
    settings_model = WebhookSettings
    secret_headers = frozenset({"authorization", "x-api-key", SIGNATURE_HEADER.lower()})

    def map(self, event: dict[str, Any], settings: WebhookSettings) -> list[Item]:
        return [Item(EVENTS, event)]

    def limits(self, channel: str, settings: WebhookSettings) -> Limits:
        return Limits(max_items=settings.batch_size, max_bytes=MAX_REQUEST_BYTES, overhead_bytes=len(b'{"batch":}'))

    def hidden_values(self, settings: WebhookSettings) -> list[str]:
        """A URL's query and user info often carry a token: never shown in a sample."""
        parts = urlsplit(settings.url)
        return [value for value in (parts.query, parts.password) if value]

    def events_per_send(self, settings: WebhookSettings) -> int:
        return settings.batch_size

    def call(
        self, channel: str, payloads: Sequence[bytes], settings: WebhookSettings, context: CallContext
    ) -> HttpCall:
        body = b'{"batch":' + join_json_array(payloads) + b"}" if settings.batch_size > 1 else payloads[0]
        headers = {"User-Agent": USER_AGENT, **settings.headers}
        if settings.secret:
            keys = [settings.secret, settings.previous_secret] if settings.previous_secret else [settings.secret]
            headers.update(signature_headers(keys, body, int(context.now)))
        return HttpCall("POST", settings.url, body, headers)


WEBHOOK = Webhook()
