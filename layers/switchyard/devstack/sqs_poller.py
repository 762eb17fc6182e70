"""SQS → Lambda, as an event source mapping does it: receive, invoke, delete what succeeded.

`batchItemFailures` are left on the queue (the handler may have set their visibility to a retry
delay); if the function raises, the whole batch comes back after the visibility time-out.
Several workers poll at once, like Lambda's concurrent batches. Lambda long-polls, so an empty
queue costs it nothing; these short polls back off from `idle_seconds` to `max_idle_seconds`
while the queue has nothing to give, so idle workers do not crowd the emulator, which serves
one request at a time and scans the whole queue for each receive.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

log = logging.getLogger("switchyard.devstack")


def sqs_event(messages: list[dict[str, Any]], queue_arn: str, region: str) -> dict[str, Any]:
    return {
        "Records": [
            {
                "messageId": message["MessageId"],
                "receiptHandle": message["ReceiptHandle"],
                "body": message["Body"],
                "attributes": message.get("Attributes", {}),
                "messageAttributes": message.get("MessageAttributes", {}),
                "md5OfBody": message.get("MD5OfBody", ""),
                "eventSource": "aws:sqs",
                "eventSourceARN": queue_arn,
                "awsRegion": region,
            }
            for message in messages
        ]
    }


STOP_WAIT_SECONDS = 10.0


class SqsPoller:
    def __init__(
        self,
        sqs: Any,
        queue_url: str,
        consumer: Callable[[dict[str, Any]], Any],
        *,
        region: str,
        workers: int = 4,
        batch_size: int = 10,
        idle_seconds: float = 0.2,
        max_idle_seconds: float = 1.0,
    ) -> None:
        self._sqs = sqs
        self._queue_url = queue_url
        self._consumer = consumer
        self._region = region
        self._batch_size = min(batch_size, 10)
        self._idle = idle_seconds
        self._max_idle = max(idle_seconds, max_idle_seconds)
        self._stop = threading.Event()
        self._queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        self._threads = [
            threading.Thread(target=self._run, name=f"sqs-{index}", daemon=True) for index in range(workers)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, deadline: float | None = None) -> None:
        """Stop polling, and wait for invocations in flight until `deadline` (monotonic; 10 s from
        now by default) for all the threads together: a delivery waiting on a slow destination must
        not hold a Ctrl-C for 10 s per thread. The threads are daemons: whatever is left dies with
        the process, and its messages come back after their visibility time-out."""
        self.signal_stop()
        deadline = deadline if deadline is not None else time.monotonic() + STOP_WAIT_SECONDS
        for thread in self._threads:
            thread.join(timeout=max(0.0, deadline - time.monotonic()))

    def signal_stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        idle = self._idle
        while not self._stop.is_set():
            try:
                messages = self._sqs.receive_message(
                    QueueUrl=self._queue_url,
                    MaxNumberOfMessages=self._batch_size,
                    WaitTimeSeconds=0,  # short polls: the emulator serves one request at a time
                    AttributeNames=["All"],
                    MessageAttributeNames=["All"],
                ).get("Messages", [])
            except Exception:  # the emulator is stopping, or a passing error
                if not self._stop.is_set():
                    log.exception("receive_message failed")
                self._stop.wait(0.2)
                continue
            if not messages:
                self._stop.wait(idle)
                idle = min(self._max_idle, idle * 2)
                continue
            idle = self._idle
            try:
                response = self._consumer(sqs_event(messages, self._queue_arn, self._region))
            except Exception:
                log.exception(
                    "consumer failed on %d message(s); they return after the visibility time-out",
                    len(messages),
                )
                continue
            failed = {failure.get("itemIdentifier") for failure in (response or {}).get("batchItemFailures", [])}
            done = [message for message in messages if message["MessageId"] not in failed]
            for start in range(0, len(done), 10):
                self._sqs.delete_message_batch(
                    QueueUrl=self._queue_url,
                    Entries=[
                        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                        for i, m in enumerate(done[start : start + 10])
                    ],
                )
