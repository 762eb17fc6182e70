"""`switchyard fql 'QUERY' --event ev.json`: one query on one event, for writing filters."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from textwrap import indent

from switchyard.filters.fql import FqlError, FqlEvaluationError, compile_query


def fql_command(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    """Print `true` or `false`; a malformed query or an evaluation error goes to stderr (exit 2)."""
    try:
        query = compile_query(args.query)
    except FqlError as error:
        return fail(f"invalid FQL: {error}\n{indent(error.pointer(), '  ')}")
    try:
        text = sys.stdin.read() if str(args.event) == "-" else args.event.read_text(encoding="utf-8")
        event = json.loads(text)
    except (OSError, ValueError) as error:
        return fail(f"{args.event}: not a JSON event: {error}")
    if not isinstance(event, dict):
        return fail(f"{args.event}: an event is a JSON object, not {type(event).__name__}")
    try:
        matched = query.matches(event)
    except FqlEvaluationError as error:
        return fail(f"cannot evaluate the query on this event: {error} (a destination filter drops such an event)")
    print("true" if matched else "false")
    return 0
