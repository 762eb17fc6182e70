"""The ingest Lambda handler against moto: Kinesis writes, partial failures, config lookups."""

from __future__ import annotations

import base64
from datetime import timedelta
from types import ModuleType
from typing import Any

import boto3
import pytest

from switchyard import constants
from switchyard.config.store import CachedWorkspace, ConfigStore
from switchyard.delivery.table import DeliveryTable
from switchyard.devstack.resources import LocalResources
from switchyard.ingest.discard_stats import read_discards
from switchyard.ingest.service import IngestService
from switchyard.streams import KinesisEventStream
from tests.integration.conftest import http_event, invoke
from tests.support.streams import StreamReader


class FlakyKinesis:
    """Real (moto) Kinesis behind a fault injector: the records chosen by `fails` are answered
    with ProvisionedThroughputExceeded and not written, as Kinesis does under load."""

    def __init__(self, fails) -> None:  # type: ignore[no-untyped-def]
        self._real = boto3.client("kinesis")
        self._fails = fails
        self.calls: list[int] = []

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        attempt = len(self.calls)
        self.calls.append(len(Records))
        results: list[dict[str, Any] | None] = [None] * len(Records)
        passed = [i for i, _ in enumerate(Records) if not self._fails(attempt, i)]
        if passed:
            written = self._real.put_records(StreamName=StreamName, Records=[Records[i] for i in passed])
            for index, result in zip(passed, written["Records"], strict=True):
                results[index] = result
        for index, result in enumerate(results):
            if result is None:
                results[index] = {
                    "ErrorCode": "ProvisionedThroughputExceededException",
                    "ErrorMessage": "Rate exceeded",
                }
        return {"FailedRecordCount": sum("ErrorCode" in r for r in results), "Records": results}


def with_kinesis(module: ModuleType, aws: LocalResources, kinesis: Any, budget: float = 2.0) -> Any:
    """A Lambda handler whose service writes through the `kinesis` client (clients are injected)."""
    workspace = CachedWorkspace(ConfigStore(aws.config_table), ttl_seconds=10)
    stream = KinesisEventStream(aws.events_stream, kinesis, budget_seconds=budget, base_delay=0.01)
    api = module.IngestApi(IngestService(workspace.get, stream, aws.region))
    return module.lambda_handler_for(lambda: api)


def batch(count: int) -> dict[str, Any]:
    return {"batch": [{"type": "track", "userId": f"u{i}", "event": "E", "messageId": f"m{i}"} for i in range(count)]}


def test_a_track_call_lands_in_the_stream(ingest: ModuleType, stream: StreamReader):
    status, body, _ = invoke(ingest, http_event("POST", "/v1/track", {"userId": "u1", "event": "Signed Up"}))
    assert (status, body) == (200, {"success": True})
    [stored] = stream.read_new()
    assert (stored["event"], stored["projectId"], stored["context"]["ip"]) == (
        "Signed Up",
        "web",
        "198.51.100.7",
    )


def raw_records(aws: LocalResources) -> list[bytes]:
    kinesis = boto3.client("kinesis")
    found = []
    for shard in kinesis.list_shards(StreamName=aws.events_stream)["Shards"]:
        iterator = kinesis.get_shard_iterator(
            StreamName=aws.events_stream, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON"
        )["ShardIterator"]
        found += [record["Data"] for record in kinesis.get_records(ShardIterator=iterator)["Records"]]
    return found


def test_with_stream_compression_records_land_deflated(
    monkeypatch: pytest.MonkeyPatch, ingest: ModuleType, aws: LocalResources, stream: StreamReader
):
    monkeypatch.setenv(constants.ENV_STREAM_COMPRESSION, "true")  # read on the first request
    status, _, _ = invoke(ingest, http_event("POST", "/v1/track", {"userId": "u1", "event": "Signed Up"}))
    assert status == 200
    [data] = raw_records(aws)
    assert not data.startswith(b"{")
    [stored] = stream.read_new()  # decoded, as every reader of the stream does
    assert stored["event"] == "Signed Up"


