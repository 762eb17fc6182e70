"""`make cost`: the meter counts what AWS bills, the model prices it as the stack behaves, and the
README's cost section is the model's output for the committed measurement, never edited by hand."""

from __future__ import annotations

import base64
import io
import json
from dataclasses import replace
from typing import Any

import orjson
import pytest

from bench.cost.model import (
    DEFAULTS,
    PRICES,
    RECOMMENDED,
    Prices,
    Traffic,
    break_even_requests,
    load_prices,
    monthly_cost,
    per_million,
    shards_for,
)
from bench.cost.report import MEASURED, readme_section, render
from bench.ingest import browser_event
from switchyard import stream_codec
from switchyard.devstack.meter import AwsMeter, classify

MEASUREMENT = json.loads(MEASURED.read_text())


def environ(body: bytes = b"", **headers: str) -> dict[str, Any]:
    return {"CONTENT_LENGTH": str(len(body)), "wsgi.input": io.BytesIO(body), **headers}


def test_the_readme_cost_section_is_the_models_output_for_the_committed_measurement() -> None:
    assert readme_section() == render(MEASUREMENT), "run `make cost` (or `python -m bench.cost --reuse`)"


def test_the_price_file_covers_both_regions_with_the_same_items() -> None:
    prices = json.loads(PRICES.read_text())
    assert set(prices["us-west-2"]) == set(prices["eu-west-1"])


def test_tiered_prices_apply_each_tier_to_its_own_volume() -> None:
    prices = Prices({"api": [[300_000_000, 1.00], [None, 0.90]]})
    assert prices.tiered("api", 100e6) == pytest.approx(100.0)
    assert prices.tiered("api", 1e9) == pytest.approx(300.0 + 700 * 0.90)


def test_archive_puts_are_bounded_by_shard_windows_not_by_events() -> None:
    """The router writes an object per shard and window with records: ten times the traffic at
    high volume costs the same PUTs (the batches just fill up)."""
    prices = load_prices("us-west-2")

    def puts(events: float) -> float:
        lines = monthly_cost(Traffic(events, "server"), DEFAULTS, MEASUREMENT, prices)
        return next(line.dollars for line in lines if line.name.startswith("S3 archive PUTs"))

    assert puts(1e9) == pytest.approx(puts(100e6), rel=0.01)
    assert puts(1e6) < puts(100e6) / 10  # quiet streams leave most windows empty


def test_the_lowest_options_today_cost_less_and_browser_traffic_costs_more() -> None:
    prices = load_prices("us-west-2")
    for events in (10e6, 100e6, 1e9):
        browser, server = (Traffic(events, mix) for mix in ("browser", "server"))
        assert per_million(monthly_cost(browser, RECOMMENDED, MEASUREMENT, prices), events) < per_million(
            monthly_cost(browser, DEFAULTS, MEASUREMENT, prices), events
        )
        assert per_million(monthly_cost(browser, DEFAULTS, MEASUREMENT, prices), events) > per_million(
            monthly_cost(server, DEFAULTS, MEASUREMENT, prices), events
        )


def test_provisioned_shards_follow_the_peak_rate() -> None:
    assert shards_for(10e6, 1500) == 1
    assert shards_for(1e9, 1500) == 2  # 380 events/s mean, 1,141 at the peak: over 1,000 records/s


def test_the_meter_counts_kinesis_records_rounded_up_to_a_kilobyte() -> None:
    data = base64.b64encode(b"x" * 1500).decode()
    body = json.dumps({"StreamName": "s", "Records": [{"Data": data, "PartitionKey": "p"}] * 3}).encode()
    operation, units = classify(environ(body, HTTP_X_AMZ_TARGET="Kinesis_20131202.PutRecords"), body)
    assert operation == "kinesis.PutRecords"
    assert (units["kinesis_records"], units["kinesis_billed_kb"]) == (3, 6)


@pytest.mark.parametrize("written_compressed", [False, True])
def test_the_meter_prices_each_record_as_json_and_as_deflated_whichever_was_written(written_compressed: bool) -> None:
    message = orjson.dumps(browser_event(7))
    assert 1024 < len(message) < 2048
    written = stream_codec.encode(message) if written_compressed else message
    record = {"Data": base64.b64encode(written).decode(), "PartitionKey": "web/a1"}
    body = json.dumps({"StreamName": "s", "Records": [record]}).encode()
    _, units = classify(environ(body, HTTP_X_AMZ_TARGET="Kinesis_20131202.PutRecords"), body)
    assert (units["kinesis_bytes"], units["kinesis_billed_kb"]) == (len(message) + 6, 2)
    assert units["kinesis_compressed_bytes"] == len(stream_codec.encode(message)) + 6
    assert units["kinesis_compressed_billed_kb"] == 1


def line(lines: list, prefix: str) -> float:
    return sum(item.dollars for item in lines if item.name.startswith(prefix))


def test_the_load_balancer_wins_at_high_browser_volume_and_never_for_large_server_requests() -> None:
    prices = load_prices("us-west-2")
    http_api, alb = (replace(DEFAULTS, waf=False, front_door=door) for door in ("api_gateway", "alb"))
    browser = Traffic(1e9, "browser")
    assert line(monthly_cost(browser, alb, MEASUREMENT, prices), "Application Load Balancer") < line(
        monthly_cost(browser, http_api, MEASUREMENT, prices), "API Gateway HTTP API"
    )
    # No access log behind the ALB: its log line goes too.
    assert line(monthly_cost(browser, alb, MEASUREMENT, prices), "CloudWatch Logs") < line(
        monthly_cost(browser, http_api, MEASUREMENT, prices), "CloudWatch Logs"
    )
    even = break_even_requests(MEASUREMENT, "browser", prices)
    assert even is not None and 10e6 < even < 100e6
    assert break_even_requests(MEASUREMENT, "server", prices) is None
    cheapest = replace(http_api, front_door="cheapest")
    for traffic in (Traffic(10e6, "browser"), Traffic(1e9, "browser"), Traffic(1e9, "server")):
        chosen = per_million(monthly_cost(traffic, cheapest, MEASUREMENT, prices), traffic.events_per_month)
        either = [
            per_million(monthly_cost(traffic, s, MEASUREMENT, prices), traffic.events_per_month)
            for s in (http_api, alb)
        ]
        assert chosen == pytest.approx(min(either))


