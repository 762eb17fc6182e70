"""Changing one field of an event without changing the event given: the objects along the path
are copied (copy on write), everything else is shared."""

from __future__ import annotations

from typing import Any


def copied_object_at(event: dict[str, Any], names: list[str]) -> dict[str, Any] | None:
    """The object at `names` in `event` (a copy the caller made), each object along the way
    replaced by a copy; None when there is no object there."""
    parent = event
    for name in names:
        child = parent.get(name)
        if not isinstance(child, dict):
            return None
        parent[name] = dict(child)
        parent = parent[name]
    return parent


def without_fields(event: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    """A copy of the event without the fields at the dotted `paths` (missing ones are ignored)."""
    changed = dict(event)
    for path in paths:
        *parents, key = path.split(".")
        target = copied_object_at(changed, parents)
        if target is not None:
            target.pop(key, None)
    return changed
