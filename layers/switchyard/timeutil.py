"""ISO-8601 parsing and formatting for event timestamps (UTC, millisecond precision)."""

from __future__ import annotations

from datetime import UTC, datetime


def parse_timestamp(value: object) -> datetime | None:
    """The instant an SDK sent, or None when it is absent or not a readable ISO-8601 string.

    Timestamps without an offset are taken as UTC, as the SDKs mean them.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed


def format_timestamp(moment: datetime) -> str:
    """`2026-11-30T09:25:21.123Z`: the form Segment stores."""
    text = moment.astimezone(UTC).isoformat(timespec="milliseconds")
    return text[:-6] + "Z"
