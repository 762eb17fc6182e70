"""The soak (issue 15): events from the real SDKs through the local stack while faults are injected.

The goal: every event an SDK got a 2xx for is archived once and, for every destination it is
routed to, delivered or dead-lettered (0 lost), with at most 0.1 % duplicates per destination.

Faults, all seeded (see switchyard.devstack.faults):

- AWS: Kinesis PutRecords refused whole or partly failed; DynamoDB throttled at a rate and in
  storms that outlast the AWS SDK's own retries.
- `flaky`: 5xx, 429 with Retry-After, time-outs, a drip of a byte every 0.5 s, 300 MB answers;
  each event gets through by its third attempt.
- `late`: connections refused until its port opens, `late_opens_after` seconds in.
- `dead`: connections refused for ever; a short retry.max_hours sends all its events to dead letters.
- The router dies between archive and fan-out; a delivery environment dies after its HTTP calls
  (on a batch holding at most one event per destination, so a crash costs at most one duplicate
  per destination; if no such batch came by the end, single events are sent until one does).

`steady` is a healthy destination for every event: it is also how the soak knows that the router
has seen everything.
"""

from __future__ import annotations

import gzip
import os
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import orjson
from rudderstack.analytics import Client as RudderClient
from segment.analytics import Client as SegmentClient

from switchyard.delivery.deadletters import DeadLetters
from switchyard.delivery.stats import read_report
from switchyard.delivery.table import DeliveryTable
from switchyard.devstack.faults import (
    AwsFaultPlan,
    DeliveryCrashes,
    FaultyDestination,
    RouterCrashes,
    StackFaults,
    Storms,
)
from switchyard.devstack.receiver import WebhookReceiver
from switchyard.devstack.stack import LocalStack, quiet_library_logs
from tests.support.ports import closed_port

SOURCES = {"segment": "wk_soak_segment_0001", "rudder": "wk_soak_rudder_0001"}
WORKSPACE = """\
workspace: soak
sources:
  - {{id: segment, name: Segment SDK, write_key: {segment_key}}}
  - {{id: rudder, name: RudderStack SDK, write_key: {rudder_key}}}
destinations:
  - id: steady
    type: webhook
    sources: [segment, rudder]
    settings: {{url: "{steady}/hook", batch_size: 10, timeout_seconds: 5}}
    rate_limit_per_second: 10000
    concurrency: 10
  - id: flaky
    type: webhook
    sources: [segment, rudder]
    settings: {{url: "{flaky}/hook", timeout_seconds: 2}}
    rate_limit_per_second: 10000
    concurrency: 20
    retry: {{initial_delay_seconds: 1, max_delay_seconds: 4, max_hours: 0.25}}
  - id: late
    type: webhook
    sources: [rudder]
    settings: {{url: "http://127.0.0.1:{late_port}/hook", timeout_seconds: 2}}
    rate_limit_per_second: 10000
    concurrency: 10
    retry: {{initial_delay_seconds: 1, max_delay_seconds: 4, max_hours: 0.25}}
  - id: dead
    type: webhook
    sources: [rudder]
    settings: {{url: "http://127.0.0.1:{dead_port}/hook", timeout_seconds: 1}}
    rate_limit_per_second: 10000
    concurrency: 10
    retry: {{initial_delay_seconds: 1, max_delay_seconds: 2, max_hours: {dead_max_hours}}}
"""
ROUTES = {"steady": {"segment", "rudder"}, "flaky": {"segment", "rudder"}, "late": {"rudder"}, "dead": {"rudder"}}
CALLS = ("identify", "track", "page", "screen", "group", "alias")
# Events sent one at a time after the drain, if no batch fitted the delivery crash plan by then.
MAX_PROBES = 5


