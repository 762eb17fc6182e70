"""The helpers the tools' mappings share: loose fields read as Segment means them, event times as
`parse_timestamp` reads them (by a faster path), page and screen names."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from switchyard.destinations.mapping import (
    EMPTY,
    as_object,
    as_text,
    copy_fields,
    copy_sections,
    event_time_ms,
    page_event_name,
    page_properties,
    put,
    utc_time,
)
from switchyard.timeutil import parse_timestamp

EPOCH = datetime(1970, 1, 1)
MILLISECOND = timedelta(milliseconds=1)

# Timestamps as SDKs and ingest write them, and what they should not be mistaken for.
TIMESTAMPS: list[object] = [
    "2026-11-30T09:25:21.123Z",
    "2026-11-30T09:25:21Z",
    "2026-11-30T09:25:21.123456Z",
    "2026-11-30T09:25:21.1234567Z",
    "2026-11-30T09:25:21,5Z",
    "2026-11-30 09:25:21.123Z",
    "20261130T092521Z",
    "2026-W48-1T09:25Z",
    "2026-11-30T09Z",
    "2026-11-30Z",  # fromisoformat refuses the Z after a date; parse_timestamp reads the date
    "2026-11-30",
    "2026-11-30T10:25:21.123+01:00",
    "2026-11-30T09:25:21.123+00:00Z",
    "2026-11-30T09:25:21.123",
    "1969-12-31T23:59:59.9995Z",  # before the epoch: rounded down, to -1 ms
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00+01:00",  # in year 0 once in UTC: no instant
    "9999-12-31T23:59:59.999999Z",
    "9999-12-31T23:59:59-01:00",  # in year 10000 once in UTC: no instant
    "2026-11-30T24:00:00Z",
    "2026-11-30T09:25:21.123z",
    "Z",
    "",
    "yesterday",
    None,
    1_796_030_721,
    1.5,
    ["2026-11-30T09:25:21.123Z"],
]


def reference_ms(value: object) -> int | None:
    moment = parse_timestamp(value)
    return None if moment is None else (moment - EPOCH) // MILLISECOND


# -- loose fields ------------------------------------------------------------------------------


def test_an_object_is_itself_and_anything_else_reads_as_an_empty_one():
    traits = {"plan": "pro"}
    assert as_object(traits) is traits
    for other in (None, "x", 1, [], ["a"]):
        assert as_object(other) is EMPTY
    with pytest.raises(TypeError):
        EMPTY["x"] = 1  # type: ignore[index]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("u1", "u1"),
        ("", None),
        (None, None),
        (True, None),
        (False, None),
        ({"id": 1}, None),
        (["u1"], None),
        (0, "0"),
        (12345, "12345"),
        (1.5, "1.5"),
    ],
)
def test_text_is_a_non_empty_identifier_numbers_included(value: object, expected: str | None):
    assert as_text(value) == expected


def test_put_and_copy_fields_skip_only_what_is_unset():
    target: dict[str, Any] = {}
    for key, value in (("none", None), ("empty", ""), ("zero", 0), ("false", False), ("text", "x")):
        put(target, key, value)
    assert target == {"zero": 0, "false": False, "text": "x"}

    copied: dict[str, Any] = {"kept": 1}
    source = {"a": "x", "b": None, "c": "", "d": 0}
    copy_fields(copied, source, (("a", "$a"), ("b", "$b"), ("c", "$c"), ("d", "$d"), ("missing", "$m")))
    assert copied == {"kept": 1, "$a": "x", "$d": 0}


def test_copy_sections_reads_the_sections_present_in_table_order():
    table = (
        ("os", (("name", "os_name"), ("version", "os_version"))),
        ("app", (("version", "app_version"),)),
        ("device", (("model", "model"),)),
        ("network", (("carrier", "carrier"),)),
    )
    context = {"app": {"version": "3.5"}, "os": {"name": "iOS", "version": ""}, "device": "not an object"}
    target: dict[str, Any] = {}
    copy_sections(target, context, table)
    assert list(target.items()) == [("os_name", "iOS"), ("app_version", "3.5")]
    copy_sections(target, EMPTY, table)
    assert list(target) == ["os_name", "app_version"]


# -- time --------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", TIMESTAMPS, ids=repr)
def test_event_time_reads_what_parse_timestamp_reads(value: object):
    assert event_time_ms({"timestamp": value}) == reference_ms(value)


@pytest.mark.parametrize("value", TIMESTAMPS, ids=repr)
def test_utc_time_is_parse_timestamps_instant_made_aware(value: object):
    naive = parse_timestamp(value)
    moment = utc_time(value)
    if naive is None:
        assert moment is None
    else:
        assert moment == naive.replace(tzinfo=UTC)
        assert moment.tzinfo is UTC
        assert moment.replace(tzinfo=None) == naive


def test_known_instants_in_milliseconds():
    def ms(timestamp: str) -> int | None:
        return event_time_ms({"timestamp": timestamp})

    assert ms("2026-11-30T09:25:21.123Z") == 1_796_030_721_123
    assert ms("2026-11-30T10:25:21.123999+01:00") == 1_796_030_721_123  # rounded down
    assert ms("1969-12-31T23:59:59.9995Z") == -1
    assert ms("0001-01-01T00:00:00+01:00") is None


@pytest.mark.parametrize("timestamp", TIMESTAMPS, ids=repr)
@pytest.mark.parametrize("received_at", ["2026-11-30T09:25:22.000Z", "nope", None])
def test_event_time_is_the_timestamp_else_when_it_was_received(timestamp: object, received_at: object):
    event = {"timestamp": timestamp, "receivedAt": received_at}
    expected = reference_ms(timestamp)
    assert event_time_ms(event) == (expected if expected is not None else reference_ms(received_at))


def test_an_event_without_any_time_has_none():
    assert event_time_ms({}) is None
    assert event_time_ms({"timestamp": "nope"}) is None


# -- pages and screens -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "name", "category", "consolidated", "expected"),
    [
        ("page", "Settings", "Merchant", False, "Viewed Merchant Settings Page"),
        ("page", "Home", None, False, "Viewed Home Page"),
        ("page", None, "Docs", False, "Viewed Docs Page"),
        ("page", None, None, False, "Loaded a Page"),
        ("screen", "Home", None, False, "Viewed Home Screen"),
        ("screen", None, None, False, "Loaded a Screen"),
        ("page", "Home", "Docs", True, "Loaded a Page"),
        ("screen", "Home", None, True, "Loaded a Screen"),
    ],
)
def test_page_event_names_as_segment_gives_them(
    kind: str, name: str | None, category: str | None, consolidated: bool, expected: str
):
    assert page_event_name(kind, name, category, consolidated=consolidated) == expected


def test_page_properties_carry_the_name_and_category_unless_the_event_sets_them():
    properties = {"url": "https://example.com/", "name": "Own"}
    assert page_properties(None, None, properties) is properties
    merged = page_properties("Home", "Docs", properties)
    assert list(merged.items()) == [("name", "Own"), ("category", "Docs"), ("url", "https://example.com/")]
    assert properties == {"url": "https://example.com/", "name": "Own"}  # not changed
    assert page_properties(None, "Docs", EMPTY) == {"category": "Docs"}
