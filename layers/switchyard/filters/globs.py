"""Glob patterns as FQL's `match()` and the schema filters' event names use them, compiled once.

A glob matches the whole string, case-sensitively: `*` is any run of characters (`/` and newlines
included), `?` exactly one character, `[abc]` one of a set, `[a-z]` one in a range (by code point),
`[^abc]` or `[!abc]` one not in it, and `\\x` the character `x` itself (`\\*`, `\\?`, `\\[`, `\\]`).

Most patterns written in practice are a literal with a `*` at one or both ends (`*@example.com`,
`Legacy *`), so those compile to `str.endswith`/`startswith`/`in`, several times faster than a
regular expression. Other patterns of literals and stars only find their pieces left to right
(linear in the text: a regular expression's `.*a.*b.*c` can take seconds on a long hostile name);
the rest compile to an anchored `re` pattern.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

# How a compiled glob tests a string: `literals` hold what the string-method kinds compare with.
Kind = Literal["any", "exact", "prefix", "suffix", "contains", "affixes", "segments", "regex"]


class GlobError(ValueError):
    """A pattern that is not a valid glob; `index` is the 0-based character where it goes wrong."""

    def __init__(self, message: str, index: int) -> None:
        super().__init__(message)
        self.message = message
        self.index = index


@dataclass(frozen=True)
class Glob:
    """A compiled glob: `matches(text)`, plus its shape so a compiler can inline the cheap cases."""

    pattern: str
    kind: Kind
    literals: tuple[str, ...]  # exact/prefix/suffix/contains: one; affixes: prefix and suffix
    matches: Callable[[str], bool]
    regex: re.Pattern[str] | None = None  # kind "regex" only


def compile_glob(pattern: str) -> Glob:
    """Compile `pattern`, or raise GlobError naming what is wrong and where."""
    pieces = _tokenize(pattern)
    stars = [index for index, piece in enumerate(pieces) if piece == _STAR]
    plain = all(isinstance(piece, _Literal) or piece == _STAR for piece in pieces)
    if plain and len(stars) <= 2:
        shaped = _shaped(pattern, pieces, stars)
        if shaped is not None:
            return shaped
    if plain:
        return _segments(pattern, pieces)
    regex = re.compile("".join(_regex(piece) for piece in pieces), re.DOTALL)
    fullmatch = regex.fullmatch
    return Glob(pattern, "regex", (), lambda text: fullmatch(text) is not None, regex)


@lru_cache(maxsize=256)
def cached_glob(pattern: str) -> Glob:
    """For patterns known only per event (a path, not a literal): bounded, so hostile data cannot grow it."""
    return compile_glob(pattern)


@dataclass(frozen=True)
class _Literal:
    text: str


_STAR = "*"
_ONE = "?"


def _tokenize(pattern: str) -> list[_Literal | str]:
    """Pieces: literal runs, `*` (runs of stars collapsed), `?`, and character classes as regex text."""
    pieces: list[_Literal | str] = []
    text: list[str] = []
    index = 0

    def flush() -> None:
        if text:
            pieces.append(_Literal("".join(text)))
            text.clear()

    while index < len(pattern):
        char = pattern[index]
        if char == "\\":
            if index + 1 == len(pattern):
                raise GlobError("a pattern cannot end with '\\' (write '\\\\' for a backslash)", index)
            text.append(pattern[index + 1])
            index += 2
            continue
        if char in "*?[":
            flush()
            if char == "[":
                regex, index = _character_class(pattern, index)
                pieces.append("[" + regex + "]")
                continue
            if char == _ONE or not pieces or pieces[-1] != _STAR:
                pieces.append(char)
        else:
            text.append(char)
        index += 1
    flush()
    return pieces


def _character_class(pattern: str, start: int) -> tuple[str, int]:
    """The regex body of the class opening at `start`, and the index just past its `]`."""
    index = start + 1
    negated = index < len(pattern) and pattern[index] in "^!"
    if negated:
        index += 1
    members: list[str] = []
    while True:
        if index >= len(pattern):
            raise GlobError("'[' is not closed by ']' (write '\\[' for a bracket)", start)
        char = pattern[index]
        if char == "]":
            break
        low, index = _class_char(pattern, index)
        if index + 1 < len(pattern) and pattern[index] == "-" and pattern[index + 1] != "]":
            high, index = _class_char(pattern, index + 1)
            if high < low:
                raise GlobError(f"range '{low}-{high}' goes backwards", index - 1)
            members.append(f"{re.escape(low)}-{re.escape(high)}")
        else:
            members.append(re.escape(low))
    if not members:
        raise GlobError("'[]' matches nothing: a class needs at least one character", start)
    return ("^" if negated else "") + "".join(members), index + 1


def _class_char(pattern: str, index: int) -> tuple[str, int]:
    if pattern[index] == "\\":
        if index + 1 == len(pattern):
            raise GlobError("a pattern cannot end with '\\'", index)
        return pattern[index + 1], index + 2
    return pattern[index], index + 1


def _regex(piece: _Literal | str) -> str:
    if isinstance(piece, _Literal):
        return re.escape(piece.text)
    if piece == _STAR:
        return ".*"
    if piece == _ONE:
        return "."
    return piece  # a character class, already regex text


def _segments(pattern: str, pieces: list[_Literal | str]) -> Glob:
    """Literals between stars: the head at the start, the tail at the end, each middle piece found
    left to right in between (the leftmost place is always the best one for what follows)."""
    head = pieces[0].text if isinstance(pieces[0], _Literal) else ""
    tail = pieces[-1].text if isinstance(pieces[-1], _Literal) and len(pieces) > 1 else ""
    inner = pieces[1 if head else 0 : len(pieces) - 1 if tail else len(pieces)]
    middles = [piece.text for piece in inner if isinstance(piece, _Literal)]
    least = len(head) + len(tail) + sum(len(middle) for middle in middles)

    def matches(text: str) -> bool:
        if len(text) < least or not text.startswith(head) or not text.endswith(tail):
            return False
        position, end = len(head), len(text) - len(tail)
        for middle in middles:
            found = text.find(middle, position, end)
            if found < 0:
                return False
            position = found + len(middle)
        return True

    return Glob(pattern, "segments", (), matches)


def _shaped(pattern: str, pieces: list[_Literal | str], stars: list[int]) -> Glob | None:
    """The string-method form of a literal with `*` only at its ends, if that is its shape."""
    texts = [piece.text for piece in pieces if isinstance(piece, _Literal)]
    if not stars:
        exact = texts[0] if texts else ""
        return Glob(pattern, "exact", (exact,), exact.__eq__)
    if len(pieces) == 1:
        return Glob(pattern, "any", (), lambda text: True)
    first, last = stars[0] == 0, stars[-1] == len(pieces) - 1
    if len(stars) == 1 and len(pieces) == 2:
        literal = texts[0]
        if first:
            return Glob(pattern, "suffix", (literal,), lambda text: text.endswith(literal))
        return Glob(pattern, "prefix", (literal,), lambda text: text.startswith(literal))
    if len(stars) == 2 and len(pieces) == 3 and first and last:
        middle = texts[0]
        return Glob(pattern, "contains", (middle,), lambda text: middle in text)
    if len(stars) == 1 and len(pieces) == 3:
        head, tail = texts
        least = len(head) + len(tail)
        return Glob(
            pattern,
            "affixes",
            (head, tail),
            lambda text: len(text) >= least and text.startswith(head) and text.endswith(tail),
        )
    return None
