"""What the console reads and does, per region: each page's data behind one object, built from a
target's stack outputs with the operator's own credentials (`from_target`), or from fakes in tests."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from switchyard import constants
from switchyard.cli.targets import Target
from switchyard.config.compiled import CompiledWorkspace
from switchyard.config.store import ConfigStore
from switchyard.debugger.store import DebuggerCursor, DebuggerPage, DebuggerStore
from switchyard.delivery.overview import DeliveryOverview, read_overview
from switchyard.delivery.table import DeliveryTable
from switchyard.replay.model import ReplayRequest
from switchyard.replay.store import ReplayRecord
from switchyard.usage.store import DailyUsage, UsageReport, UsageStore


class Replays(Protocol):
    def start(self, request: ReplayRequest) -> str: ...
    def status(self, replay_id: str) -> ReplayRecord | None: ...
    def cancel(self, replay_id: str) -> ReplayRecord | None: ...
    def list(self, limit: int = 20) -> list[ReplayRecord]: ...


class Debugger(Protocol):
    def latest(
        self,
        source_id: str,
        *,
        limit: int,
        search: str | None = None,
        call_type: str | None = None,
        after: DebuggerCursor | None = None,
    ) -> DebuggerPage: ...


class Usage(Protocol):
    def report(self, source_ids: Sequence[str], month: str) -> UsageReport: ...
    def on_day(self, source_ids: Sequence[str], day: str) -> dict[str, DailyUsage]: ...


@dataclass
class ConsoleData:
    region: str
    where: str  # "AWS us-west-2", or the emulator's address
    workspace: Callable[[], CompiledWorkspace]
    overview: Callable[[CompiledWorkspace, str, timedelta], DeliveryOverview]
    replays: Replays
    retention_days: int
    debugger: Debugger
    usage: Usage

    @classmethod
    def from_target(cls, target: Target) -> ConsoleData:
        from switchyard.cli.replays import operator_for

        dynamodb = target.client("dynamodb")
        table = DeliveryTable(target.output(constants.OUTPUT_DELIVERY_TABLE), dynamodb)
        config = ConfigStore(target.output(constants.OUTPUT_CONFIG_TABLE), dynamodb)
        return cls(
            region=target.region,
            where=target.endpoint_url or f"AWS {target.region}",
            workspace=config.current,
            overview=lambda workspace, destination_id, since: read_overview(table, workspace, destination_id, since),
            replays=operator_for(target),
            retention_days=int(target.output(constants.OUTPUT_ARCHIVE_RETENTION_DAYS)),
            debugger=DebuggerStore(target.output(constants.OUTPUT_ARCHIVE_BUCKET), target.client("s3")),
            usage=UsageStore(table),
        )
