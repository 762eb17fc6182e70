"""What end-to-end tests share: events of a run (a fresh person per test), sending them, what the
receivers and the archive saw of a run, the tools' failures, and Event Delivery's figures."""

from __future__ import annotations

import calendar
import gzip
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import pytest
import requests

from switchyard.cli.main import main
from switchyard.delivery.stats import DeliveryReport, read_report
from switchyard.delivery.table import DeliveryTable
from switchyard.devstack.receiver import Answer, Received, Responder, WebhookReceiver
from switchyard.devstack.stack import LocalStack
from tests.e2e.conftest import TOOL_CREDENTIALS, wait_until

MASK = "<redacted>"

CALLS = ("identify", "track", "page", "screen", "group", "alias")

# Seconds a retry must not come before; above the destinations' backoff (at most 2 s) and
# Mixpanel's own 2 s floor, so only Retry-After explains the wait.
RETRY_AFTER_SECONDS = 3

# How long nothing more may arrive once a test's events were delivered (a retry would come within
# the destinations' 2 s backoff).
QUIET_SECONDS = 2.5


@dataclass(frozen=True)
class Moment:
    """An event's `timestamp` as sent, and as the tools write it."""

    text: str  # ISO 8601, milliseconds, Z
    epoch_ms: int

    @classmethod
    def minutes_ago(cls, minutes: int) -> Moment:
        moment = datetime.now(UTC) - timedelta(minutes=minutes)
        millis = moment.microsecond // 1000
        text = moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis:03d}Z"
        return cls(text, calendar.timegm(moment.utctimetuple()) * 1000 + millis)

    @property
    def epoch_micros(self) -> int:
        return self.epoch_ms * 1000

    @property
    def whole_seconds(self) -> str:
        """As EventBridge shows an entry's `time`."""
        return self.text[:19] + "Z"


def new_run() -> str:
    return uuid.uuid4().hex[:12]


def user(run: str) -> str:
    return f"user-{run}"


def anonymous(run: str) -> str:
    return f"anon-{run}"


def org(run: str) -> str:
    return f"org-{run}"


def context() -> dict[str, Any]:
    """What the tools map from the context: the client's IP, its locale, and a trait."""
    return {"ip": "203.0.113.7", "locale": "en-GB", "traits": {"plan": "pro"}}


def six_calls(run: str, when: Moment) -> dict[str, dict[str, Any]]:
    """One message of each call, by call: the same person, a UUID `messageId` each (as Segment's
    SDKs make them), a fixed `timestamp` and a context the tools map."""
    common = {"userId": user(run), "anonymousId": anonymous(run), "timestamp": when.text, "context": context()}
    specific: dict[str, dict[str, Any]] = {
        "identify": {"traits": {"email": f"{run}@example.com", "plan": "pro"}},
        "track": {
            "event": "Order Completed",
            "properties": {"run": run, "order_id": f"order-{run}", "revenue": 12.5, "currency": "EUR"},
        },
        "page": {
            "name": "Pricing",
            "category": "Docs",
            "properties": {"run": run, "url": "https://example.com/docs/pricing", "title": "Pricing"},
        },
        "screen": {"name": "Settings", "properties": {"run": run}},
        "group": {"groupId": org(run), "traits": {"company_id": org(run), "name": "Acme", "employees": 40}},
        "alias": {"previousId": anonymous(run)},
    }
    return {call: {"type": call, "messageId": str(uuid.uuid4()), **common, **specific[call]} for call in CALLS}


def track(run: str, name: str, when: Moment, **properties: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "messageId": str(uuid.uuid4()),
        "userId": user(run),
        "anonymousId": anonymous(run),
        "timestamp": when.text,
        "context": context(),
        "event": name,
        "properties": {"run": run, **properties},
    }


def send(stack: LocalStack, write_key: str, *messages: dict[str, Any]) -> None:
    response = requests.post(
        f"{stack.api_url}/v1/batch", auth=(write_key, ""), json={"batch": list(messages)}, timeout=10
    )
    assert response.status_code == 200, response.text


def of_run(receiver: WebhookReceiver, run: str) -> list[Received]:
    """The requests carrying this run's events (every item names the run's person)."""
    return [received for received in list(receiver.requests) if run.encode() in received.body]


def accepted_of_run(receiver: WebhookReceiver, run: str) -> list[Received]:
    return [received for received in list(receiver.accepted) if run.encode() in received.body]


def holds(condition: Callable[[], bool], seconds: float = QUIET_SECONDS) -> bool:
    """Whether `condition()` stays true for `seconds` (nothing more arrives, nothing is resent)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not condition():
            return False
        time.sleep(0.2)
    return condition()


def arrival_gaps(requests_in_order: list[Received]) -> list[float]:
    times = sorted(received.at for received in requests_in_order)
    return [later - earlier for earlier, later in zip(times, times[1:], strict=False)]


class FailsFirst:
    """Answers the first request carrying the run's events with `failure`, the others with `success`."""

    def __init__(self, run: str, failure: Callable[[Received, str], Answer], success: Responder) -> None:
        self._run, self._failure, self._success = run, failure, success
        self._failed = False
        self._lock = threading.Lock()

    def __call__(self, received: Received) -> Answer:
        with self._lock:
            fail = not self._failed and self._run.encode() in received.body
            self._failed = self._failed or fail
        return self._failure(received, self._run) if fail else self._success(received)


