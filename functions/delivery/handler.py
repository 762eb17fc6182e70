"""Delivery Lambda: consumes the delivery queue (SQS) and delivers to destinations.

A message carries several events of one destination (switchyard.delivery.requests). When all of
them are to be retried, the message gets its visibility set to the backoff delay and is reported as
a batch item failure, so SQS hands it back after the delay without holding up anything else. When
only some are, those are queued again alone, as a new message that carries their receive count,
and the message is deleted: an event that went through is never sent twice (unless that send fails:
then the whole message is retried, the at-least-once fallback). It also consumes the lanes'
dead-letter queue, moving what SQS gave up on into the dead-letter store.
"""

from __future__ import annotations

import functools
import math
import time
from collections import Counter
from collections.abc import Callable
from typing import Any, NamedTuple

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from switchyard import aws
from switchyard.config.credentials import CachedCredentials
from switchyard.config.store import Cached, CachedWorkspace, ConfigStore
from switchyard.constants import (
    CREDENTIALS_CACHE_SECONDS,
    DELIVERY_DLQ,
    METRICS_NAMESPACE,
    OTHER_METRIC_NAME,
    SERVICE_NAME,
    resource_name,
)
from switchyard.delivery.breaker import CircuitBreakers
from switchyard.delivery.deadletters import DeadLetters
from switchyard.delivery.http import BoundedHttp
from switchyard.delivery.policy import Action
from switchyard.delivery.queue import DeliveryQueue, QueueSendFailed
from switchyard.delivery.ratelimit import RateLimiter
from switchyard.delivery.requests import DeliveryMessage
from switchyard.delivery.service import Adapter, Deliverer, Outcome, QueuedDelivery
from switchyard.delivery.stats import DeliveryStats
from switchyard.delivery.table import DeliveryTable
from switchyard.destinations.catalog import FUNCTION_TYPE, TOOLS
from switchyard.destinations.driver import ToolAdapter
from switchyard.destinations.function import FunctionDestinationAdapter
from switchyard.functions.invoker import FunctionInvoker
from switchyard.metrics import Dimension, Metric
from switchyard.observability import logger
from switchyard.privacy.suppression import SuppressionStore
from switchyard.settings import DeliverySettings

MAX_SQS_DELAY_SECONDS = 900  # SendMessage's longest DelaySeconds; longer waits ride in `not_before`
METRIC_FOR = {
    Action.DONE: Metric.DELIVERED,
    Action.DROP: Metric.NOT_DELIVERED,
    Action.GIVE_UP: Metric.DEAD_LETTERED,
    Action.RETRY_LATER: Metric.RETRIED,
    Action.SKIP: Metric.FILTERED,
}


class ReceivedMessage(NamedTuple):
    record: dict[str, Any]
    message: DeliveryMessage
    items: list[QueuedDelivery]


