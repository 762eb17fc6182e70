"""`switchyard debugger <source> [--follow] [--search TEXT] [--type track] [--limit N] [--raw]`:
a source's latest messages as the router archived them, newest last (like `tail`), pretty or raw;
`--follow` keeps printing new ones until Ctrl-C."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from typing import TextIO

from switchyard import constants
from switchyard.cli.sources import NamedSource, UnknownSource, find_source
from switchyard.debugger.store import DEBUGGER_WINDOW, DebuggerEntry, DebuggerPage, DebuggerStore

FOLLOW_SECONDS = 1.0


def debugger_command(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    from switchyard.cli.targets import TargetError, resolve_target
    from switchyard.config.store import ConfigStore

    if not 1 <= args.limit <= DEBUGGER_WINDOW:
        return fail(f"--limit must be between 1 and {DEBUGGER_WINDOW}")
    try:
        target = resolve_target(args.region, args.endpoint_url)
        workspace = ConfigStore(target.output(constants.OUTPUT_CONFIG_TABLE), target.client("dynamodb")).current()
        source = find_source(workspace, args.source)
        store = DebuggerStore(target.output(constants.OUTPUT_ARCHIVE_BUCKET), target.client("s3"))
    except (TargetError, UnknownSource) as error:
        return fail(str(error))
    view = DebuggerView(source, raw=args.raw)
    page = store.latest(source.id, limit=args.limit, search=args.search, call_type=args.type)
    view.show(page)
    if args.follow:
        follow(store, view, page, search=args.search, call_type=args.type)
    return 0


def follow(
    store: DebuggerStore,
    view: DebuggerView,
    page: DebuggerPage,
    *,
    search: str | None,
    call_type: str | None,
    sleep: Callable[[float], None] = time.sleep,
    polls: int | None = None,
) -> None:
    """New messages as they are written, until Ctrl-C (or `polls` polls, for tests)."""
    cursor = page.cursor
    while polls is None or polls > 0:
        sleep(FOLLOW_SECONDS)
        page = store.latest(page.source_id, search=search, call_type=call_type, after=cursor)
        view.entries(page.entries)
        cursor = page.cursor
        if polls is not None:
            polls -= 1


def rate_text(rate: float) -> str:
    if rate >= 1:
        return "every message"
    return f"1 in {round(1 / rate):,} ({rate:.2%})" if rate > 0 else "none"


class DebuggerView:
    """Pretty: a line per message, then its JSON indented. Raw: the JSON as archived, one a line
    (what a pipe to `jq` wants); the heading then goes to stderr."""

    def __init__(self, source: NamedSource, *, raw: bool, out: TextIO | None = None, err: TextIO | None = None):
        self._source = source
        self._raw = raw
        self._out = out or sys.stdout
        self._err = err or sys.stderr

    def show(self, page: DebuggerPage) -> None:
        heading = f"{self._source.title}: {len(page.entries)} of the latest {page.window} message(s), newest last"
        if page.sampling_rate is not None:
            heading += f"; sampled: {rate_text(page.sampling_rate)} at the newest write"
        if page.window == 0:
            heading = f"{self._source.title}: no messages in the last day"
        print(heading, file=self._err if self._raw else self._out, flush=True)
        self.entries(page.entries)

    def entries(self, entries: tuple[DebuggerEntry, ...]) -> None:
        for entry in reversed(entries):  # oldest first: the newest ends next to the prompt
            if self._raw:
                print(entry.raw, file=self._out)
            else:
                print(self._line(entry), file=self._out)
                print("  " + entry.pretty().replace("\n", "\n  "), file=self._out)
        self._out.flush()

    @staticmethod
    def _line(entry: DebuggerEntry) -> str:
        who = entry.message.get("userId") or entry.message.get("anonymousId") or ""
        line = f"{entry.received_at}  {entry.type:<8} {entry.label:<32} {who}  messageId={entry.message_id}"
        if entry.sampling_rate < 1:
            line += f"  (sampled {rate_text(entry.sampling_rate)})"
        return line
