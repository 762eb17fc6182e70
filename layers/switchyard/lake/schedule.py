"""Which hours the hourly run loads: closed hours whose archive changed since their last load.

An hour is closed once the router has caught up past its end (its iterator age, plus a margin for
the batching window and the archive write). Each run looks back LOOK_BACK_HOURS, so an hour that
failed, or that received late records (a router catching up after an outage, a replayed shard), is
loaded again by a later run without anyone asking; older hours are `switchyard lake load --from`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

from switchyard.lake.hours import Hour
from switchyard.router.archive import hours_between as archive_hours

LOOK_BACK_HOURS = 6
CLOSE_MARGIN = timedelta(minutes=2)


def closed_before(now: datetime, router_lag_seconds: float) -> datetime:
    """Hours ending before this are complete in the archive."""
    return now - timedelta(seconds=router_lag_seconds) - CLOSE_MARGIN


def due_hours(
    now: datetime,
    sources: Iterable[str],
    router_lag_seconds: float,
    archived_at: Callable[[Hour], datetime | None],
    loaded_at: Callable[[Hour], datetime | None],
) -> list[Hour]:
    """The closed hours of the look-back window whose newest archive object is newer than their last
    load (or that were never loaded), oldest first."""
    limit = closed_before(now, router_lag_seconds)
    latest_start = (now - timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    due = []
    for source_id in sources:
        for back in range(LOOK_BACK_HOURS):
            hour = Hour.of(source_id, latest_start - timedelta(hours=back))
            if hour.start() + timedelta(hours=1) > limit:
                continue
            archived = archived_at(hour)
            if archived is None:
                continue
            loaded = loaded_at(hour)
            if loaded is None or archived > loaded:
                due.append(hour)
    return sorted(due, key=lambda hour: (hour.date, hour.hour, hour.source_id))


def hours_between(source_ids: Iterable[str], start: datetime, end: datetime) -> list[Hour]:
    """Every hour from the one holding `start` to the one holding `end`, for each source (the
    archive's partitions of [start, end], one microsecond being the times' resolution)."""
    partitions = archive_hours(start, end + timedelta(microseconds=1))
    return [Hour(source_id, date, hour) for source_id in source_ids for date, hour in partitions]
