"""Retrying only the failed entries of a batch call (Kinesis PutRecords, SQS SendMessageBatch).

Both APIs answer a batch with per-entry results: some entries may fail (throttling, an internal
error) while others succeed. Sending the whole batch again would write the successes twice, so
only the failed ones are sent again, with jittered exponential backoff, until a deadline.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

Entry = TypeVar("Entry")


class EntriesNotWritten(Exception):  # noqa: N818 - the name says what the caller gets
    """Some entries were still failing when the deadline came."""

    def __init__(self, pending: int, last_error: str) -> None:
        super().__init__(f"{pending} entr{'y' if pending == 1 else 'ies'} not written: {last_error}")
        self.pending = pending
        self.last_error = last_error


@dataclass(frozen=True)
class FailedEntryRetry(Generic[Entry]):
    """`attempt(entries)` returns the entries that failed and a description of why."""

    attempt: Callable[[list[Entry]], tuple[list[Entry], str]]
    clock: Callable[[], float]
    sleep: Callable[[float], None]
    base_delay: float = 0.05
    max_delay: float = 1.0

    def run(self, entries: list[Entry], deadline: float) -> None:
        """Returns once every entry is written; raises EntriesNotWritten at the deadline."""
        pending = entries
        retries = 0
        while True:
            pending, last_error = self.attempt(pending)
            if not pending:
                return
            delay = random.uniform(0, min(self.max_delay, self.base_delay * 2**retries))
            if self.clock() + delay >= deadline:
                raise EntriesNotWritten(len(pending), last_error)
            self.sleep(delay)
            retries += 1
