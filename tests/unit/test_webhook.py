"""The webhook type through the generic driver, with fakes: credentials come from the injected
store, never from settings, and never show in a sample."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from switchyard.config.compiled import Destination, RetryPolicy
from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.http import Answer
from switchyard.destinations.driver import ToolAdapter
from switchyard.destinations.webhook import WEBHOOK, verify_signature

DELIVERED, RETRY = AttemptStatus.DELIVERED, AttemptStatus.RETRY

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


def hook(
    credentials: tuple[str, ...] = ("headers", "secret"),
    url: str = "https://hooks.example.com/in",
    batch_size: int = 1,
) -> Destination:
    return Destination(
        id="hook",
        name="hook",
        type="webhook",
        enabled=True,
        sources=("web",),
        settings={"url": url, "timeout_seconds": 5, "batch_size": batch_size},
        rate_limit_per_second=10,
        concurrency=1,
        retry=RetryPolicy(max_hours=1, initial_delay_seconds=1, max_delay_seconds=2),
        credentials=credentials,
    )


def adapter(http: Any, credentials: Any = None) -> ToolAdapter:
    return ToolAdapter(WEBHOOK, "us-west-2", http=http, credentials=credentials, clock=lambda: NOW)


def test_headers_and_signature_come_from_the_credentials_and_are_hidden_in_samples():
    http = FakeHttp()
    credentials = FakeCredentials({"hook": {"secret": "whsec_123456", "headers": {"X-Api-Key": "key_abc"}}})
    [attempt] = adapter(http, credentials).send(hook(), [{"messageId": "m1"}], deadline=1e12)
    assert attempt.status == DELIVERED
    (_, body, headers) = http.sent[0]
    assert headers["X-Api-Key"] == "key_abc"
    assert verify_signature("whsec_123456", headers, body, now=NOW)
    shown = str(attempt.request)
    assert "key_abc" not in shown and headers["X-Switchyard-Signature"] not in shown


def test_credentials_not_stored_yet_mean_later_never_unsigned():
    http = FakeHttp()
    [attempt] = adapter(http, FakeCredentials({})).send(hook(), [{"messageId": "m1"}], deadline=1e12)
    assert (attempt.status, attempt.code) == (RETRY, "credentials_unavailable")
    assert http.sent == []


def test_an_unreadable_store_means_later():
    class Broken:
        def get(self, destination_id: str) -> dict[str, Any]:
            raise ConnectionError("ssm unreachable")

    [attempt] = adapter(FakeHttp(), Broken()).send(hook(), [{"messageId": "m1"}], deadline=1e12)
    assert (attempt.status, attempt.code) == (RETRY, "credentials_unavailable")


def test_a_destination_without_credentials_does_not_read_the_store():
    class Unused:
        def get(self, destination_id: str) -> dict[str, Any]:
            raise AssertionError("no credentials to read")

    http = FakeHttp()
    [attempt] = adapter(http, Unused()).send(hook(credentials=()), [{"messageId": "m1"}], deadline=1e12)
    assert attempt.status == DELIVERED
    assert "X-Switchyard-Signature" not in http.sent[0][2]


def test_batches_of_batch_size_go_as_one_body_each():
    http = FakeHttp()
    events = [{"messageId": f"m{i}"} for i in range(5)]
    attempts = adapter(http).send(hook(credentials=(), batch_size=2), events, deadline=1e12)
    assert [attempt.status for attempt in attempts] == [DELIVERED] * 5
    assert [orjson.loads(body) for _, body, _ in http.sent] == [
        {"batch": events[0:2]},
        {"batch": events[2:4]},
        {"batch": events[4:5]},
    ]


def test_a_token_in_the_url_never_shows_in_a_sample():
    http = FakeHttp()
    url = "https://user:pw-1234@hooks.example.com/in?token=tok_98765"
    [attempt] = adapter(http).send(hook(credentials=(), url=url), [{"messageId": "m1"}], deadline=1e12)
    assert http.sent[0][0] == url
    assert attempt.request["url"] == "https://user:<redacted>@hooks.example.com/in?<redacted>"