class DeliveryHandler:
    """One invocation's work: outcomes from the deliverer, retry delays set on the queue."""

    def __init__(self, deliverer: Deliverer, sqs: Any, *, clock: Callable[[], float] = time.time) -> None:
        self.deliverer = deliverer
        self._sqs = sqs
        self._clock = clock
        self._queue_urls: dict[str, str] = {}  # event source ARN -> queue URL (each lane, the DLQ)

    def handle(self, event: dict[str, Any], remaining_seconds: float) -> dict[str, Any]:
        records = event.get("Records", [])
        received = [message for message in (queued(record) for record in records) if message is not None]
        failures: list[dict[str, str]] = []
        if records and is_dead_letter_queue(records[0]):
            items = [item for message in received for item in message.items]
            outcomes = self.deliverer.park_exhausted(items)
            for message in received:  # parking is idempotent: a message not wholly parked comes back whole
                if any(item.message_id not in outcomes for item in message.items):
                    self.defer(message.record, 5)
                    failures.append({"itemIdentifier": message.record["messageId"]})
        else:
            now = self._clock()
            due = []
            for message in received:
                if message.message.not_before and message.message.not_before > now:
                    self.defer(message.record, math.ceil(message.message.not_before - now))
                    failures.append({"itemIdentifier": message.record["messageId"]})
                else:
                    due.append(message)
            items = [item for message in due for item in message.items]
            # Leave time to defer what was not attempted before Lambda's own time-out.
            outcomes = self.deliverer.deliver(items, budget_seconds=remaining_seconds - 10)
            for message in due:
                if not self.settle(message, outcomes):
                    failures.append({"itemIdentifier": message.record["messageId"]})
        try:
            emit_metrics(items, outcomes, self.deliverer.metric_destination)
        except Exception:  # noqa: BLE001 - metrics must not bring back a batch whose outcomes are settled
            logger.exception("could not emit delivery metrics")
        return {"batchItemFailures": failures}

    def settle(self, received: ReceivedMessage, outcomes: dict[str, Outcome]) -> bool:
        """Whether the message may be deleted: every event settled, or the ones to retry queued again."""
        waiting = []
        for item in received.items:
            outcome = outcomes.get(item.message_id)
            if outcome is None or outcome.decision.action is Action.RETRY_LATER:  # no outcome: keep it queued
                waiting.append((item, outcome.decision.delay_seconds if outcome else 5))
        if not waiting:
            return True
        delay = min(seconds for _, seconds in waiting)
        if len(waiting) < len(received.items) and self.requeue(received, [item for item, _ in waiting], delay):
            return True
        self.defer(received.record, delay)
        return False

    def requeue(self, received: ReceivedMessage, items: list[QueuedDelivery], delay_seconds: int) -> bool:
        """The events to retry as a new message, as they were received (not as filters or an insert
        function changed them), with their receive count and first receipt."""
        later = delay_seconds > MAX_SQS_DELAY_SECONDS
        message = DeliveryMessage(
            [item.as_received or item.request for item in items],
            receives=max(item.receive_count for item in items),
            first_received_at=min(item.first_received_at for item in items),
            not_before=self._clock() + delay_seconds if later else None,
        )
        queue = DeliveryQueue(self.queue_url(received.record["eventSourceARN"]), self._sqs, budget_seconds=5)
        try:
            queue.send_messages([message], min(delay_seconds, MAX_SQS_DELAY_SECONDS))
        except QueueSendFailed:
            logger.exception("could not queue the events to retry alone; their whole message is retried")
            return False
        return True

    def defer(self, record: dict[str, Any], delay_seconds: int) -> None:
        """Hand the message back after the delay; if that fails, the queue's visibility time-out does it."""
        try:
            self._sqs.change_message_visibility(
                QueueUrl=self.queue_url(record["eventSourceARN"]),
                ReceiptHandle=record["receiptHandle"],
                VisibilityTimeout=delay_seconds,
            )
        except (BotoCoreError, ClientError):
            logger.exception("could not set the retry delay; the queue's visibility time-out applies")

    def queue_url(self, source_arn: str) -> str:
        """The URL of the queue a record came from (`arn:aws:sqs:<region>:<account>:<name>`)."""
        if source_arn not in self._queue_urls:
            *_, account, name = source_arn.split(":")
            answer = self._sqs.get_queue_url(QueueName=name, QueueOwnerAWSAccountId=account)
            self._queue_urls[source_arn] = answer["QueueUrl"]
        return self._queue_urls[source_arn]


# AWS destinations: one attempt per call (delivery retries per entry itself, and botocore's own
# retries would resend entries that went through) and time-outs well inside the batch's budget.
DESTINATION_CLIENT_CONFIG = Config(connect_timeout=2, read_timeout=10, retries={"max_attempts": 1, "mode": "standard"})


@functools.cache
def aws_client(service: str) -> Any:
    """One client per AWS service a destination type calls (EventBridge, Firehose), made on first use."""
    return aws.client(service, config=DESTINATION_CLIENT_CONFIG)


@functools.cache
def handler() -> DeliveryHandler:
    """Built on first use from the function's environment."""
    settings = DeliverySettings.from_environment()
    table = DeliveryTable(settings.delivery_table_name)
    workspace = CachedWorkspace(ConfigStore(settings.config_table_name), settings.config_cache_seconds)
    functions = FunctionInvoker(settings.region)
    credentials = CachedCredentials(aws.client("ssm"), settings.region, CREDENTIALS_CACHE_SECONDS)
    http = BoundedHttp()  # one connection pool for every tool
    adapters: dict[str, Adapter] = {
        name: ToolAdapter(kind, settings.region, http=http, credentials=credentials, aws_clients=aws_client)
        for name, kind in TOOLS.items()
    }
    adapters[FUNCTION_TYPE] = FunctionDestinationAdapter(workspace.get, functions)
    deliverer = Deliverer(
        workspace.get,
        adapters,
        RateLimiter(table),
        DeadLetters(table),
        CircuitBreakers(),
        lambda: DeliveryStats(table),
        functions=functions,
        suppressed=Cached(SuppressionStore(settings.config_table_name).load, settings.config_cache_seconds).get,
    )
    return DeliveryHandler(deliverer, aws.client("sqs"))


