"""Validation, enrichment and clock-skew correction of single messages."""

from __future__ import annotations

from datetime import datetime

import orjson
import pytest

from switchyard.ingest.messages import (
    AcceptedMessage,
    Discard,
    RequestContext,
    partition_key,
    process,
    process_all,
)

RECEIVED = datetime(2026, 11, 30, 12, 0, 0)
RECEIVED_TEXT = "2026-11-30T12:00:00.000Z"


def context(**overrides: object) -> RequestContext:
    values: dict[str, object] = {
        "source_id": "web",
        "region": "eu-west-1",
        "received_at": RECEIVED,
        "ip": "203.0.113.9",
    }
    values.update(overrides)
    return RequestContext(**values)  # type: ignore[arg-type]


def accept(message: dict, call_type: str | None = "track", **ctx: object) -> dict:
    result = process(message, call_type, context(**ctx), RECEIVED_TEXT)
    assert isinstance(result, AcceptedMessage), result
    return orjson.loads(result.data)


def reason(message: object, call_type: str | None = "track") -> str:
    result = process(message, call_type, context(), RECEIVED_TEXT)
    assert isinstance(result, Discard), result
    return result.reason


@pytest.mark.parametrize(
    ("message", "call_type", "expected"),
    [
        ({"event": "x"}, "track", "no_user_anon_id"),
        ({"userId": "", "anonymousId": None, "event": "x"}, "track", "no_user_anon_id"),
        ({"userId": "u"}, "track", "event_not_defined"),
        ({"userId": "u", "event": ""}, "track", "event_not_defined"),
        ({"userId": "u", "event": 12}, "track", "event_not_string"),
        ({"userId": "u", "event": "x", "properties": []}, "track", "properties_not_object"),
        ({"userId": "u", "traits": "vip"}, "identify", "traits_not_object"),
        ({"userId": "u", "context": 5}, "page", "context_not_object"),
        ({"userId": "u"}, "group", "group_id_not_defined"),
        ({"userId": "u"}, "alias", "previous_id_not_defined"),
        ({"anonymousId": "a", "previousId": "p"}, "alias", "no_user_id"),
        ({"userId": "u", "messageId": "m" * 101}, "screen", "message_id_too_long"),
        ({"userId": "u", "messageId": 7}, "screen", "message_id_not_string"),
        ({"userId": "u", "type": "purchase"}, None, "invalid_type"),
        ("not an object", None, "message_not_object"),
    ],
)
def test_invalid_messages_are_discarded_with_their_reason(message: object, call_type: str | None, expected: str):
    assert reason(message, call_type) == expected


def test_a_100_character_message_id_is_kept():
    assert accept({"userId": "u", "event": "x", "messageId": "m" * 100})["messageId"] == "m" * 100


def test_anonymous_id_null_beside_a_user_id_is_valid():
    assert accept({"userId": "u", "anonymousId": None, "event": "x"})["userId"] == "u"


def test_the_batch_item_type_is_used_when_the_path_does_not_set_one():
    assert accept({"type": "identify", "userId": "u", "traits": {"a": 1}}, call_type=None)["type"] == "identify"


def test_the_path_sets_the_type_over_what_the_message_says():
    assert accept({"type": "identify", "userId": "u", "event": "x"}, call_type="track")["type"] == "track"


def test_enrichment_adds_server_fields_and_removes_the_write_key():
    stored = accept({"userId": "u", "event": "Bought", "writeKey": "wk_secret", "_metadata": {"x": 1}})
    assert "writeKey" not in stored
    assert stored["receivedAt"] == RECEIVED_TEXT
    assert stored["timestamp"] == RECEIVED_TEXT
    assert stored["projectId"] == "web"
    assert stored["receivedRegion"] == "eu-west-1"
    assert stored["context"] == {"ip": "203.0.113.9"}
    assert stored["integrations"] == {}
    assert stored["_metadata"] == {"x": 1}, "unknown keys are kept"
    assert len(stored["messageId"]) == 36


