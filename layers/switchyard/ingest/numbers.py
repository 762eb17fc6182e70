"""Integers beyond 64 bits: orjson parses them as floats, which would change the data silently.

Such an integer (below -2^63, or from 2^64) cannot be kept exact: orjson cannot write it back, and
every later stage (router, functions, delivery) parses events with orjson again. So a message
holding one is refused (`integer_out_of_range`); send such numbers as strings.

Finding them must cost nothing on the hot path, so the check is staged: orjson writes every float
of 1e16 or more with an exponent (`1.8446744073709552e+19`), and a `+` in a stored message is a
single memchr. Only then is the request parsed again with exact integers (the stdlib parser) to
tell an integer literal from a float literal such as `1e19`, which stays a float.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

INT_MIN = -(2**63)  # orjson's range: int64 for negatives, uint64 for the rest
INT_MAX = 2**64 - 1

OUT_OF_RANGE_DETAIL = "An integer is beyond 64 bits (below -2^63 or above 2^64 - 1); send it as a string."


def wrote_large_float(data: bytes) -> bool:
    """Whether orjson's output holds a float written with a positive exponent (`e+`).

    A `+` elsewhere (a time-zone offset, text) only costs a loop over the few `+` there are.
    """
    at = data.find(0x2B)  # "+"
    while at > 0:
        if data[at - 1] == 0x65:  # "e"
            return True
        at = data.find(0x2B, at + 1)
    return False


def exact_json(data: bytes) -> Any:
    """The JSON value with exact integers; only for text orjson already accepted (so NaN is not in it)."""
    return json.loads(data)


def holds_out_of_range_integer(value: Any) -> bool:
    """Whether a parsed JSON value holds an integer outside orjson's range (walked without recursion)."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is int:
            if not INT_MIN <= item <= INT_MAX:
                return True
        elif kind is dict:
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
    return False


def loses_integers(data: bytes, parsed: Any) -> bool:
    """Whether orjson turned an integer literal of `data` into a float when it parsed it as `parsed`.

    orjson reads 1,024 levels of nesting but writes 254: a value it cannot write back skips the
    cheap hint and is parsed again exactly.
    """
    try:
        if not wrote_large_float(orjson.dumps(parsed)):
            return False
    except orjson.JSONEncodeError:
        pass
    try:
        return holds_out_of_range_integer(exact_json(data))
    except RecursionError:  # deeper than the stdlib parser goes (orjson allows 1024): cannot tell
        return True
