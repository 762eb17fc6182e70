"""Router and delivery end to end: dedupe, archive, fan-out, retries, dead letters, Event Delivery."""

from __future__ import annotations

import statistics
import time
import uuid
from collections import Counter
from datetime import UTC, timedelta
from typing import Any

import pytest
import requests
from segment.analytics import Client as SegmentClient

from switchyard.cli.main import main
from switchyard.delivery.deadletters import DeadLetters
from switchyard.delivery.requests import DeliveryRequest
from switchyard.delivery.stats import DeliveryReport, read_report
from switchyard.delivery.table import DeliveryTable
from switchyard.devstack.faults import RouterCrashes
from switchyard.devstack.receiver import WebhookReceiver
from switchyard.devstack.stack import LocalStack
from switchyard.streams import KinesisEventStream, StreamWriteFailed
from switchyard.timeutil import parse_timestamp
from tests.e2e.conftest import SECRET, Receivers, ingest_handler, wait_until
from tests.e2e.tool_runs import archived

pytestmark = pytest.mark.e2e


def received_epoch(event: dict[str, Any]) -> float:
    """`receivedAt` as epoch seconds (parse_timestamp gives naive UTC)."""
    return parse_timestamp(event["receivedAt"]).replace(tzinfo=UTC).timestamp()  # type: ignore[union-attr]


def send(stack: LocalStack, key: str, *messages: dict[str, Any]) -> None:
    response = requests.post(f"{stack.api_url}/v1/batch", auth=(key, ""), json={"batch": list(messages)}, timeout=10)
    assert response.status_code == 200, response.text


def track(run: str, name: str, **properties: Any) -> dict[str, Any]:
    return {
        "type": "track",
        "userId": f"user-{run}",
        "event": name,
        "messageId": f"{run}-{name}",
        "properties": {"run": run, **properties},
    }


def events_of(receiver: WebhookReceiver, run: str) -> list[dict[str, Any]]:
    return [e for e in receiver.delivered_events() if (e.get("properties") or e.get("traits") or {}).get("run") == run]


def attempts_of(receiver: WebhookReceiver, message_id: str) -> list[float]:
    return [r.at for r in receiver.requests if any(e.get("messageId") == message_id for e in r.events)]


