"""The webhook adapter with fakes: credentials come from the injected store, never from settings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from switchyard.config.compiled import Destination
from switchyard.delivery.attempts import DELIVERED, RETRY
from switchyard.delivery.http import Answer
from switchyard.delivery.webhook import WebhookAdapter, verify_signature

NOW = 1_800_000_000


class FakeHttp:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    def request(self, method: str, url: str, *, body: bytes, headers: Mapping[str, str], deadline: float) -> Answer:
        self.sent.append((url, body, dict(headers)))
        return Answer(200, {}, b"ok", True)


class FakeCredentials:
    def __init__(self, values: dict[str, dict[str, Any]]) -> None:
        self.values = values

    def get(self, destination_id: str) -> dict[str, Any]:
        return self.values.get(destination_id, {})


def hook(credentials: tuple[str, ...] = ("headers", "secret")) -> Destination:
    return Destination(
        id="hook",
        name="hook",
        type="webhook",
        enabled=True,
        sources=("web",),
        settings={"url": "https://hooks.example.com/in", "timeout_seconds": 5},
        rate_limit_per_second=10,
        concurrency=1,
        retry={"max_hours": 1, "initial_delay_seconds": 1, "max_delay_seconds": 2},
        credentials=credentials,
    )


def test_headers_and_signature_come_from_the_credentials_and_are_hidden_in_samples():
    http = FakeHttp()
    credentials = FakeCredentials({"hook": {"secret": "whsec_123456", "headers": {"X-Api-Key": "key_abc"}}})
    adapter = WebhookAdapter(http, credentials, clock=lambda: NOW)  # type: ignore[arg-type]
    attempt = adapter.send(hook(), [{"messageId": "m1"}], deadline=1e12)
    assert attempt.status == DELIVERED
    (_, body, headers) = http.sent[0]
    assert headers["X-Api-Key"] == "key_abc"
    assert verify_signature("whsec_123456", headers, body, now=NOW)
    shown = str(attempt.request)
    assert "key_abc" not in shown and headers["X-Switchyard-Signature"] not in shown


def test_credentials_not_stored_yet_mean_later_never_unsigned():
    http = FakeHttp()
    attempt = WebhookAdapter(http, FakeCredentials({})).send(hook(), [{"messageId": "m1"}], deadline=1e12)  # type: ignore[arg-type]
    assert (attempt.status, attempt.code) == (RETRY, "credentials_unavailable")
    assert http.sent == []


def test_an_unreadable_store_means_later():
    class Broken:
        def get(self, destination_id: str) -> dict[str, Any]:
            raise ConnectionError("ssm unreachable")

    attempt = WebhookAdapter(FakeHttp(), Broken()).send(hook(), [{"messageId": "m1"}], deadline=1e12)  # type: ignore[arg-type]
    assert (attempt.status, attempt.code) == (RETRY, "credentials_unavailable")


def test_a_destination_without_credentials_does_not_read_the_store():
    class Unused:
        def get(self, destination_id: str) -> dict[str, Any]:
            raise AssertionError("no credentials to read")

    http = FakeHttp()
    attempt = WebhookAdapter(http, Unused()).send(hook(credentials=()), [{"messageId": "m1"}], deadline=1e12)  # type: ignore[arg-type]
    assert attempt.status == DELIVERED
    assert "X-Switchyard-Signature" not in http.sent[0][2]
