"""Changing one field of an event without changing the event given: the objects along the path
are copied (copy on write), everything else is shared."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
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


def copied_container_at(event: dict[str, Any], path: Sequence[str]) -> dict[str, Any] | list[Any] | None:
    """The object or list at `path` (keys, and list positions as digits) in `event` (a copy the
    caller made), each container along the way replaced by a copy; None when there is none."""
    parent: Any = event
    for name in path:
        if isinstance(parent, dict):
            child = parent.get(name)
        elif isinstance(parent, list) and name.isdigit() and int(name) < len(parent):
            child = parent[int(name)]
        else:
            return None
        if not isinstance(child, dict | list):
            return None
        copy = dict(child) if isinstance(child, dict) else list(child)
        if isinstance(parent, dict):
            parent[name] = copy
        else:
            parent[int(name)] = copy
        parent = copy
    return parent


def without_paths(event: dict[str, Any], paths: Iterable[tuple[str, ...]]) -> dict[str, Any]:
    """A copy of the event without the fields at `paths` (list items by position, the highest
    first so the others keep theirs); missing ones are ignored, the event given is not changed."""
    changed = dict(event)
    for *parents, key in sorted(paths, key=_positions_last, reverse=True):
        target = copied_container_at(changed, parents)
        if isinstance(target, dict):
            target.pop(key, None)
        elif isinstance(target, list) and key.isdigit() and int(key) < len(target):
            del target[int(key)]
    return changed


def _positions_last(path: tuple[str, ...]) -> tuple[tuple[int, int | str], ...]:
    return tuple((1, int(name)) if name.isdigit() else (0, name) for name in path)