def test_1000_sdk_events_with_duplicates_arrive_and_are_archived_exactly_once(
    local_stack: LocalStack, receivers: Receivers
):
    run = uuid.uuid4().hex[:8]
    # Given: the first request the stream takes is also answered 503, so the SDK sends it again.
    retried = []

    class FailOnceAfterWriting(KinesisEventStream):
        def put(self, records: Any) -> None:
            super().put(records)
            if not retried:
                retried.append(len(records))
                raise StreamWriteFailed(len(records), "injected after a successful write")

    ingest = local_stack.functions["ingest"]
    handler = ingest_handler(local_stack, lambda settings: FailOnceAfterWriting(settings.events_stream_name))
    errors: list[Exception] = []
    client = SegmentClient(
        "wk_e2e_server_456",
        host=local_stack.api_url,
        upload_size=100,
        on_error=lambda e, _: errors.append(e),
        max_retries=3,
    )
    calls = ["identify", "track", "page", "screen", "group", "alias"]
    originals: list[str] = []
    with ingest.serving(handler):
        for index in range(1000):
            call = calls[index % 6]
            repeat = index % 10 == 9  # 10%: re-send an earlier event's messageId (a later batch)
            message_id = originals[index // 2] if repeat else f"{run}-{index}"
            if not repeat:
                originals.append(message_id)
            user = f"user-{run}-{index % 37}"
            props = {"run": run, "index": index}
            if call == "identify":
                client.identify(user, props, message_id=message_id)
            elif call == "track":
                client.track(user, "Bulk Event", props, message_id=message_id)
            elif call == "page":
                client.page(user, "Docs", "Page", props, message_id=message_id)
            elif call == "screen":
                client.screen(user, "App", "Screen", props, message_id=message_id)
            elif call == "group":
                client.group(user, f"org-{run}", props, message_id=message_id)
            else:
                client.alias(f"anon-{run}-{index}", user, message_id=message_id)
        client.track(
            f"user-{run}",
            "Archive Only",
            {"run": run},
            integrations={"All": False},
            message_id=f"{run}-archive-only",
        )
        client.flush()
        client.shutdown()
    assert errors == []
    assert retried, "the SDK retried a request whose events were already in the stream"

    expected = set(originals)
    delivered = wait_until(
        lambda: (
            (ids := [e["messageId"] for e in receivers.bulk.delivered_events() if e["messageId"].startswith(run)])
            and set(ids) >= expected
            and ids
        ),
        timeout=90,
    )
    time.sleep(2)  # anything duplicated would arrive by now
    delivered = [e["messageId"] for e in receivers.bulk.delivered_events() if e["messageId"].startswith(run)]
    assert Counter(delivered) == Counter(expected), "each event reaches the receiver exactly once"
    assert f"{run}-archive-only" not in delivered
    assert all(r.signature_valid for r in receivers.bulk.accepted if any(e["messageId"] in expected for e in r.events))
    assert all(r.headers.get("X-Team") == "growth" for r in receivers.bulk.accepted)

    in_archive = [e["messageId"] for e in archived(local_stack) if e["messageId"].startswith(run)]
    assert Counter(in_archive) == Counter(expected | {f"{run}-archive-only"}), "archived exactly once"
    sample = next(e for e in archived(local_stack) if e["messageId"] == f"{run}-archive-only")
    assert sample["__key"].startswith(
        f"source_id=server/date={sample['receivedAt'][:10]}/hour={sample['receivedAt'][11:13]}/"
    )


def test_event_delivery_figures_match_what_the_receiver_saw(
    local_stack: LocalStack, receivers: Receivers, capsys: pytest.CaptureFixture[str]
):
    assert local_stack.resources is not None
    table = DeliveryTable(local_stack.resources.delivery_table, local_stack.client("dynamodb"))
    report = wait_until(
        lambda: (r := read_report(table, "bulk", timedelta(hours=1))).delivered == len(receivers.bulk.accepted) and r,
        timeout=20,
    )
    assert report, "statistics are written as deliveries happen"
    assert report.delivered == len(receivers.bulk.delivered_events())
    assert report.not_delivered == 0
    latencies = sorted((r.at - received_epoch(e)) * 1000 for r in receivers.bulk.accepted for e in r.events)
    observed_p95 = latencies[int(len(latencies) * 0.95) - 1]
    assert report.p95_latency_ms is not None
    assert observed_p95 * 0.8 <= report.p95_latency_ms <= observed_p95 * 1.25 + 50
    assert main(["delivery", "bulk", "--since", "1h", "--endpoint-url", local_stack.aws_endpoint]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Delivery Overview for bulk")
    delivered_line = next(line for line in out.splitlines() if line.split()[:1] == ["delivered"])
    assert delivered_line.split()[1].replace(",", "") == str(report.delivered)
    received_line = next(line for line in out.splitlines() if line.strip().startswith("received from sources"))
    assert int(received_line.split()[3].replace(",", "")) >= report.delivered, "each was received before delivered"


def test_a_500_then_200_is_retried_and_delivered_once(local_stack: LocalStack, receivers: Receivers):
    run = uuid.uuid4().hex[:8]
    send(local_stack, "wk_e2e_web_123", track(run, "Flaky", fault="500-then-200"))
    assert wait_until(lambda: events_of(receivers.faults, run), timeout=30)
    assert len(attempts_of(receivers.faults, f"{run}-Flaky")) == 2
    assert len(events_of(receivers.faults, run)) == 1


def test_429_retry_after_is_honoured(local_stack: LocalStack, receivers: Receivers):
    run = uuid.uuid4().hex[:8]
    send(local_stack, "wk_e2e_web_123", track(run, "Throttled", fault="429-retry-after"))
    assert wait_until(lambda: events_of(receivers.faults, run), timeout=30)
    first, second = attempts_of(receivers.faults, f"{run}-Throttled")
    assert second - first >= 2.0, "the retry waited for Retry-After: 2"


def test_a_destination_hanging_past_its_timeout_is_retried(local_stack: LocalStack, receivers: Receivers):
    run = uuid.uuid4().hex[:8]
    send(local_stack, "wk_e2e_web_123", track(run, "Hung", fault="hang"))
    # The receiver finishes the first request after the sender gave up on it, so it counts both.
    assert wait_until(lambda: len(attempts_of(receivers.faults, f"{run}-Hung")) == 2, timeout=30)
    first, second = attempts_of(receivers.faults, f"{run}-Hung")
    assert second - first >= 1.0, "retried after backoff, not in a loop"


def test_a_400_is_final_counted_with_its_reason_and_not_retried(local_stack: LocalStack, receivers: Receivers):
    assert local_stack.resources is not None
    run = uuid.uuid4().hex[:8]
    send(local_stack, "wk_e2e_web_123", track(run, "Rejected", fault="400"))
    table = DeliveryTable(local_stack.resources.delivery_table, local_stack.client("dynamodb"))

    def reported() -> DeliveryReport | None:
        """The report once it holds this run's sample (written just after the counters)."""
        report = read_report(table, "faults", timedelta(hours=1))
        sample = report.samples.get("discarded.400")
        return report if sample and sample["received"]["messageId"] == f"{run}-Rejected" else None

    report = wait_until(reported, timeout=30)
    assert report is not None and report.errors.get("discarded.400")
    assert report.not_delivered >= 1
    assert report.samples["discarded.400"]["response"]["status"] == 400
    assert report.samples["discarded.400"]["received"]["messageId"] == f"{run}-Rejected"
    time.sleep(3)
    assert len(attempts_of(receivers.faults, f"{run}-Rejected")) == 1


def test_refused_connections_end_in_dead_letters_that_redrive_delivers(
    local_stack: LocalStack, receivers: Receivers, capsys: pytest.CaptureFixture[str]
):
    assert local_stack.resources is not None
    run = uuid.uuid4().hex[:8]
    send(local_stack, "wk_e2e_lab_000", track(run, "Unreachable"))
    letters = DeadLetters(DeliveryTable(local_stack.resources.delivery_table, local_stack.client("dynamodb")))
    dead = wait_until(lambda: [d for d in letters.list("refused") if d.message_id == f"{run}-Unreachable"], timeout=45)
    assert dead and dead[0].last_error == "awaiting_retry.ECONNREFUSED"
    assert dead[0].attempts >= 2
    assert main(["dlq", "list", "refused", "--endpoint-url", local_stack.aws_endpoint]) == 0
    assert f"{run}-Unreachable" in capsys.readouterr().out

    # When the destination is back, a redrive delivers what was given up on.
    late = WebhookReceiver(receivers.closed_port).start()
    try:
        assert main(["dlq", "redrive", "refused", "--endpoint-url", local_stack.aws_endpoint]) == 0
        assert wait_until(lambda: events_of(late, run), timeout=30)
        assert [d for d in letters.list("refused") if d.message_id == f"{run}-Unreachable"] == []
    finally:
        late.stop()


def test_what_sqs_moved_to_its_dead_letter_queue_is_listed_and_redriven_by_the_cli(
    local_stack: LocalStack, receivers: Receivers, capsys: pytest.CaptureFixture[str]
):
    """A message past the queue's receive limit (a crash loop) is not lost in the SQS DLQ: it joins
    the dead-letter store, where `dlq list` shows it and `dlq redrive` delivers it."""
    assert local_stack.resources is not None
    run = uuid.uuid4().hex[:8]
    event = {**track(run, "Crash Looped"), "receivedAt": "2027-01-15T08:00:00.000Z"}
    body = DeliveryRequest("bulk", event).to_body().decode()
    local_stack.client("sqs").send_message(QueueUrl=local_stack.resources.delivery_dlq_url, MessageBody=body)
    letters = DeadLetters(DeliveryTable(local_stack.resources.delivery_table, local_stack.client("dynamodb")))
    parked = wait_until(lambda: [d for d in letters.list("bulk") if d.message_id == f"{run}-Crash Looped"], timeout=20)
    assert parked and parked[0].last_error == "awaiting_retry.receive_limit"
    assert main(["dlq", "list", "bulk", "--endpoint-url", local_stack.aws_endpoint]) == 0
    assert f"{run}-Crash Looped" in capsys.readouterr().out

    assert main(["dlq", "redrive", "bulk", "--endpoint-url", local_stack.aws_endpoint]) == 0
    assert wait_until(lambda: events_of(receivers.bulk, run), timeout=30)


def test_a_batch_retried_after_the_router_failed_post_archive_is_delivered_not_deduplicated(
    local_stack: LocalStack, receivers: Receivers
):
    run = uuid.uuid4().hex[:8]
    crash = RouterCrashes([1])  # the process dies after archiving the next batch, before fan-out
    router = local_stack.functions["router"]
    router.each_environment(lambda module: module.run_after_archive(crash))
    try:
        send(local_stack, "wk_e2e_server_456", *(track(run, f"Crash{i}") for i in range(5)))
        assert wait_until(lambda: len(events_of(receivers.bulk, run)) == 5, timeout=30)
    finally:
        router.each_environment(lambda module: module.run_after_archive(None))
    assert crash.crashed == 1
    time.sleep(1)
    assert Counter(e["messageId"] for e in events_of(receivers.bulk, run)) == Counter(
        f"{run}-Crash{i}" for i in range(5)
    )
    assert Counter(e["messageId"] for e in archived(local_stack) if e["messageId"].startswith(run)) == Counter(
        f"{run}-Crash{i}" for i in range(5)
    )


def test_a_failing_destination_does_not_slow_a_healthy_one(local_stack: LocalStack, receivers: Receivers):
    run = uuid.uuid4().hex[:8]
    receivers.slow.responder = lambda received: (time.sleep(2), (503, {}, b"{}"))[1]
    try:
        for wave in range(6):  # about 6 s of traffic while `slow` hangs past its 1 s time-out
            send(local_stack, "wk_e2e_iso_000", *(track(run, f"Iso{wave}-{i}") for i in range(10)))
            time.sleep(1)
        assert wait_until(lambda: len(events_of(receivers.healthy, run)) == 60, timeout=30)
    finally:
        receivers.slow.responder = lambda received: (200, {}, b"{}")
    latencies = [
        received.at - received_epoch(event)
        for received in receivers.healthy.accepted
        for event in received.events
        if (event.get("properties") or {}).get("run") == run
    ]
    slow_attempts = [r for r in receivers.slow.requests if any(e["messageId"].startswith(run) for e in r.events)]
    assert slow_attempts, "the failing destination was tried"
    p95 = statistics.quantiles(latencies, n=20)[-1]
    assert statistics.median(latencies) < 1.5, f"healthy median latency {statistics.median(latencies):.2f}s"
    assert p95 < 3.0, f"healthy p95 latency {p95:.2f}s"
    # The failing destination's events are not lost: it recovers and gets them all, much later.
    assert wait_until(lambda: len(events_of(receivers.slow, run)) == 60, timeout=60)
    slow_latencies = [
        received.at - received_epoch(event)
        for received in receivers.slow.accepted
        for event in received.events
        if (event.get("properties") or {}).get("run") == run
    ]
    assert statistics.median(slow_latencies) > 2 * statistics.median(latencies), "measured both: only one suffered"


def test_a_signature_lets_the_receiver_verify_the_body(receivers: Receivers):
    assert receivers.bulk.secret == SECRET
    assert receivers.bulk.accepted and all(r.signature_valid for r in receivers.bulk.accepted)
