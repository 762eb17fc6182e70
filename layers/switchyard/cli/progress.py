"""Following work from the CLI (a replay, a user deletion, lake loads): poll its record, redraw a bar."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TypeVar

Record = TypeVar("Record")
BAR_WIDTH = 30


def bar(fraction: float, width: int = BAR_WIDTH) -> str:
    """`[######........]` filled to `fraction` (0 to 1)."""
    filled = int(fraction * width)
    return f"[{'#' * filled}{'.' * (width - filled)}]"


def follow(
    read: Callable[[], Record | None],
    finished: Callable[[Record], bool],
    bar: Callable[[Record], str],
    interval: float = 1.0,
) -> Record | None:
    """Poll `read` until its record is finished, drawing `bar` on stderr (None: the record is gone)."""
    while True:
        record = read()
        if record is None:
            return None
        sys.stderr.write("\r" + bar(record))
        sys.stderr.flush()
        if finished(record):
            sys.stderr.write("\n")
            return record
        time.sleep(interval)
