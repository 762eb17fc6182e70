"""`type: eventbridge`: settings, the entry each call becomes, packing within PutEvents' limits, and
per-entry verdicts, with a fake client and with botocore against moto."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from typing import Any

import botocore.session
import orjson
import pytest
from moto import mock_aws
from pydantic import ValidationError

from switchyard.config.compiled import Destination
from switchyard.delivery.attempts import AttemptStatus
from switchyard.destinations.base import AwsCall, CallContext, Unsupported
from switchyard.destinations.driver import ITEM_TOO_LARGE, ToolAdapter
from switchyard.destinations.eventbridge import EVENTBRIDGE, EventBridgeSettings
from tests.support.destinations import stored_destination

DELIVERED, RETRY, FINAL = AttemptStatus.DELIVERED, AttemptStatus.RETRY, AttemptStatus.FINAL
REGION = "us-west-2"
NOW = 1_800_000_000
BUS = "analytics"
TIMESTAMP = "2026-11-30T09:25:21.123Z"
TIME = datetime(2026, 11, 30, 9, 25, 21, 123000, tzinfo=UTC)
# PutEvents' limits as AWS documents them, not as the module under test says.
MAX_ENTRIES_PER_CALL = 10
MAX_CALL_BYTES = 256 * 1024

EVENTS = {
    "identify": {"type": "identify", "userId": "u1", "traits": {"plan": "pro", "name": "Zoë"}},
    "track": {"type": "track", "userId": "u1", "event": "Order Completed", "properties": {"revenue": 12.5}},
    "page": {"type": "page", "anonymousId": "a1", "name": "Pricing", "properties": {"path": "/pricing"}},
    "screen": {"type": "screen", "userId": "u1", "name": "Home"},
    "group": {"type": "group", "userId": "u1", "groupId": "g1", "traits": {"employees": 40}},
    "alias": {"type": "alias", "userId": "u1", "previousId": "a1"},
}


def event(call: str, number: int = 1, **extra: Any) -> dict[str, Any]:
    return {**EVENTS[call], "messageId": f"m-{call}-{number}", "timestamp": TIMESTAMP, **extra}


def settings(**overrides: Any) -> EventBridgeSettings:
    return EventBridgeSettings(event_bus_name=BUS, **overrides)


def destination(**overrides: Any) -> Destination:
    return stored_destination("bus", "eventbridge", settings(**overrides))


def entry_of(one: dict[str, Any], **overrides: Any) -> dict[str, Any]:
    """The PutEvents entry of one event, through map, the driver's serialization and call."""
    mapped = EVENTBRIDGE.map(one, settings(**overrides))
    assert isinstance(mapped, list) and len(mapped) == 1
    call = EVENTBRIDGE.call(mapped[0].channel, [orjson.dumps(mapped[0].payload)], settings(**overrides), CONTEXT)
    (entry,) = call.params["Entries"]
    return entry


def aws_entry_size(entry: dict[str, Any]) -> int:
    """An entry's size as the EventBridge user guide computes it ("Calculating PutEvents entry size")."""
    size = 14 if "Time" in entry else 0
    size += len(entry["Source"].encode()) + len(entry["DetailType"].encode()) + len(entry["Detail"].encode())
    return size + sum(len(resource.encode()) for resource in entry["Resources"])


CONTEXT = CallContext(REGION, NOW)


