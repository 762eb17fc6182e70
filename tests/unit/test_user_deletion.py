"""User deletion's steps against an emulated S3 (versioned, as deployed) and DynamoDB: the plan
suppresses first and lists every version; the scan finds ties; the rewrite keeps everyone else's
lines byte for byte and leaves no version holding the users; stored samples and dead letters go;
the finish step's status and report follow what each part did."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import boto3
import orjson
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from switchyard.config.workspace import compile_workspace, parse_workspace
from switchyard.constants import CONFIG_PK, DEDUPE_PK
from switchyard.debugger import DEBUGGER_PREFIX
from switchyard.debugger.store import DebuggerStore, DebuggerWrite
from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.requests import DeliveryRequest
from switchyard.delivery.table import DeliveryTable
from switchyard.destinations.base import DeletionAttempt
from switchyard.devstack.resources import create_delivery_table
from switchyard.privacy.deletion.definition import REWRITE, SCAN
from switchyard.privacy.deletion.destinations import DestinationDeletions, DestinationOutcome
from switchyard.privacy.deletion.model import (
    DeletionRequest,
    DeletionRequestError,
    DeletionStatus,
    Subjects,
    new_request,
)
from switchyard.privacy.deletion.plan import DeletionPlanner
from switchyard.privacy.deletion.reports import AuditObjects
from switchyard.privacy.deletion.rewrite import ArchiveRewriter, Rewritten
from switchyard.privacy.deletion.steps import BatchStep, FinishStep, PlanStep, subjects_of
from switchyard.privacy.deletion.store import DeletionStore
from switchyard.privacy.deletion.stored import StoredEvents

BUCKET, DEDUPE, DELIVERY, REGION = "archive", "dedupe", "delivery", "us-west-2"
KEY_A = "source_id=web/date=2026-11-30/hour=10/shard-1.jsonl.gz"
KEY_B = "source_id=web/date=2026-11-30/hour=11/shard-2.jsonl.gz"
KEY_C = "source_id=app/date=2026-11-30/hour=10/shard-3.jsonl.gz"

WORKSPACE = compile_workspace(
    parse_workspace("""\
workspace: acme
sources: [{id: web, name: Web, write_key: wk_web_123}, {id: app, name: App, write_key: wk_app_123}]
destinations:
  - {id: hook, type: webhook, sources: [web], settings: {url: "http://h/1"}}
  - {id: braze, type: braze, sources: [web], settings: {api_key: key-12345678, instance: iad-01}}
