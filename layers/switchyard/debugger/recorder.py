"""What the router hands the debugger after a settled batch: per source, the messages the sampler
keeps, in one write (one S3 PUT) per source and batch at most."""

from __future__ import annotations

from collections.abc import Sequence

from switchyard.debugger.sampler import RateSampler
from switchyard.debugger.store import DebuggerStore, DebuggerWrite
from switchyard.router.records import StreamEvent


def writes_for(events: Sequence[StreamEvent], sampler: RateSampler) -> list[DebuggerWrite]:
    by_source: dict[str, list[StreamEvent]] = {}
    for event in events:
        if event.source_id:
            by_source.setdefault(event.source_id, []).append(event)
    writes = []
    for source_id, members in by_source.items():
        picked = sampler.pick(source_id, len(members))
        if picked.indices:
            kept = [members[index].data for index in picked.indices]
            first = members[0]
            writes.append(DebuggerWrite(source_id, first.shard_id, first.sequence, picked.sampling_rate, kept))
    return writes


class DebuggerRecorder:
    def __init__(self, store: DebuggerStore, sampler: RateSampler) -> None:
        self._store = store
        self._sampler = sampler

    def record(self, archived: Sequence[StreamEvent]) -> list[str]:
        """Writes what the sampler keeps of a batch's archived events; returns the objects written."""
        if self._sampler.per_second <= 0 or not archived:
            return []
        writes = writes_for(archived, self._sampler)
        return self._store.write_many(writes) if writes else []