@dataclass(frozen=True)
class SoakSettings:
    events: int = 10_000
    seed: int = 15
    rudder_share: float = 0.2  # of the events, sent by rudder-sdk-python; the rest by Segment's SDK
    send_seconds: float = 60.0  # the events are spread over this long
    late_opens_after: float = 30.0  # seconds from the first event
    dead_max_hours: float = 0.003  # about 11 s of retries, then dead letters
    put_records_throttled: float = 0.05
    put_records_partial: float = 0.1
    dynamodb_throttled: float = 0.02
    storms: Storms = Storms(every_seconds=40.0, lasting_seconds=3.0)
    destination_fault_rate: float = 0.1
    router_crashes: tuple[int, ...] = (3, 10)  # batch ordinals
    delivery_crashes: int = 2
    delivery_crashes_after: int = 200  # invocations
    drain_seconds: float = 1200.0  # the bound on delivering or dead-lettering everything after the last event
    delivery_timeout_seconds: float = 20.0
    queue_visibility_seconds: int = 30
    max_duplicate_share: float = 0.001


# `make test`: every kind of fault, at least once, in about 90 s.
SHORT = SoakSettings(
    events=1_000,
    send_seconds=10.0,
    late_opens_after=8.0,
    put_records_throttled=0.2,
    put_records_partial=0.3,
    storms=Storms(every_seconds=12.0, lasting_seconds=2.0),
    destination_fault_rate=0.15,
    router_crashes=(2,),
    delivery_crashes=1,
    delivery_crashes_after=5,
    drain_seconds=150.0,
    delivery_timeout_seconds=15.0,
    queue_visibility_seconds=20,
)


@dataclass(frozen=True)
class DestinationFigures:
    routed: int
    delivered: int
    duplicates: int
    from_crashes: int  # duplicates of events whose delivery environment crashed after the HTTP call
    dead_letters: int
    lost: int


@dataclass
class SoakReport:
    settings: SoakSettings
    sent: Counter[str]  # per SDK
    probes: int  # of them, single events sent after the drain to give the delivery crash its batch
    not_accepted: Counter[str]  # per reason
    accepted: int
    archived: int
    archived_twice: int
    not_archived: int
    destinations: dict[str, DestinationFigures]
    injected: Counter[str]
    runtime: list[str]  # what the local Lambda runtime saw: time-outs and crashed environments
    seconds: dict[str, float]  # per phase
    drained: bool

    @property
    def lost(self) -> int:
        return self.not_archived + sum(figures.lost for figures in self.destinations.values())

    def duplicates_within_goal(self, destination: str) -> bool:
        """A delivery environment that dies after the tool answered loses its batch's outcomes, so
        those events come back and are sent again (at least once): a message's worth each, up to
        `delivery_events_per_message` events. Beyond those, duplicates stay under the share."""
        figures = self.destinations[destination]
        return figures.duplicates <= figures.from_crashes + self.settings.max_duplicate_share * figures.routed

    @property
    def goal_met(self) -> bool:
        within = all(self.duplicates_within_goal(name) for name in self.destinations)
        return self.lost == 0 and self.archived_twice == 0 and within

    def lines(self) -> list[str]:
        s = self.settings
        sdks = ", ".join(f"{name} {count}" for name, count in sorted(self.sent.items()))
        phases = ", ".join(f"{phase} {seconds:.0f} s" for phase, seconds in self.seconds.items())
        injected = ", ".join(f"{kind} {count}" for kind, count in sorted(self.injected.items()))
        refused = ", ".join(f"{reason} {count}" for reason, count in self.not_accepted.most_common()) or "none"
        lines = [
            f"soak: {s.events} events, seed {s.seed} ({phases})",
            f"faults injected: {injected}",
            f"lambda runtime: {'; '.join(self.runtime)}",
            f"sent {sum(self.sent.values())} ({sdks}; {self.probes} probe(s)); accepted {self.accepted};"
            f" not accepted: {refused}",
            f"archived {self.archived}, twice {self.archived_twice}, not archived {self.not_archived}",
            "",
            f"{'destination':<12}{'routed':>8}{'delivered':>11}{'duplicates':>12}{'(crashes)':>11}"
            f"{'dead letters':>14}{'lost':>7}",
        ]
        for name, f in self.destinations.items():
            mark = "" if self.duplicates_within_goal(name) else "  duplicates over goal"
            lines.append(
                f"{name:<12}{f.routed:>8}{f.delivered:>11}{f.duplicates:>12}{f.from_crashes:>11}"
                f"{f.dead_letters:>14}{f.lost:>7}{mark}"
            )
        goal = (
            f"0 lost, archived once, duplicates <= {s.max_duplicate_share:.1%} per destination "
            "besides those of crashed deliveries"
        )
        verdict = "met" if self.goal_met else "MISSED"
        lines += ["", f"lost {self.lost}; goal ({goal}): {verdict}" + ("" if self.drained else " (drain timed out)")]
        return lines


