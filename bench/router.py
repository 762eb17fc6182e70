"""Router: time per stream record against the floor of base64-decoding and parsing the same records.

The router is the real one (DedupeStore, Archive, DeliveryQueue and their thread pools), with the
DynamoDB, S3 and SQS clients replaced by in-memory fakes that keep the semantics it relies on
(conditional writes, overwrite by key, batch sends). Figures are CPU time of the whole process,
worker threads included.

The debugger and usage (issue 13) are priced against the router without them: the same batches
(one visitor in three logged in), then what the handler does with a settled batch: the MTU sketch
updates and the usage item's merge and write (usage/), and the debugger's sample and write
(debugger/), with the router's clock moving a second per batch so that every batch writes its
sample, as a busy source's would.
"""

from __future__ import annotations

import base64
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import Figure, time_pair  # noqa: E402
from bench.ingest import browser_event  # noqa: E402

TITLE = "router (bench/router.py)"
BATCH_SIZE = 500


class FakeDynamoDB:
    """Conditional put_item as the dedupe store uses it; counts writes."""

    def __init__(self) -> None:
        self.items: dict[str, str] = {}
        self.writes = 0
        self._lock = threading.Lock()

    def put_item(
        self,
        TableName: str,
        Item: dict,
        ConditionExpression: str,  # noqa: N803 - boto3's names
        ExpressionAttributeValues: dict,
    ) -> dict:  # noqa: N803
        from botocore.exceptions import ClientError

        key = Item["pk"]["S"]
        me = ExpressionAttributeValues[":me"]["S"]
        with self._lock:
            self.writes += 1
            owner = self.items.setdefault(key, me)
        if owner != me:
            raise ClientError({"Error": {"Code": "ConditionalCheckFailedException", "Message": ""}}, "PutItem")
        return {}


class FakeS3:
    def __init__(self) -> None:
        self.objects: dict[str, bytes] = {}
        self.puts = 0

    def put_object(self, Bucket: str, Key: str, Body: bytes, ContentType: str) -> dict:  # noqa: N803
        self.objects[Key] = Body
        self.puts += 1
        return {}


class FakeSQS:
    def __init__(self) -> None:
        self.messages = 0

    def send_message_batch(self, QueueUrl: str, Entries: list[dict]) -> dict:  # noqa: N803
        self.messages += len(Entries)
        return {"Successful": [{"Id": entry["Id"]} for entry in Entries], "Failed": []}


class FakeUsageTable:
    """GetItem and the UpdateItems of the usage store (usage/store.py): the counters' ADD and the
    sketches' conditional write; counts each."""

    def __init__(self) -> None:
        self.versions: dict[str, str] = {}
        self.writes = 0  # counters
        self.sketch_writes = 0

    def get_item(self, TableName: str, Key: dict, ConsistentRead: bool) -> dict:  # noqa: N803
        return {}

    def update_item(self, TableName: str, Key: dict, **request: Any) -> dict:  # noqa: N803
        values = request["ExpressionAttributeValues"]
        if ":next" not in values:
            self.writes += 1
            return {}
        self.sketch_writes += 1
        self.versions[Key["sk"]["S"]] = values[":next"]["N"]
        return {}


class TickingClock:
    """`step` seconds per reading: every batch finds the debugger's tokens refilled (its sampler's,
    its write budget's), the most it ever costs."""

    def __init__(self, step: float = 1.0) -> None:
        self.seconds = 0.0
        self.step = step

    def __call__(self) -> float:
        self.seconds += self.step
        return self.seconds


def stored_event(index: int) -> dict[str, Any]:
    event = browser_event(index)
    event.update(
        projectId="web",
        receivedRegion="us-west-2",
        receivedAt="2026-11-30T12:00:01.000Z",
        originalTimestamp=event["timestamp"],
        sentAt="2026-11-30T12:00:01.000Z",
    )
    event["context"]["ip"] = "203.0.113.9"
    return event


def visitor_event(index: int) -> dict[str, Any]:
    """A stored browser event; one visitor in three logged in (userId and anonymousId)."""
    event = stored_event(index)
    if index % 3 == 0:
        event["userId"] = f"user-{index:06d}"
    return event


def lambda_event(batch: int, offset: int = 0, make: Callable[[int], dict[str, Any]] = stored_event) -> dict[str, Any]:
    return {
        "Records": [
            {
                "kinesis": {
                    "sequenceNumber": str(10**20 + offset + i),
                    "partitionKey": f"web/{i}",
                    "data": base64.b64encode(orjson.dumps(make(offset + i))).decode(),
                },
                "eventID": f"shardId-000000000000:{10**20 + offset + i}",
            }
            for i in range(batch)
        ]
    }


