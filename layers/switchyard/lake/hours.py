"""An hour of one source in the archive: the unit the lake loads, compacts and reloads."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from switchyard.router.archive import prefix_for


@dataclass(frozen=True, order=True)
class Hour:
    source_id: str
    date: str  # YYYY-MM-DD, UTC
    hour: str  # 00-23

    @property
    def partition(self) -> str:
        return prefix_for(self.source_id, self.date, self.hour)

    @property
    def label(self) -> str:
        return f"{self.source_id} {self.date}T{self.hour}"

    @classmethod
    def of(cls, source_id: str, moment: datetime) -> Hour:
        moment = moment.astimezone(UTC)
        return cls(source_id, moment.strftime("%Y-%m-%d"), moment.strftime("%H"))

    def start(self) -> datetime:
        return datetime.strptime(f"{self.date}T{self.hour}", "%Y-%m-%dT%H").replace(tzinfo=UTC)
