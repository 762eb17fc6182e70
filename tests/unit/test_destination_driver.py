"""The generic driver with a fake destination type: packing within limits, one outcome per event
from per-item verdicts, deadlines, and samples without credentials."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import orjson
import pytest

from switchyard.config.compiled import Destination, RetryPolicy
from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.http import Answer
from switchyard.destinations.base import (
    Again,
    CallContext,
    DestinationType,
    HttpCall,
    Item,
    Limits,
    NoCall,
    RegionalSettings,
    SecretText,
    Unsupported,
    Verdict,
    join_json_array,
)
from switchyard.destinations.driver import ToolAdapter

DELIVERED, RETRY, FINAL = AttemptStatus.DELIVERED, AttemptStatus.RETRY, AttemptStatus.FINAL
UNSUPPORTED = AttemptStatus.UNSUPPORTED
NOW = 1_800_000_000.0


class ToySettings(RegionalSettings):
    SECRET_FIELDS: ClassVar[tuple[str, ...]] = ("api_key",)
    api_key: SecretText
    max_items: int = 3


class Toy(DestinationType):
    """Tracks go to /events (packed), identifies to /users and /events both; groups unsupported.
    The toy tool refuses (per item) events whose `properties.bad` is set."""

    name = "toy"
    title = "Toy"
    settings_model = ToySettings

    def map(self, event: dict[str, Any], settings: ToySettings) -> list[Item] | Unsupported:
        if event["type"] == "group":
            return Unsupported("group")
        if event["type"] == "identify":
            return [Item("users", {"id": event["userId"]}), Item("events", {"e": "identified", "id": event["userId"]})]
        return [Item("events", {"e": event["event"], "bad": event.get("properties", {}).get("bad", False)})]

    def limits(self, channel: str, settings: ToySettings) -> Limits:
        return Limits(max_items=settings.max_items, max_bytes=200, overhead_bytes=2)

    def call(self, channel: str, payloads: Sequence[bytes], settings: ToySettings, context: CallContext) -> HttpCall:
        url = f"{self.base_url(settings, context.aws_region)}/{channel}?key={settings.api_key}"
        return HttpCall("POST", url, join_json_array(payloads), {"Authorization": f"Bearer {settings.api_key}"})

    def interpret(self, call: Any, answer: Answer, count: int, now: float) -> list[Verdict]:
        if answer.status != 200:
            return [Verdict(RETRY, str(answer.status))] * count
        flags = orjson.loads(answer.body.split(b" ")[0])  # the rest echoes the key, as some tools do
        return [Verdict(FINAL, "400.bad") if bad else Verdict(DELIVERED, "200") for bad in flags]


class ToolHttp:
    """Answers like the toy tool: 200 with a per-item list of refusals, or a scripted status."""

    def __init__(self, statuses: Sequence[int] = ()) -> None:
        self.statuses = list(statuses)
        self.sent: list[tuple[str, list[Any], dict[str, str]]] = []

    def request(self, method: str, url: str, *, body: bytes, headers: Mapping[str, str], deadline: float) -> Answer:
        items = orjson.loads(body)
        self.sent.append((url, items, dict(headers)))
        status = self.statuses.pop(0) if self.statuses else 200
        answer = [bool(item.get("bad")) for item in items]
        return Answer(status, {}, orjson.dumps(answer) + b" key=toy-secret-key", True)


class Credentials:
    def get(self, destination_id: str) -> dict[str, Any]:
        return {"api_key": "toy-secret-key"}


def toy_destination(**settings: Any) -> Destination:
    return Destination(
        id="toy",
        name="toy",
        type="toy",
        enabled=True,
        sources=("web",),
        settings={
            "timeout_seconds": 5.0,
            "endpoint": "https://toy.example",
            "region": None,
            "max_items": 3,
            **settings,
        },
        rate_limit_per_second=100,
        concurrency=1,
        retry=RetryPolicy(max_hours=1, initial_delay_seconds=1, max_delay_seconds=2),
        credentials=("api_key",),
    )


def adapter(http: ToolHttp, monotonic: Any = lambda: 0.0) -> ToolAdapter:
    return ToolAdapter(Toy(), "us-west-2", http=http, credentials=Credentials(), clock=lambda: NOW, monotonic=monotonic)  # type: ignore[arg-type]


def track(index: int, **properties: Any) -> dict[str, Any]:
    return {"type": "track", "event": f"e{index}", "messageId": f"m{index}", "properties": properties}


def test_items_are_packed_within_the_count_limit_in_order():
    http = ToolHttp()
    attempts = adapter(http).send(toy_destination(), [track(i) for i in range(7)], deadline=100)
    assert [len(items) for _, items, _ in http.sent] == [3, 3, 1]
    assert [item["e"] for _, items, _ in http.sent for item in items] == [f"e{i}" for i in range(7)]
    assert {attempt.status for attempt in attempts} == {DELIVERED}


def test_items_are_packed_within_the_byte_limit():
    http = ToolHttp()
    events = [{**track(i), "event": "x" * 100} for i in range(3)]
    adapter(http).send(toy_destination(), events, deadline=100)
    assert [len(items) for _, items, _ in http.sent] == [1, 1, 1], "each item is ~120 bytes: two exceed 200"


def test_an_item_larger_than_a_request_is_final_alone():
    http = ToolHttp()
    events = [track(0), {"type": "track", "event": "x" * 300, "messageId": "big"}, track(2)]
    attempts = adapter(http).send(toy_destination(), events, deadline=100)
    assert [(a.status, a.code) for a in attempts] == [(DELIVERED, "200"), (FINAL, "item_too_large"), (DELIVERED, "200")]


def test_a_partial_success_settles_each_event_by_its_own_verdict():
    http = ToolHttp()
    attempts = adapter(http).send(toy_destination(), [track(0), track(1, bad=True), track(2)], deadline=100)
    assert [(a.status, a.code) for a in attempts] == [(DELIVERED, "200"), (FINAL, "400.bad"), (DELIVERED, "200")]


def test_an_event_whose_items_differ_gets_the_worst_verdict_and_unsupported_calls_are_final():
    http = ToolHttp(statuses=[200, 503])  # /users answers first, then /events fails
    events = [{"type": "identify", "userId": "u1", "messageId": "i1"}, {"type": "group", "messageId": "g1"}]
    attempts = adapter(http).send(toy_destination(), events, deadline=100)
    assert [urls.split("?")[0] for urls, _, _ in http.sent] == [
        "https://toy.example/users",
        "https://toy.example/events",
    ]
    assert [(a.status, a.code) for a in attempts] == [(RETRY, "503"), (UNSUPPORTED, "unsupported.group")]


def test_no_request_starts_after_the_deadline():
    http = ToolHttp()
    clock = iter([0.0, 99.8, 99.8, 99.8])
    attempts = adapter(http, monotonic=lambda: next(clock)).send(
        toy_destination(max_items=1), [track(0), track(1)], deadline=100
    )
    assert len(http.sent) == 1
    assert [(a.status, a.code) for a in attempts] == [(DELIVERED, "200"), (RETRY, "out_of_time")]


def test_a_mapping_error_is_final_for_that_event_only():
    http = ToolHttp()
    attempts = adapter(http).send(toy_destination(), [{"type": "identify", "messageId": "no-user"}, track(1)], 100)
    assert [(a.status, a.code) for a in attempts] == [(FINAL, "mapping_failed"), (DELIVERED, "200")]


def test_credentials_reach_the_tool_and_never_a_sample():
    http = ToolHttp()
    [attempt] = adapter(http).send(toy_destination(), [track(0)], deadline=100)
    url, _, headers = http.sent[0]
    assert url == "https://toy.example/events?key=toy-secret-key"
    assert headers["Authorization"] == "Bearer toy-secret-key"
    shown = orjson.dumps([attempt.request, attempt.response]).decode()
    assert "toy-secret-key" not in shown
    assert attempt.request["url"] == "https://toy.example/events?key=<redacted>"


@pytest.mark.parametrize(
    ("aws_region", "region", "host"), [("eu-west-1", None, "eu"), ("us-west-2", None, "us"), ("eu-west-1", "us", "us")]
)
def test_the_stack_region_picks_the_tools_host_unless_the_settings_do(aws_region: str, region: str | None, host: str):
    from switchyard.destinations.base import Hosts

    class Hosted(Toy):
        hosts = Hosts(us="us.toy.example", eu="eu.toy.example")

    settings = ToySettings(api_key="k" * 8, region=region)
    assert Hosted().base_url(settings, aws_region) == f"https://{host}.toy.example"
    warning = Hosted().residency_warning(settings, aws_region)
    assert (warning is not None) == (aws_region == "eu-west-1" and host == "us")


def test_settings_that_no_longer_validate_wait_instead_of_sending_half_configured():
    http = ToolHttp()
    [attempt] = adapter(http).send(toy_destination(max_items=-1, unknown=1), [track(0)], deadline=100)
    assert (attempt.status, attempt.code) == (RETRY, "credentials_unavailable")
    assert http.sent == []


class Resending(Toy):
    """Like Amplitude: a refusal rejects the whole request, naming the bad items; 413 means split."""

    def interpret(self, call: Any, answer: Answer, count: int, now: float) -> list[Verdict]:
        if answer.status == 413:
            return [Verdict(RETRY, "413.split", again=Again.SPLIT)] * count
        flags = orjson.loads(answer.body.split(b" ")[0])
        if not any(flags):
            return [Verdict(DELIVERED, "200")] * count
        return [Verdict(FINAL, "400.bad") if bad else Verdict(RETRY, "400.resend", again=Again.RESEND) for bad in flags]


def test_items_refused_with_others_go_again_at_once_without_them():
    http = ToolHttp()
    attempts = ToolAdapter(Resending(), "us-west-2", http=http, credentials=Credentials()).send(  # type: ignore[arg-type]
        toy_destination(), [track(0), track(1, bad=True), track(2)], deadline=1e12
    )
    assert [[item["e"] for item in items] for _, items, _ in http.sent] == [["e0", "e1", "e2"], ["e0", "e2"]]
    assert [(a.status, a.code) for a in attempts] == [(DELIVERED, "200"), (FINAL, "400.bad"), (DELIVERED, "200")]


def test_a_request_too_large_goes_again_in_halves():
    http = ToolHttp(statuses=[413, 200, 413, 200, 200])
    attempts = ToolAdapter(Resending(), "us-west-2", http=http, credentials=Credentials()).send(  # type: ignore[arg-type]
        toy_destination(), [track(0), track(1), track(2)], deadline=1e12
    )
    assert [[item["e"] for item in items] for _, items, _ in http.sent] == [
        ["e0", "e1", "e2"],
        ["e0"],
        ["e1", "e2"],
        ["e1"],
        ["e2"],
    ]
    assert {a.status for a in attempts} == {DELIVERED}


class Trimming(Toy):
    """Leaves out properties named `long`, as GA4 leaves out values over its limits; `old` events
    need no request at all."""

    def map(self, event: dict[str, Any], settings: ToySettings) -> list[Item] | Unsupported:
        left_out = ("value_too_long",) if "long" in event.get("properties", {}) else ()
        return [Item("events", {"e": event["event"], "old": "old" in event.get("properties", {})}, left_out)]

    def call(self, channel: str, payloads: Sequence[bytes], settings: ToySettings, context: CallContext) -> Any:
        if all(orjson.loads(payload)["old"] for payload in payloads):
            return NoCall([Verdict(FINAL, "too_old")] * len(payloads))
        return super().call(channel, payloads, settings, context)


def test_what_a_type_left_out_rides_on_the_events_attempt():
    http = ToolHttp()
    attempts = ToolAdapter(Trimming(), "us-west-2", http=http, credentials=Credentials()).send(  # type: ignore[arg-type]
        toy_destination(), [track(0, long="x"), track(1)], deadline=1e12
    )
    assert [(a.status, a.omitted) for a in attempts] == [(DELIVERED, ("value_too_long",)), (DELIVERED, ())]


def test_a_batch_the_type_needs_no_request_for_is_settled_without_one():
    http = ToolHttp()
    attempts = ToolAdapter(Trimming(), "us-west-2", http=http, credentials=Credentials()).send(  # type: ignore[arg-type]
        toy_destination(), [track(0, old=True), track(1, old=True)], deadline=1e12
    )
    assert http.sent == []
    assert [(a.status, a.code) for a in attempts] == [(FINAL, "too_old")] * 2


def test_an_item_over_the_tools_own_item_limit_is_final_alone():
    class ItemLimited(Toy):
        def limits(self, channel: str, settings: ToySettings) -> Limits:
            return Limits(max_items=10, max_bytes=10_000, max_item_bytes=40)

    http = ToolHttp()
    events = [track(0), {**track(1), "event": "x" * 50}, track(2)]
    attempts = ToolAdapter(ItemLimited(), "us-west-2", http=http, credentials=Credentials()).send(  # type: ignore[arg-type]
        toy_destination(), events, deadline=1e12
    )
    assert [(a.status, a.code) for a in attempts] == [(DELIVERED, "200"), (FINAL, "item_too_large"), (DELIVERED, "200")]


class Lookup(DestinationType):
    """A tool that updates a user by an id it hands out: look the user up, then update it by that id
    (a chained call); users it does not know yet are created instead."""

    name = "lookup"
    title = "Lookup"
    settings_model = ToySettings

    def map(self, event: dict[str, Any], settings: ToySettings) -> list[Item] | Unsupported:
        return [Item("search", {"user": event["userId"], "traits": event.get("traits", {})})]

    def limits(self, channel: str, settings: ToySettings) -> Limits:
        return Limits(max_items=1, max_bytes=1000)

    def call(self, channel: str, payloads: Sequence[bytes], settings: ToySettings, context: CallContext) -> HttpCall:
        item = orjson.loads(payloads[0])
        if channel == "search":
            return HttpCall("POST", f"https://lookup.example/search?user={item['user']}", b"", {}, state=item)
        return HttpCall("PUT", f"https://lookup.example/users/{item['id']}", orjson.dumps(item["traits"]))

    def interpret(self, call: Any, answer: Answer, count: int, now: float) -> list[Verdict]:
        if answer.status != 200:
            return [Verdict(RETRY, str(answer.status))]
        if call.state is None:  # the update
            return [Verdict(DELIVERED, "200")]
        found = orjson.loads(answer.body)["id"]
        then = Item("update", {"id": found, "traits": call.state["traits"]})
        return [Verdict(DELIVERED, "200", then=(then,))]


class LookupHttp:
    def __init__(self, update_status: int = 200) -> None:
        self.update_status = update_status
        self.sent: list[tuple[str, str, bytes]] = []

    def request(self, method: str, url: str, *, body: bytes, headers: Mapping[str, str], deadline: float) -> Answer:
        self.sent.append((method, url, body))
        if method == "POST":
            return Answer(200, {}, orjson.dumps({"id": "id-" + url.rsplit("=", 1)[1]}), True)
        return Answer(self.update_status, {}, b"{}", True)


def lookup_adapter(http: LookupHttp) -> ToolAdapter:
    return ToolAdapter(
        Lookup(),
        "us-west-2",
        http=http,  # type: ignore[arg-type]
        credentials=Credentials(),
        clock=lambda: NOW,
        monotonic=lambda: 0.0,
    )


def identify(user: str, **traits: Any) -> dict[str, Any]:
    return {"type": "identify", "userId": user, "messageId": f"m-{user}", "traits": traits}


def test_a_step_the_answer_names_is_sent_after_the_planned_requests_with_what_the_answer_said():
    http = LookupHttp()
    attempts = lookup_adapter(http).send(toy_destination(), [identify("ann", plan="pro"), identify("bo")], 60.0)
    assert [(method, url) for method, url, _ in http.sent] == [
        ("POST", "https://lookup.example/search?user=ann"),
        ("POST", "https://lookup.example/search?user=bo"),
        ("PUT", "https://lookup.example/users/id-ann"),
        ("PUT", "https://lookup.example/users/id-bo"),
    ]
    assert orjson.loads(http.sent[2][2]) == {"plan": "pro"}
    assert [attempt.status for attempt in attempts] == [DELIVERED, DELIVERED]


def test_an_event_whose_next_step_fails_has_that_steps_outcome():
    attempts = lookup_adapter(LookupHttp(update_status=503)).send(toy_destination(), [identify("ann")], 60.0)
    assert (attempts[0].status, attempts[0].code) == (RETRY, "503")
    assert attempts[0].request["method"] == "PUT", "the sample is the step that failed"


class UnknownUser(Toy):
    """Answers every request with an error worth one more try."""

    def interpret(self, call: Any, answer: Answer, count: int, now: float) -> list[Verdict]:
        return [Verdict(RETRY, "404.unknown_user", final_from_attempt=2)] * count


def test_a_retry_may_be_final_from_a_given_attempt_on():
    adapter_ = ToolAdapter(
        UnknownUser(),
        "us-west-2",
        http=ToolHttp([404]),  # type: ignore[arg-type]
        credentials=Credentials(),
        clock=lambda: NOW,
        monotonic=lambda: 0.0,
    )
    (attempt,) = adapter_.send(toy_destination(), [track(1)], 60.0)
    assert attempt.final_at(1).status is RETRY, "the first attempt is worth one more"
    assert (attempt.final_at(2).status, attempt.final_at(2).label) == (FINAL, "discarded.404.unknown_user")
