"""Three per-request costs of moto 5.2.5's server that grow with a queue's length, removed.

Same answers, less work; moto is pinned (tests/integration/test_lambda_adapter.py) and
tests/integration/test_moto_speedups.py compares each replacement with moto's own.

- Every SQS SendMessage reads `Queue.attributes` (for ContentBasedDeduplication), and every
  message ReceiveMessage hands out reads it three more times (for the retention period); each
  read counts the visible, delayed and in-flight messages by scanning the whole queue, with two
  datetime computations per message, and every ReceiveMessage lists the visible messages the
  same way. With a backlog of a few thousand deliveries, the emulator (one request at a time)
  fell to a few dozen messages a second: the scans now take one clock reading each, and the
  retention check reads the one attribute it needs.
- Every request lists moto's package directory (about 150 `isdir` calls) to find its backend;
  the listing is now read once.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from moto import backends
from moto.core.utils import unix_time, unix_time_millis
from moto.sqs.models import Message, Queue, SQSBackend

_ORIGINALS = {
    "list_of_moto_modules": backends.list_of_moto_modules,
    "messages": Queue.messages,
    "approximate_number_of_messages": Queue.approximate_number_of_messages,
    "approximate_number_of_messages_delayed": Queue.approximate_number_of_messages_delayed,
    "approximate_number_of_messages_not_visible": Queue.approximate_number_of_messages_not_visible,
    "is_message_valid_based_on_retention_period": SQSBackend.is_message_valid_based_on_retention_period,
}


def _messages(queue: Queue) -> list[Message]:
    """The messages a receive may hand out: visible and not delayed."""
    now = unix_time_millis()
    return [m for m in queue._messages if now > m.visible_at and not now < m.delayed_until]


def _visible_and_not_delayed(queue: Queue) -> int:
    return len(_messages(queue))


def _delayed(queue: Queue) -> int:
    now = unix_time_millis()
    return sum(1 for m in queue._messages if now < m.delayed_until)


def _not_visible(queue: Queue) -> int:
    now = unix_time_millis()
    return sum(1 for m in queue._messages if not now > m.visible_at)


def _within_retention(backend: SQSBackend, queue_name: str, message: Message) -> bool:
    queue = backend.get_queue(queue_name)
    return int(queue.message_retention_period) + message.sent_timestamp / 1000 > unix_time()  # type: ignore[operator]


@functools.cache
def _moto_modules() -> tuple[str, ...]:
    return tuple(_ORIGINALS["list_of_moto_modules"]())  # type: ignore[operator]


def _list_of_moto_modules() -> Iterable[str]:
    return _moto_modules()


def install() -> None:
    """Idempotent; affects moto in this whole process (answers are unchanged)."""
    backends.list_of_moto_modules = _list_of_moto_modules  # type: ignore[assignment]
    Queue.messages = property(_messages)  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages = property(_visible_and_not_delayed)  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages_delayed = property(_delayed)  # type: ignore[method-assign,assignment]
    Queue.approximate_number_of_messages_not_visible = property(_not_visible)  # type: ignore[method-assign,assignment]
    SQSBackend.is_message_valid_based_on_retention_period = _within_retention  # type: ignore[method-assign]
