"""Faults for proving the pipeline (the soak): AWS's own failure answers in front of the emulator,
destinations that misbehave, and execution environments that die.

Nothing here is on unless a LocalStack is handed a plan, so `switchyard dev` is unaffected, and
nothing in the domain or the handlers knows about it: AWS faults are answers the emulator gives,
destination faults are answers a receiver gives, crashes happen in the local Lambda runtime or
at the router's one seam (between archive and fan-out). Decisions are seeded; each plan counts
what it injected, so a run can show that every kind of fault happened.
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from switchyard.delivery.requests import DeliveryMessage
from switchyard.devstack.lambda_runtime import InvocationFaults
from switchyard.devstack.receiver import Answer, Received

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

PUT_RECORDS = "Kinesis_20131202.PutRecords"
DYNAMODB = "DynamoDB_20120810."
THROUGHPUT_EXCEEDED = "ProvisionedThroughputExceededException"
THROTTLING = "ThrottlingException"
_DYNAMODB_MESSAGES = {
    THROUGHPUT_EXCEEDED: "The level of configured provisioned throughput for the table was exceeded.",
    THROTTLING: "Throughput exceeds the current throughput limit for your account.",
}


class InjectedCrash(BaseException):
    """A process dying where it stands: a BaseException, so no `except Exception` in the code
    under test handles it; the local Lambda runtime reports it as the environment's exit."""


@dataclass(frozen=True)
class StackFaults:
    """What a LocalStack injects; each part optional."""

    aws: AwsFaultPlan | None = None  # answers of the emulator
    after_archive: Callable[[], None] | None = None  # the router's hook between archive and fan-out
    invocations: InvocationFaults | None = None  # environments dying after their handler returned


# --- AWS ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Storms:
    """Every `every_seconds` (from the plan's start), `lasting_seconds` in which every call fails:
    long enough to outlast the AWS SDK's own retries, so the pipeline's own handling is tested."""

    every_seconds: float
    lasting_seconds: float


@dataclass(frozen=True)
class PutRecordsFault:
    throttled: bool = False  # the whole call refused
    failed: frozenset[int] = frozenset()  # else: these records fail, the others are written


