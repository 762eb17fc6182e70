"""Sources' schema filters (the workspace's `schema`), applied by the router before the archive:
a blocked event is gone everywhere (archive, destinations, replays), an omitted trait likewise.

Names are matched as Segment's Schema filters do: whole and case-sensitive, `*` standing for any
text. Each source's controls are compiled once per workspace version, into one regular expression
per list of names.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from switchyard.config.compiled import CompiledWorkspace, SchemaControls
from switchyard.filters.globs import compile_glob


class SchemaReason(StrEnum):
    """Why the router changed or dropped an event (counted per source as `filtered_at_source`)."""

    EVENT_BLOCKED = "event_blocked"
    PAGE_BLOCKED = "page_blocked"
    SCREEN_BLOCKED = "screen_blocked"
    TRAITS_OMITTED = "traits_omitted"
    GROUP_TRAITS_OMITTED = "group_traits_omitted"


_VERDICTS_KEPT = 4096  # names remembered per list: a source's event names are few, each seen often


def _literal_stars(name: str) -> str:
    """A schema filter's name as a glob where only `*` is special (`?`, `[` and `\\` are themselves)."""
    return "".join("\\" + char if char in "?[]\\" else char for char in name)


class _Block:
    """Names to block for one call: all of them, some (a pattern), or none."""

    def __init__(self, names: bool | Sequence[str]) -> None:
        self._all = names is True
        self._globs = [] if isinstance(names, bool) else [compile_glob(_literal_stars(name)).matches for name in names]
        self._verdicts: dict[str, bool] = {}

    def blocks(self, name: Any) -> bool:
        if self._all:
            return True
        if not self._globs or not isinstance(name, str):
            return False
        verdict = self._verdicts.get(name)
        if verdict is None:
            verdict = any(matches(name) for matches in self._globs)
            if len(self._verdicts) < _VERDICTS_KEPT:
                self._verdicts[name] = verdict
        return verdict


@dataclass(slots=True)
class Filtered:
    """What a schema filter did to one event: `message` None when blocked, else the event kept
    (a new dict when traits were omitted, the same one otherwise). Not frozen: made per event."""

    message: dict[str, Any] | None
    reason: SchemaReason | None = None


class SchemaFilter:
    def __init__(self, controls: SchemaControls) -> None:
        self._blocks = {
            "track": (_Block(controls.block_events), SchemaReason.EVENT_BLOCKED, "event"),
            "page": (_Block(controls.block_pages), SchemaReason.PAGE_BLOCKED, "name"),
            "screen": (_Block(controls.block_screens), SchemaReason.SCREEN_BLOCKED, "name"),
        }
        self._omitted = {
            "identify": (frozenset(controls.omit_traits), SchemaReason.TRAITS_OMITTED),
            "group": (frozenset(controls.omit_group_traits), SchemaReason.GROUP_TRAITS_OMITTED),
        }

    def apply(self, message: dict[str, Any]) -> Filtered:
        call = message.get("type")
        block = self._blocks.get(call) if isinstance(call, str) else None
        if block is not None:
            names, reason, field = block
            return Filtered(None, reason) if names.blocks(message.get(field)) else Filtered(message)
        omit = self._omitted.get(call) if isinstance(call, str) else None
        if omit is None or not omit[0]:
            return Filtered(message)
        return _without_traits(message, *omit)


def _without_traits(message: dict[str, Any], names: frozenset[str], reason: SchemaReason) -> Filtered:
    """The message without the named traits, in `traits` and, where Segment's libraries copy them,
    `context.traits`."""
    changed = dict(message)
    omitted = False
    traits = message.get("traits")
    if isinstance(traits, dict) and not names.isdisjoint(traits):
        changed["traits"] = {key: value for key, value in traits.items() if key not in names}
        omitted = True
    context = message.get("context")
    context_traits = context.get("traits") if isinstance(context, dict) else None
    if isinstance(context, dict) and isinstance(context_traits, dict) and not names.isdisjoint(context_traits):
        kept = {key: value for key, value in context_traits.items() if key not in names}
        changed["context"] = {**context, "traits": kept}
        omitted = True
    return Filtered(changed, reason) if omitted else Filtered(message)


class SchemaFilters:
    """Each source's compiled filter, for the workspace version at hand (rebuilt when it changes)."""

    def __init__(self) -> None:
        self._workspace: CompiledWorkspace | None = None
        self._filters: dict[str, SchemaFilter] = {}

    def by_source(self, workspace: CompiledWorkspace) -> dict[str, SchemaFilter]:
        if workspace is not self._workspace:
            self._filters = {
                source.id: SchemaFilter(source.schema) for source in workspace.sources if source.schema is not None
            }
            self._workspace = workspace
        return self._filters
