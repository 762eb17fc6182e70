"""Pure helpers the tools' mappings share: reading Segment's loosely typed fields, event times,
page and screen names.

Every one runs per event, most several times: they do the least work that keeps their meaning
(no intermediate objects, the common case first), since mapping is most of a tool's delivery CPU.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from types import MappingProxyType
from typing import Any

from switchyard.destinations.base import EventType
from switchyard.timeutil import parse_timestamp

# What a missing or malformed object reads as: shared, and read-only so no mapping fills it in.
EMPTY: Mapping[str, Any] = MappingProxyType({})

_EPOCH_UTC = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)
_from_iso = datetime.fromisoformat
# A plain string: an enum member's look-up costs more than the comparison (per event).
_SCREEN = EventType.SCREEN.value


def as_object(value: object) -> Mapping[str, Any]:
    """A JSON object, or an empty one in place of anything else (absent, null, a string...)."""
    return value if isinstance(value, dict) else EMPTY


def as_text(value: object) -> str | None:
    """A non-empty identifier as a string (numbers too, as SDKs sometimes send them)."""
    if isinstance(value, str):
        return value or None
    if value is None or isinstance(value, (bool, dict, list)):
        return None
    return str(value)


def put(target: dict[str, Any], key: str, value: object) -> None:
    """`target[key] = value` when the value is set (not None, not "")."""
    if value is not None and value != "":
        target[key] = value


def copy_fields(target: dict[str, Any], source: Mapping[str, Any], fields: Iterable[tuple[str, str]]) -> None:
    """`target[to] = source[from]` for each pair whose value is set (not None, not "")."""
    get = source.get
    for key, field in fields:
        value = get(key)
        if value is not None and value != "":
            target[field] = value


def copy_sections(
    target: dict[str, Any], context: Mapping[str, Any], sections: Iterable[tuple[str, Iterable[tuple[str, str]]]]
) -> None:
    """`copy_fields` from each section of the context present (`context.os`, `context.app`...), by
    a table of (section, fields); its loop inlined, as all sections take one call per event."""
    section_of = context.get
    for section, fields in sections:
        values = section_of(section)
        if values and isinstance(values, dict):
            value_of = values.get
            for key, field in fields:
                value = value_of(key)
                if value is not None and value != "":
                    target[field] = value


# -- time --------------------------------------------------------------------------------------


def event_time_ms(event: Mapping[str, Any]) -> int | None:
    """The event's `timestamp` (else when it was received) as epoch milliseconds, rounded down.

    Segment's `...Z` timestamp is read here at once (`utc_time`'s first case, inlined: a call less
    per event); anything else goes through `utc_time`."""
    value = event.get("timestamp")
    if value.__class__ is str and value[-1:] == "Z":  # type: ignore[index]
        try:
            moment = _from_iso(value)  # type: ignore[arg-type]
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is UTC:
            return (moment - _EPOCH_UTC) // _MILLISECOND
    moment = utc_time(value) or utc_time(event.get("receivedAt"))
    return None if moment is None else (moment - _EPOCH_UTC) // _MILLISECOND


def utc_time(value: object) -> datetime | None:
    """The instant `parse_timestamp` reads, as an aware UTC datetime.

    Segment's timestamps end in `Z` (ingest writes `2026-11-30T12:00:00.123Z`), which
    `fromisoformat` reads as UTC itself: one C call instead of parse_timestamp's several, and no
    `replace(tzinfo=...)` (slow in 3.11). Whatever it does not read so goes to `parse_timestamp`.
    """
    if value.__class__ is str and value[-1:] == "Z":  # type: ignore[index]
        try:
            moment = _from_iso(value)  # type: ignore[arg-type]
        except ValueError:
            moment = None  # e.g. "2026-11-30Z", which parse_timestamp reads without its "Z"
        if moment is not None and moment.tzinfo is UTC:
            return moment
    naive = parse_timestamp(value)
    return None if naive is None else naive.replace(tzinfo=UTC)


# -- pages and screens -------------------------------------------------------------------------


def page_event_name(kind: str, name: str | None, category: str | None, *, consolidated: bool) -> str:
    """Segment's names: "Viewed <category> <name> Page" (or Screen), "Loaded a Page" without either."""
    noun = "Screen" if kind == _SCREEN else "Page"
    if consolidated or not (name or category):
        return f"Loaded a {noun}"
    if name and category:
        return f"Viewed {category} {name} {noun}"
    return f"Viewed {name or category} {noun}"


def page_properties(name: str | None, category: str | None, properties: Mapping[str, Any]) -> Mapping[str, Any]:
    """A page's or screen's properties with its name and category, which stay queryable that way
    (the event's own keys win)."""
    if not (name or category):
        return properties
    named: dict[str, Any] = {}
    if name:
        named["name"] = name
    if category:
        named["category"] = category
    named.update(properties)
    return named
