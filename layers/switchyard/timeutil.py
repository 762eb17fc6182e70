"""ISO-8601 parsing and formatting for event timestamps.

Internally instants are naive datetimes in UTC: on the ingest hot path that halves the cost of
formatting (an aware datetime's isoformat is twice as slow) and of arithmetic.
"""

from __future__ import annotations

from datetime import UTC, datetime


def parse_timestamp(value: object) -> datetime | None:
    """The instant an SDK sent, as naive UTC; None when absent, not a readable ISO-8601 string, or
    outside what a datetime holds in UTC (`0001-01-01T00:00:00+01:00` is in year 0).

    Timestamps without an offset are taken as UTC, as the SDKs mean them.
    """
    parsed = parse_wall_time(value)
    if parsed is None:
        return None
    offset = parsed.utcoffset()
    if offset is not None:
        try:
            return (parsed - offset).replace(tzinfo=None)
        except OverflowError:
            return None
    return parsed


def parse_wall_time(value: object) -> datetime | None:
    """The time as written: aware when it has an offset, naive (meaning UTC) when not.

    Not converted to UTC: near years 1 and 9999 that overflows, while differences between two
    such times (clock-skew correction) are fine as timedeltas.
    """
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value[:-1] if value[-1] == "Z" else value)
    except ValueError:
        return None


MINUTE_FORMAT = "%Y-%m-%dT%H:%M"  # the sort key of per-minute counter items (delivery/table.py)


def minute_key(at: datetime) -> str:
    return at.strftime(MINUTE_FORMAT)


def utc_now() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


def format_timestamp(moment: datetime) -> str:
    """`2026-11-30T09:25:21.123Z`, the form Segment stores, from naive UTC (or an aware instant)."""
    if moment.tzinfo is not None:
        moment = moment.astimezone(UTC).replace(tzinfo=None)
    return moment.isoformat("T", "milliseconds") + "Z"
