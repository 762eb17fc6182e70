"""The lake through the shared local stack (its sources and webhook: tests/e2e/tools/lake.yaml):
events of all six types sent with the real Segment SDK land in the archive; `switchyard lake load`
(the CLI invoking the loader function, as in AWS) turns them into Segment's warehouse tables;
`switchyard lake query` (DuckDB locally) finds them in the right tables with the right columns and
counts; a new property adds a column, a type conflict widens it to string, loading again changes
nothing, selective sync leaves out what the workspace says, and a replay still reads an hour the
loader compacted."""

from __future__ import annotations

import gzip
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
from segment.analytics import Client as SegmentClient

from switchyard.cli.main import main
from switchyard.devstack.receiver import WebhookReceiver
from switchyard.devstack.stack import LocalStack
from tests.e2e.conftest import Receivers, wait_until
from tests.support.segment_sdk import send_with_sdk

pytestmark = pytest.mark.e2e

WEB_KEY, SHOP_KEY = "wk_e2e_lake_web_01", "wk_e2e_lake_shop_01"  # tests/e2e/tools/lake.yaml
WEB, SHOP = "lakeweb", "lakeshop"


@pytest.fixture
def stack(local_stack: LocalStack) -> LocalStack:
    return local_stack


@pytest.fixture
def receiver(receivers: Receivers) -> WebhookReceiver:
    return receivers.tools["lake"]


def cli(stack: LocalStack, capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str]:
    code = main([*arguments, "--endpoint-url", stack.aws_endpoint])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def query(stack: LocalStack, capsys: pytest.CaptureFixture[str], sql: str) -> list[list[str]]:
    code, out = cli(stack, capsys, "lake", "query", sql)
    assert code == 0, out
    lines = out.splitlines()
    return [line.split() for line in lines[2:-1]]  # header, rule, rows, "(n rows)"


