"""The outcome of one attempt to deliver, in the vocabulary Segment's users know."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

DELIVERED = "delivered"
RETRY = "retry"  # awaiting_retry.<code>
FINAL = "final"  # discarded.<code>: the destination refused it; retrying would not help


@dataclass(slots=True)
class Attempt:
    status: str
    code: str  # HTTP status ("200", "429", "503", "400") or a network error ("ETIMEDOUT", "ECONNREFUSED")
    retry_after: float | None = None
    request: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] = field(default_factory=dict)
    answered_at: float = 0.0  # epoch seconds when the destination answered (or the attempt ended)

    @property
    def label(self) -> str:
        if self.status == DELIVERED:
            return "delivered"
        return f"{'awaiting_retry' if self.status == RETRY else 'discarded'}.{self.code}"


def classify_status(status: int) -> str:
    """429, 408 and 5xx are worth retrying; other 4xx are final; 2xx is delivered."""
    if 200 <= status < 300:
        return DELIVERED
    if status in (408, 429) or status >= 500:
        return RETRY
    return FINAL


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    from email.utils import parsedate_to_datetime

    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)