""")
)


def event(message_id: str, user_id: str | None = None, anonymous_id: str | None = None) -> dict[str, Any]:
    ids = {"userId": user_id} if user_id else {}
    ids |= {"anonymousId": anonymous_id} if anonymous_id else {}
    return {"type": "track", "event": "Clicked", "messageId": message_id, **ids}


def body(*events: dict[str, Any]) -> bytes:
    return gzip.compress(b"\n".join(orjson.dumps(e) for e in events) + b"\n")


def lines(s3: Any, key: str, version: str | None = None) -> list[bytes]:
    extra = {"VersionId": version} if version else {}
    data = s3.get_object(Bucket=BUCKET, Key=key, **extra)["Body"].read()
    return [line for line in gzip.decompress(data).splitlines() if line]


def versions(s3: Any, key: str) -> list[str]:
    page = s3.list_object_versions(Bucket=BUCKET, Prefix=key)
    return [v["VersionId"] for v in [*page.get("Versions", []), *page.get("DeleteMarkers", [])] if v["Key"] == key]


class FakeSuppressions:
    def __init__(self) -> None:
        self.added: set[str] = set()

    def add(self, ids: set[str]) -> None:
        self.added |= ids


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        dynamodb = boto3.client("dynamodb", region_name=REGION)
        dynamodb.create_table(
            TableName=DEDUPE,
            KeySchema=[{"AttributeName": CONFIG_PK, "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": CONFIG_PK, "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        create_delivery_table(dynamodb, DELIVERY)
        yield s3, dynamodb


@pytest.fixture
def archive(aws: tuple[Any, Any]) -> Any:
    """KEY_A mixes the user with others; KEY_B is theirs alone (twice written); KEY_C's current
    version is clean but its older one is not; the anonymous event of the cookie sits in KEY_C too."""
    s3, dynamodb = aws
    s3.put_object(
        Bucket=BUCKET,
        Key=KEY_A,
        Body=body(event("a1", "other"), event("a2", "gone", "cookie"), event("a3", anonymous_id="x")),
    )
    s3.put_object(Bucket=BUCKET, Key=KEY_B, Body=body(event("b1", "gone")))
    s3.put_object(Bucket=BUCKET, Key=KEY_B, Body=body(event("b1", "gone")))
    s3.put_object(Bucket=BUCKET, Key=KEY_C, Body=body(event("c1", anonymous_id="cookie"), event("c2", "other")))
    s3.put_object(Bucket=BUCKET, Key=KEY_C, Body=body(event("c2", "other")))
    for message_id in ("a1", "a2", "b1"):
        dynamodb.put_item(TableName=DEDUPE, Item={DEDUPE_PK: {"S": f"web#{message_id}"}})
    return s3


def store(dynamodb: Any) -> DeletionStore:
    return DeletionStore(DeliveryTable(DELIVERY, dynamodb))


def started(dynamodb: Any, request: DeletionRequest) -> DeletionStore:
    deletions = store(dynamodb)
    deletions.create(request, "arn:execution")
    return deletions


REQUEST = DeletionRequest("dl-1", ("gone",), (), "arn:aws:iam::1:user/dpo", "2026-12-01T08:00:00.000Z")


def run_workflow(s3: Any, dynamodb: Any, suppressions: FakeSuppressions) -> list[dict[str, Any]]:
    """Plan, scan and rewrite as the workflow would (one batch per manifest item)."""
    deletions = started(dynamodb, REQUEST)
    plan = PlanStep(DeletionPlanner(BUCKET, suppressions, s3), deletions).run({"deletion": REQUEST.to_input()})
    batches = orjson.loads(s3.get_object(Bucket=BUCKET, Key=plan["manifest"])["Body"].read())
    step = BatchStep(ArchiveRewriter(BUCKET, DEDUPE, s3, dynamodb), deletions, suppressions, AuditObjects(BUCKET, s3))
    for phase in (SCAN, REWRITE):
        for index, objects in enumerate(batches):
            step.run({"deletion": REQUEST.to_input(), "objects": objects, "batch": index, "phase": phase})
    return batches


def test_the_plan_suppresses_first_and_lists_every_version_of_every_event_object(archive: Any, aws: Any) -> None:
    suppressions = FakeSuppressions()
    deletions = started(aws[1], REQUEST)
    plan = PlanStep(DeletionPlanner(BUCKET, suppressions, archive), deletions).run({"deletion": REQUEST.to_input()})
    assert suppressions.added == {"user:gone"}
    listed = {
        item["key"]: item["versions"]
        for batch in orjson.loads(archive.get_object(Bucket=BUCKET, Key=plan["manifest"])["Body"].read())
        for item in batch
    }
    assert {key: len(found) for key, found in listed.items()} == {KEY_A: 1, KEY_B: 2, KEY_C: 2}
    record = deletions.get("dl-1")
    assert record is not None and (record.status, record.objects) == (DeletionStatus.RUNNING, 3)


def test_the_rewrite_keeps_everyone_elses_lines_byte_for_byte_and_no_version_holds_the_user(
    archive: Any, aws: Any
) -> None:
    before = lines(archive, KEY_A)
    suppressions = FakeSuppressions()
    run_workflow(archive, aws[1], suppressions)

    assert lines(archive, KEY_A) == [before[0], before[2]]
    assert len(versions(archive, KEY_A)) == 1, "the version that held them is gone"
    assert versions(archive, KEY_B) == [], "nothing else was in it: every version and marker is gone"
    assert [orjson.loads(line)["messageId"] for line in lines(archive, KEY_C)] == ["c2"]
    assert len(versions(archive, KEY_C)) == 1, "the older version held the tied cookie's event"
    assert "anonymous:cookie" in suppressions.added, "the tie found by the scan is suppressed too"

    record = store(aws[1]).get("dl-1")
    assert record is not None and record.tied_anonymous_ids == {"cookie"}
    assert record.counter("events_removed") == 3  # a2, b1, c1 (b1's two versions are one event)
    assert (record.counter("objects_rewritten"), record.counter("objects_deleted")) == (1, 1)
    assert record.counter("objects_older_versions_deleted") == 1


def test_their_dedupe_claims_go_and_everyone_elses_stay(archive: Any, aws: Any) -> None:
    run_workflow(archive, aws[1], FakeSuppressions())
    left = {item[DEDUPE_PK]["S"] for item in aws[1].scan(TableName=DEDUPE)["Items"]}
    assert left == {"web#a1"}


def test_a_second_run_changes_nothing(archive: Any, aws: Any) -> None:
    batches = run_workflow(archive, aws[1], FakeSuppressions())
    state = {key: versions(archive, key) for key in (KEY_A, KEY_B, KEY_C)}
    rewriter = ArchiveRewriter(BUCKET, DEDUPE, archive, aws[1])
    again = Rewritten()
    for objects in batches:
        rewriter.rewrite(subjects_of(REQUEST, frozenset({"cookie"})), objects, again)
    assert again.keys == [] and again.counts["events_removed"] == 0
    assert {key: versions(archive, key) for key in (KEY_A, KEY_B, KEY_C)} == state


def test_stored_samples_and_dead_letters_of_the_users_are_removed(aws: Any) -> None:
    _, dynamodb = aws
    table = DeliveryTable(DELIVERY, dynamodb)
    table.put_sample("errors#braze", "400", {"request": {"body": '{"external_id": "gone"}'}}, 2_000_000_000)
    table.put_sample("errors#hook", "500", {"request": {"body": '{"userId": "other"}'}}, 2_000_000_000)
    table.put_sample("violation-samples#web", "E | x", {"received": {"anonymousId": "cookie"}}, 2_000_000_000)
    for index, message in enumerate((event("d1", "gone"), event("d2", "other"))):
        dynamodb.put_item(
            TableName=DELIVERY,
            Item={
                "pk": {"S": "dlq#hook"},
                "sk": {"S": f"2026-12-01T00:00:0{index}#m"},
                "request": {"S": DeliveryRequest("hook", message).to_body().decode()},
            },
        )
    counts = StoredEvents(table).clear(WORKSPACE, Subjects(frozenset({"gone"}), frozenset({"cookie"})))
    assert dict(counts) == {"error_samples_removed": 1, "dead_letters_removed": 1, "violation_samples_removed": 1}
    left = sorted(item["pk"]["S"] for item in dynamodb.scan(TableName=DELIVERY)["Items"])
    assert left == ["dlq#hook", "errors#hook"]


class ScriptedAdapter:
    """Answers each delete_users call with the next status of its script."""

    def __init__(self, *script: AttemptStatus, retry_after: float | None = None, supports: bool = True) -> None:
        self.script = list(script)
        self.calls: list[list[str]] = []
        self.retry_after = retry_after
        self.supports_deletion = supports

    def delete_users(self, destination: Any, user_ids: Sequence[str], deadline: float) -> list[DeletionAttempt]:
        self.calls.append(list(user_ids))
        status = self.script.pop(0)
        retry_after = self.retry_after if status is AttemptStatus.RETRY else None
        return [
            DeletionAttempt(
                tuple(user_ids), status, "200" if status is AttemptStatus.DELIVERED else "503", {}, {}, retry_after
            )
        ]


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def deletions_with(adapters: dict[str, Any], clock: FakeClock) -> DestinationDeletions:
    return DestinationDeletions(adapters, clock=clock, sleep=clock.sleep)


def test_a_throttled_delete_call_is_tried_again_after_retry_after_and_then_accepted() -> None:
    clock = FakeClock()
    braze = ScriptedAdapter(AttemptStatus.RETRY, AttemptStatus.DELIVERED, retry_after=7)
    answered = deletions_with({"braze": braze, "webhook": ScriptedAdapter(supports=False)}, clock).delete(
        WORKSPACE, ["gone"], deadline=100
    )
    by_id = {answer.destination: answer for answer in answered}
    assert by_id["braze"].outcome is DestinationOutcome.ACCEPTED and by_id["braze"].attempts == 2
    assert clock.slept == [7]
    assert by_id["hook"].outcome is DestinationOutcome.NOT_SUPPORTED


def test_a_delete_call_still_failing_after_its_attempts_is_recorded_as_failed() -> None:
    clock = FakeClock()
    braze = ScriptedAdapter(*[AttemptStatus.RETRY] * 4)
    (_, answer) = deletions_with({"braze": braze}, clock).delete(WORKSPACE, ["gone"], deadline=1_000)
    assert (answer.outcome, answer.attempts, answer.answers[0]["code"]) == (DestinationOutcome.FAILED, 4, "503")
    assert clock.slept == [2.0, 4.0, 8.0]


def test_a_refused_delete_call_is_not_retried_and_only_anonymous_ids_ask_no_tool() -> None:
    clock = FakeClock()
    braze = ScriptedAdapter(AttemptStatus.FINAL)
    (_, answer) = deletions_with({"braze": braze}, clock).delete(WORKSPACE, ["gone"], deadline=1_000)
    assert (answer.outcome, len(braze.calls)) == (DestinationOutcome.FAILED, 1)
    (_, nothing) = deletions_with({"braze": ScriptedAdapter()}, clock).delete(WORKSPACE, [], deadline=1_000)
    assert nothing.outcome is DestinationOutcome.NOTHING_TO_DELETE


def test_out_of_time_leaves_the_rest_failed_instead_of_waiting() -> None:
    clock = FakeClock()
    braze = ScriptedAdapter(AttemptStatus.RETRY, AttemptStatus.RETRY, retry_after=50)
    (_, answer) = deletions_with({"braze": braze}, clock).delete(WORKSPACE, ["gone"], deadline=30)
    assert answer.outcome is DestinationOutcome.FAILED
    assert answer.answers[-1]["code"] == "out_of_time" and clock.slept == [30]


class FakeLakeReloads:
    def __init__(self) -> None:
        self.keys: list[str] = []

    def request(self, keys: Iterable[str]) -> int:
        self.keys += keys
        return len({key.rsplit("/", 1)[0] for key in self.keys})


def finish(
    aws: Any, archive: Any, adapters: dict[str, Any], event: dict[str, Any], lake: FakeLakeReloads | None = None
) -> dict[str, Any]:
    deletions = store(aws[1])
    clock = FakeClock()
    step = FinishStep(
        deletions,
        lambda: WORKSPACE,
        StoredEvents(DeliveryTable(DELIVERY, aws[1])),
        deletions_with(adapters, clock),
        AuditObjects(BUCKET, archive),
        lake=lake,
        debugger=DebuggerStore(BUCKET, archive),
        clock=clock,
    )
    return step.run(event, seconds_left=900)


def debugger_versions(archive: Any) -> list[str]:
    listed = archive.list_object_versions(Bucket=BUCKET, Prefix=DEBUGGER_PREFIX)
    return [version["Key"] for version in listed.get("Versions", []) + listed.get("DeleteMarkers", [])]


def test_the_finish_step_writes_the_report_and_the_audit_record(archive: Any, aws: Any) -> None:
    run_workflow(archive, aws[1], FakeSuppressions())
    debugger = DebuggerStore(BUCKET, archive)
    for source in ("web", "app"):  # the debugger's samples may hold the users' events
        debugger.write_many([DebuggerWrite(source, "shardId-0", "1", 1.0, [b'{"userId":"gone","type":"track"}'])])
    assert len(debugger_versions(archive)) == 2
    lake = FakeLakeReloads()
    summary = finish(
        aws, archive, {"braze": ScriptedAdapter(AttemptStatus.DELIVERED)}, {"deletion": REQUEST.to_input()}, lake
    )
    assert summary["status"] == DeletionStatus.SUCCEEDED
    report = AuditObjects(BUCKET, archive).report("dl-1")
    assert report is not None
    assert report["deletion"]["requested_by"] == "arn:aws:iam::1:user/dpo"
    assert [(item["key"], item["action"]) for item in report["objects"]] == [
        (KEY_C, "older versions deleted"),
        (KEY_A, "rewritten"),
        (KEY_B, "deleted"),
    ]
    assert report["tied_anonymous_ids"] == ["cookie"]
    # The lake's files of those hours are rebuilt from the rewritten archive.
    assert sorted(lake.keys) == sorted([KEY_A, KEY_B, KEY_C]) and report["lake_hours_reloaded"] == 3
    # The debugger is cleared whole, every version: it fills again with new messages.
    assert debugger_versions(archive) == [] and report["counts"]["debugger_objects_removed"] == 2
    record = store(aws[1]).get("dl-1")
    assert record is not None and record.status is DeletionStatus.SUCCEEDED
    assert [answer["outcome"] for answer in record.destinations] == ["not_supported", "accepted"]
    assert [r.request.id for r in store(aws[1]).list()] == ["dl-1"]


def test_a_failed_destination_makes_it_incomplete_and_a_failed_step_makes_it_failed(archive: Any, aws: Any) -> None:
    started(aws[1], REQUEST)
    incomplete = finish(aws, archive, {"braze": ScriptedAdapter(AttemptStatus.FINAL)}, {"deletion": REQUEST.to_input()})
    assert incomplete["status"] == DeletionStatus.INCOMPLETE
    other = DeletionRequest("dl-2", ("gone",), (), "dpo", "2026-12-01T09:00:00.000Z")
    started(aws[1], other)
    failed = finish(
        aws,
        archive,
        {"braze": ScriptedAdapter(AttemptStatus.DELIVERED)},
        {"deletion": other.to_input(), "error": {"Error": "States.TaskFailed", "Cause": "worker crashed"}},
    )
    assert failed["status"] == DeletionStatus.FAILED
    record = store(aws[1]).get("dl-2")
    assert record is not None and record.error == "worker crashed"


def test_requests_are_validated_before_anything_starts() -> None:
    with pytest.raises(DeletionRequestError, match="at least one"):
        new_request([], [], "dpo")
    with pytest.raises(DeletionRequestError, match="empty"):
        new_request([" "], [], "dpo")
    with pytest.raises(DeletionRequestError, match="at most"):
        new_request([f"u{i}" for i in range(101)], [], "dpo")
    request = new_request(["a", "a", "b"], ["c"], "dpo")
    assert (request.user_ids, request.anonymous_ids, request.id[:3]) == (("a", "b"), ("c",), "dl-")


class AnsweringAdapter:
    supports_deletion = True

    def __init__(self, status: AttemptStatus, code: str) -> None:
        self.status, self.code = status, code

    def delete_users(self, destination: Any, user_ids: Sequence[str], deadline: float) -> list[DeletionAttempt]:
        return [DeletionAttempt(tuple(user_ids), self.status, self.code, {}, {"error": "set secret_key"})]


@pytest.mark.parametrize(
    ("code", "outcome"),
    [
        ("deletion_not_configured", DestinationOutcome.NOT_CONFIGURED),
        ("unsupported_event_type", DestinationOutcome.NOT_SUPPORTED),  # a destination function without on_delete
        ("400", DestinationOutcome.FAILED),
    ],
)
def test_refusals_that_say_why_get_their_own_outcome(code: str, outcome: DestinationOutcome) -> None:
    clock = FakeClock()
    adapter = AnsweringAdapter(AttemptStatus.FINAL, code)
    (_, answer) = deletions_with({"braze": adapter}, clock).delete(WORKSPACE, ["gone"], deadline=1_000)
    assert answer.outcome is outcome


class WithoutListBucket:
    """The worker's S3 as AWS answers it: without s3:ListBucket, a missing key or version is a 403."""

    def __init__(self, s3: Any) -> None:
        self._s3 = s3
        self.exceptions = s3.exceptions

    def __getattr__(self, name: str) -> Any:
        return getattr(self._s3, name)

    def _denied_if_missing(self, call: Any, **kwargs: Any) -> Any:
        try:
            return call(**kwargs)
        except self._s3.exceptions.ClientError as error:
            if error.response["Error"]["Code"] not in ("404", "NoSuchKey", "NoSuchVersion"):
                raise
            error.response["Error"]["Code"] = "403"
            raise

    def get_object(self, **kwargs: Any) -> Any:
        return self._denied_if_missing(self._s3.get_object, **kwargs)


