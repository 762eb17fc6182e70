"""Stream records as the router sees them: decoded, with the identity Kinesis gave them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class StreamEvent:
    shard_id: str
    sequence: str
    data: bytes
    message: dict[str, Any]
    # Unique in the stream: what a dedupe claim remembers as its owner.
    record_id: str = field(init=False)
    source_id: str = field(init=False)
    message_id: str = field(init=False)

    def __post_init__(self) -> None:
        self.record_id = f"{self.shard_id}:{self.sequence}"
        self.source_id = self.message.get("projectId") or ""
        self.message_id = self.message.get("messageId") or ""