def is_dead_letter_queue(record: dict[str, Any]) -> bool:
    """Records from the lanes' dead-letter queue (SQS moved them there after its receive limit)."""
    name = record.get("eventSourceARN", "").rsplit(":", 1)[-1]
    return name == resource_name(DELIVERY_DLQ, record.get("awsRegion", ""))


def queued(record: dict[str, Any]) -> ReceivedMessage | None:
    """A queue record's events, each with an id of its own (`<message id>:<index>` when the message
    holds more than one) and the receive count and first receipt its earlier messages carried."""
    try:
        message = DeliveryMessage.from_body(record["body"])
    except (ValueError, KeyError, TypeError):
        logger.error("undecodable delivery request dropped", extra={"message_id": record.get("messageId")})
        return None
    attributes = record.get("attributes", {})
    receive_count = int(attributes.get("ApproximateReceiveCount", "1")) + message.receives
    first_received_at = message.first_received_at or int(attributes.get("ApproximateFirstReceiveTimestamp", "0")) / 1000
    message_id = record["messageId"]
    single = len(message.requests) == 1
    items = [
        QueuedDelivery(
            message_id=message_id if single else f"{message_id}:{index}",
            request=request,
            receive_count=receive_count,
            first_received_at=first_received_at,
        )
        for index, request in enumerate(message.requests)
    ]
    return ReceivedMessage(record, message, items)


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return handler().handle(event, context.get_remaining_time_in_millis() / 1000)


def emit_metrics(items: list[QueuedDelivery], outcomes: dict[str, Outcome], metric_name: Callable[[str], str]) -> None:
    """EMF per destination (Delivered, NotDelivered, Retried, DeadLettered, DeliveryLatency), and the
    same counts across destinations, which the success-rate alarm reads (alarms cannot SEARCH);
    per destination and filter, what its destination filters dropped (at most 10 filters each), and
    per destination what consent kept from it. Destinations beyond the first METRIC_NAMED_IDS of the
    workspace are counted together (`metric_name`), without per-filter figures."""
    totals = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
    for name, count in Counter(METRIC_FOR[outcome.decision.action] for outcome in outcomes.values()).items():
        totals.add_metric(name=name, unit=MetricUnit.Count, value=count)
    if outcomes:
        totals.flush_metrics()
    per_destination: dict[str, list[Outcome]] = {}
    for item in items:
        if item.message_id in outcomes:
            per_destination.setdefault(metric_name(item.request.destination_id), []).append(outcomes[item.message_id])
    for destination, results in per_destination.items():
        emitter = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
        emitter.add_dimension(name=Dimension.DESTINATION, value=destination)
        counts = Counter(METRIC_FOR[outcome.decision.action] for outcome in results)
        for name, count in counts.items():
            emitter.add_metric(name=name, unit=MetricUnit.Count, value=count)
        for outcome in results[:100]:  # EMF takes at most 100 values per metric
            if outcome.latency_ms is not None:
                emitter.add_metric(name=Metric.DELIVERY_LATENCY, unit=MetricUnit.Milliseconds, value=outcome.latency_ms)
        denied = sum(1 for outcome in results if outcome.consent_denied)
        if denied:
            emitter.add_metric(name=Metric.FILTERED_BY_CONSENT, unit=MetricUnit.Count, value=denied)
        emitter.flush_metrics()
        if destination == OTHER_METRIC_NAME:
            continue
        for title, count in Counter(outcome.filtered_by for outcome in results if outcome.filtered_by).items():
            by_filter = EphemeralMetrics(namespace=METRICS_NAMESPACE, service=SERVICE_NAME)
            by_filter.add_dimension(name=Dimension.DESTINATION, value=destination)
            by_filter.add_dimension(name=Dimension.FILTER, value=title)
            by_filter.add_metric(name=Metric.FILTERED_AT_DESTINATION, unit=MetricUnit.Count, value=count)
            by_filter.flush_metrics()
