"""Ingest handler: time per event against the floor of parsing and re-serializing the same bytes.

Run with `make bench` (or `python bench/run.py`). The handler is the real one, with the Kinesis
client and the config table replaced by in-memory fakes, so the figure is the handler's own cost.
The `stream_compression` figures compare the handler writing through the real KinesisEventStream
with and without deflating each record, and the stream bytes per event either way.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Callable
from contextlib import redirect_stdout
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import Figure, median, time_pair  # noqa: E402

TITLE = "ingest (bench/ingest.py)"
WRITE_KEY = "wk_bench_web_123"
BATCH_SIZE = 100

os.environ.setdefault("AWS_DEFAULT_REGION", "us-west-2")
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", "switchyard")


def browser_event(index: int) -> dict[str, Any]:
    """A track call shaped like analytics.js sends it: rich context, a dozen properties."""
    anonymous_id = str(uuid.UUID(int=index * 7919 + 1))
    return {
        "type": "track",
        "event": "Product Viewed",
        "properties": {
            "product_id": f"sku-{index:05d}",
            "sku": f"TRL-{index:05d}-BLU-42",
            "name": "Trail Running Shoe",
            "category": "Footwear",
            "brand": "Northwind",
            "variant": "Blue / 42",
            "price": 129.99,
            "currency": "USD",
            "quantity": 1,
            "position": index % 24,
            "url": f"https://shop.example/p/sku-{index:05d}",
            "image_url": f"https://cdn.shop.example/img/sku-{index:05d}.jpg",
        },
        "context": {
            "library": {"name": "analytics.js", "version": "next-1.72.0"},
            "page": {
                "path": f"/p/sku-{index:05d}",
                "referrer": "https://www.google.com/",
                "search": "?utm_source=google&utm_medium=cpc&utm_campaign=fall",
                "title": "Trail Running Shoe – Northwind",
                "url": f"https://shop.example/p/sku-{index:05d}?utm_source=google&utm_medium=cpc&utm_campaign=fall",
            },
            "userAgent": (
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
                "Chrome/131.0.0.0 Safari/537.36"
            ),
            "userAgentData": {
                "brands": [
                    {"brand": "Chromium", "version": "131"},
                    {"brand": "Google Chrome", "version": "131"},
                ],
                "mobile": False,
                "platform": "macOS",
            },
            "locale": "en-US",
            "timezone": "America/Los_Angeles",
            "campaign": {"source": "google", "medium": "cpc", "name": "fall"},
            "screen": {"width": 1512, "height": 982, "density": 2},
        },
        "messageId": f"ajs-next-{uuid.UUID(int=index + 10**9)}",
        "anonymousId": anonymous_id,
        "userId": None,
        "timestamp": "2026-11-30T12:00:00.123Z",
        "integrations": {},
        "_metadata": {"bundled": ["Segment.io"], "unbundled": [], "bundledIds": []},
    }


def server_event(index: int) -> dict[str, Any]:
    """A track call shaped like a server library (analytics-node) sends it: no browser context."""
    return {
        "type": "track",
        "event": "Order Completed",
        "userId": f"user-{index * 7919 % 100_000:05d}",
        "properties": {
            "order_id": f"ord-{index:07d}",
            "total": 134.99,
            "revenue": 129.99,
            "shipping": 5.0,
            "tax": 0.0,
            "currency": "USD",
            "products": [
                {
                    "product_id": f"sku-{index:05d}",
                    "sku": f"TRL-{index:05d}-BLU-42",
                    "name": "Trail Running Shoe",
                    "price": 129.99,
                    "quantity": 1,
                }
            ],
        },
        "context": {"library": {"name": "@segment/analytics-node", "version": "2.1.2"}},
        "messageId": f"node-next-1732967{index:06d}-{uuid.UUID(int=index + 10**9)}",
        "timestamp": "2026-11-30T12:00:00.123Z",
        "integrations": {},
        "_metadata": {"nodeVersion": "20.18.0", "jsRuntime": "node"},
    }


def with_random_ids(event: dict[str, Any], index: int) -> dict[str, Any]:
    """The event with ids as random as real ones: the samples' mostly-zero UUIDs deflate unrealistically well."""
    random_id = str(uuid.UUID(bytes=hashlib.sha256(str(index).encode()).digest()[:16], version=4))
    ids = {"messageId": f"{event['messageId'].rsplit('-', 5)[0]}-{random_id}"}
    if "anonymousId" in event:
        ids["anonymousId"] = str(uuid.UUID(bytes=hashlib.sha256(random_id.encode()).digest()[:16], version=4))
    return event | ids