class Soak:
    """The local stack with fault plans, its receivers, and the two SDKs; `run()` once."""

    def __init__(self, settings: SoakSettings, log: Callable[[str], None] = lambda _: None) -> None:
        self.settings = settings
        self._log = log
        self._folder = tempfile.TemporaryDirectory(prefix="switchyard-soak-")
        self.aws_faults = AwsFaultPlan(
            settings.seed,
            put_records_throttled=settings.put_records_throttled,
            put_records_partial=settings.put_records_partial,
            dynamodb_throttled=settings.dynamodb_throttled,
            dynamodb_storms=settings.storms,
        )
        self.flaky_faults = FaultyDestination(settings.seed, rate=settings.destination_fault_rate, hang_seconds=3.0)
        self.router_crashes = RouterCrashes(settings.router_crashes)
        self.delivery_crashes = DeliveryCrashes(
            settings.delivery_crashes, destinations=["steady", "flaky"], after=settings.delivery_crashes_after
        )
        self.steady = WebhookReceiver(0)
        self.flaky = WebhookReceiver(0, responder=self.flaky_faults)
        self.late: WebhookReceiver | None = None
        # Closed for now (late) or for ever (dead): ports no other server of the run can be given.
        self._late_port = closed_port()
        self._dead_port = closed_port()
        self._late_timer: threading.Timer | None = None
        self._saved_environment = dict(os.environ)
        self._lock = threading.Lock()
        self._ids: dict[str, list[str]] = {sdk: [] for sdk in SOURCES}  # messageIds sent, per SDK
        self._refused: dict[str, str] = {}  # messageId -> why the SDK gave up on it
        self._probes = 0
        config = Path(self._folder.name) / "workspace.yaml"
        config.write_text(
            WORKSPACE.format(
                segment_key=SOURCES["segment"],
                rudder_key=SOURCES["rudder"],
                steady=self.steady.url,
                flaky=self.flaky.url,
                late_port=self._late_port,
                dead_port=self._dead_port,
                dead_max_hours=settings.dead_max_hours,
            )
        )
        self.stack = LocalStack(
            config,
            port=0,
            aws_port=0,
            faults=StackFaults(
                aws=self.aws_faults, after_archive=self.router_crashes, invocations=self.delivery_crashes
            ),
            delivery_timeout_seconds=settings.delivery_timeout_seconds,
            queue_visibility_seconds=settings.queue_visibility_seconds,
        )

    def __enter__(self) -> Soak:
        quiet_library_logs()
        self.steady.start()
        self.flaky.start()
        self.stack.start()
        return self

    def __exit__(self, *_: object) -> None:
        if self._late_timer is not None:
            self._late_timer.cancel()
        self.stack.stop()
        for receiver in (self.steady, self.flaky, self.late):
            if receiver is not None:
                receiver.stop()
        os.environ.clear()
        os.environ.update(self._saved_environment)
        self._folder.cleanup()

    def run(self) -> SoakReport:
        s = self.settings
        started = time.monotonic()
        self.aws_faults.start()
        self._late_timer = threading.Timer(s.late_opens_after, self._open_late)
        self._late_timer.start()
        clients = self._clients()
        try:
            self._send(clients)
            sent_at = time.monotonic()
            self._log(f"sent {s.events} events in {sent_at - started:.0f} s; draining")
            deadline = sent_at + s.drain_seconds
            drained = self._drain(deadline)
            while drained and self.delivery_crashes.pending and self._probes < MAX_PROBES:
                # No batch fitted the delivery crash plan: give it one, an event for steady and flaky alone.
                self._probes += 1
                self._log(f"probe {self._probes}: one more event, for the delivery crash")
                self._send_one(clients, "segment", s.events + self._probes, f"soak-{s.seed}-probe-{self._probes}")
                clients["segment"].flush()
                drained = self._drain(deadline)
        finally:
            for client in clients.values():
                client.shutdown()
        self.aws_faults.stop()
        time.sleep(3)  # anything still on its way (a duplicate) arrives by now
        drained_at = time.monotonic()
        report = self._count()
        report.drained = drained
        report.seconds = {
            "send": sent_at - started,
            "drain": drained_at - sent_at,
            "count": time.monotonic() - drained_at,
            "total": time.monotonic() - started,
        }
        return report

    def _open_late(self) -> None:
        self.late = WebhookReceiver(self._late_port).start()
        self._log(f"destination `late` is listening after {self.settings.late_opens_after:.0f} s")

    def _clients(self) -> dict[str, Any]:
        def on_error(error: Exception, batch: list[dict[str, Any]]) -> None:
            reason = f"{type(error).__name__} {getattr(error, 'status', '')}".strip()
            with self._lock:
                for message in batch:
                    self._refused[message["messageId"]] = reason

        common = {"host": self.stack.api_url, "on_error": on_error, "max_queue_size": 100_000, "max_retries": 10}
        return {
            "segment": SegmentClient(SOURCES["segment"], gzip=True, **common),
            "rudder": RudderClient(SOURCES["rudder"], gzip=False, **common),
        }

    def _send(self, clients: dict[str, Any]) -> None:
        """Every event through one of the two SDKs, spread over `send_seconds`."""
        s = self.settings
        every = s.send_seconds / s.events
        start = time.monotonic()
        for index in range(s.events):
            delay = start + index * every - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            sdk = "rudder" if (index * 7919 % 1000) < s.rudder_share * 1000 else "segment"
            self._send_one(clients, sdk, index, f"soak-{s.seed}-{index:06d}")
        for client in clients.values():
            client.flush()

    def _send_one(self, clients: dict[str, Any], sdk: str, index: int, message_id: str) -> None:
        with self._lock:
            self._ids[sdk].append(message_id)
        if not send(clients[sdk], index, message_id):
            with self._lock:
                self._refused[message_id] = "queue full"

    def _accepted(self) -> set[str]:
        with self._lock:
            return {message_id for sent in self._ids.values() for message_id in sent} - set(self._refused)

    def _drain(self, deadline: float) -> bool:
        """Until `steady` has every accepted event (the router saw everything) and the delivery
        queues are empty twice in a row (no retry pending, dead letters written); or the deadline."""
        sqs = self.stack.client("sqs")
        assert self.stack.resources is not None
        queues = [self.stack.resources.delivery_queue_url, self.stack.resources.delivery_dlq_url]
        accepted = self._accepted()
        empty_before = False
        while time.monotonic() < deadline:
            delivered = {e.get("messageId") for e in self.steady.delivered_events()}
            missing = len(accepted - delivered)
            # Asking for queue attributes makes moto scan every message: only once `steady` is done.
            waiting = sum(queued(sqs, url) for url in queues) if missing == 0 else None
            self._log(f"steady is missing {missing} event(s); delivery messages queued: {waiting}")
            empty = waiting == 0
            if empty and empty_before:
                return True
            empty_before = empty
            time.sleep(2)
        return False

    def _count(self) -> SoakReport:
        assert self.stack.resources is not None
        ids, refused, accepted = self._ids, self._refused, self._accepted()
        source_of = {message_id: sdk for sdk, sent in ids.items() for message_id in sent}
        in_archive = Counter(e["messageId"] for e in archived(self.stack) if e.get("messageId") in source_of)
        table = DeliveryTable(self.stack.resources.delivery_table, self.stack.client("dynamodb"))
        letters = DeadLetters(table)
        receivers = {"steady": self.steady, "flaky": self.flaky, "late": self.late}
        crashed = Counter(destination for destination, _ in self.delivery_crashes.crashed)
        destinations = {}
        for name, sources in ROUTES.items():
            routed = {message_id for message_id in accepted if source_of[message_id] in sources}
            receiver = receivers.get(name)
            deliveries = Counter(
                e.get("messageId") for e in (receiver.delivered_events() if receiver else []) if e.get("messageId")
            )
            dead = {letter.message_id for letter in letters.list(name)}
            destinations[name] = DestinationFigures(
                routed=len(routed),
                delivered=len(routed & set(deliveries)),
                duplicates=sum(count - 1 for message_id, count in deliveries.items() if message_id in routed),
                from_crashes=crashed[name],
                dead_letters=len(routed & dead),
                lost=len(routed - set(deliveries) - dead),
            )
        injected = Counter({f"aws.{kind}": count for kind, count in self.aws_faults.injected.items()})
        injected.update({f"flaky.{kind}": count for kind, count in self.flaky_faults.injected.items()})
        for name in ("late", "dead"):  # refused connections, as Event Delivery counted them
            errors = read_report(table, name, timedelta(hours=1)).errors
            injected[f"{name}.connections_refused"] = sum(n for label, n in errors.items() if "ECONNREFUSED" in label)
        injected["router.crashes"] = self.router_crashes.crashed
        injected["delivery.crashes"] = self.delivery_crashes.crashes
        runtime = {
            f"{name}: {function.timeouts} time-out(s), {function.crashes} crash(es)"
            for name, function in self.stack.functions.items()
            if name in ("ingest", "router", "delivery")
        }
        return SoakReport(
            settings=self.settings,
            sent=Counter({sdk: len(sent) for sdk, sent in ids.items()}),
            probes=self._probes,
            not_accepted=Counter(refused.values()),
            accepted=len(accepted),
            archived=len(accepted & set(in_archive)),
            archived_twice=sum(count - 1 for count in in_archive.values()),
            not_archived=len(accepted - set(in_archive)),
            destinations=destinations,
            injected=+injected,
            runtime=sorted(runtime),
            seconds={},
            drained=False,
        )