def delivery_table(stack: LocalStack) -> DeliveryTable:
    assert stack.resources is not None
    return DeliveryTable(stack.resources.delivery_table, stack.client("dynamodb"))


def report_of(stack: LocalStack, destination: str) -> DeliveryReport:
    return read_report(delivery_table(stack), destination, timedelta(hours=1))


def settled_report(stack: LocalStack, destination: str, timeout: float = 15.0) -> DeliveryReport:
    """The report once earlier tests' outcomes are all counted (two reads a second apart agree)."""

    def figures(report: DeliveryReport) -> tuple[Any, ...]:
        return report.delivered, report.not_delivered, report.retried, report.errors, report.filtered_reasons

    deadline = time.monotonic() + timeout
    previous = report_of(stack, destination)
    while time.monotonic() < deadline:
        time.sleep(1.0)
        current = report_of(stack, destination)
        if figures(current) == figures(previous):
            return current
        previous = current
    raise AssertionError(f"Event Delivery for {destination} kept changing for {timeout}s")


def counted_since(before: DeliveryReport, after: DeliveryReport) -> dict[str, int]:
    """What Event Delivery counted between two reports: the counters, and each reason (an error or a
    filter's) that grew."""
    counted = {
        "delivered": after.delivered - before.delivered,
        "not_delivered": after.not_delivered - before.not_delivered,
        "retried": after.retried - before.retried,
    }
    reasons_before = {**before.errors, **before.filtered_reasons}
    for label, count in {**after.errors, **after.filtered_reasons}.items():
        if count != reasons_before.get(label, 0):
            counted[label] = count - reasons_before.get(label, 0)
    return counted


def assert_no_credential_in(text: str, where: str, credentials: Sequence[str] = TOOL_CREDENTIALS) -> None:
    shown = [credential for credential in credentials if credential in text]
    assert shown == [], f"{where} shows {shown}"


def assert_cli_report_shows_no_credential(
    stack: LocalStack,
    destination: str,
    capsys: pytest.CaptureFixture[str],
    credentials: Sequence[str] = TOOL_CREDENTIALS,
) -> str:
    capsys.readouterr()
    assert main(["delivery", destination, "--since", "1h", "--endpoint-url", stack.aws_endpoint]) == 0
    printed = capsys.readouterr().out
    assert f"Delivery Overview for {destination}" in printed
    assert_no_credential_in(printed, f"`switchyard delivery {destination}`", credentials)
    return printed


# -- the answers every tool may give -----------------------------------------------------------------


def assert_retried_after_the_wait_and_delivered_once(
    receiver: WebhookReceiver, run: str, minimum_gap: float, what: str = "throttled"
) -> None:
    """The run's event was refused once (throttled) and accepted on the retry, no sooner than the
    tool asked: two requests, no third."""
    assert wait_until(lambda: accepted_of_run(receiver, run), timeout=30)
    assert holds(lambda: len(of_run(receiver, run)) == 2), f"one {what} attempt, one accepted, no more"
    (gap,) = arrival_gaps(of_run(receiver, run))
    assert gap >= minimum_gap, f"retried after {gap:.2f}s, before the {minimum_gap}s the tool asked for"


def retried_sample(
    stack: LocalStack, receiver: WebhookReceiver, destination: str, run: str, event: dict[str, Any], label: str
) -> dict[str, Any]:
    """After a refusal then success: the same request went twice, once accepted, and Event Delivery
    kept a sample of the refused attempt (`label`), returned for the tool's own checks."""
    assert wait_until(lambda: accepted_of_run(receiver, run), timeout=30)
    assert holds(lambda: len(of_run(receiver, run)) == 2), "one failed attempt, one accepted, no more"
    first, second = sorted(of_run(receiver, run), key=lambda received: received.at)
    assert first.body == second.body, "the same request again"

    def sample() -> dict[str, Any] | None:
        found = report_of(stack, destination).samples.get(label)
        return found if found and found["received"]["messageId"] == event["messageId"] else None

    shown = wait_until(sample, timeout=15)
    assert shown, "Event Delivery keeps a sample of the retried attempt"
    return shown


# -- the archive -------------------------------------------------------------------------------------


def archived(stack: LocalStack, source_id: str = "") -> list[dict[str, Any]]:
    """Every archived event (of one source, when given), one per archived line; the bucket's other
    objects (replay manifests) are not events."""
    assert stack.resources is not None
    s3 = stack.client("s3")
    events = []
    prefix = f"source_id={source_id}/" if source_id else "source_id="
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=stack.resources.archive_bucket, Prefix=prefix):
        for item in page.get("Contents", []):
            if not item["Key"].endswith(".jsonl.gz"):
                continue
            body = gzip.decompress(s3.get_object(Bucket=stack.resources.archive_bucket, Key=item["Key"])["Body"].read())
            events += [orjson.loads(line) | {"__key": item["Key"]} for line in body.splitlines() if line]
    return events
