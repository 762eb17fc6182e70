"""Fakes for destination adapter tests: a scripted HTTP transport, credentials, and a compiled
destination built from a type's settings, as `switchyard apply` would store it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from switchyard.config.compiled import Destination, RetryPolicy
from switchyard.delivery.http import Answer
from switchyard.destinations.base import DestinationSettings

DEFAULT_RETRY = RetryPolicy(max_hours=4, initial_delay_seconds=5, max_delay_seconds=900)


def ok(url: str) -> Answer:
    return Answer(200, {}, b'{"code":200}', True)


class ScriptedHttp:
    """Answers each request with the next scripted answer, then with `default(url)`; keeps
    (url, body, headers) of every request."""

    def __init__(self, *answers: Answer, default: Callable[[str], Answer] = ok) -> None:
        self.answers = list(answers)
        self.default = default
        self.sent: list[tuple[str, bytes, dict[str, str]]] = []

    def request(self, method: str, url: str, *, body: bytes, headers: Mapping[str, str], deadline: float) -> Answer:
        self.sent.append((url, body, dict(headers)))
        return self.answers.pop(0) if self.answers else self.default(url)


class StaticCredentials:
    """What delivery would read from SSM for any destination."""

    def __init__(self, values: dict[str, Any]) -> None:
        self.values = values

    def get(self, destination_id: str) -> dict[str, Any]:
        return self.values


def stored_destination(
    destination_id: str, kind: str, settings: DestinationSettings, *, name: str | None = None
) -> Destination:
    """The destination as the config item holds it: public settings, the names of its credentials."""
    return Destination(
        id=destination_id,
        name=name or destination_id,
        type=kind,
        enabled=True,
        sources=("web",),
        settings=settings.public_settings(),
        rate_limit_per_second=100,
        concurrency=1,
        retry=DEFAULT_RETRY,
        credentials=tuple(sorted(settings.credentials())),
    )
