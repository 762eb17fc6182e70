"""The console's pages with fakes behind them (Flask's test client): what each page shows, that
payloads stay text, that a replay starts from the form, and that only local, same-console requests
are served."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import orjson
import pytest
from flask.testing import FlaskClient

from switchyard.config.compiled import CompiledWorkspace
from switchyard.config.workspace import compile_workspace, parse_workspace
from switchyard.console.app import as_utc, create_app
from switchyard.console.data import ConsoleData
from switchyard.debugger.store import DebuggerCursor, DebuggerEntry, DebuggerPage
from switchyard.delivery.overview import DeliveryOverview
from switchyard.delivery.stats import DeliveryReport, LatencyPoint
from switchyard.replay.model import ReplayRequest
from switchyard.replay.store import RUNNING, ReplayRecord
from switchyard.usage.people import People
from switchyard.usage.store import DailyUsage, SourceUsage, UsageReport

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
WORKSPACE = compile_workspace(
    parse_workspace(
        """\
workspace: console
sources:
  - {id: web, name: Website, write_key: wk_console_web_1}
  - {id: ios, name: iOS app, write_key: wk_console_ios_1}
destinations:
  - id: hook
    type: webhook
    sources: [web]
    settings: {url: "https://hooks.example.com/in"}
"""
    )
)
HOSTILE = "<script>alert('x')</script>"


def entry(index: int, **message: object) -> DebuggerEntry:
    body = {"type": "track", "event": f"Event {index}", "userId": "u1", "receivedAt": f"2026-11-30T11:5{index}:00Z"}
    body |= message
    return DebuggerEntry(f"k{index}#0", "web", NOW, 1.0, orjson.dumps(body).decode(), body)


class FakeDebugger:
    def __init__(self) -> None:
        self.asked: list[dict[str, object]] = []

    def latest(self, source_id, *, limit, search=None, call_type=None, after=None):  # type: ignore[no-untyped-def]
        self.asked.append({"source": source_id, "limit": limit, "search": search, "type": call_type, "after": after})
        entries = (entry(2, properties={"note": HOSTILE}), entry(1))
        return DebuggerPage(source_id, entries, 2, 0.25, DebuggerCursor(123, frozenset({"k2"})))


class FakeReplays:
    def __init__(self) -> None:
        self.records: dict[str, ReplayRecord] = {}
        self.cancelled: list[str] = []

    def start(self, request: ReplayRequest) -> str:
        self.records[request.id] = ReplayRecord(request, RUNNING, objects=4, counters={"objects_done": 1, "sent": 7})
        return request.id

    def status(self, replay_id: str) -> ReplayRecord | None:
        return self.records.get(replay_id)

    def cancel(self, replay_id: str) -> ReplayRecord | None:
        self.cancelled.append(replay_id)
        return self.records.get(replay_id)

    def list(self, limit: int = 20) -> list[ReplayRecord]:
        return list(self.records.values())[:limit]


class FakeUsage:
    def on_day(self, source_ids, day):  # type: ignore[no-untyped-def]
        return {source_id: DailyUsage(day, 12, 10, 900) for source_id in source_ids}

    def report(self, source_ids, month):  # type: ignore[no-untyped-def]
        people = People()
        for user in ("u1", "u2", "u3"):
            people.add({"userId": user})
        sources = tuple(
            SourceUsage(source_id, month, (DailyUsage(f"{month}-02", 3, 40, 5000),), people.mtus())
            for source_id in source_ids
        )
        return UsageReport(month, sources, people.mtus())


def overview(workspace: CompiledWorkspace, destination_id: str, since: timedelta) -> DeliveryOverview:
    report = DeliveryReport(
        destination_id=destination_id,
        since=NOW - since,
        until=NOW,
        delivered=9,
        not_delivered=1,
        retried=2,
        dead_lettered=0,
        filtered=0,
        p95_latency_ms=120.0,
        samples={"discarded.400": {"received": {"note": HOSTILE}, "response": {"status": 400}}},
        received=10,
        failed_reasons={"discarded.400": 1},
        retrying_reasons={"awaiting_retry.503": 2},
        latency_trend=[LatencyPoint(NOW - since, 100.0), LatencyPoint(NOW - since / 2, None)],
    )
    return DeliveryOverview(report, ("web",), {}, {"web: invalid_type": 2})


@pytest.fixture
def parts() -> tuple[FakeDebugger, FakeReplays]:
    return FakeDebugger(), FakeReplays()


@pytest.fixture
def client(parts: tuple[FakeDebugger, FakeReplays]) -> FlaskClient:
    debugger, replays = parts
    data = ConsoleData(
        region="us-west-2",
        where="http://127.0.0.1:4566",
        workspace=lambda: WORKSPACE,
        overview=overview,
        replays=replays,
        retention_days=30,
        debugger=debugger,
        usage=FakeUsage(),
    )
    return create_app(data, clock=lambda: NOW).test_client()


def token_of(page: str) -> str:
    match = re.search(r'name="token" value="([^"]+)"', page)
    assert match, "the form carries the console's token"
    return match.group(1)


def test_sources_link_each_source_to_its_debugger(client: FlaskClient):
    page = client.get("/sources").text
    assert 'href="/sources/web"' in page and 'href="/sources/ios"' in page
    assert re.search(r'data-calls="web">12<', page) and re.search(r'data-events="ios">10<', page), "today's usage"
    assert 'href="/destinations/hook"' in page
    assert client.get("/").headers["Location"] == "/sources"


def test_the_debugger_shows_messages_as_text_with_the_sampling_rate(client: FlaskClient, parts):
    debugger, _ = parts
    page = client.get("/sources/web?search=Order&type=track&limit=50").text
    assert "Event 2" in page and "Event 1" in page
    assert HOSTILE not in page and "&lt;script&gt;" in page, "payloads are escaped"
    assert "about 1 in 4 messages" in page
    assert debugger.asked[-1] == {"source": "web", "limit": 50, "search": "Order", "type": "track", "after": None}


def test_the_live_debugger_polls_after_its_cursor(client: FlaskClient, parts):
    debugger, _ = parts
    cursor = DebuggerCursor(100, frozenset({"k1"})).encode()
    answer = client.get(f"/api/sources/web/debugger?after={cursor}")
    assert answer.status_code == 200
    body = answer.json
    assert [row["label"] for row in body["rows"]] == ["Event 2", "Event 1"]
    assert DebuggerCursor.decode(body["cursor"]) == DebuggerCursor(123, frozenset({"k2"}))
    assert debugger.asked[-1]["after"] == DebuggerCursor(100, frozenset({"k1"}))


@pytest.mark.parametrize(
    ("path", "status", "code"),
    [
        ("/api/sources/web/debugger?type=purchase", 400, "error"),
        ("/api/sources/web/debugger?after=nonsense", 400, "error"),
        ("/api/sources/nope/debugger", 404, "not_found"),
    ],
)
def test_the_debugger_api_answers_bad_requests_with_json(client: FlaskClient, path: str, status: int, code: str):
    answer = client.get(path)
    assert answer.status_code == status
    assert answer.json["code"] == code and answer.json["message"]


def test_a_destination_shows_its_steps_reasons_samples_and_trend(client: FlaskClient):
    page = client.get("/destinations/hook?since=24h").text
    for step in ("received from sources", "filtered", "failed on ingest", "retrying", "failed", "delivered"):
        assert f'data-step="{step}"' in page
    assert "awaiting_retry.503" in page and "web: invalid_type" in page
    assert HOSTILE not in page
    assert "90.0%" in page
    trend = re.search(r'<script type="application/json" id="latency-data">(.*?)</script>', page, re.S)
    assert trend and orjson.loads(trend.group(1))["values"] == [100.0, None]


def test_destinations_list_the_last_hour_of_each(client: FlaskClient):
    page = client.get("/destinations").text
    assert 'href="/destinations/hook"' in page and "90.0%" in page


@pytest.mark.parametrize(("path", "status"), [("/destinations/nope", 404), ("/destinations/hook?since=1y", 400)])
def test_bad_destination_pages_say_why(client: FlaskClient, path: str, status: int):
    answer = client.get(path)
    assert answer.status_code == status
    assert 'class="problem"' in answer.text


def test_a_replay_starts_from_the_form_and_shows_its_progress(client: FlaskClient, parts):
    _, replays = parts
    token = token_of(client.get("/replays").text)
    form = {
        "token": token,
        "source": "web",
        "destination": "hook",
        "start": "2026-11-30T10:00",
        "end": "2026-11-30T11:00",
    }
    answer = client.post("/replays", data=form)
    assert answer.status_code == 303
    (request,) = (record.request for record in replays.records.values())
    assert (request.source, request.start, request.end) == (
        "web",
        "2026-11-30T10:00:00.000Z",
        "2026-11-30T11:00:00.000Z",
    )
    page = client.get(answer.headers["Location"]).text
    assert "RUNNING" in page and "1 of 4 archive objects read" in page
    assert client.post(f"/replays/{request.id}/cancel", data={"token": token}).status_code == 303
    assert replays.cancelled == [request.id]


def test_a_replay_the_workspace_refuses_is_explained_on_the_form(client: FlaskClient, parts):
    _, replays = parts
    token = token_of(client.get("/replays").text)
    form = {
        "token": token,
        "source": "ios",
        "destination": "hook",
        "start": "2026-11-30T10:00",
        "end": "2026-11-30T11:00",
    }
    answer = client.post("/replays", data=form)
    assert answer.status_code == 400
    assert "not connected to source" in answer.text
    assert not replays.records


def test_forms_need_the_consoles_token_and_a_local_origin(client: FlaskClient, parts):
    _, replays = parts
    form = {"source": "web", "destination": "hook", "start": "2026-11-30T10:00", "end": "2026-11-30T11:00"}
    assert client.post("/replays", data=form).status_code == 403
    token = token_of(client.get("/replays").text)
    answer = client.post("/replays", data={**form, "token": token}, headers={"Origin": "https://evil.example"})
    assert answer.status_code == 403
    assert not replays.records


def test_only_local_host_names_are_served(client: FlaskClient):
    assert client.get("/sources", headers={"Host": "evil.example:8090"}).status_code == 403
    assert client.get("/sources", headers={"Host": "localhost:8090"}).status_code == 200


def test_usage_shows_days_and_mtus_with_their_bound(client: FlaskClient):
    page = client.get("/usage?month=2026-11").text
    assert "2026-11-02" in page and "3 (exact)" in page
    usage = re.search(r'<script type="application/json" id="usage-data">(.*?)</script>', page, re.S)
    assert usage and orjson.loads(usage.group(1)) == {"labels": ["11-02"], "series": {"web": [40], "ios": [40]}}
    assert client.get("/usage?month=2026-13").status_code == 400
    assert client.get("/usage?source=nope").status_code == 404


def test_form_times_are_read_as_utc():
    assert as_utc("2026-11-30T10:00") == "2026-11-30T10:00:00Z"
    assert as_utc("2026-11-30T10:00:30") == "2026-11-30T10:00:30Z"
    assert as_utc("2026-11-30T10:00:00Z") == "2026-11-30T10:00:00Z"
