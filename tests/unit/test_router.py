"""The router's batch logic with in-memory fakes: dedupe, exactly-once archive, failure reporting."""

from __future__ import annotations

import base64

import orjson
import pytest

from switchyard.config.workspace import compile_workspace, parse_workspace
from switchyard.router.service import KinesisRecord, Router, decode
from switchyard.stream_codec import encode
from tests.support.router import MemoryArchive, MemoryDedupe, MemoryQueue

WORKSPACE = compile_workspace(
    parse_workspace("""\
workspace: acme
sources: [{id: web, name: Web, write_key: wk_web_123}]
destinations: [{id: hooks, type: webhook, sources: [web], settings: {url: "http://h/1"}}]
""")
)


def record(sequence: int, message_id: str, hour: str = "10", **extra: object) -> KinesisRecord:
    message = {
        "projectId": "web",
        "messageId": message_id,
        "type": "track",
        "event": "E",
        "userId": "u",
        "receivedAt": f"2026-11-30T{hour}:00:00.000Z",
        **extra,
    }
    return KinesisRecord("shardId-0", str(sequence), base64.b64encode(orjson.dumps(message)).decode())


def make_router(dedupe=None, archive=None, queue=None, after_archive=None):  # type: ignore[no-untyped-def]
    parts = (dedupe or MemoryDedupe(), archive or MemoryArchive(), queue or MemoryQueue())
    return Router(lambda: WORKSPACE, *parts, after_archive=after_archive), parts


def test_duplicates_are_archived_and_fanned_out_once():
    router, (_, archive, queue) = make_router()
    report = router.process([record(1, "a"), record(2, "b"), record(3, "a")])
    assert (report.duplicates, report.archived, report.fanned_out, report.first_failure) == (1, 2, 2, None)
    assert sorted(archive.archived_ids()) == ["a", "b"]
    assert [request.event["messageId"] for request in queue.sent] == ["a", "b"]


def test_one_dedupe_write_per_event():
    dedupe = MemoryDedupe()
    router, _ = make_router(dedupe=dedupe)
    router.process([record(i, f"m{i}") for i in range(50)])
    assert dedupe.writes == 50


def test_a_retried_batch_is_not_mistaken_for_duplicates_of_itself():
    crashes = [True]

    def crash_once() -> None:
        if crashes:
            crashes.pop()
            raise RuntimeError("died after archiving")

    router, (_, archive, queue) = make_router(after_archive=crash_once)
    batch = [record(1, "a"), record(2, "b")]
    first = router.process(batch)
    assert first.first_failure == "1", "the whole batch is retried from its first record"
    assert queue.sent == []
    second = router.process(batch)
    assert (second.first_failure, second.duplicates, second.fanned_out) == (None, 0, 2)
    assert sorted(archive.archived_ids()) == ["a", "b"], "the retry overwrote its own archive object"


def test_a_bisected_retry_still_archives_each_event_once():
    archive = MemoryArchive()
    failing = make_router(archive=archive, queue=MemoryQueue(fail_times=1))[0]
    batch = [record(1, "a", hour="10"), record(2, "b", hour="11"), record(3, "c", hour="10"), record(4, "d", hour="11")]
    assert failing.process(batch).first_failure == "1"
    # Lambda bisects: the halves come back separately.
    assert failing.process(batch[:2]).first_failure is None
    assert failing.process(batch[2:]).first_failure is None
    assert sorted(archive.archived_ids()) == ["a", "b", "c", "d"]


def test_undecided_claims_finish_the_prefix_and_report_the_first_undecided_record():
    router, (_, archive, queue) = make_router(dedupe=MemoryDedupe(fail={"c"}))
    report = router.process([record(1, "a"), record(2, "b"), record(3, "c"), record(4, "d")])
    assert report.first_failure == "3"
    assert sorted(archive.archived_ids()) == ["a", "b"]
    assert [r.event["messageId"] for r in queue.sent] == ["a", "b"]


def test_undecodable_records_are_skipped_not_retried_forever():
    router, (_, archive, _) = make_router()
    junk = KinesisRecord("shardId-0", "9", base64.b64encode(b"not json").decode())
    report = router.process([junk, record(10, "a")])
    assert (report.undecodable, report.first_failure, archive.archived_ids()) == (1, None, ["a"])


def deflated(plain: KinesisRecord) -> KinesisRecord:
    """The record as ingest writes it with `stream_compression`."""
    data = encode(base64.b64decode(plain.data_base64))
    return KinesisRecord(plain.shard_id, plain.sequence, base64.b64encode(data).decode())


def test_deflated_records_decode_to_the_same_event_as_plain_ones():
    plain = record(1, "a", properties={"name": "Zoë", "tags": ["☕", 2**63]})
    event = decode(deflated(plain))
    assert event == decode(plain)
    assert event is not None and event.data == base64.b64decode(plain.data_base64)  # JSON, as archived


def test_deflated_and_plain_records_are_archived_and_delivered_alike():
    router, (_, archive, queue) = make_router()
    plain = [record(1, "a"), record(2, "b")]
    report = router.process([plain[0], deflated(plain[1])])
    assert (report.undecodable, report.archived, report.fanned_out) == (0, 2, 2)
    assert archive.archived == [base64.b64decode(each.data_base64) for each in plain]
    assert [request.event_json for request in queue.sent] == archive.archived


def test_events_blocked_by_integrations_are_archived_but_not_fanned_out():
    router, (_, archive, queue) = make_router()
    router.process([record(1, "a", integrations={"All": False})])
    assert (archive.archived_ids(), queue.sent) == (["a"], [])


@pytest.mark.parametrize("hour", ["00", "23"])
def test_archive_keys_are_hive_partitioned_by_received_hour(hour: str):
    archive = MemoryArchive()
    make_router(archive=archive)[0].process([record(5, "a", hour=hour)])
    assert list(archive.objects) == [f"source_id=web/date=2026-11-30/hour={hour}/shardId-0-5.jsonl.gz"]


def test_suppressed_users_records_are_neither_archived_nor_fanned_out():
    dedupe, archive, queue = MemoryDedupe(), MemoryArchive(), MemoryQueue()
    router = Router(lambda: WORKSPACE, dedupe, archive, queue, suppressed=lambda: frozenset({"user:gone"}))
    report = router.process([record(1, "a", userId="gone"), record(2, "b"), record(3, "c", userId="gone")])
    assert (report.suppressed, report.archived, report.fanned_out) == (2, 1, 1)
    assert archive.archived_ids() == ["b"]
    assert dedupe.writes == 1  # nothing of theirs is claimed either


def test_an_unreadable_suppression_list_retries_the_batch_instead_of_archiving():
    def unreadable() -> frozenset[str]:
        raise ConnectionError("config table unreachable")

    dedupe, archive, queue = MemoryDedupe(), MemoryArchive(), MemoryQueue()
    report = Router(lambda: WORKSPACE, dedupe, archive, queue, suppressed=unreadable).process([record(7, "a")])
    assert (report.first_failure, report.archived) == ("7", 0)
    assert archive.archived_ids() == []