def test_a_message_id_sent_is_kept():
    assert accept({"userId": "u", "event": "x", "messageId": "abc"})["messageId"] == "abc"


def test_context_ip_sent_by_the_client_wins():
    assert accept({"userId": "u", "event": "x", "context": {"ip": "10.0.0.1"}})["context"]["ip"] == "10.0.0.1"


def test_clock_skew_is_corrected_with_sent_at():
    # The device clock is 10 minutes fast: it stamped the event at 12:05 and sent it at 12:09:30.
    stored = accept(
        {
            "userId": "u",
            "event": "x",
            "timestamp": "2026-11-30T12:05:00Z",
            "sentAt": "2026-11-30T12:09:30.000Z",
        }
    )
    assert stored["originalTimestamp"] == "2026-11-30T12:05:00Z"
    assert stored["timestamp"] == "2026-11-30T11:55:30.000Z"
    assert stored["sentAt"] == "2026-11-30T12:09:30.000Z"


def test_batch_sent_at_applies_to_items_without_their_own():
    stored = accept(
        {"userId": "u", "event": "x", "timestamp": "2026-11-30T11:59:00+00:00"},
        sent_at="2026-11-30T12:00:00+00:00",
    )
    assert stored["timestamp"] == "2026-11-30T11:59:00.000Z"
    assert stored["sentAt"] == "2026-11-30T12:00:00+00:00"


def test_without_sent_at_the_client_timestamp_is_taken_as_it_is():
    stored = accept({"userId": "u", "event": "x", "timestamp": "2026-11-29T08:00:00.250+01:00"})
    assert stored["timestamp"] == "2026-11-29T07:00:00.250Z"


def test_an_unreadable_client_timestamp_is_kept_as_original_but_not_trusted():
    stored = accept({"userId": "u", "event": "x", "timestamp": "yesterday", "sentAt": "2026-11-30T12:00:00Z"})
    assert stored["originalTimestamp"] == "yesterday"
    assert stored["timestamp"] == RECEIVED_TEXT


def test_batch_context_and_integrations_merge_with_the_items_keys_winning():
    stored = accept(
        {"userId": "u", "event": "x", "context": {"locale": "fr"}, "integrations": {"Amplitude": False}},
        context={"locale": "en", "library": {"name": "analytics-python"}},
        integrations={"All": True, "Amplitude": True},
    )
    assert stored["context"] == {"locale": "fr", "library": {"name": "analytics-python"}, "ip": "203.0.113.9"}
    assert stored["integrations"] == {"All": True, "Amplitude": False}


def test_an_oversize_message_is_discarded():
    assert reason({"userId": "u", "event": "x", "properties": {"blob": "x" * 40_000}}) == "message_too_large"


def test_a_message_just_under_the_sdk_limit_is_accepted_after_enrichment():
    message = {"userId": "u", "event": "x", "properties": {"blob": "x" * (32 * 1024 - 100)}}
    assert accept(message)["properties"]["blob"]


def test_nesting_too_deep_to_store_is_discarded():
    nested: dict = {}
    cursor = nested
    for _ in range(300):
        cursor["a"] = {}
        cursor = cursor["a"]
    assert reason({"userId": "u", "event": "x", "properties": nested}) == "message_too_deep"


def test_partition_key_prefers_the_anonymous_id_so_a_device_stays_in_order():
    assert partition_key("web", {"anonymousId": "a1", "userId": "u1"}) == "web/a1"
    assert partition_key("web", {"userId": "u1"}) == "web/u1"


def test_long_partition_keys_are_hashed_to_fit_kinesis():
    key = partition_key("web", {"userId": "u" * 400})
    assert len(key) <= 256
    assert key == partition_key("web", {"userId": "u" * 400})


def test_a_type_that_is_not_a_string_is_a_discard_not_a_crash():
    assert reason({"userId": "u", "type": ["track"]}, call_type=None) == "invalid_type"


