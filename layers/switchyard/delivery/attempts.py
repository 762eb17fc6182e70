"""The outcome of one attempt to deliver, in the vocabulary Segment's users know."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import Any


class AttemptStatus(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # awaiting_retry.<code>
    FINAL = "final"  # discarded.<code>: the destination refused it; retrying would not help
    UNSUPPORTED = "unsupported"  # filtered.<code>: nothing of it is for this destination (no failure)


@dataclass(slots=True)
class Attempt:
    status: AttemptStatus
    code: str  # HTTP status ("200", "429", "503", "400") or a network error ("ETIMEDOUT", "ECONNREFUSED")
    retry_after: float | None = None
    request: dict[str, Any] = field(default_factory=dict)
    response: dict[str, Any] = field(default_factory=dict)
    answered_at: float = 0.0  # epoch seconds when the destination answered (or the attempt ended)
    omitted: tuple[str, ...] = ()  # what the adapter left out of the event to meet the tool's limits
    final_from_attempt: int | None = None  # a RETRY that is final from this attempt (receive) on

    def final_at(self, attempt_number: int) -> Attempt:
        """This attempt as it stands on the event's `attempt_number`-th attempt."""
        final_from = self.final_from_attempt
        if self.status is AttemptStatus.RETRY and final_from is not None and attempt_number >= final_from:
            return replace(self, status=AttemptStatus.FINAL, retry_after=None)
        return self

    @property
    def label(self) -> str:
        return (
            f"{_LABEL_PREFIX[self.status]}.{self.code}" if self.status is not AttemptStatus.DELIVERED else "delivered"
        )


_LABEL_PREFIX = {
    AttemptStatus.RETRY: "awaiting_retry",
    AttemptStatus.FINAL: "discarded",
    AttemptStatus.UNSUPPORTED: "filtered",
}


def classify_status(status: int) -> AttemptStatus:
    """408, 423, 429 and 5xx but 501 (Not Implemented) are worth retrying; other 4xx are final."""
    if 200 <= status < 300:
        return AttemptStatus.DELIVERED
    if status in (408, 423, 429) or (status >= 500 and status != 501):
        return AttemptStatus.RETRY
    return AttemptStatus.FINAL


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, moment.timestamp() - now)