def load(stack: LocalStack, capsys: pytest.CaptureFixture[str], source: str) -> str:
    """This source's last minutes (the other tests' sources are left as they are)."""
    start = (datetime.now(UTC) - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    code, out = cli(stack, capsys, "lake", "load", "--source", source, "--from", start)
    assert code == 0, out
    return out


def test_all_six_types_land_in_their_tables_and_the_lake_grows_as_data_changes(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    run = uuid.uuid4().hex[:8]
    user = f"lake-{run}"

    def first(client: SegmentClient) -> None:
        client.identify(user, {"plan": "pro", "email": f"{run}@example.com"})
        client.track(user, "Order Completed", {"revenue": 42.5, "items": 3})
        client.track(user, "Signed Up", {"plan": "pro"})
        client.page(user, "Docs", "Pricing", {"path": "/pricing"})
        client.screen(user, "App", "Home")
        client.group(user, f"org-{run}", {"employees": 20})
        client.alias(f"anon-{run}", user)

    send_with_sdk(stack, WEB_KEY, first)
    assert wait_until(lambda: len(rows_of_user(stack, user)) == 7, timeout=30)
    out = load(stack, capsys, WEB)
    assert "loaded" in out and "order_completed" in out

    counts = {
        table: query(stack, capsys, f"SELECT count(*) FROM {table} WHERE user_id = '{user}'")[0][0]  # noqa: S608
        for table in ("tracks", "identifies", "pages", "screens", "groups", "aliases", "order_completed", "signed_up")
    }
    assert counts == {
        "tracks": "2",
        "identifies": "1",
        "pages": "1",
        "screens": "1",
        "groups": "1",
        "aliases": "1",
        "order_completed": "1",
        "signed_up": "1",
    }
    sql = f"SELECT event, event_text, source_id FROM tracks WHERE user_id = '{user}' ORDER BY event"  # noqa: S608
    assert query(stack, capsys, sql) == [
        ["order_completed", "Order", "Completed", WEB],
        ["signed_up", "Signed", "Up", WEB],
    ]
    assert query(stack, capsys, f"SELECT revenue, items FROM order_completed WHERE user_id = '{user}'") == [  # noqa: S608
        ["42.5", "3"]
    ]
    assert query(stack, capsys, f"SELECT plan FROM identifies WHERE user_id = '{user}'") == [["pro"]]  # noqa: S608
    assert query(stack, capsys, f"SELECT plan FROM users WHERE id = '{user}'") == [["pro"]]  # noqa: S608
    joined = query(
        stack,
        capsys,
        "SELECT count(*) FROM tracks t JOIN identifies i ON t.user_id = i.user_id "  # noqa: S608
        f"WHERE t.user_id = '{user}'",
    )
    assert joined == [["2"]]

    # A new property adds a column; a text value where numbers were widens the column to string.
    def second(client: SegmentClient) -> None:
        client.track(user, "Order Completed", {"revenue": "lots", "coupon": "WINTER"})

    send_with_sdk(stack, WEB_KEY, second)
    assert wait_until(lambda: len(rows_of_user(stack, user)) == 8, timeout=30)
    out = load(stack, capsys, WEB)
    assert "widened to string: order_completed.revenue" in out
    code, tables = cli(stack, capsys, "lake", "tables")
    assert code == 0
    described = tables.split("order_completed  (", 1)[1].split("\n\n", 1)[0]
    assert "coupon" in described and "revenue" in described
    revenue_line = next(line for line in described.splitlines() if line.strip().startswith("revenue "))
    assert revenue_line.split()[-1] == "string"
    values = query(stack, capsys, f"SELECT revenue FROM order_completed WHERE user_id = '{user}' ORDER BY 1")  # noqa: S608
    assert values == [["42.5"], ["lots"]]

    # Loading again changes nothing.
    before = query(stack, capsys, f"SELECT count(*) FROM tracks WHERE user_id = '{user}'")  # noqa: S608
    load(stack, capsys, WEB)
    assert query(stack, capsys, f"SELECT count(*) FROM tracks WHERE user_id = '{user}'") == before  # noqa: S608


def rows_of_user(stack: LocalStack, user: str, source: str = WEB) -> list[dict[str, Any]]:
    """The user's archived events (this source's objects only: the shared stack archives much more)."""
    assert stack.resources is not None
    s3, bucket = stack.client("s3"), stack.resources.archive_bucket
    found = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"source_id={source}/"):
        for item in page.get("Contents", []):
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            found += [m for m in map(orjson.loads, gzip.decompress(body).splitlines()) if m.get("userId") == user]
    return found


def test_selective_sync_keeps_what_the_workspace_leaves_out_of_the_lake(
    stack: LocalStack, capsys: pytest.CaptureFixture[str]
) -> None:
    run = uuid.uuid4().hex[:8]
    user = f"shop-{run}"

    def calls(client: SegmentClient) -> None:
        client.track(user, "Internal Ping", {"n": 1})
        client.track(user, "Checkout Started", {"total": 10, "card_number": "4111"})

    send_with_sdk(stack, SHOP_KEY, calls)
    assert wait_until(lambda: len(rows_of_user(stack, user, SHOP)) == 2, timeout=30)
    load(stack, capsys, SHOP)
    assert query(stack, capsys, f"SELECT event FROM tracks WHERE user_id = '{user}'") == [["checkout_started"]]  # noqa: S608
    code, tables = cli(stack, capsys, "lake", "tables", "--source", SHOP)
    assert "internal_ping" not in tables and "card_number" not in tables


def test_a_compacted_hour_is_still_replayed(
    stack: LocalStack, receiver: WebhookReceiver, capsys: pytest.CaptureFixture[str]
) -> None:
    """Yesterday's hour, made by copying this run's archived events there as received then (the
    router only writes the current hour): closed, so the loader compacts it into one object, which
    a replay reads."""
    assert stack.resources is not None
    run = uuid.uuid4().hex[:8]
    user = f"old-{run}"

    def calls(client: SegmentClient) -> None:
        for index in range(3):
            client.track(user, "Old Event", {"index": index})
            client.flush()

    send_with_sdk(stack, WEB_KEY, calls)
    assert wait_until(lambda: len(rows_of_user(stack, user)) == 3, timeout=30)
    s3, bucket = stack.client("s3"), stack.resources.archive_bucket
    yesterday = datetime.now(UTC) - timedelta(days=1)
    partition = f"source_id={WEB}/date={yesterday:%Y-%m-%d}/hour={yesterday:%H}/"
    copied = 0
    for page in s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Prefix=f"source_id={WEB}/date={datetime.now(UTC):%Y-%m-%d}/"
    ):
        for item in page.get("Contents", []):
            body = gzip.decompress(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            for line in body.splitlines():
                if user.encode() not in line:
                    continue
                received = {**orjson.loads(line), "receivedAt": f"{yesterday:%Y-%m-%dT%H}:15:00.000Z"}
                copy = gzip.compress(orjson.dumps(received) + b"\n")
                s3.put_object(Bucket=bucket, Key=f"{partition}copy-{copied}.jsonl.gz", Body=copy)
                copied += 1
    assert copied == 3
    code, out = cli(
        stack,
        capsys,
        "lake",
        "load",
        "--source",
        WEB,
        "--from",
        f"{yesterday:%Y-%m-%dT%H}:00:00Z",
        "--to",
        f"{yesterday:%Y-%m-%dT%H}:30:00Z",
    )
    assert code == 0, out
    assert "archive objects: 3 before compaction, 1 after" in out
    keys = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket, Prefix=partition).get("Contents", [])]
    assert keys == [partition + "compacted-0000.jsonl.gz"]

    # Their live deliveries first, so that what arrives after this is the replay's.
    assert wait_until(lambda: len(delivered_to(receiver, user)) == 3, timeout=30)
    receiver.requests.clear()
    start, end = f"{yesterday:%Y-%m-%dT%H}:00:00Z", f"{yesterday + timedelta(hours=1):%Y-%m-%dT%H}:00:00Z"
    code, out = cli(
        stack,
        capsys,
        "replay",
        "start",
        "--source",
        WEB,
        "--destination",
        "lakehook",
        "--from",
        start,
        "--to",
        end,
        "--wait",
    )
    assert code == 0, out
    assert sorted(event["properties"]["index"] for event in delivered_to(receiver, user)) == [0, 1, 2]


def delivered_to(receiver: WebhookReceiver, user: str) -> list[dict[str, Any]]:
    return [
        event for received in list(receiver.requests) for event in _events(received.body) if event.get("userId") == user
    ]


def _events(body: bytes) -> list[dict[str, Any]]:
    decoded = orjson.loads(body)
    return decoded if isinstance(decoded, list) else [decoded]