def send(client: Any, index: int, message_id: str) -> bool:
    """One call of the six kinds, in turn; False if the SDK's queue refused it."""
    user = f"user-{index % 97}"
    properties = {"index": index, "plan": "pro" if index % 3 else "basic"}
    call = CALLS[index % len(CALLS)]
    if call == "identify":
        ok, _ = client.identify(user_id=user, traits=properties, message_id=message_id)
    elif call == "track":
        ok, _ = client.track(user_id=user, event="Order Completed", properties=properties, message_id=message_id)
    elif call == "page":
        ok, _ = client.page(user_id=user, category="Docs", name="Pricing", properties=properties, message_id=message_id)
    elif call == "screen":
        ok, _ = client.screen(user_id=user, category="App", name="Home", properties=properties, message_id=message_id)
    elif call == "group":
        ok, _ = client.group(user_id=user, group_id=f"org-{index % 13}", traits=properties, message_id=message_id)
    else:
        ok, _ = client.alias(previous_id=f"anon-{index}", user_id=user, message_id=message_id)
    return bool(ok)


def queued(sqs: Any, queue_url: str) -> int:
    attributes = sqs.get_queue_attributes(
        QueueUrl=queue_url,
        AttributeNames=[
            "ApproximateNumberOfMessages",
            "ApproximateNumberOfMessagesNotVisible",
            "ApproximateNumberOfMessagesDelayed",
        ],
    )["Attributes"]
    return sum(int(value) for value in attributes.values())


def archived(stack: LocalStack) -> list[dict[str, Any]]:
    """Every event in the archive, one per archived line (not the bucket's other objects: the
    debugger's samples, the lake)."""
    assert stack.resources is not None
    s3 = stack.client("s3")
    bucket = stack.resources.archive_bucket
    events = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="source_id="):
        for item in page.get("Contents", []):
            body = gzip.decompress(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read())
            events += [orjson.loads(line) for line in body.splitlines() if line]
    return events
