"""A generated request as it goes on the wire, and the answer that came back."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Request:
    method: str
    path: str  # percent-encoded, as in the request line
    query: str = ""  # the raw query string, without "?"
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""
    # What the generator knows, for the checks:
    origin: str = ""  # e.g. "schemathesis:negative POST /v1/track" or "hostile:gzip-truncated"
    clean: bool = False  # built only from valid parts: must be a 200 and (when tagged) land in the stream
    tags: list[str] = field(default_factory=list)  # messageIds of the messages it carries
    secrets: list[str] = field(default_factory=list)  # keys, tokens and ids no answer may contain
    expected_accepted: int | None = None  # source-function webhooks: how many messages must be accepted

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((value for key, value in self.headers if key.lower() == lowered), None)

    def describe(self, limit: int = 600) -> str:
        """A readable one-liner for reports (bodies cut short)."""
        body = self.body[:limit]
        shown: Any
        try:
            shown = json.loads(body) if len(self.body) <= limit else body
        except ValueError:
            shown = body
        query = f"?{self.query[:limit]}" if self.query else ""
        return f"{self.method} {self.path[:limit]}{query} headers={self.headers} body={shown!r} [{self.origin}]"


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes
    seconds: float
    gateway: bool = False  # answered by (the emulation of) API Gateway, not by the handler

    def json(self) -> Any:
        return json.loads(self.body)