def test_a_retried_batch_passes_keys_an_earlier_attempt_deleted_although_s3_answers_403(archive: Any, aws: Any) -> None:
    batches = run_workflow(archive, aws[1], FakeSuppressions())  # KEY_B is gone, every version of it
    rewriter = ArchiveRewriter(BUCKET, DEDUPE, WithoutListBucket(archive), aws[1])
    again = Rewritten()
    for objects in batches:
        rewriter.rewrite(subjects_of(REQUEST, frozenset({"cookie"})), objects, again)
        rewriter.scan(subjects_of(REQUEST), objects)
    assert again.keys == [] and again.counts["objects_checked"] == 3


def test_a_real_403_on_an_object_that_exists_is_not_taken_for_absence(archive: Any, aws: Any) -> None:
    class Forbidden(WithoutListBucket):
        def get_object(self, **kwargs: Any) -> Any:
            if "VersionId" in kwargs:
                return super().get_object(**kwargs)
            raise ClientError({"Error": {"Code": "403", "Message": "Forbidden"}}, "GetObject")

    rewriter = ArchiveRewriter(BUCKET, DEDUPE, Forbidden(archive), aws[1])
    with pytest.raises(archive.exceptions.ClientError):
        rewriter.rewrite(subjects_of(REQUEST), [{"key": KEY_A, "versions": versions(archive, KEY_A)}], Rewritten())