@pytest.mark.parametrize(
    ("fields", "batch_sent_at"),
    [
        ({"timestamp": "0001-01-01T00:00:00+01:00"}, None),
        ({"timestamp": "9999-12-31T23:59:59-01:00"}, None),
        ({"originalTimestamp": "0001-01-01T00:00:00+01:00"}, None),
        # The corrected time, received + (timestamp - sentAt), falls after year 9999.
        ({"timestamp": "9999-12-31T23:59:59Z", "sentAt": "2026-11-29T12:00:00Z"}, None),
        ({"timestamp": "9999-12-31T23:59:59Z"}, "2026-11-29T12:00:00Z"),
        # ... or before year 1.
        ({"timestamp": "0001-01-01T00:00:00Z", "sentAt": "2026-12-01T12:00:00Z"}, None),
    ],
)
def test_a_time_outside_years_1_to_9999_is_that_messages_discard_not_a_crash(
    fields: dict[str, str], batch_sent_at: str | None
):
    message = {"userId": "u", "event": "x", **fields}
    result = process(message, "track", context(sent_at=batch_sent_at), RECEIVED_TEXT)
    assert isinstance(result, Discard), result
    assert result.reason == "timestamp_out_of_range"


@pytest.mark.parametrize(
    ("timestamp", "sent_at", "expected"),
    [
        # A device whose clock is at the end of time: converting either time to UTC alone would
        # overflow, the correction (receivedAt - (sentAt - timestamp)) does not.
        ("9999-12-31T23:00:00-01:00", "9999-12-31T23:30:00-01:00", "2026-11-30T11:30:00.000Z"),
        ("0001-01-01T00:30:00+01:00", "0001-01-01T00:40:00+01:00", "2026-11-30T11:50:00.000Z"),
        ("9999-12-31T23:00:00-01:00", "9999-12-31T23:59:59.999Z", "2026-11-30T12:00:00.001Z"),
    ],
)
def test_clock_skew_correction_works_near_the_ends_of_time(timestamp: str, sent_at: str, expected: str):
    stored = accept({"userId": "u", "event": "x", "timestamp": timestamp, "sentAt": sent_at})
    assert stored["timestamp"] == expected
    assert stored["originalTimestamp"] == timestamp


def test_an_out_of_range_sent_at_alone_is_not_used_for_correction():
    # Without a readable timestamp there is nothing to correct: receivedAt, as for no timestamp.
    stored = accept({"userId": "u", "event": "x", "sentAt": "0001-01-01T00:00:00+01:00"})
    assert stored["timestamp"] == RECEIVED_TEXT


def test_an_integer_orjson_made_a_float_is_discarded_once_the_exact_text_confirms_it():
    # orjson parses 18446744073709551616 as the float 1.8446744073709552e19; the request's exact
    # messages (parsed again only when a stored message holds such a float) tell the two apart.
    parsed = [{"userId": "u", "properties": {"n": 2.0**64}}, {"userId": "u", "properties": {"n": 2.0**64}}]
    exact = [{"userId": "u", "properties": {"n": 2**64}}, {"userId": "u", "properties": {"n": 2.0**64}}]
    request = context(exact_messages=lambda: exact)
    first, second = process_all(parsed, "identify", request, RECEIVED_TEXT)
    assert isinstance(first, Discard) and first.reason == "integer_out_of_range"
    assert isinstance(second, AcceptedMessage), "a float literal stays a float"


def test_the_exact_messages_are_not_parsed_for_ordinary_messages():
    def never() -> list:
        raise AssertionError("parsed again without need")

    message = {"userId": "u", "event": "x", "timestamp": "2026-11-30T12:00:00+00:00", "properties": {"n": 1.5e3}}
    [result] = process_all([message], "track", context(exact_messages=never), RECEIVED_TEXT)
    assert isinstance(result, AcceptedMessage)
