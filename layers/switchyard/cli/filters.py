"""`switchyard filters test <destination> --config FILE --event ev.json`: each of the destination's
filters' verdict on the event, and the event as the destination would receive it."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from typing import Any

from switchyard.config.workspace import ConfigError, compile_workspace, load_workspace
from switchyard.delivery.filters import DestinationFilters

ACTION_ORDER = "sample, drop, drop_properties, allow_properties"
NOT_REACHED = "not reached: an earlier filter's condition could not be evaluated"


def filters_command(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    try:
        workspace = compile_workspace(load_workspace(args.config))
    except ConfigError as error:
        return fail(str(error))
    destination = workspace.destination(args.destination_id)
    if destination is None:
        return fail(f"{args.config}: no destination {args.destination_id!r}")
    event = read_event(args.event)
    if isinstance(event, str):
        return fail(event)
    filtered, notes = DestinationFilters().explain(destination, event)
    print(f"{destination.id}: {len(destination.filters)} filter(s), their actions in Segment's order: {ACTION_ORDER}")
    for spec in destination.filters:
        said = ["disabled"] if not spec.enabled else notes.get(spec.title, [NOT_REACHED])
        print(f"  {spec.title}")
        for note in said:
            print(f"    {note}")
    if filtered.event is None:
        print(f"the destination receives nothing: dropped by {filtered.dropped_by!r}")
        return 0
    print("the destination receives:")
    print(json.dumps(filtered.event, indent=2, ensure_ascii=False))
    return 0


def read_event(path: Any) -> dict[str, Any] | str:
    """The event, or what is wrong with the file."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
        event = json.loads(text)
    except (OSError, ValueError) as error:
        return f"{path}: not a JSON event: {error}"
    if not isinstance(event, dict):
        return f"{path}: an event is a JSON object, not {type(event).__name__}"
    return event
