"""Sending delivery requests to SQS: packed into messages (requests.pack), sent in batches within
SQS limits, retrying only failed entries."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from switchyard import aws
from switchyard.constants import DELIVERY_EVENTS_PER_MESSAGE
from switchyard.delivery.requests import DeliveryMessage, DeliveryRequest, pack
from switchyard.retries import EntriesNotWritten, FailedEntryRetry

SQS_MAX_ENTRIES = 10
SQS_MAX_BATCH_BYTES = 256 * 1024 - 4096  # headroom for the request envelope


class QueueSendFailed(Exception):
    pass


def _batches(bodies: Sequence[bytes]) -> Iterator[list[tuple[int, bytes]]]:
    batch: list[tuple[int, bytes]] = []
    size = 0
    for index, body in enumerate(bodies):
        if batch and (len(batch) >= SQS_MAX_ENTRIES or size + len(body) > SQS_MAX_BATCH_BYTES):
            yield batch
            batch, size = [], 0
        batch.append((index, body))
        size += len(body)
    if batch:
        yield batch


class DeliveryQueue:
    def __init__(
        self,
        queue_url: str,
        sqs: Any = None,
        *,
        events_per_message: int = DELIVERY_EVENTS_PER_MESSAGE,
        budget_seconds: float = 20.0,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.queue_url = queue_url
        self._sqs = sqs
        self._events_per_message = events_per_message
        self._budget = budget_seconds
        self._sleep = sleep
        self._clock = clock

    @property
    def _client(self) -> Any:
        if self._sqs is None:
            self._sqs = aws.client("sqs")
        return self._sqs

    def send(self, requests: Sequence[DeliveryRequest], delay_seconds: int = 0) -> None:
        """All of them or QueueSendFailed (then the caller retries the whole lot)."""
        self.send_messages(pack(requests, self._events_per_message, SQS_MAX_BATCH_BYTES), delay_seconds)

    def send_messages(self, messages: Sequence[DeliveryMessage], delay_seconds: int = 0) -> None:
        deadline = self._clock() + self._budget
        bodies = [message.to_body() for message in messages]
        retry = FailedEntryRetry(lambda batch: self._attempt(batch, delay_seconds), self._clock, self._sleep)
        for batch in _batches(bodies):
            try:
                retry.run(batch, deadline)
            except EntriesNotWritten as error:
                raise QueueSendFailed(f"{error.pending} delivery request(s) not queued: {error.last_error}") from error

    def _attempt(self, batch: list[tuple[int, bytes]], delay_seconds: int) -> tuple[list[tuple[int, bytes]], str]:
        try:
            response = self._client.send_message_batch(
                QueueUrl=self.queue_url,
                Entries=[
                    {"Id": str(index), "MessageBody": body.decode(), "DelaySeconds": delay_seconds}
                    for index, body in batch
                ],
            )
        except (ClientError, BotoCoreError) as error:
            return batch, str(error)
        failed_ids = {entry["Id"] for entry in response.get("Failed", [])}
        error = ", ".join(entry.get("Code", "") for entry in response.get("Failed", []))
        return [(index, body) for index, body in batch if str(index) in failed_ids], error