def build_router() -> tuple[Any, FakeDynamoDB, FakeS3, FakeSQS]:
    from switchyard.config.workspace import compile_workspace, parse_workspace
    from switchyard.delivery.queue import DeliveryQueue
    from switchyard.router.archive import Archive
    from switchyard.router.dedupe import DedupeStore
    from switchyard.router.service import Router

    workspace = compile_workspace(
        parse_workspace("""\
workspace: bench
sources: [{id: web, name: Web, write_key: wk_bench_web_123}]
destinations: [{id: hooks, type: webhook, sources: [web], settings: {url: "http://127.0.0.1:9/hook"}}]
""")
    )
    dynamodb, s3, sqs = FakeDynamoDB(), FakeS3(), FakeSQS()
    router = Router(
        lambda: workspace, DedupeStore("dedupe", dynamodb), Archive("archive", s3), DeliveryQueue("queue", sqs)
    )
    return router, dynamodb, s3, sqs


def run() -> list[Figure]:
    from switchyard.router.service import KinesisRecord

    router, dynamodb, s3, _ = build_router()
    event = lambda_event(BATCH_SIZE)
    records = [KinesisRecord.from_lambda(record) for record in event["Records"]]

    def route_batch() -> None:
        # A retried batch claims again as its own records: the same path as first delivery.
        report = router.process(records)
        assert report.first_failure is None and report.duplicates == 0, report

    def floor() -> None:
        for record in event["Records"]:
            orjson.loads(base64.b64decode(record["kinesis"]["data"]))

    writes_before, puts_before = dynamodb.writes, s3.puts
    report = router.process(records)
    writes_per_event = (dynamodb.writes - writes_before) / BATCH_SIZE
    objects_per_batch = s3.puts - puts_before
    # CPU time of the whole process: the router's worker threads do part of the work.
    router_seconds, floor_seconds = time_pair(route_batch, floor, rounds=7, min_seconds=0.2, timer=time.process_time)
    return [
        *operator_figures(),
        Figure(
            f"router per record, {BATCH_SIZE}-record batch (dedupe, archive, fan-out to 1 destination)",
            router_seconds / BATCH_SIZE * 1e6,
            "us",
            floor=floor_seconds / BATCH_SIZE * 1e6,
            target=3.0,
        ),
        Figure("dedupe writes per event", writes_per_event, "writes", target=1.0),
        Figure(
            f"archive objects per batch (one source, one hour; {report.archived} events)", objects_per_batch, "objects"
        ),
    ]


def operator_figures() -> list[Figure]:
    """Router time per record with the debugger's writes and the usage/MTU sketches, over without."""
    from datetime import UTC, datetime

    from switchyard.debugger import DEFAULT_DEBUGGER_MESSAGES_PER_SECOND
    from switchyard.debugger.recorder import WRITE_EVERY_SECONDS, DebuggerRecorder
    from switchyard.debugger.sampler import RateSampler
    from switchyard.debugger.store import DebuggerStore
    from switchyard.delivery.table import DeliveryTable
    from switchyard.router.service import KinesisRecord
    from switchyard.usage.store import UsageStore
    from switchyard.usage.tally import tally

    router, _, s3, _ = build_router()
    records = [KinesisRecord.from_lambda(record) for record in lambda_event(BATCH_SIZE, make=visitor_event)["Records"]]
    debugger_s3, usage_table = FakeS3(), FakeUsageTable()
    debugger = DebuggerRecorder(
        DebuggerStore("archive", debugger_s3),
        RateSampler(DEFAULT_DEBUGGER_MESSAGES_PER_SECOND, clock=TickingClock()),
        clock=TickingClock(WRITE_EVERY_SECONDS),
    )
    usage = UsageStore(DeliveryTable("delivery", usage_table))
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)

    def without() -> None:
        report = router.process(records)
        assert report.first_failure is None, report

    def with_operators() -> None:
        # What functions/router/handler.py's record_settled does after the batch.
        report = router.process(records)
        assert report.first_failure is None, report
        usage.record(tally(report.settled_received, report.settled_archived, now), now)
        debugger.record(report.settled_archived)

    with_operators()
    puts_before, writes_before = debugger_s3.puts, usage_table.writes
    with_operators()
    debugger_puts, usage_writes = debugger_s3.puts - puts_before, usage_table.writes - writes_before
    with_seconds, without_seconds = time_pair(
        with_operators, without, rounds=7, min_seconds=0.2, timer=time.process_time
    )
    return [
        Figure(
            f"router per record with debugger + MTU sketches, {BATCH_SIZE}-record batch",
            with_seconds / BATCH_SIZE * 1e6,
            "us",
            floor=without_seconds / BATCH_SIZE * 1e6,
            target=1.15,
        ),
        Figure("debugger S3 PUTs per batch (one source)", debugger_puts, "PUTs", target=1.0),
        Figure("usage table writes per batch (one source, one hour)", usage_writes, "writes", target=1.0),
    ]


if __name__ == "__main__":
    from bench.common import print_figures

    print_figures(TITLE, run())
