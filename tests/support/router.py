"""In-memory fakes of the router's collaborators: dedupe claims, the archive, the delivery queue."""

from __future__ import annotations

from collections.abc import Sequence

from switchyard.delivery.requests import DeliveryRequest
from switchyard.router.archive import archive_key
from switchyard.router.dedupe import Claims
from switchyard.router.records import StreamEvent


class MemoryDedupe:
    """Conditional-write semantics: a messageId is owned by the first record that claims it."""

    def __init__(self, fail: set[str] | None = None) -> None:
        self.owners: dict[str, str] = {}
        self.fail = fail or set()
        self.writes = 0

    def claim(self, events: Sequence[StreamEvent]) -> Claims:
        claims = Claims()
        for event in events:
            self.writes += 1
            if event.message_id in self.fail:
                claims.failed.add(event.record_id)
                continue
            owner = self.owners.setdefault(f"{event.source_id}#{event.message_id}", event.record_id)
            (claims.fresh if owner == event.record_id else claims.duplicates).add(event.record_id)
        return claims


class MemoryArchive:
    def __init__(self) -> None:
        self.objects: dict[str, list[str]] = {}
        self.archived: list[bytes] = []  # every event's bytes, as written

    def write(self, events: Sequence[StreamEvent]) -> list[str]:
        keys = []
        groups: dict[str, list[StreamEvent]] = {}
        for event in events:
            self.archived.append(event.data)
            received = event.message["receivedAt"]
            groups.setdefault(f"{event.source_id}/{received[:13]}", []).append(event)
        for members in groups.values():
            first = members[0]
            received = first.message["receivedAt"]
            key = archive_key(first.source_id, received[:10], received[11:13], first.shard_id, first.sequence)
            self.objects[key] = [member.message_id for member in members]
            keys.append(key)
        return keys

    def archived_ids(self) -> list[str]:
        return [message_id for ids in self.objects.values() for message_id in ids]


class MemoryQueue:
    def __init__(self, fail_times: int = 0) -> None:
        self.sent: list[DeliveryRequest] = []
        self.fail_times = fail_times

    def send(self, requests: Sequence[DeliveryRequest]) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("queue unavailable")
        self.sent += requests
