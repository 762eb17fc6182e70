"""Parsing and formatting event times."""

from __future__ import annotations

from datetime import datetime

import pytest

from switchyard.timeutil import parse_timestamp


@pytest.mark.parametrize("text", ["0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00"])
def test_an_instant_outside_what_utc_can_hold_is_unreadable_not_an_overflow(text: str):
    assert parse_timestamp(text) is None


def test_offsets_are_converted_to_naive_utc():
    assert parse_timestamp("2026-11-30T01:00:00+02:00") == datetime(2026, 11, 29, 23, 0)
    assert parse_timestamp("2026-11-30T01:00:00Z") == datetime(2026, 11, 30, 1, 0)
