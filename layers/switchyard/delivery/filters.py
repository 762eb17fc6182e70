"""Destination filters (Segment's Destination Filters), applied by delivery before insert functions
and the adapter, on live traffic and replays alike; the archive keeps every event as received.

Each enabled filter whose condition (FQL, or `all`) holds for the event contributes its actions,
applied in Segment's order whatever the filters' order: sample, drop, drop properties, allow
properties. A condition that cannot be evaluated drops the event (fail closed), named as such.
Conditions are compiled once per destination version, never per event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from switchyard.config.compiled import ALL_EVENTS, Destination, DestinationFilter, FilterAction, FilterActionType
from switchyard.filters.fql import FqlEvaluationError, compile_query
from switchyard.filters.paths import copied_object_at

# Why an event was dropped when a condition could not be evaluated (besides the filter's title).
EVALUATION_FAILED = "evaluation_failed"
_SAMPLE_SCALE = 2**64


@dataclass(frozen=True, slots=True)
class Filtered:
    """The event as the destination gets it (None: dropped), and by which filter."""

    event: dict[str, Any] | None
    dropped_by: str | None = None  # the filter's title, `<title>.evaluation_failed` when it could not run


_KEEP_OR_DROP = (FilterActionType.SAMPLE, FilterActionType.DROP)
_EDITS = (FilterActionType.DROP_PROPERTIES, FilterActionType.ALLOW_PROPERTIES)


class _Compiled:
    __slots__ = ("by_kind", "matches", "title")

    def __init__(self, spec: DestinationFilter) -> None:
        self.title = spec.title
        self.by_kind: dict[FilterActionType, list[FilterAction]] = {}
        for action in spec.actions:
            self.by_kind.setdefault(action.type, []).append(action)
        self.matches: Callable[[dict[str, Any]], bool] = (
            _always if spec.condition == ALL_EVENTS else compile_query(spec.condition).matches
        )


def _always(event: dict[str, Any]) -> bool:
    return True


class DestinationFilters:
    """Each destination's compiled filters, rebuilt when its filters change."""

    def __init__(self) -> None:
        self._compiled: dict[str, tuple[tuple[DestinationFilter, ...], list[_Compiled]]] = {}

    def apply(self, destination: Destination, event: dict[str, Any]) -> Filtered:
        matched: list[_Compiled] = []
        for compiled in self._for(destination):
            try:
                if compiled.matches(event):
                    matched.append(compiled)
            except FqlEvaluationError:
                return Filtered(None, f"{compiled.title}.{EVALUATION_FAILED}")
        return self._act(matched, event, None) if matched else Filtered(event)

    def explain(self, destination: Destination, event: dict[str, Any]) -> tuple[Filtered, dict[str, list[str]]]:
        """What `apply` does, and per enabled filter's title what happened: matched or not, and
        each action's effect (for `switchyard filters test`)."""
        notes: dict[str, list[str]] = {}
        matched: list[_Compiled] = []
        for compiled in self._for(destination):
            try:
                hit = compiled.matches(event)
            except FqlEvaluationError as error:
                notes[compiled.title] = [f"cannot be evaluated ({error}): the event is dropped"]
                return Filtered(None, f"{compiled.title}.{EVALUATION_FAILED}"), notes
            notes[compiled.title] = ["matched" if hit else "not matched"]
            if hit:
                matched.append(compiled)
        return self._act(matched, event, notes), notes

    def _act(self, matched: list[_Compiled], event: dict[str, Any], notes: dict[str, list[str]] | None) -> Filtered:
        """The matched filters' actions, kind by kind in Segment's order."""
        for kind in _KEEP_OR_DROP:
            for compiled in matched:
                for action in compiled.by_kind.get(kind, ()):
                    kept = self._kept(action, event)
                    if notes is not None:
                        notes[compiled.title].append(f"{kind}: {'kept' if kept else 'dropped'} the event")
                    if not kept:
                        return Filtered(None, compiled.title)
        changed = event
        for kind in _EDITS:
            for compiled in matched:
                for action in compiled.by_kind.get(kind, ()):
                    removed: list[str] = []
                    changed = _with_fields(changed, action, removed)
                    if notes is not None:
                        notes[compiled.title].append(f"{kind}: removed {', '.join(removed) or 'nothing'}")
        return Filtered(changed)

    def _for(self, destination: Destination) -> list[_Compiled]:
        cached = self._compiled.get(destination.id)
        if cached is None or cached[0] != destination.filters:
            cached = (destination.filters, [_Compiled(spec) for spec in destination.filters if spec.enabled])
            self._compiled[destination.id] = cached
        return cached[1]

    def _kept(self, action: FilterAction, event: dict[str, Any]) -> bool:
        """Drop: never. Sample: `percent` of events, decided by a hash of the `path` value (the same
        value, the same verdict), else, when there is no path or the event lacks it, of the
        messageId, so a retried or replayed event keeps its verdict."""
        if action.type is FilterActionType.DROP:
            return False
        value = None if action.path is None else _at(event, action.path.split("."))
        if value is None:  # no path, or an event without it (an anonymous page by userId): by message
            value = event.get("messageId")
        digest = hashlib.blake2b(repr(value).encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") < action.percent * _SAMPLE_SCALE


def _at(value: Any, path: list[str]) -> Any:
    for key in path:
        if not isinstance(value, dict):
            return None
        value = value.get(key)
    return value


def _with_fields(event: dict[str, Any], action: FilterAction, removed: list[str]) -> dict[str, Any]:
    """The event with the listed keys removed (drop) or alone kept (allow) in each listed object;
    objects along the way are copied, never changed in place, and only when something goes (most
    events of an `all` filter carry none of its keys). `removed` gets the removed paths."""
    dropping = action.type is FilterActionType.DROP_PROPERTIES
    changed = event
    for path, keys in action.fields:
        names = [name for name in path.split(".") if name]
        current = _object_at(changed, names)
        if current is None:
            continue
        listed = set(keys)
        going = [key for key in current if (key in listed) is dropping]
        if not going:
            continue
        if changed is event:
            changed = dict(event)
        target = copied_object_at(changed, names)
        for key in going:
            del target[key]  # type: ignore[union-attr]
            removed.append(f"{path}.{key}" if path else key)
    return changed


def _object_at(event: dict[str, Any], names: list[str]) -> dict[str, Any] | None:
    value: Any = event
    for name in names:
        value = value.get(name) if isinstance(value, dict) else None
    return value if isinstance(value, dict) else None
