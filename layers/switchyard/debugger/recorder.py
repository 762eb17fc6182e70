"""What the router hands the debugger after a settled batch: per source, the messages the sampler
keeps, written together (one S3 PUT) when the source's write budget allows.

Each source has a token bucket of writes per router instance: WRITE_BURST at once, then one per
WRITE_EVERY_SECONDS. A quiet source (a batch now and then) has tokens, so each of its batches is
written at once and `--follow` shows a message a moment after it is sent; a busy source's kept
messages wait in memory and go in one object about every WRITE_EVERY_SECONDS, so the PUTs stay a
few a minute per source and shard however many batches the router runs (the cost is per write, not
per message). Waiting messages are written by the next batch that finds a token, of any source;
those of a router instance that stops are lost, which a sample can afford.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from switchyard.debugger.sampler import RateSampler
from switchyard.debugger.store import DEBUGGER_WINDOW, DebuggerStore, DebuggerWrite
from switchyard.router.records import StreamEvent
from switchyard.tokens import TokenBucket

WRITE_BURST = 10  # a developer's first sends show at once; the refill is what a busy source costs
WRITE_EVERY_SECONDS = 10.0


@dataclass
class _Pending:
    """A source's kept messages not written yet, and how many it sent since its last write."""

    shard_id: str
    first_sequence: str  # of the first message kept: names the object
    messages: list[bytes] = field(default_factory=list)
    sent: int = 0

    def write(self, source_id: str) -> DebuggerWrite:
        return DebuggerWrite(
            source_id, self.shard_id, self.first_sequence, len(self.messages) / self.sent, self.messages
        )


def by_source(events: Sequence[StreamEvent]) -> dict[str, list[StreamEvent]]:
    grouped: dict[str, list[StreamEvent]] = {}
    for event in events:
        if event.source_id:
            grouped.setdefault(event.source_id, []).append(event)
    return grouped


class DebuggerRecorder:
    def __init__(
        self,
        store: DebuggerStore,
        sampler: RateSampler,
        *,
        clock: Callable[[], float] = time.monotonic,
        burst: int = WRITE_BURST,
        every_seconds: float = WRITE_EVERY_SECONDS,
    ) -> None:
        self._store = store
        self._sampler = sampler
        self._clock = clock
        self._burst = burst
        self._every = every_seconds
        self._pending: dict[str, _Pending] = {}
        self._budgets: dict[str, TokenBucket] = {}

    def record(self, archived: Sequence[StreamEvent]) -> list[str]:
        """Keeps what the sampler picks of a batch's archived events, and writes what the sources'
        budgets allow (this batch's and earlier ones'); returns the objects written."""
        if self._sampler.per_second <= 0:
            return []
        for source_id, members in by_source(archived).items():
            picked = self._sampler.pick(source_id, len(members))
            pending = self._pending.get(source_id)
            if pending is None:
                first = members[picked[0]] if picked else members[0]
                pending = self._pending[source_id] = _Pending(first.shard_id, first.sequence)
            pending.sent += len(members)
            pending.messages += [members[index].data for index in picked]
            del pending.messages[:-DEBUGGER_WINDOW]  # the debugger shows no more than the latest
        now = self._clock()
        writes = [
            pending.write(source_id)
            for source_id, pending in self._pending.items()
            if pending.messages and self._spend(source_id, now)
        ]
        for write in writes:
            del self._pending[write.source_id]
        return self._store.write_many(writes) if writes else []

    def _spend(self, source_id: str, now: float) -> bool:
        budget = self._budgets.get(source_id)
        if budget is None:
            budget = self._budgets[source_id] = TokenBucket(self._burst, 1 / self._every, now)
        return budget.take(now) == 1