def test_partial_put_records_failures_succeed_on_retry(ingest: ModuleType, aws: LocalResources, stream: StreamReader):
    kinesis = FlakyKinesis(fails=lambda attempt, index: attempt == 0 and index % 3 == 0)
    handler = with_kinesis(ingest, aws, kinesis)
    status, body, _ = invoke(handler, http_event("POST", "/v1/batch", batch(30)))
    assert (status, body) == (200, {"success": True})
    assert kinesis.calls == [30, 10], "only the 10 failed records are sent again"
    assert sorted(m["messageId"] for m in stream.read_new()) == sorted(f"m{i}" for i in range(30))


def test_more_than_500_messages_are_written_in_several_calls(
    ingest: ModuleType, aws: LocalResources, stream: StreamReader
):
    kinesis = FlakyKinesis(fails=lambda attempt, index: False)
    handler = with_kinesis(ingest, aws, kinesis)
    status, _, _ = invoke(handler, http_event("POST", "/v1/batch", batch(1200)))
    assert status == 200
    assert kinesis.calls == [500, 500, 200]
    assert len(stream.read_new()) == 1200


def test_persistent_failure_is_a_503_so_the_sdk_retries(ingest: ModuleType, aws: LocalResources):
    kinesis = FlakyKinesis(fails=lambda attempt, index: index == 0)
    handler = with_kinesis(ingest, aws, kinesis, budget=0.3)
    status, body, headers = invoke(handler, http_event("POST", "/v1/batch", batch(5)))
    assert status == 503
    assert body["code"] == "stream_unavailable"
    assert headers["Retry-After"]
    assert len(kinesis.calls) > 2, "it retried within its budget before giving up"


def test_an_unreachable_config_table_is_a_503_not_a_401(ingest: ModuleType, aws: LocalResources):
    boto3.client("dynamodb").delete_table(TableName=aws.config_table)
    status, body, _ = invoke(ingest, http_event("POST", "/v1/track", {"userId": "u", "event": "E"}))
    assert (status, body["code"]) == (503, "config_unavailable")


@pytest.mark.parametrize(("key", "status"), [("wk_int_nope_000", 401), ("wk_int_off_456", 403)])
def test_unknown_and_disabled_keys(ingest: ModuleType, stream: StreamReader, key: str, status: int):
    code, body, _ = invoke(ingest, http_event("POST", "/v1/track", {"userId": "u", "event": "E"}, key=key))
    assert code == status
    assert set(body) == {"code", "message"}
    assert stream.read_new() == []


def test_pixel_answers_a_gif_and_stores_the_event(ingest: ModuleType, stream: StreamReader):
    query = {"userId": "u", "event": "Opened", "writeKey": "wk_int_web_123"}
    status, body, headers = invoke(ingest, http_event("GET", "/v1/pixel/track", key=None, query=query))
    assert (status, headers["Content-Type"], body[:6]) == (200, "image/gif", b"GIF89a")
    assert [m["event"] for m in stream.read_new()] == ["Opened"]


def test_an_unexpected_error_is_a_json_500(ingest: ModuleType):
    class Exploding(IngestService):
        def __init__(self) -> None:
            pass

        def receive(self, *_: object) -> None:
            raise RuntimeError("boom")

    handler = ingest.lambda_handler_for(lambda: ingest.IngestApi(Exploding()))
    status, body, _ = invoke(handler, http_event("POST", "/v1/track", {"userId": "u", "event": "E"}))
    assert (status, body["code"]) == (500, "internal_error")


def test_discarded_messages_are_counted_per_source_for_the_delivery_overview(ingest: ModuleType, aws: LocalResources):
    batch = {"batch": [{"type": "track", "userId": "u", "event": "Kept"}, {"type": "track", "userId": "u"}]}
    status, _, _ = invoke(ingest, http_event("POST", "/v1/batch", batch))
    assert status == 200
    invoke(ingest, http_event("POST", "/v1/batch", {"batch": [{"type": "nonsense", "userId": "u"}]}))
    table = DeliveryTable(aws.delivery_table, boto3.client("dynamodb"))
    assert read_discards(table, "web", timedelta(minutes=5)) == {"event_not_defined": 1, "invalid_type": 1}


