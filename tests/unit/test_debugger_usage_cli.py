"""`switchyard debugger` and `switchyard usage` as printed: sources by id or name, pretty and raw
views oldest-first, `--follow` printing only what is new, usage tables and MTU bounds."""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import boto3
import orjson
import pytest
from moto import mock_aws

from switchyard.cli.debugger import DebuggerView, follow, rate_text
from switchyard.cli.sources import NamedSource, UnknownSource, find_source
from switchyard.cli.usage import estimate_text, format_usage, size
from switchyard.config.workspace import compile_workspace, parse_workspace
from switchyard.debugger.store import DebuggerStore, DebuggerWrite
from switchyard.usage.people import Estimate, Mtus
from switchyard.usage.store import DailyUsage, SourceUsage, UsageReport

WORKSPACE = compile_workspace(
    parse_workspace("""\
workspace: acme
sources:
  - {id: web, name: Website, write_key: wk_web_12345}
  - {id: app, name: Mobile App, write_key: wk_app_12345}
""")
)
WEB = NamedSource("web", "Website")


def test_a_source_by_id_or_by_name():
    assert find_source(WORKSPACE, "web") == WEB
    assert find_source(WORKSPACE, "mobile app").id == "app"
    with pytest.raises(UnknownSource, match="sources: app, web"):
        find_source(WORKSPACE, "nope")


class Clock:
    def __init__(self) -> None:
        self.at = datetime(2026, 11, 30, 12, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.at += timedelta(seconds=1)
        return self.at


@pytest.fixture
def store() -> Iterator[DebuggerStore]:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-west-2")
        s3.create_bucket(Bucket="archive", CreateBucketConfiguration={"LocationConstraint": "us-west-2"})
        yield DebuggerStore("archive", s3, now=Clock())


def put(store: DebuggerStore, *names: str, rate: float = 1.0) -> None:
    messages = [
        orjson.dumps({"type": "track", "event": name, "userId": "u1", "messageId": name, "receivedAt": "t"})
        for name in names
    ]
    store.write_many([DebuggerWrite("web", "shardId-0", names[0], rate, messages)])


def test_pretty_view_lists_oldest_first_with_the_json_and_the_sampling_rate(store: DebuggerStore):
    put(store, "First", "Second", rate=0.1)
    out = io.StringIO()
    DebuggerView(WEB, raw=False, out=out).show(store.latest("web"))
    text = out.getvalue()
    assert text.startswith("web (Website): 2 of the latest 2 message(s), newest last; sampled: 1 in 10 (10.00%)")
    assert text.index("First") < text.index("Second")
    assert '    "event": "Second",' in text
    assert "(sampled 1 in 10 (10.00%))" in text


def test_raw_view_prints_only_the_json_and_the_heading_on_stderr(store: DebuggerStore):
    put(store, "First", "Second")
    out, err = io.StringIO(), io.StringIO()
    DebuggerView(WEB, raw=True, out=out, err=err).show(store.latest("web"))
    assert [orjson.loads(line)["event"] for line in out.getvalue().splitlines()] == ["First", "Second"]
    assert "newest last" in err.getvalue()


def test_follow_prints_only_new_messages(store: DebuggerStore):
    put(store, "Old")
    out = io.StringIO()
    view = DebuggerView(WEB, raw=True, out=out)
    page = store.latest("web")
    arrivals = iter([["New 1"], [], ["New 2", "New 3"]])

    def sleep(_: float) -> None:
        names = next(arrivals)
        if names:
            put(store, *names)

    follow(store, view, page, search=None, call_type=None, sleep=sleep, polls=3)
    assert [orjson.loads(line)["event"] for line in out.getvalue().splitlines()] == ["New 1", "New 2", "New 3"]


def test_rates_read_as_one_in_n():
    assert rate_text(1.0) == "every message"
    assert rate_text(0.02) == "1 in 50 (2.00%)"


def test_usage_prints_days_month_totals_and_mtus_with_their_bound():
    exact = Mtus(Estimate(3, 3, 3), Estimate(2, 2, 2), Estimate(1, 1, 1))
    rough = Mtus(Estimate(10_000, 9_700, 10_400), Estimate(6_000, 5_900, 6_100), Estimate(4_000, 3_800, 4_300))
    report = UsageReport(
        "2026-11",
        (
            SourceUsage(
                "web",
                "2026-11",
                (DailyUsage("2026-11-01", 10, 9, 2048), DailyUsage("2026-11-02", 5, 5, 1024)),
                exact,
            ),
            SourceUsage("app", "2026-11", (), Mtus(Estimate(0, 0, 0), Estimate(0, 0, 0), Estimate(0, 0, 0))),
        ),
        rough,
    )
    text = format_usage(report, [WEB, NamedSource("app", "Mobile App")])
    assert "  2026-11-01             10            9       2.0 KB" in text
    assert "  month                  15           14       3.0 KB" in text
    assert "MTUs 3 (exact): 2 userIds + 1 anonymousIds never tied to one" in text
    assert "app (Mobile App)\n  no usage this month" in text
    assert "All 2 sources (each person once): MTUs 10,000 (±4.0%: 9,700 to 10,400 at 95% confidence)" in text


def test_sizes_and_estimates():
    assert (size(512), size(1536), size(3 * 1024**3)) == ("512 B", "1.5 KB", "3.0 GB")
    assert estimate_text(Estimate(100, 97, 103)) == "100 (±3.0%: 97 to 103 at 95% confidence)"