class FakeEvents:
    """An `events` client that records the calls and answers each with `answer(entries)`."""

    def __init__(self, answer: Any = None) -> None:
        self.calls: list[list[dict[str, Any]]] = []
        self._answer = answer or (lambda entries: {"FailedEntryCount": 0, "Entries": [{"EventId": "e"}] * len(entries)})

    def put_events(self, *, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803 - botocore's name
        self.calls.append(Entries)
        return self._answer(Entries)


def adapter(client: Any) -> ToolAdapter:
    return ToolAdapter(EVENTBRIDGE, REGION, aws_clients=lambda service: client, clock=lambda: NOW)


# Settings.


def test_defaults_name_the_call_and_switchyard():
    assert settings().source == "switchyard"
    assert settings().detail_type == "{type}"
    assert EVENTBRIDGE.hosts is None  # botocore's endpoint (AWS_ENDPOINT_URL locally), no `endpoint` setting


@pytest.mark.parametrize(
    ("overrides", "problem"),
    [
        ({"event_bus_name": f"arn:aws:events:{REGION}:123456789012:event-bus/{BUS}"}, "name, not its ARN"),
        ({"event_bus_name": "aws.partner/example.com/123/bus"}, "event_bus_name"),
        ({"event_bus_name": ""}, "event_bus_name"),
        ({"event_bus_name": "b" * 257}, "event_bus_name"),
        ({"source": "aws.events"}, "reserved for AWS"),
        ({"source": ""}, "source"),
        ({"detail_type": "{type}.{name}"}, "placeholders"),
        ({"detail_type": "x" * 129}, "detail_type"),
        ({"endpoint": "http://localhost:4566"}, "endpoint"),
    ],
)
def test_settings_refuse_what_putevents_or_the_grant_cannot_take(overrides: dict[str, Any], problem: str):
    with pytest.raises(ValidationError, match=problem):
        EventBridgeSettings.model_validate({"event_bus_name": BUS, **overrides})


def test_bus_names_putevents_accepts_are_accepted():
    for name in ("default", "analytics.events-prod_1"):
        assert EventBridgeSettings(event_bus_name=name).event_bus_name == name


# The entry of each call.


@pytest.mark.parametrize("call", sorted(EVENTS))
def test_each_call_is_one_entry_with_the_event_as_detail(call: str):
    one = event(call)
    entry = entry_of(one)
    assert entry == {
        "EventBusName": BUS,
        "Source": "switchyard",
        "DetailType": call,
        "Detail": entry["Detail"],
        "Resources": [],
        "Time": TIME,
    }
    assert json.loads(entry["Detail"]) == one


def test_an_unknown_call_has_no_entry():
    assert EVENTBRIDGE.map({"type": "batch", "messageId": "m"}, settings()) == Unsupported("unknown_call")
    assert EVENTBRIDGE.map({"messageId": "m"}, settings()) == Unsupported("unknown_call")


@pytest.mark.parametrize(
    ("template", "call", "expected"),
    [
        ("{type}", "track", "track"),
        ("{event}", "track", "Order Completed"),
        ("{event}", "identify", "identify"),
        ("Segment Event", "page", "Segment Event"),
        ("segment.{type}: {event}", "track", "segment.track: Order Completed"),
        ("segment.{type}: {event}", "group", "segment.group: group"),
    ],
)
def test_detail_type_is_fixed_or_names_the_call_or_the_event(template: str, call: str, expected: str):
    assert entry_of(event(call), detail_type=template)["DetailType"] == expected


def test_an_event_name_is_kept_as_written_and_cut_at_128_characters():
    assert entry_of(event("track", event='Paid "{type}" é'), detail_type="{event}")["DetailType"] == 'Paid "{type}" é'
    assert entry_of(event("track", event="x" * 300), detail_type="{event}")["DetailType"] == "x" * 128
    assert entry_of(event("track", event=""), detail_type="{event}")["DetailType"] == "track"


def test_time_is_the_events_timestamp_in_utc_or_left_to_eventbridge():
    offset = entry_of(event("track", timestamp="2026-11-30T10:25:21.123+01:00"))
    assert offset["Time"] == TIME
    for unreadable in (None, "yesterday", 1_800_000_000):
        entry = entry_of(event("track", timestamp=unreadable))
        assert "Time" not in entry, unreadable
        assert json.loads(entry["Detail"])["timestamp"] == unreadable


def test_mapping_is_pure():
    one = event("track")
    before = json.dumps(one, sort_keys=True)
    assert EVENTBRIDGE.map(one, settings()) == EVENTBRIDGE.map(one, settings())
    assert json.dumps(one, sort_keys=True) == before


# Packing.


def test_an_items_bytes_never_undercount_its_entry_as_aws_sizes_it():
    """The driver packs on the serialized item: it must cover the entry's AWS size, whatever the event."""
    rng = random.Random(7)
    alphabet = 'aé"\\\n/{}€😀 '
    for number in range(300):
        call = rng.choice(sorted(EVENTS))
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 40)))
        one = event(call, number, properties={"text": text}, event=text or "x")
        if number % 3 == 0:
            one["timestamp"] = rng.choice([None, "2026-11-30", "2026-11-30T09:25:21+05:30", "nope"])
        overrides = {"source": rng.choice(["s", "com.example.shop"]), "detail_type": rng.choice(["{type}", "{event}"])}
        (item,) = EVENTBRIDGE.map(one, settings(**overrides))
        payload = orjson.dumps(item.payload)
        entry = EVENTBRIDGE.call(item.channel, [payload], settings(**overrides), CONTEXT).params["Entries"][0]
        assert len(payload) + 1 >= aws_entry_size(entry), one