def test_the_write_key_is_never_logged(
    ingest: ModuleType, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
):
    discarded = {"batch": [{"type": "track", "userId": "u", "writeKey": "wk_int_web_123"}]}
    invoke(ingest, http_event("POST", "/v1/batch", discarded))
    invoke(ingest, http_event("POST", "/v1/track", {"userId": "u", "event": "E"}, key="wk_int_off_456"))
    invoke(ingest, http_event("GET", "/v1/projects/wk_int_web_123/settings", key=None))
    logged = " ".join(str(record.__dict__) for record in caplog.records) + str(capsys.readouterr())
    assert "messages discarded" in logged
    assert "wk_int_web_123" not in logged
    assert "wk_int_off_456" not in logged


def test_one_out_of_range_timestamp_is_that_items_discard_not_a_failed_batch(
    ingest: ModuleType, stream: StreamReader, capsys: pytest.CaptureFixture[str]
):
    items = batch(3)["batch"]
    items[1]["timestamp"] = "0001-01-01T00:00:00+01:00"
    # A device whose clock is stuck at the end of time: its skew is still corrected.
    items[2]["sentAt"] = "9999-12-31T23:59:59-01:00"
    items[2]["timestamp"] = "9999-12-31T23:59:00-01:00"
    status, body, _ = invoke(ingest, http_event("POST", "/v1/batch", {"batch": items}))
    assert (status, body) == (200, {"success": True})
    assert sorted(m["messageId"] for m in stream.read_new()) == ["m0", "m2"]
    assert '"reason":"timestamp_out_of_range"' in capsys.readouterr().out.replace(" ", ""), "counted as a discard"


def test_a_pixel_with_an_out_of_range_timestamp_is_a_clean_refusal(
    ingest: ModuleType, stream: StreamReader, caplog: pytest.LogCaptureFixture
):
    query = {"userId": "u", "event": "Opened", "writeKey": "wk_int_web_123", "timestamp": "9999-12-31T23:59:59-01:00"}
    status, body, _ = invoke(ingest, http_event("GET", "/v1/pixel/track", key=None, query=query))
    assert (status, body[:6]) == (200, b"GIF89a")
    assert stream.read_new() == []
    assert not [record for record in caplog.records if record.exc_info], "no stack trace for bad input"


def test_an_integer_beyond_64_bits_is_that_items_discard_not_a_silent_float(
    ingest: ModuleType, stream: StreamReader, capsys: pytest.CaptureFixture[str]
):
    head = '{"type": "track", "userId": "u", "event": "E", '
    items = [
        head + '"messageId": "big", "properties": {"n": 18446744073709551616}}',
        head + '"messageId": "low", "properties": {"n": -9223372036854775809}}',
        head + '"messageId": "max", "properties": {"n": 18446744073709551615, "size": "e+1"}}',
        head + '"messageId": "float", "properties": {"n": 1.8446744073709552e19}}',
        head + '"messageId": "tz", "timestamp": "2026-11-30T12:00:00+00:00"}',
    ]
    body = ('{"batch": [' + ", ".join(items) + "]}").encode()
    status, answer, _ = invoke(ingest, http_event("POST", "/v1/batch", body))
    assert (status, answer) == (200, {"success": True})
    stored = {m["messageId"]: m for m in stream.read_new()}
    assert sorted(stored) == ["float", "max", "tz"]
    assert stored["max"]["properties"]["n"] == 18446744073709551615, "up to 2^64 - 1 stays exact"
    assert stored["float"]["properties"]["n"] == 1.8446744073709552e19, "a float literal stays a float"
    assert '"reason":"integer_out_of_range"' in capsys.readouterr().out.replace(" ", "")


def test_a_single_call_with_an_integer_beyond_64_bits_is_a_400(ingest: ModuleType, stream: StreamReader):
    body = b'{"userId": "u", "event": "E", "context": {"n": -99999999999999999999}}'
    status, answer, _ = invoke(ingest, http_event("POST", "/v1/track", body))
    assert (status, answer["code"]) == (400, "integer_out_of_range")
    assert stream.read_new() == []


