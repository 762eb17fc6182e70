"""What operators do with replays: start (validated first), watch, list, cancel."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from switchyard.asl import execution_arn
from switchyard.config.compiled import CompiledWorkspace
from switchyard.replay.model import (
    MAX_RATE,
    MIN_RATE,
    ReplayDestination,
    ReplayRequest,
    ReplayRequestError,
    new_replay_id,
    normalize_time,
)
from switchyard.replay.store import CANCELLED, FINISHED, ReplayRecord, ReplayStore

CALL_TYPES = ("identify", "track", "page", "screen", "group", "alias")


def build_request(
    workspace: CompiledWorkspace,
    *,
    source: str,
    destinations: list[str],
    start: str,
    end: str,
    retention_days: int,
    types: list[str] | None = None,
    events: list[str] | None = None,
    rate: int | None = None,
    now: datetime | None = None,
) -> ReplayRequest:
    """A valid replay request, or ReplayRequestError saying what is wrong (nothing has started)."""
    now = now or datetime.now(UTC)
    if workspace.source(source) is None:
        raise ReplayRequestError(f"unknown source {source!r}")
    if not destinations:
        raise ReplayRequestError("name at least one --destination")
    targets = []
    for destination_id in destinations:
        destination = workspace.destination(destination_id)
        if destination is None:
            raise ReplayRequestError(f"unknown destination {destination_id!r}")
        if source not in destination.sources:
            raise ReplayRequestError(
                f"destination {destination_id!r} is not connected to source {source!r}; connect it in the "
                "workspace file first (it may stay disabled)"
            )
        targets.append(destination)
    start_text, end_text = normalize_time(start, "--from"), normalize_time(end, "--to")
    if start_text >= end_text:
        raise ReplayRequestError(f"--from {start_text} is not before --to {end_text}")
    oldest = now - timedelta(days=retention_days)
    if start_text < oldest.strftime("%Y-%m-%dT%H:%M:%S.000Z"):
        raise ReplayRequestError(
            f"--from {start_text} is older than the archive keeps "
            f"({retention_days} days: since {oldest:%Y-%m-%d %H:%M} UTC)"
        )
    if start_text > now.strftime("%Y-%m-%dT%H:%M:%S.999Z"):
        raise ReplayRequestError(f"--from {start_text} is in the future")
    unknown_types = sorted(set(types or ()) - set(CALL_TYPES))
    if unknown_types:
        raise ReplayRequestError(f"unknown --type {unknown_types}; use {', '.join(CALL_TYPES)}")
    # By default half the slowest destination's limit: the delivery path gives a replay at most
    # half of each second, the other half stays with live traffic.
    chosen_rate = rate if rate is not None else max(1, min(d.rate_limit_per_second for d in targets) // 2)
    if not MIN_RATE <= chosen_rate <= MAX_RATE:
        raise ReplayRequestError(f"--rate must be between {MIN_RATE} and {MAX_RATE} events per second")
    return ReplayRequest(
        id=new_replay_id(now),
        source=source,
        destinations=tuple(ReplayDestination(d.id, d.name) for d in targets),
        start=start_text,
        end=end_text,
        rate=chosen_rate,
        types=tuple(types or ()),
        events=tuple(events or ()),
    )


class ReplayOperator:
    def __init__(self, store: ReplayStore, stepfunctions: Any, state_machine_arn: str) -> None:
        self._store = store
        self._sfn = stepfunctions
        self._state_machine = state_machine_arn

    def start(self, request: ReplayRequest) -> str:
        self._store.create(request, execution_arn(self._state_machine, request.id))
        self._sfn.start_execution(
            stateMachineArn=self._state_machine,
            name=request.id,
            input=orjson.dumps({"replay": request.to_input()}).decode(),
        )
        return request.id

    def status(self, replay_id: str) -> ReplayRecord | None:
        return self._store.get(replay_id)

    def execution_status(self, record: ReplayRecord) -> str:
        try:
            return self._sfn.describe_execution(executionArn=record.execution_arn)["status"]
        except Exception:  # noqa: BLE001 - the record alone still answers
            return "UNKNOWN"

    def cancel(self, replay_id: str) -> ReplayRecord | None:
        record = self._store.get(replay_id)
        if record is None or record.status in FINISHED:
            return record
        self._store.finish(replay_id, CANCELLED, "cancelled by an operator")
        # It may have finished meanwhile: the record says cancelled either way.
        with contextlib.suppress(self._sfn.exceptions.ExecutionDoesNotExist, self._sfn.exceptions.InvalidArn):
            self._sfn.stop_execution(executionArn=record.execution_arn, cause="cancelled by an operator")
        return self._store.get(replay_id)

    def list(self, limit: int = 20) -> list[ReplayRecord]:
        return self._store.list(limit)
