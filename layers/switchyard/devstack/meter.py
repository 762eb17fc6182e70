"""Counting what AWS would bill, in front of the emulator: requests per service and operation, and
the units some of them are billed in (Kinesis records rounded up to 1 KB, DynamoDB write and read
units, SQS requests per 64 KB chunk). `make cost` runs the local stack with a meter and divides by
the events it sent (bench/cost/); nothing else turns it on.

Operations are told apart as the AWS protocols name them: the JSON protocol's `X-Amz-Target`
(Kinesis, DynamoDB, SQS, SSM, Step Functions), the query protocol's `Action` (CloudFormation, IAM),
S3's method and query on a path-style URL, and Lambda's invoke path.
"""

from __future__ import annotations

import base64
import io
import json
import math
import threading
import urllib.parse
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from switchyard import stream_codec
from switchyard.constants import DELIVERY_TABLE_PK, DELIVERY_TABLE_SK
from switchyard.debugger import DEBUGGER_PREFIX
from switchyard.usage import USAGE_PK_PREFIX, USAGE_SKETCH_SUFFIX

KB = 1024
SQS_CHUNK = 64 * KB  # SQS bills each 64 KB of a request as one request
DYNAMODB_WRITE_UNIT = KB
DYNAMODB_READ_UNIT = 4 * KB
_DYNAMODB_WRITES = {"PutItem", "UpdateItem", "DeleteItem"}


class AwsMeter:
    """WSGI middleware: counts each request before passing it on unchanged."""

    def __init__(self) -> None:
        self._app: Callable[..., Iterable[bytes]] | None = None
        self._lock = threading.Lock()
        self.requests: Counter[str] = Counter()  # "<service>.<operation>" -> requests
        # Billed units: kinesis_records, kinesis_billed_kb, dynamodb_wru, dynamodb_rru (in halves), ...
        self.units: Counter[str] = Counter()

    def wrap(self, app: Callable[..., Iterable[bytes]]) -> None:
        """The application it counts for (the emulator sets it)."""
        self._app = app

    def snapshot(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {"requests": dict(self.requests), "units": dict(self.units)}

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self.units.clear()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = _read_body(environ)
        operation, units = classify(environ, body)
        with self._lock:
            self.requests[operation] += 1
            self.units.update(units)
        if self._app is None:
            raise RuntimeError("the meter counts for no application: Emulator(meter=...) wraps it")
        return self._app(environ, start_response)


def _read_body(environ: dict[str, Any]) -> bytes:
    """The request body, read once and put back for the app behind."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body


def classify(environ: dict[str, Any], body: bytes) -> tuple[str, Counter[str]]:
    """("<service>.<operation>", billed units) of one request."""
    units: Counter[str] = Counter()
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    path = environ.get("PATH_INFO", "")
    if target:
        prefix, _, operation = target.partition(".")
        service = prefix.split("_", 1)[0].removeprefix("Amazon").removeprefix("AWS").lower() or "unknown"
        service = {"dynamodb": "dynamodb", "kinesis": "kinesis", "sqs": "sqs"}.get(service, service)
        if service == "kinesis":
            _kinesis_units(operation, body, units)
        elif service == "dynamodb":
            _dynamodb_units(operation, body, units)
            if operation == "UpdateItem" and (usage := _usage_item(body)):
                return f"dynamodb.UpdateItem.{usage}", units  # the router's usage items: apart from delivery's
        elif service == "sqs":
            units["sqs_requests"] += max(1, math.ceil(len(body) / SQS_CHUNK))
        return f"{service}.{operation}", units
    if path.startswith("/2015-03-31/functions/"):
        return "lambda.Invoke", units
    query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if "Action" in query or b"Action=" in body[:200]:
        form = urllib.parse.parse_qs(body.decode(errors="replace"))
        action = query.get("Action", [""])[0] or form.get("Action", [""])[0]
        return f"query.{action}", units
    if path.startswith("/moto-api"):
        return "emulator.control", units
    operation = _s3_operation(environ.get("REQUEST_METHOD", "GET"), path, query)
    if operation == "PutObject" and _s3_key(path).startswith(DEBUGGER_PREFIX):
        return "s3.PutObject.debugger", units  # the debugger's samples: apart from the archive's objects
    if operation == "PutObject":
        units["s3_put_bytes"] += len(body)
    return f"s3.{operation}", units


def _s3_key(path: str) -> str:
    """The object key of a path-style URL (`/<bucket>/<key>`)."""
    return urllib.parse.unquote(path.lstrip("/").partition("/")[2])


def _s3_operation(method: str, path: str, query: dict[str, list[str]]) -> str:
    has_key = path.strip("/").count("/") >= 1
    if method == "PUT":
        return "PutObject" if has_key else "CreateBucket"
    if method == "DELETE":
        return "DeleteObject"
    if method == "HEAD":
        return "HeadObject"
    if method == "GET" and not has_key:
        return "ListObjectVersions" if "versions" in query else "ListObjects"
    return "GetObject" if method == "GET" else method


def _kinesis_units(operation: str, body: bytes, units: Counter[str]) -> None:
    if operation not in ("PutRecords", "PutRecord"):
        return
    request = json.loads(body or b"{}")
    records = request.get("Records") or [request]
    for record in records:
        data = base64.b64decode(record.get("Data", ""))
        key = len(record.get("PartitionKey", ""))
        # The record as JSON and as `stream_compression` deflates it, whichever was written, so one
        # run prices both settings.
        try:
            message = stream_codec.decode(data)
        except ValueError:  # not a record ingest wrote: counted as it is
            message = data
        for prefix, size in (
            ("kinesis", len(message) + key),
            ("kinesis_compressed", len(stream_codec.encode(message)) + key),
        ):
            units[f"{prefix}_bytes"] += size
            units[f"{prefix}_billed_kb"] += max(1, math.ceil(size / KB))  # on-demand: each record rounded up to 1 KB
        units["kinesis_records"] += 1


def _usage_item(body: bytes) -> str:
    """The kind of usage item an UpdateItem writes: `usage` (counters), `usage_sketch` (MTU
    sketches, by the sort key's suffix), or "" (not a usage item)."""
    key = json.loads(body or b"{}").get("Key", {})
    if not key.get(DELIVERY_TABLE_PK, {}).get("S", "").startswith(USAGE_PK_PREFIX):
        return ""
    return "usage_sketch" if key.get(DELIVERY_TABLE_SK, {}).get("S", "").endswith(USAGE_SKETCH_SUFFIX) else "usage"


def _dynamodb_units(operation: str, body: bytes, units: Counter[str]) -> None:
    request = json.loads(body or b"{}")
    if operation in _DYNAMODB_WRITES:
        size = len(json.dumps(request.get("Item") or request))
        units["dynamodb_wru"] += max(1, math.ceil(size / DYNAMODB_WRITE_UNIT))
    elif operation == "BatchWriteItem":
        for writes in request.get("RequestItems", {}).values():
            units["dynamodb_wru"] += len(writes)
    elif operation in ("GetItem", "Query", "Scan"):
        consistent = request.get("ConsistentRead", False)
        units["dynamodb_rru"] += 1 if consistent else 0.5  # a small item: one 4 KB unit (half if eventual)