def test_an_integer_beyond_64_bits_in_the_batch_context_is_refused(ingest: ModuleType, stream: StreamReader):
    body = b'{"batch": [{"type": "track", "userId": "u", "event": "E"}], "context": {"n": 99999999999999999999}}'
    status, answer, _ = invoke(ingest, http_event("POST", "/v1/batch", body))
    assert (status, answer["code"]) == (400, "no_valid_messages")
    assert "integer_out_of_range" in answer["message"]
    assert stream.read_new() == []


def test_a_pixel_with_an_integer_beyond_64_bits_is_not_stored(ingest: ModuleType, stream: StreamReader):
    data = base64.b64encode(
        b'{"userId": "u", "event": "Opened", "writeKey": "wk_int_web_123", "n": 1e2, '
        b'"properties": {"n": 123456789012345678901234567890}}'
    ).decode()
    status, body, _ = invoke(ingest, http_event("GET", "/v1/pixel/track", key=None, query={"data": data}))
    assert (status, body[:6]) == (200, b"GIF89a")
    assert stream.read_new() == []


@pytest.mark.parametrize("path", ["/v1/projects/wk_int_off_456/settings", "/v1/track"])
def test_a_disabled_sources_refusal_does_not_name_the_source(ingest: ModuleType, path: str):
    method = "GET" if path.endswith("settings") else "POST"
    body = None if method == "GET" else {"userId": "u", "event": "E"}
    status, answer, _ = invoke(ingest, http_event(method, path, body, key="wk_int_off_456"))
    assert (status, answer["code"]) == (403, "source_disabled")
    assert "dormant" not in answer["message"]


def test_discard_logs_are_rate_limited_and_hold_no_values(ingest: ModuleType, caplog: pytest.LogCaptureFixture):
    clock = [0.0]
    api = ingest.IngestApi(ingest.api().service, discard_log=ingest.LogBudget(per_minute=3, clock=lambda: clock[0]))
    handler = ingest.lambda_handler_for(lambda: api)
    refused = {"batch": [{"type": "track", "userId": "alice@example.com"}] * 5}  # no event: all discarded
    for _ in range(20):
        invoke(handler, http_event("POST", "/v1/batch", refused))
    lines = [record for record in caplog.records if record.getMessage() == "messages discarded"]
    assert len(lines) == 3, "a burst of 20 refused requests logs 3 lines"
    assert "alice@example.com" not in str([line.__dict__ for line in lines]), "shapes, not values"
    caplog.clear()
    clock[0] += 20  # one more line's worth of budget
    invoke(handler, http_event("POST", "/v1/batch", refused))
    [line] = [record for record in caplog.records if record.getMessage() == "messages discarded"]
    assert line.suppressed == 17
    assert line.discards == {"event_not_defined": 5}
    assert line.samples[0] == {"reason": "event_not_defined", "shape": '{"type":"string","userId":"string"}'}


@pytest.mark.parametrize(
    ("method", "path"), [("POST", "/v1/wk_int_web_123"), ("GET", "/v1/wk_int_web_123/settings"), ("PUT", "/v1/track")]
)
def test_an_unknown_path_is_a_404_that_does_not_repeat_the_path(ingest: ModuleType, method: str, path: str):
    """Found by fuzzing: POST /v1/<write key> answered "There is no /v1/<write key>", a credential
    sent back where proxies and browser consoles keep it."""
    status, body, _ = invoke(ingest, http_event(method, path, {"userId": "u", "event": "E"}))
    assert (status, body["code"]) == (404, "unknown_path")
    assert "wk_int_web_123" not in body["message"] and "/v1/" not in body["message"]


def test_the_settings_document_may_be_kept_five_minutes_and_a_refusal_not_at_all(ingest: ModuleType):
    status, _, headers = invoke(ingest, http_event("GET", "/v1/projects/wk_int_web_123/settings", key=None))
    assert (status, headers["Cache-Control"]) == (200, "public, max-age=300")
    status, _, headers = invoke(ingest, http_event("GET", "/v1/projects/wk_int_nope_000/settings", key=None))
    assert status == 401 and "Cache-Control" not in headers