def test_packing_delivery_messages_cuts_sqs_requests() -> None:
    prices = load_prices("us-west-2")
    traffic = Traffic(1e9, "server")
    one, ten = (replace(DEFAULTS, delivery_events_per_message=n) for n in (1, 10))
    sqs_one = line(monthly_cost(traffic, one, MEASUREMENT, prices), "SQS")
    sqs_ten = line(monthly_cost(traffic, ten, MEASUREMENT, prices), "SQS")
    assert sqs_ten < sqs_one / 2


def test_compression_halves_on_demand_data_in_for_more_ingest_cpu() -> None:
    prices = load_prices("us-west-2")
    traffic = Traffic(100e6, "browser")
    plain = monthly_cost(traffic, DEFAULTS, MEASUREMENT, prices)
    deflated = monthly_cost(traffic, replace(DEFAULTS, stream_compression=True), MEASUREMENT, prices)
    assert line(deflated, "Kinesis on-demand data in") == pytest.approx(line(plain, "Kinesis on-demand data in") / 2)
    # Lambda bills whole milliseconds: three events' deflating may not show, a hundred do.
    assert line(deflated, "Lambda ingest") >= line(plain, "Lambda ingest")
    server = Traffic(1e9, "server")
    assert line(
        monthly_cost(server, replace(DEFAULTS, stream_compression=True), MEASUREMENT, prices), "Lambda ingest"
    ) > (line(monthly_cost(server, DEFAULTS, MEASUREMENT, prices), "Lambda ingest"))


def test_the_meter_counts_dynamodb_units_sqs_chunks_and_s3_operations() -> None:
    put = json.dumps({"TableName": "t", "Item": {"pk": {"S": "a"}}}).encode()
    assert classify(environ(put, HTTP_X_AMZ_TARGET="DynamoDB_20120810.PutItem"), put)[1]["dynamodb_wru"] == 1
    batch = json.dumps({"RequestItems": {"t": [{"DeleteRequest": {}}] * 7}}).encode()
    assert classify(environ(batch, HTTP_X_AMZ_TARGET="DynamoDB_20120810.BatchWriteItem"), batch)[1]["dynamodb_wru"] == 7
    big = b"{" + b" " * 100_000 + b"}"
    assert classify(environ(big, HTTP_X_AMZ_TARGET="AmazonSQS.SendMessageBatch"), big)[1]["sqs_requests"] == 2
    put_object = environ(b"abc", REQUEST_METHOD="PUT", PATH_INFO="/bucket/source_id=web/x.jsonl.gz")
    operation, units = classify(put_object, b"abc")
    assert (operation, units["s3_put_bytes"]) == ("s3.PutObject", 3)
    listing = environ(REQUEST_METHOD="GET", PATH_INFO="/bucket", QUERY_STRING="versions&prefix=a")
    assert classify(listing, b"")[0] == "s3.ListObjectVersions"


def test_the_meter_tells_the_debuggers_and_usages_writes_apart() -> None:
    sample = environ(b"abc", REQUEST_METHOD="PUT", PATH_INFO="/bucket/_debugger/web/123-shard.jsonl")
    operation, units = classify(sample, b"abc")
    assert (operation, units["s3_put_bytes"]) == ("s3.PutObject.debugger", 0), "not archive storage"
    usage = json.dumps({"Key": {"pk": {"S": "usage#web"}, "sk": {"S": "2026-11-30T10#s"}}}).encode()
    operation, units = classify(environ(usage, HTTP_X_AMZ_TARGET="DynamoDB_20120810.UpdateItem"), usage)
    assert operation == "dynamodb.UpdateItem.usage" and units["dynamodb_wru"] >= 1
    sketch = json.dumps({"Key": {"pk": {"S": "usage#web"}, "sk": {"S": "2026-11-30T10#s#people"}}}).encode()
    operation, units = classify(environ(sketch, HTTP_X_AMZ_TARGET="DynamoDB_20120810.UpdateItem"), sketch)
    assert operation == "dynamodb.UpdateItem.usage_sketch" and units["dynamodb_wru"] >= 1
    stats = json.dumps({"Key": {"pk": {"S": "stats#hook"}, "sk": {"S": "2026-11-30T10:00"}}}).encode()
    assert classify(environ(stats, HTTP_X_AMZ_TARGET="DynamoDB_20120810.UpdateItem"), stats)[0] == "dynamodb.UpdateItem"


def test_the_meter_passes_every_request_on_unchanged() -> None:
    seen: list[bytes] = []

    def app(env: dict[str, Any], start_response: Any) -> list[bytes]:
        seen.append(env["wsgi.input"].read())
        return [b"ok"]

    meter = AwsMeter()
    meter.wrap(app)
    body = b'{"TableName": "t"}'
    assert meter(environ(body, HTTP_X_AMZ_TARGET="DynamoDB_20120810.GetItem"), lambda *_: None) == [b"ok"]
    assert seen == [body]
    assert meter.snapshot()["requests"] == {"dynamodb.GetItem": 1}