def batch_body(count: int, event: Callable[[int], dict[str, Any]] = browser_event) -> bytes:
    body = {"batch": [event(i) for i in range(count)], "sentAt": "2026-11-30T12:00:01.000Z"}
    return orjson.dumps({**body, "writeKey": WRITE_KEY})


class MemoryStream:
    """Stands in for Kinesis: keeps nothing, counts what it was given."""

    def __init__(self) -> None:
        self.records = 0

    def put(self, records: list[Any]) -> None:
        self.records += len(records)


class MemoryKinesis:
    """Stands in for the Kinesis client: takes every record, keeps the sizes of the last call's."""

    def __init__(self) -> None:
        self.sizes: list[int] = []

    def put_records(self, StreamName: str, Records: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.sizes = [len(record["Data"]) for record in Records]
        return {"FailedRecordCount": 0}


def load_handler(stream: Any = None) -> Any:
    """The ingest Lambda handler over `stream` (by default an in-memory one) and a one-source workspace."""
    from switchyard.config.compiled import CompiledWorkspace, Source, write_key_hash
    from switchyard.devstack.lambda_runtime import load_handler_module
    from switchyard.ingest.service import IngestService

    module = load_handler_module("ingest")
    workspace = CompiledWorkspace("bench", (Source("web", "Website", True, write_key_hash(WRITE_KEY)),))
    api = module.IngestApi(IngestService(lambda: workspace, stream or MemoryStream(), "us-west-2"))
    return module.lambda_handler_for(lambda: api)


def api_event(body: bytes, *, gzipped: bool) -> dict[str, Any]:
    headers = {"content-type": "text/plain", "x-forwarded-proto": "https"}
    if gzipped:
        headers["content-encoding"] = "gzip"
        payload, encoded = base64.b64encode(gzip.compress(body)).decode(), True
    else:
        payload, encoded = body.decode(), False
    return {
        "version": "2.0",
        "routeKey": "POST /v1/{call}",
        "rawPath": "/v1/batch",
        "rawQueryString": "",
        "headers": headers,
        "requestContext": {
            "accountId": "000000000000",
            "apiId": "bench",
            "domainName": "api.example",
            "domainPrefix": "api",
            "http": {
                "method": "POST",
                "path": "/v1/batch",
                "protocol": "HTTP/1.1",
                "sourceIp": "203.0.113.9",
                "userAgent": "bench",
            },
            "requestId": "bench",
            "routeKey": "POST /v1/{call}",
            "stage": "$default",
            "time": "30/Nov/2026:12:00:01 +0000",
            "timeEpoch": 0,
        },
        "body": payload,
        "isBase64Encoded": encoded,
    }


def floor(event: dict[str, Any]) -> None:
    """The least any ingest must do: decode the transport, inflate, parse, re-serialize each event."""
    data = base64.b64decode(event["body"]) if event["isBase64Encoded"] else event["body"].encode()
    if event["headers"].get("content-encoding") == "gzip":
        data = gzip.decompress(data)
    for item in orjson.loads(data)["batch"]:
        orjson.dumps(item)


def handling(handler: Any, context: Any, event: dict[str, Any], sink: io.StringIO) -> Callable[[], None]:
    """One call of the ingest handler on `event`, its EMF output (what Lambda would print) into `sink`."""

    def handle() -> None:
        sink.seek(0)
        sink.truncate()
        with redirect_stdout(sink):
            result = handler(event, context)
        if result["statusCode"] != 200:
            raise RuntimeError(f"the benchmark's request was refused: {result}")

    return handle


def handler_figures() -> list[Figure]:
    from switchyard.devstack.lambda_runtime import LocalLambdaContext

    handler = load_handler()
    context = LocalLambdaContext("ingest")
    body = batch_body(BATCH_SIZE)
    figures = []
    sink = io.StringIO()
    for gzipped in (False, True):
        event = api_event(body, gzipped=gzipped)
        handle = handling(handler, context, event, sink)

        # CPU time, in alternating rounds: steadier than wall time on a shared 2-core machine.
        handler_seconds, floor_seconds = time_pair(
            handle, lambda event=event: floor(event), rounds=21, timer=time.process_time
        )
        label = "gzip" if gzipped else "plain"
        figures.append(
            Figure(
                f"handler per event, {BATCH_SIZE}-event batch, {label} ({len(body) // BATCH_SIZE} B/event)",
                handler_seconds / BATCH_SIZE * 1e6,
                "us",
                floor=floor_seconds / BATCH_SIZE * 1e6,
                target=2.0,
            )
        )
    return figures


def compression_figures() -> list[Figure]:
    """`stream_compression`: the handler's time per event with it on vs off, and the bytes written."""
    from switchyard.devstack.lambda_runtime import LocalLambdaContext
    from switchyard.streams import KinesisEventStream

    context = LocalLambdaContext("ingest")
    sink = io.StringIO()
    kinesis = {compress: MemoryKinesis() for compress in (True, False)}
    handlers = {
        compress: load_handler(KinesisEventStream("events", client, compress=compress))
        for compress, client in kinesis.items()
    }
    browser_body = batch_body(BATCH_SIZE, lambda i: with_random_ids(browser_event(i), i))
    event = api_event(browser_body, gzipped=False)
    on_seconds, off_seconds = time_pair(
        handling(handlers[True], context, event, sink),
        handling(handlers[False], context, event, sink),
        rounds=21,
        timer=time.process_time,
    )
    figures = [
        Figure(
            f"ingest with stream_compression ÷ without, per event ({BATCH_SIZE}-event batch)",
            on_seconds / BATCH_SIZE * 1e6,
            "us",
            floor=off_seconds / BATCH_SIZE * 1e6,
            # Deflating a 1.5 KB event costs about twice the rest of the handler (~15 us); zlib's
            # default window and level (~22 us) would go over.
            target=3.5,
        )
    ]
    for kind, sample in (("browser", browser_event), ("server", server_event)):
        body = batch_body(BATCH_SIZE, lambda i, sample=sample: with_random_ids(sample(i), i))
        sizes = {}
        for compress, handler in handlers.items():
            handling(handler, context, api_event(body, gzipped=False), sink)()
            sizes[compress] = sum(kinesis[compress].sizes) / len(kinesis[compress].sizes)
        figures.append(
            Figure(
                f"stream bytes per {kind} event, deflated ÷ JSON",
                sizes[True],
                "B",
                floor=sizes[False],
                target=0.5,
            )
        )
    return figures


_IMPORT_SNIPPET = """
import time
started = time.perf_counter()
import importlib.util
spec = importlib.util.spec_from_file_location("ingest_handler", {path!r})
module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
print(time.perf_counter() - started)
"""

_RSS_SNIPPET = """
import resource, sys
sys.path.insert(0, {root!r})
from bench.ingest import api_event, batch_body, load_handler
from switchyard.devstack.lambda_runtime import LocalLambdaContext
handler = load_handler()
body = batch_body(1)
count = 1
while len(batch_body(count * 2)) < 500 * 1024:
    count *= 2
while len(batch_body(count + 10)) < 510 * 1024:
    count += 10
body = batch_body(count)
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
result = handler(api_event(body, gzipped=True), LocalLambdaContext("ingest"))
assert result["statusCode"] == 200, result
after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(len(body), count, before / 1024, after / 1024)
"""


def cold_figures() -> list[Figure]:
    environment = {**os.environ, "POWERTOOLS_METRICS_DISABLED": "true"}
    handler = ROOT / "functions" / "ingest" / "handler.py"
    seconds = []
    for _ in range(5):
        output = subprocess.run(
            [sys.executable, "-c", _IMPORT_SNIPPET.format(path=str(handler))],
            capture_output=True,
            text=True,
            check=True,
            env=environment,
        ).stdout
        seconds.append(float(output.strip().splitlines()[-1]))
    rss = subprocess.run(
        [sys.executable, "-c", _RSS_SNIPPET.format(root=str(ROOT))],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    ).stdout.split()
    size, count, before, after = int(rss[0]), int(rss[1]), float(rss[2]), float(rss[3])
    return [
        Figure("import of the ingest handler module (median of 5)", median(seconds) * 1000, "ms", target=300),
        Figure(f"peak RSS handling a {size // 1024} KiB batch ({count} events)", after, "MB", target=150),
        Figure("  of which the interpreter and imports before it", before, "MB"),
    ]


def run() -> list[Figure]:
    return handler_figures() + compression_figures() + cold_figures()


if __name__ == "__main__":
    from bench.common import print_figures

    print_figures(TITLE, run())
    print(json.dumps({"note": "ratios are handler time / floor; lower is better"}))