def test_calls_hold_at_most_ten_entries():
    client = FakeEvents()
    events = [event(call, number) for number in range(4) for call in sorted(EVENTS)]  # 24
    attempts = adapter(client).send(destination(), events, deadline=1e12)
    assert [attempt.status for attempt in attempts] == [DELIVERED] * 24
    assert [len(entries) for entries in client.calls] == [MAX_ENTRIES_PER_CALL, MAX_ENTRIES_PER_CALL, 4]
    sent = [json.loads(entry["Detail"]) for entries in client.calls for entry in entries]
    assert sent == events


def test_calls_hold_at_most_256_kib_as_aws_counts_entries():
    client = FakeEvents()
    rng = random.Random(3)
    events = [event("track", n, properties={"blob": "x" * rng.randrange(20_000, 90_000)}) for n in range(40)]
    attempts = adapter(client).send(destination(), events, deadline=1e12)
    assert [attempt.status for attempt in attempts] == [DELIVERED] * 40
    sizes = [sum(aws_entry_size(entry) for entry in entries) for entries in client.calls]
    assert all(size < MAX_CALL_BYTES for size in sizes), sizes
    # Greedy: no call could have taken the next entry as well.
    firsts = [entries[0] for entries in client.calls[1:]]
    assert all(
        size + aws_entry_size(first) > MAX_CALL_BYTES - 1_000 for size, first in zip(sizes, firsts, strict=False)
    )
    assert len(client.calls) < 40 / 2


def test_an_event_larger_than_a_call_is_refused_alone():
    client = FakeEvents()
    events = [event("track", 1), event("track", 2, properties={"blob": "x" * MAX_CALL_BYTES}), event("track", 3)]
    attempts = adapter(client).send(destination(), events, deadline=1e12)
    assert [(attempt.status, attempt.code) for attempt in attempts] == [
        (DELIVERED, "200"),
        (FINAL, ITEM_TOO_LARGE),
        (DELIVERED, "200"),
    ]
    assert [[json.loads(entry["Detail"])["messageId"] for entry in entries] for entries in client.calls] == [
        ["m-track-1", "m-track-3"]
    ]


# Verdicts.


def put_events_call(count: int) -> AwsCall:
    payloads = [
        orjson.dumps(item.payload) for n in range(count) for item in EVENTBRIDGE.map(event("track", n), settings())
    ]
    return EVENTBRIDGE.call("entries", payloads, settings(), CONTEXT)


def test_a_full_success_delivers_every_entry():
    answer = {"FailedEntryCount": 0, "Entries": [{"EventId": f"e{n}"} for n in range(3)]}
    verdicts = EVENTBRIDGE.interpret(put_events_call(3), answer, 3, NOW)
    assert [(verdict.status, verdict.code) for verdict in verdicts] == [(DELIVERED, "200")] * 3


def test_a_partial_failure_gives_each_entry_its_own_verdict():
    codes = [
        None,
        "ThrottlingException",
        "InternalFailure",
        "MalformedDetail",
        "InvalidArgument",
        "AccessDeniedException",
        "NotAuthorizedForSourceException",
        "SomethingNew",
    ]
    results = [{"EventId": "e"} if code is None else {"ErrorCode": code, "ErrorMessage": "no"} for code in codes]
    answer = {"FailedEntryCount": len(codes) - 1, "Entries": results}
    verdicts = EVENTBRIDGE.interpret(put_events_call(len(codes)), answer, len(codes), NOW)
    assert [(verdict.status, verdict.code) for verdict in verdicts] == [
        (DELIVERED, "200"),
        (RETRY, "ThrottlingException"),
        (RETRY, "InternalFailure"),
        (FINAL, "MalformedDetail"),
        (FINAL, "InvalidArgument"),
        (RETRY, "AccessDeniedException"),  # an operator fixes a policy; then it goes through
        (RETRY, "NotAuthorizedForSourceException"),
        (RETRY, "SomethingNew"),
    ]