class AwsFaultPlan:
    """What the emulator gets wrong: off until `start()` and after `stop()`.

    Kinesis PutRecords: a share of calls refused whole (HTTP 400 ProvisionedThroughputExceeded)
    and a share answered with some records failed, per record, the others written. DynamoDB: a
    share of calls throttled (ProvisionedThroughputExceeded or Throttling, HTTP 400), plus storms.
    """

    def __init__(
        self,
        seed: int,
        *,
        put_records_throttled: float = 0.0,
        put_records_partial: float = 0.0,
        records_failed: float = 0.3,
        dynamodb_throttled: float = 0.0,
        dynamodb_storms: Storms | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._rng = random.Random(seed)
        self._put_records_throttled = put_records_throttled
        self._put_records_partial = put_records_partial
        self._records_failed = records_failed
        self._dynamodb_throttled = dynamodb_throttled
        self._storms = dynamodb_storms
        self._clock = clock
        self._lock = threading.Lock()
        self._started_at: float | None = None
        self.injected: Counter[str] = Counter()

    def start(self) -> None:
        with self._lock:
            self._started_at = self._clock()

    def stop(self) -> None:
        with self._lock:
            self._started_at = None

    def put_records(self, count: int) -> PutRecordsFault:
        with self._lock:
            if self._started_at is None:
                return PutRecordsFault()
            draw = self._rng.random()
            if draw < self._put_records_throttled:
                self.injected["kinesis.throttled_calls"] += 1
                return PutRecordsFault(throttled=True)
            if draw < self._put_records_throttled + self._put_records_partial:
                failed = frozenset(i for i in range(count) if self._rng.random() < self._records_failed)
                if failed:
                    self.injected["kinesis.partial_calls"] += 1
                    self.injected["kinesis.failed_records"] += len(failed)
                return PutRecordsFault(failed=failed)
            return PutRecordsFault()

    def dynamodb(self) -> str | None:
        """The error code to answer a DynamoDB call with, or None to serve it."""
        with self._lock:
            if self._started_at is None:
                return None
            if self._storms is not None:
                into = (self._clock() - self._started_at) % self._storms.every_seconds
                if self._storms.every_seconds - into <= self._storms.lasting_seconds:
                    self.injected["dynamodb.throttled_in_storms"] += 1
                    return THROTTLING
            if self._rng.random() < self._dynamodb_throttled:
                self.injected["dynamodb.throttled"] += 1
                return self._rng.choice((THROUGHPUT_EXCEEDED, THROTTLING))
            return None


class FaultyAws:
    """WSGI middleware in front of moto: answers as AWS does when it fails, as the plan decides.

    Operations are told apart by the JSON protocol's `X-Amz-Target` header. A partly failed
    PutRecords forwards only the records that succeed and answers for all of them in order.
    """

    def __init__(self, app: WsgiApp, plan: AwsFaultPlan) -> None:
        self._app = app
        self._plan = plan

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        target = environ.get("HTTP_X_AMZ_TARGET", "")
        if target == PUT_RECORDS:
            return self._put_records(environ, start_response)
        if target.startswith(DYNAMODB) and (code := self._plan.dynamodb()) is not None:
            body = {"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": _DYNAMODB_MESSAGES[code]}
            return _answer(start_response, "400 Bad Request", body, "application/x-amz-json-1.0", code)
        return self._app(environ, start_response)

    def _put_records(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        request = json.loads(_read_body(environ))
        records = request.get("Records", [])
        fault = self._plan.put_records(len(records))
        stream = request.get("StreamName") or request.get("StreamARN", "").rsplit("/", 1)[-1]
        message = f"Rate exceeded for shard in stream {stream} under account 000000000000."
        if fault.throttled:
            body = {"__type": THROUGHPUT_EXCEEDED, "message": message}
            return _answer(start_response, "400 Bad Request", body, "application/x-amz-json-1.1", THROUGHPUT_EXCEEDED)
        if not fault.failed:
            return self._app(environ, start_response)
        kept = [record for index, record in enumerate(records) if index not in fault.failed]
        written: Iterator[dict[str, Any]] = iter([])
        answer: dict[str, Any] = {"FailedRecordCount": 0}
        if kept:
            status, headers, data = _call(self._app, environ, json.dumps({**request, "Records": kept}).encode())
            if not status.startswith("200"):
                start_response(status, headers)
                return [data]
            answer = json.loads(data)
            written = iter(answer["Records"])
        failure = {"ErrorCode": THROUGHPUT_EXCEEDED, "ErrorMessage": message}
        answer["Records"] = [failure if index in fault.failed else next(written) for index in range(len(records))]
        answer["FailedRecordCount"] = answer.get("FailedRecordCount", 0) + len(fault.failed)
        return _answer(start_response, "200 OK", answer, "application/x-amz-json-1.1")


def _read_body(environ: dict[str, Any]) -> bytes:
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    environ["wsgi.input"] = io.BytesIO(body)  # readable again by whoever serves the request
    return body


def _call(app: WsgiApp, environ: dict[str, Any], body: bytes) -> tuple[str, list[tuple[str, str]], bytes]:
    """Serve the request with another body; moto's status, headers and answer."""
    answered: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        answered.update(status=status, headers=headers)
        return lambda _: None

    forwarded = {**environ, "wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))}
    chunks = app(forwarded, start_response)
    try:
        data = b"".join(chunks)
    finally:
        close = getattr(chunks, "close", None)
        if close is not None:
            close()
    return answered["status"], answered["headers"], data


def _answer(
    start_response: Callable[..., Any], status: str, body: dict[str, Any], content_type: str, error: str = ""
) -> list[bytes]:
    data = json.dumps(body).encode()
    headers = [("Content-Type", content_type), ("Content-Length", str(len(data))), ("x-amzn-RequestId", _request_id())]
    if error:
        headers.append(("x-amzn-ErrorType", error))
    start_response(status, headers)
    return [data]


def _request_id() -> str:
    return str(uuid.uuid4())


# --- Destinations -------------------------------------------------------------------------------

SERVER_ERROR = "5xx"
RATE_LIMITED = "429"
TIME_OUT = "time-out"
DRIP = "drip"
HUGE = "huge"
DESTINATION_FAULTS = (SERVER_ERROR, RATE_LIMITED, TIME_OUT, DRIP, HUGE)


@dataclass
class FaultyDestination:
    """A receiver's responder that misbehaves on a seeded share of attempts, and lets every
    event through by its `max_faults + 1`-th attempt.

    - 5xx: 500 or 503 at once; 429: with `Retry-After: 1`.
    - time-out: holds the request `hang_seconds` (past the sender's time-out), then a 504: the
      receiver did not take the events either, so a retry is not a duplicate.
    - drip: a 200 whose body comes a byte every `drip_interval` seconds, `drip_bytes` of them.
    - huge: a 200 announcing and streaming `huge_bytes` (hundreds of MB) until the sender hangs up.

    A drip or huge answer is a 200 from the start: the destination took the events, and the
    sender must count them delivered without waiting for (or buffering) the whole body.
    """

    seed: int
    rate: float = 0.2
    max_faults: int = 2
    kinds: tuple[str, ...] = DESTINATION_FAULTS
    hang_seconds: float = 3.0
    drip_interval: float = 0.5
    drip_bytes: int = 20
    huge_bytes: int = 300 * 1024 * 1024
    injected: Counter[str] = field(default_factory=Counter)
    _attempts: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, received: Received) -> Answer:
        key = ",".join(sorted(str(event.get("messageId")) for event in received.events))
        with self._lock:
            self._attempts[key] += 1
            attempt = self._attempts[key]
        rng = random.Random(f"{self.seed}/{key}/{attempt}")
        if attempt > self.max_faults or rng.random() >= self.rate:
            return 200, {}, b'{"ok":true}'
        kind = rng.choice(self.kinds)
        with self._lock:
            self.injected[kind] += 1
        if kind == SERVER_ERROR:
            return rng.choice((500, 503)), {}, b'{"error":"internal"}'
        if kind == RATE_LIMITED:
            return 429, {"Retry-After": "1"}, b'{"error":"slow down"}'
        if kind == TIME_OUT:
            time.sleep(self.hang_seconds)
            return 504, {}, b'{"error":"upstream timed out"}'
        if kind == DRIP:
            return 200, {"Content-Length": str(self.drip_bytes)}, self._drip()
        return 200, {"Content-Length": str(self.huge_bytes)}, self._huge()

    def _drip(self) -> Iterator[bytes]:
        for _ in range(self.drip_bytes):
            yield b" "
            time.sleep(self.drip_interval)

    def _huge(self) -> Iterator[bytes]:
        chunk = b" " * (1024 * 1024)
        for _ in range(self.huge_bytes // len(chunk)):
            yield chunk


# --- Crashes ------------------------------------------------------------------------------------


class RouterCrashes:
    """The router's after-archive hook: the process dies between archive and fan-out on the
    batches with these ordinals (1 = the first batch the router archived)."""

    def __init__(self, ordinals: Iterable[int]) -> None:
        self._ordinals = set(ordinals)
        self._batches = 0
        self._lock = threading.Lock()
        self.crashed = 0

    def __call__(self) -> None:
        with self._lock:
            self._batches += 1
            if self._batches not in self._ordinals:
                return
            self.crashed += 1
        raise InjectedCrash(f"injected: the router died after archiving batch {self._batches}, before fan-out")


class DeliveryCrashes:
    """The delivery environment dies after its handler returned, before the queue learns the
    outcome: the first `times` invocations, once `after` of them have run, that settled every
    record of their batch (the HTTP calls got their answers) and hold at most one record for each
    destination, all of them among `destinations`. Their events come back after the visibility
    time-out and are sent again: each crash costs one duplicate of each event in those records
    (one message per destination, of up to `delivery_events_per_message` events)."""

    def __init__(self, times: int, *, destinations: Iterable[str], after: int = 0, function: str = "delivery") -> None:
        self._times = times
        self._destinations = set(destinations)
        self._after = after
        self._function = function
        self._invocations = 0
        self._lock = threading.Lock()
        self.crashed: list[tuple[str, str]] = []  # (destination, messageId) of each event whose answer was lost
        self.crashes = 0

    @property
    def pending(self) -> int:
        """Crashes planned that have not happened yet."""
        with self._lock:
            return self._times - self.crashes

    def crashes_after(self, function_name: str, event: Any, result: Any) -> bool:
        if function_name != self._function or not isinstance(event, dict) or not isinstance(result, dict):
            return False
        records = event.get("Records", [])
        with self._lock:
            self._invocations += 1
            if self._invocations <= self._after or self.crashes >= self._times:
                return False
            if not records or result.get("batchItemFailures"):
                return False
            messages = [DeliveryMessage.from_body(record["body"]) for record in records]
            destinations = [message.requests[0].destination_id for message in messages]
            if len(set(destinations)) != len(destinations) or not set(destinations) <= self._destinations:
                return False
            self.crashes += 1
            self.crashed += [
                (request.destination_id, str(request.event.get("messageId")))
                for message in messages
                for request in message.requests
            ]
            return True
