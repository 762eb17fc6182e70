"""What ingest logs about refused input: at a bounded rate, and the shape of a message, not its values.

A fuzzer or a broken client can send thousands of bad requests a minute; a WARNING with samples
for each costs CloudWatch Logs money and copies users' data (emails, ids) into the logs. So each
execution environment logs at most a few such lines a minute (the metrics still count them all),
and a sample shows a message's keys and value types only.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import orjson

from switchyard.constants import DISCARD_SAMPLE_CHARS

_JSON_TYPES = {str: "string", bool: "boolean", int: "number", float: "number", type(None): "null"}
_MAX_DEPTH = 6  # deeper objects show as "object"
_MAX_KEYS = 50  # per object, then a count of the rest
_MAX_ITEMS = 3  # per list, then its length
_MAX_KEY_CHARS = 64


class LogBudget:
    """A token bucket: bursts of up to `per_minute` lines, refilled at `per_minute` a minute."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self._capacity = float(per_minute)
        self._per_second = per_minute / 60.0
        self._clock = clock
        self._tokens = self._capacity
        self._last = clock()
        self._skipped = 0

    def spend(self) -> int | None:
        """None: skip this line. Otherwise log it, saying how many were skipped since the last one."""
        now = self._clock()
        self._tokens = min(self._capacity, self._tokens + (now - self._last) * self._per_second)
        self._last = now
        if self._tokens < 1:
            self._skipped += 1
            return None
        self._tokens -= 1
        skipped, self._skipped = self._skipped, 0
        return skipped


def message_shape(message: Any) -> str:
    """The message's keys and JSON value types, without a value or the write key, bounded in size."""
    return orjson.dumps(_shape(message, 0)).decode()[:DISCARD_SAMPLE_CHARS]


def _shape(value: Any, depth: int) -> Any:
    kind = type(value)
    if kind is dict:
        if depth >= _MAX_DEPTH:
            return "object"
        keys = [key for key in value if key != "writeKey"]
        shape = {str(key)[:_MAX_KEY_CHARS]: _shape(value[key], depth + 1) for key in keys[:_MAX_KEYS]}
        if len(keys) > _MAX_KEYS:
            shape["..."] = f"{len(keys) - _MAX_KEYS} more keys"
        return shape
    if kind is list:
        if depth >= _MAX_DEPTH:
            return "array"
        shape = [_shape(item, depth + 1) for item in value[:_MAX_ITEMS]]
        if len(value) > _MAX_ITEMS:
            shape.append(f"... {len(value)} items")
        return shape
    return _JSON_TYPES.get(kind, kind.__name__)