def test_entries_the_answer_leaves_out_are_retried():
    answer = {"FailedEntryCount": 1, "Entries": [{"EventId": "e"}]}
    verdicts = EVENTBRIDGE.interpret(put_events_call(2), answer, 2, NOW)
    assert [(verdict.status, verdict.code) for verdict in verdicts] == [(DELIVERED, "200"), (RETRY, "no_result")]


def test_failed_entries_are_retried_alone_and_the_others_delivered():
    def second_fails(entries: list[dict[str, Any]]) -> dict[str, Any]:
        results = [{"EventId": "e"} for _ in entries]
        failing = [n for n, entry in enumerate(entries) if json.loads(entry["Detail"])["messageId"] == "m-track-2"]
        for n in failing:
            results[n] = {"ErrorCode": "ThrottlingException", "ErrorMessage": "Rate exceeded"}
        return {"FailedEntryCount": len(failing), "Entries": results}

    client = FakeEvents(second_fails)
    events = [event("track", n) for n in (1, 2, 3)]
    attempts = adapter(client).send(destination(), events, deadline=1e12)
    assert [(attempt.status, attempt.code) for attempt in attempts] == [
        (DELIVERED, "200"),
        (RETRY, "ThrottlingException"),
        (DELIVERED, "200"),
    ]
    assert attempts[1].label == "awaiting_retry.ThrottlingException"
    assert "Rate exceeded" in attempts[1].response["body"]
    # The deliverer hands back only the event to retry: it goes alone.
    client = FakeEvents()
    [attempt] = adapter(client).send(destination(), [events[1]], deadline=1e12)
    assert attempt.status == DELIVERED
    assert [[json.loads(entry["Detail"])["messageId"] for entry in entries] for entries in client.calls] == [
        ["m-track-2"]
    ]


def test_the_sample_shows_the_putevents_call():
    [attempt] = adapter(FakeEvents()).send(destination(), [event("track")], deadline=1e12)
    assert attempt.request["aws"] == "events.put_events"
    assert '"EventBusName":"analytics"' in attempt.request["params"]


# Through botocore, against moto.


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Any:
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        session = botocore.session.Session()
        yield lambda service: session.create_client(service, region_name=REGION)


def test_putevents_through_botocore_reaches_the_buses_rules(aws: Any):
    events_client, sqs = aws("events"), aws("sqs")
    events_client.create_event_bus(Name=BUS)
    queue_url = sqs.create_queue(QueueName="seen")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    events_client.put_rule(Name="all", EventBusName=BUS, EventPattern=json.dumps({"source": ["switchyard"]}))
    events_client.put_targets(Rule="all", EventBusName=BUS, Targets=[{"Id": "seen", "Arn": queue_arn}])

    events = [event(call, number) for number in range(2) for call in sorted(EVENTS)]
    attempts = ToolAdapter(EVENTBRIDGE, REGION, aws_clients=aws).send(destination(), events, deadline=1e12)
    assert [(attempt.status, attempt.code) for attempt in attempts] == [(DELIVERED, "200")] * len(events)

    seen = []
    while messages := sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages"):
        seen.extend(json.loads(message["Body"]) for message in messages)
        sqs.delete_message_batch(
            QueueUrl=queue_url,
            Entries=[{"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]} for n, m in enumerate(messages)],
        )
    by_id = {delivered["detail"]["messageId"]: delivered for delivered in seen}
    assert sorted(by_id) == sorted(one["messageId"] for one in events)
    for one in events:
        delivered = by_id[one["messageId"]]
        assert delivered["detail"] == one
        assert (delivered["source"], delivered["detail-type"]) == ("switchyard", one["type"])
        assert delivered["time"] == "2026-11-30T09:25:21Z"
        assert delivered["resources"] == []


def test_a_missing_bus_is_retried_not_dropped(aws: Any):
    [attempt] = ToolAdapter(EVENTBRIDGE, REGION, aws_clients=aws).send(destination(), [event("track")], deadline=1e12)
    assert (attempt.status, attempt.code) == (RETRY, "ResourceNotFoundException")
