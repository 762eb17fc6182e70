"""FQL, Segment's filter query language: parsed and compiled once per query to one Python function.

`compile_query(text)` returns a `Query` whose `matches(event)` is the query as a plain Python
function (generated source compiled with `compile()`): no tree is walked per event. A malformed
query raises `FqlError` with the 1-based line and column; a query that fails on an event (a
function given the wrong type) raises `FqlEvaluationError`, on which destination filters fail
closed. `"all"` is not FQL: the filter layer handles it before calling this.

The language, as Segment documents it (docs/api/public-api/fql) and as Switchyard settles what that
page leaves open:

- Field paths: `context.library.version`. A name is made of `a-z A-Z 0-9 _ -`; any other character
  is escaped with `\\` (`properties.product\\ 1.price`, `\\$ref`, `\\and` for a field named `and`).
  A name that is all digits also indexes a list (`properties.products.0.sku`). A missing field is
  `null`; the event itself must be a JSON object.
- Literals: strings in `'single'` or `"double"` quotes, where `\\'`/`\\"` is the quote and `\\\\` a
  backslash, any other backslash staying as written (so `match(x, 'ab\\*d')` hands `ab\\*d` to the
  glob, as Segment's example does); numbers as Segment's lexer takes them: an optional sign, digits
  and an optional decimal part (`-4`, `+5.4`; no exponent, no `.5`, no `5.`); `true`, `false`,
  `null`; lists of literals `['a', 'b']`. Keywords are lowercase only: FQL is case-sensitive.
- Operators, loosest first: `or`, `and`, `!`, then one comparison (`= != > >= < <= in`; they do not
  chain). `!` negates the comparison after it: `!a = 1` is `!(a = 1)`. Parentheses group.
- `and`, `or`, `!` and the query's result take a value as true only when it is `true`: `null`, a
  missing field or a string is false (Segment: operands are bool or null, null being false).
- `=` is strict: same type and equal (`1 = 1.0`, but `1 != '1'` and `true != 1`, which Python's
  `True == 1` would get wrong); lists and objects compare element by element. `!=` is its negation.
- `> >= < <=` compare numbers; when either side is not a number the comparison is false (a missing
  `properties.revenue` is not an error), and a literal that is not a number is refused when compiling.
- `x in list` is true when `x` strictly equals an element; a right side that is not a list (null,
  a string) is false: use `contains()` for substrings.
- Functions, with their null behaviour (Segment's table, completed):
  `contains(s, sub)`: false if either is null. `match(s, glob)`: whole string, case-sensitive,
  `* ? [abc] [a-z] [^a]` and `\\x` (see globs.py); false if either is null. `length(x)`: bytes of a
  string in UTF-8 (`ア` is 3), elements of a list, 0 for null. `lowercase uppercase`: Unicode case
  mapping; `snakecase kebabcase`: each whitespace character replaced by `_` / `-`, case kept (Segment:
  "all space characters replaced"); `titlecase`: the first letter of each word upper-cased, the rest
  kept (`test string` -> `Test String`); all five give null for null. `typeof(x)`: `string number
  list bool null`, and `object` for an object. `bool(x)`: null, `false`, 0, `""`, `"false"`, `"0"`
  (any case), `[]` and `{}` are false, the rest true. `string(x)`: a string as is, null as `""`,
  `true`/`false`, numbers in their shortest form (`1.0` -> `1`), lists and objects as compact JSON.
  `number(x)`: a number as is, null as null, a string holding a decimal number (sign, exponent and
  surrounding spaces allowed) as that number.
  Any other argument type raises FqlEvaluationError (naming the function, the argument and the
  type, never the value: events hold personal data); a literal of a wrong type is refused when
  compiling, and calls on literals only are computed then.
- Limits: 5 KB (5,120 bytes of UTF-8) per query, 24 levels of nesting (parentheses, `!`, calls,
  lists).

Why generated code: on bench/fql.py's queries, the same trees as closures (a Python call per node)
took 1.6-3x longer per event (9x for an and/or), while the generated function is within 1.4x of a
hand-written lambda: common shapes compile to what a person would write
(`type(v) is str and v.endswith('@example.com')`), with no call per node. No text of the query reaches the
generated source except as `repr()` of a str, int or float; lists, patterns and helpers are bound
by name in the function's own namespace, which has no builtins.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from switchyard.filters.globs import Glob, GlobError, cached_glob, compile_glob

MAX_QUERY_BYTES = 5 * 1024
MAX_DEPTH = 24

Event = Mapping[str, Any]


class FqlError(ValueError):
    """A query that is not valid FQL; `position` is the 1-based character, `line`/`column` its place."""

    def __init__(self, message: str, query: str, index: int) -> None:
        self.message = message
        self.query = query
        self.position = index + 1
        self.line, self.column = _line_and_column(query, index)
        super().__init__(f"{message} (at {_where(query, index)})")

    def pointer(self) -> str:
        """The query's line with a caret under the column, for a terminal."""
        text = self.query.split("\n")[self.line - 1] if self.query else ""
        return f"{text}\n{' ' * (self.column - 1)}^"


class FqlEvaluationError(ValueError):
    """A query that cannot be evaluated on an event; filters fail closed on it."""


@dataclass(frozen=True)
class Query:
    """A compiled query: `matches(event)` is true when the query is `true` for the event."""

    text: str
    matches: Callable[[Event], bool] = field(repr=False, compare=False)
    source: str = field(repr=False, compare=False)  # the generated Python, for debugging


def compile_query(text: str) -> Query:
    """Parse and compile `text`, or raise FqlError."""
    size = len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_QUERY_BYTES:
        within = len(text.encode("utf-8", "surrogatepass")[:MAX_QUERY_BYTES].decode("utf-8", "ignore"))
        raise FqlError(f"the query is {size} bytes; FQL allows at most {MAX_QUERY_BYTES} (5 KB)", text, within)
    tree = _fold(_Parser(text).parse(), text)
    return _Compiler(text).compile(tree)


# --- Syntax tree ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Literal:
    value: Any
    index: int


@dataclass(frozen=True)
class _Path:
    segments: tuple[str, ...]
    index: int


@dataclass(frozen=True)
class _Not:
    operand: _Node
    index: int


@dataclass(frozen=True)
class _Logical:
    operator: str  # "and" | "or"
    operands: tuple[_Node, ...]
    index: int


@dataclass(frozen=True)
class _Compare:
    operator: str  # = != > >= < <= in
    left: _Node
    right: _Node
    index: int


@dataclass(frozen=True)
class _Call:
    name: str
    args: tuple[_Node, ...]
    index: int


_Node = _Literal | _Path | _Not | _Logical | _Compare | _Call


# --- Lexer ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Token:
    kind: str  # string number path keyword op punct end
    value: Any
    index: int
    text: str
    plain: bool = False  # a path of one name with no escapes: may be a function's name


_KEYWORDS = {"and", "or", "in", "true", "false", "null"}
_NAME = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-")
_NAME_START = _NAME - frozenset("0123456789-")
_DIGITS = frozenset("0123456789")
_NUMBER = re.compile(r"[+-]?[0-9]+(?:\.[0-9]+)?")
_COMPARISONS = {"=", "!=", ">", ">=", "<", "<="}
_HINTS = {
    "&": "write 'and'",
    "|": "write 'or'",
    "$": "escape it with '\\' in a field name",
    "@": "escape it with '\\' in a field name",
    "#": "escape it with '\\' in a field name",
}


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    index, end = 0, len(text)
    while index < end:
        char = text[index]
        if char in " \t\r\n":
            index += 1
            continue
        start = index
        if char in "'\"":
            value, index = _string(text, index)
            tokens.append(_Token("string", value, start, text[start:index]))
        elif char in _DIGITS or (char in "+-" and index + 1 < end and text[index + 1] in _DIGITS):
            value, index = _number(text, index)
            tokens.append(_Token("number", value, start, text[start:index]))
        elif char in _NAME_START or char == "\\":
            segments, plain, index = _path(text, index)
            word = text[start:index]
            kind = "keyword" if plain and word in _KEYWORDS else "path"
            tokens.append(_Token(kind, word if kind == "keyword" else segments, start, word, plain))
        elif char in "!<>=":
            operator = text[index : index + 2] if text[index + 1 : index + 2] == "=" else char
            if operator == "==":
                raise FqlError("'==' is not FQL: equality is a single '='", text, index)
            index += len(operator)
            tokens.append(_Token("op", operator, start, operator))
        elif char in "()[],":
            index += 1
            tokens.append(_Token("punct", char, start, char))
        else:
            hint = _HINTS.get(char, "")
            raise FqlError(f"unexpected character {char!r}" + (f": {hint}" if hint else ""), text, index)
    tokens.append(_Token("end", None, end, ""))
    return tokens


def _string(text: str, start: int) -> tuple[str, int]:
    quote, index, chars = text[start], start + 1, []
    while index < len(text):
        char = text[index]
        if char == quote:
            return "".join(chars), index + 1
        if char == "\\" and text[index + 1 : index + 2] in (quote, "\\"):
            chars.append(text[index + 1])
            index += 2
            continue
        chars.append(char)
        index += 1
    raise FqlError(f"the string opened here is not closed by {quote}", text, start)


def _number(text: str, start: int) -> tuple[int | float, int]:
    found = _NUMBER.match(text, start)
    index = found.end() if found else start
    if index < len(text) and (text[index] in _NAME or text[index] == "."):
        stop = index
        while stop < len(text) and (text[stop] in _NAME or text[stop] == "."):
            stop += 1
        raise FqlError(
            f"{text[start:stop]!r} is not a number: FQL numbers are digits with an optional sign and"
            " decimal part (like -4 or 2.5)",
            text,
            start,
        )
    digits = text[start:index]
    try:
        value: int | float = float(digits) if "." in digits else int(digits)
    except ValueError:
        value = math.inf  # more digits than Python converts
    if not math.isfinite(value):
        raise FqlError("this number is too large", text, start)
    return value, index


def _path(text: str, start: int) -> tuple[tuple[str, ...], bool, int]:
    segments: list[str] = []
    name: list[str] = []
    index, plain = start, True
    while index < len(text):
        char = text[index]
        if char == "\\":
            if index + 1 == len(text):
                raise FqlError("'\\' at the end of the query escapes nothing", text, index)
            name.append(text[index + 1])
            index += 2
            plain = False
        elif char in _NAME:
            name.append(char)
            index += 1
        elif char == ".":
            if not name:
                raise FqlError("a field path cannot have an empty name ('..')", text, index)
            segments.append("".join(name))
            name = []
            index += 1
        else:
            break
    if not name:
        raise FqlError("a field path cannot end with '.'", text, index - 1)
    segments.append("".join(name))
    return tuple(segments), plain and len(segments) == 1, index


# --- Parser --------------------------------------------------------------------------------------


class _Parser:
    """Recursive descent: or > and > ! > comparison > operand (value, path, call, list, parentheses)."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokenize(text)
        self.position = 0
        self.depth = 0

    def parse(self) -> _Node:
        if self.peek().kind == "end":
            raise FqlError("the query is empty", self.text, 0)
        node = self.disjunction()
        token = self.peek()
        if token.kind == "punct" and token.value == ")":
            raise FqlError("this ')' closes nothing", self.text, token.index)
        if token.kind != "end":
            raise self.unexpected(token, "'and', 'or' or the end of the query")
        return node

    def peek(self) -> _Token:
        return self.tokens[self.position]

    def advance(self) -> _Token:
        token = self.tokens[self.position]
        if token.kind != "end":
            self.position += 1
        return token

    def unexpected(self, token: _Token, expected: str) -> FqlError:
        found = "the end of the query" if token.kind == "end" else repr(token.text[:30])
        hint = ""
        if token.kind == "path" and token.plain and token.text.lower() in _KEYWORDS:
            hint = f" (FQL is case-sensitive: write '{token.text.lower()}')"
        return FqlError(f"expected {expected}, got {found}{hint}", self.text, token.index)

    def enter(self, token: _Token) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise FqlError(f"the query nests deeper than {MAX_DEPTH} levels", self.text, token.index)

    def disjunction(self) -> _Node:
        return self.logical("or", self.conjunction)

    def conjunction(self) -> _Node:
        return self.logical("and", self.negation)

    def logical(self, keyword: str, operand: Callable[[], _Node]) -> _Node:
        first = operand()
        operands = [first]
        while self.peek().kind == "keyword" and self.peek().value == keyword:
            self.advance()
            operands.append(operand())
        return first if len(operands) == 1 else _Logical(keyword, tuple(operands), first.index)

    def negation(self) -> _Node:
        token = self.peek()
        if token.kind == "op" and token.value == "!":
            self.advance()
            self.enter(token)
            operand = self.negation()
            self.depth -= 1
            return _Not(operand, token.index)
        return self.comparison()

    def comparison(self) -> _Node:
        left = self.operand()
        token = self.peek()
        if not _is_comparison(token):
            return left
        self.advance()
        right = self.operand()
        if _is_comparison(self.peek()):
            raise FqlError("comparisons do not chain: join them with 'and'", self.text, self.peek().index)
        return _Compare(token.value, left, right, token.index)

    def operand(self) -> _Node:
        token = self.advance()
        if token.kind in ("string", "number"):
            return _Literal(token.value, token.index)
        if token.kind == "keyword" and token.value in ("true", "false", "null"):
            return _Literal(_CONSTANTS[token.value], token.index)
        if token.kind == "punct" and token.value == "[":
            return _Literal(self.list_literal(token), token.index)
        if token.kind == "punct" and token.value == "(":
            self.enter(token)
            node = self.disjunction()
            closing = self.advance()
            if closing.value != ")" or closing.kind != "punct":
                raise self.unexpected(closing, f"')' to close the '(' at {_where(self.text, token.index)}")
            self.depth -= 1
            return node
        if token.kind == "path":
            if token.plain and self.peek().kind == "punct" and self.peek().value == "(":
                return self.call(token)
            return _Path(token.value, token.index)
        if token.kind == "op" and token.value == "!":
            raise FqlError("'!' negates a whole comparison: write '!(...)' around it", self.text, token.index)
        raise self.unexpected(token, "a value, a field path or '('")

    def list_literal(self, opening: _Token) -> list[Any]:
        self.enter(opening)
        values: list[Any] = []
        if self.peek().kind == "punct" and self.peek().value == "]":
            self.advance()
        else:
            while True:
                values.append(self.list_value())
                token = self.advance()
                if token.kind == "punct" and token.value == "]":
                    break
                if token.kind != "punct" or token.value != ",":
                    raise self.unexpected(token, "',' or ']'")
        self.depth -= 1
        return values

    def list_value(self) -> Any:
        token = self.advance()
        if token.kind in ("string", "number"):
            return token.value
        if token.kind == "keyword" and token.value in ("true", "false", "null"):
            return _CONSTANTS[token.value]
        if token.kind == "punct" and token.value == "[":
            return self.list_literal(token)
        raise self.unexpected(token, "a literal in the list (a string, number, true, false, null or list)")

    def call(self, name: _Token) -> _Node:
        function = _FUNCTIONS.get(name.text)
        if function is None:
            known = ", ".join(sorted(_FUNCTIONS))
            raise FqlError(f"unknown function {name.text!r} (FQL has {known})", self.text, name.index)
        self.enter(name)
        self.advance()  # the "("
        args: list[_Node] = []
        if self.peek().kind == "punct" and self.peek().value == ")":
            self.advance()
        else:
            while True:
                args.append(self.disjunction())
                token = self.advance()
                if token.kind == "punct" and token.value == ")":
                    break
                if token.kind != "punct" or token.value != ",":
                    raise self.unexpected(token, f"',' or ')' to close {name.text}(")
        self.depth -= 1
        if len(args) != len(function.accepts):
            count = len(function.accepts)
            raise FqlError(
                f"{name.text}() takes {count} argument{'s' if count > 1 else ''}, got {len(args)}",
                self.text,
                name.index,
            )
        return _Call(name.text, tuple(args), name.index)


_CONSTANTS = {"true": True, "false": False, "null": None}


def _is_comparison(token: _Token) -> bool:
    return (token.kind == "op" and token.value in _COMPARISONS) or (token.kind == "keyword" and token.value == "in")


# --- Values and operators (shared by the generated code and by folding constants) ----------------

_NUM = (int, float)


def typeof(value: Any) -> str:
    """FQL's name for a JSON value's type."""
    kind = type(value)
    if kind is str:
        return "string"
    if kind is int or kind is float:
        return "number"
    if kind is bool:
        return "bool"
    if value is None:
        return "null"
    if kind is list:
        return "list"
    return "object"


def strict_equal(left: Any, right: Any) -> bool:
    """FQL's `=`: the same type and equal; `True` is not `1` here."""
    kind = type(left)
    if kind is not type(right):
        return kind in _NUM and type(right) in _NUM and left == right
    if kind is list:
        return len(left) == len(right) and all(map(strict_equal, left, right))
    if kind is dict:
        return left.keys() == right.keys() and all(strict_equal(value, right[key]) for key, value in left.items())
    return bool(left == right)


def _in(value: Any, values: Any) -> bool:
    if type(values) is not list:
        return False
    if value is None or type(value) is str:
        return value in values  # `==` on these is already strict
    return any(strict_equal(value, item) for item in values)


def _gt(left: Any, right: Any) -> bool:
    return type(left) in _NUM and type(right) in _NUM and left > right


def _ge(left: Any, right: Any) -> bool:
    return type(left) in _NUM and type(right) in _NUM and left >= right


def _lt(left: Any, right: Any) -> bool:
    return type(left) in _NUM and type(right) in _NUM and left < right


def _le(left: Any, right: Any) -> bool:
    return type(left) in _NUM and type(right) in _NUM and left <= right


_ORDERING = {">": _gt, ">=": _ge, "<": _lt, "<=": _le}
_OPERATORS: dict[str, Callable[[Any, Any], bool]] = {
    "=": strict_equal,
    "!=": lambda left, right: not strict_equal(left, right),
    "in": _in,
    **_ORDERING,
}
_FLIPPED = {">": "<", ">=": "<=", "<": ">", "<=": ">="}


# --- Functions -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Site:
    """One call in one query: its errors say which function, where, and what type it got."""

    name: str
    accepts: tuple[frozenset[str], ...]
    where: str

    def type_error(self, argument: int, value: Any) -> FqlEvaluationError:
        return self.error(f"argument {argument + 1} must be {_kinds(self.accepts[argument])}, got {typeof(value)}")

    def error(self, message: str) -> FqlEvaluationError:
        return FqlEvaluationError(f"{self.name}() at {self.where}: {message}")

    def check(self, *values: Any) -> None:
        for argument, value in enumerate(values):
            if typeof(value) not in self.accepts[argument]:
                raise self.type_error(argument, value)


@dataclass(frozen=True)
class _Function:
    accepts: tuple[frozenset[str], ...]  # per argument, the FQL types it takes
    returns_bool: bool
    bind: Callable[[_Site], Callable[..., Any]]  # the implementation, bound to one call site


_TEXT = frozenset({"string", "null"})
_ANY = frozenset({"string", "number", "bool", "null", "list", "object"})


def _contains(site: _Site) -> Callable[[Any, Any], bool]:
    def contains(text: Any, part: Any) -> bool:
        if type(text) is str and type(part) is str:
            return part in text
        site.check(text, part)
        return False  # a null on either side

    return contains


def _match(site: _Site) -> Callable[[Any, Any], bool]:
    def match(text: Any, pattern: Any) -> bool:
        if type(text) is str and type(pattern) is str:
            try:
                glob = cached_glob(pattern)
            except GlobError as error:
                raise site.error(f"argument 2 is not a valid glob: {error.message}") from None
            return glob.matches(text)
        site.check(text, pattern)
        return False

    return match


def _length(site: _Site) -> Callable[[Any], int]:
    def length(value: Any) -> int:
        kind = type(value)
        if kind is str:
            return len(value) if value.isascii() else len(value.encode("utf-8", "surrogatepass"))
        if kind is list:
            return len(value)
        if value is None:
            return 0
        raise site.type_error(0, value)

    return length


def _text_function(transform: Callable[[str], str]) -> Callable[[_Site], Callable[[Any], str | None]]:
    def bind(site: _Site) -> Callable[[Any], str | None]:
        def apply(value: Any) -> str | None:
            if type(value) is str:
                return transform(value)
            if value is None:
                return None
            raise site.type_error(0, value)

        return apply

    return bind


_WHITESPACE = re.compile(r"\s")
_WORD_START = re.compile(r"(?<!\S)\S")


def _typeof(site: _Site) -> Callable[[Any], str]:
    return typeof


def _bool(site: _Site) -> Callable[[Any], bool]:
    def to_bool(value: Any) -> bool:
        if type(value) is str:
            return value.strip().lower() not in ("", "false", "0")
        return bool(value)  # null, false, 0, [] and {} are false

    return to_bool


def _string_of(site: _Site) -> Callable[[Any], str]:
    def to_string(value: Any) -> str:
        kind = type(value)
        if kind is str:
            return value
        if value is None:
            return ""
        if kind is bool:
            return "true" if value else "false"
        if kind is float and value.is_integer() and abs(value) < 1e21:
            return str(int(value))
        if kind is int or kind is float:
            return repr(value)
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False)

    return to_string


_DECIMAL = re.compile(r"\s*[+-]?(?:[0-9]+(\.[0-9]*)?|(\.[0-9]+))([eE][+-]?[0-9]+)?\s*")


def _number_of(site: _Site) -> Callable[[Any], int | float | None]:
    def to_number(value: Any) -> int | float | None:
        kind = type(value)
        if kind is int or kind is float or value is None:
            return value
        if kind is str:
            found = _DECIMAL.fullmatch(value)
            if found is None:
                raise site.error("argument 1 is a string that is not a number")
            try:
                number: int | float = int(value) if found.group(1, 2, 3) == (None, None, None) else float(value)
            except ValueError:
                raise site.error("argument 1 has more digits than a number can hold") from None
            if math.isinf(number):
                raise site.error("argument 1 is too large a number")
            return number
        raise site.type_error(0, value)

    return to_number


_FUNCTIONS: dict[str, _Function] = {
    "contains": _Function((_TEXT, _TEXT), True, _contains),
    "match": _Function((_TEXT, _TEXT), True, _match),
    "length": _Function((frozenset({"string", "list", "null"}),), False, _length),
    "lowercase": _Function((_TEXT,), False, _text_function(str.lower)),
    "uppercase": _Function((_TEXT,), False, _text_function(str.upper)),
    "snakecase": _Function((_TEXT,), False, _text_function(lambda text: _WHITESPACE.sub("_", text))),
    "kebabcase": _Function((_TEXT,), False, _text_function(lambda text: _WHITESPACE.sub("-", text))),
    "titlecase": _Function(
        (_TEXT,), False, _text_function(lambda text: _WORD_START.sub(lambda word: word.group().upper(), text))
    ),
    "typeof": _Function((_ANY,), False, _typeof),
    "bool": _Function((_ANY,), True, _bool),
    "string": _Function((_ANY,), False, _string_of),
    "number": _Function((frozenset({"number", "string", "null"}),), False, _number_of),
}


def _site(name: str, query: str, index: int) -> _Site:
    return _Site(name, _FUNCTIONS[name].accepts, _where(query, index))


# --- Folding constants and checking literals -----------------------------------------------------


def _fold(node: _Node, query: str) -> _Node:
    """Compute what depends on literals only, and refuse literals that can never work where they are."""
    if isinstance(node, _Call):
        args = tuple(_fold(arg, query) for arg in node.args)
        site = _site(node.name, query, node.index)
        for argument, arg in enumerate(args):
            if isinstance(arg, _Literal) and typeof(arg.value) not in site.accepts[argument]:
                wanted = _kinds(site.accepts[argument])
                message = f"{node.name}() takes {wanted} as argument {argument + 1}, not {typeof(arg.value)}"
                raise FqlError(message, query, arg.index)
        if node.name == "match" and isinstance(args[1], _Literal) and type(args[1].value) is str:
            _glob(args[1], query)
        if all(isinstance(arg, _Literal) for arg in args):
            values = [arg.value for arg in args if isinstance(arg, _Literal)]
            try:
                return _Literal(_FUNCTIONS[node.name].bind(site)(*values), node.index)
            except FqlEvaluationError as error:
                raise FqlError(str(error), query, node.index) from None
        return _Call(node.name, args, node.index)
    if isinstance(node, _Compare):
        left, right = _fold(node.left, query), _fold(node.right, query)
        _check_operands(node.operator, left, right, query)
        if isinstance(left, _Literal) and isinstance(right, _Literal):
            return _Literal(_OPERATORS[node.operator](left.value, right.value), node.index)
        return _Compare(node.operator, left, right, node.index)
    if isinstance(node, _Not):
        operand = _fold(node.operand, query)
        if isinstance(operand, _Literal):
            return _Literal(operand.value is not True, node.index)
        return _Not(operand, node.index)
    if isinstance(node, _Logical):
        return _Logical(node.operator, tuple(_fold(operand, query) for operand in node.operands), node.index)
    return node


def _check_operands(operator: str, left: _Node, right: _Node, query: str) -> None:
    if operator in _ORDERING:
        for side in (left, right):
            if isinstance(side, _Literal) and type(side.value) not in _NUM:
                message = f"'{operator}' compares numbers, and this is {_article(typeof(side.value))}"
                raise FqlError(message, query, side.index)
    if operator == "in" and isinstance(right, _Literal) and type(right.value) is not list:
        message = f"'in' needs a list on its right, not {_article(typeof(right.value))} (contains() finds substrings)"
        raise FqlError(message, query, right.index)


def _kinds(accepted: frozenset[str]) -> str:
    """`a string or null`, in a fixed order."""
    names = [_article(kind) for kind in ("string", "number", "bool", "list", "object", "null") if kind in accepted]
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]


def _article(kind: str) -> str:
    return kind if kind == "null" else ("an " if kind[0] in "aeiou" else "a ") + kind


def _glob(pattern: _Literal, query: str) -> Glob:
    try:
        return compile_glob(pattern.value)
    except GlobError as error:
        # Points into the pattern; exact unless the string literal used `\\'` or `\\\\` escapes before it.
        raise FqlError(f"invalid glob: {error.message}", query, pattern.index + 1 + error.index) from None


# --- Code generation -----------------------------------------------------------------------------


def _unexpected(error: Exception, event: Any) -> FqlEvaluationError:
    if not isinstance(event, Mapping):
        return FqlEvaluationError(f"the event is {typeof(event)}, not a JSON object")
    return FqlEvaluationError(f"cannot evaluate the query on this event: {type(error).__name__}")


def _get_path(segments: tuple[str, ...]) -> Callable[[Any], Any]:
    """A path with a name that may index a list: the generic (slower) walk."""

    def get(value: Any) -> Any:
        for segment in segments:
            kind = type(value)
            if kind is dict:
                value = value.get(segment)
            elif kind is list and segment.isdecimal() and int(segment) < len(value):
                value = value[int(segment)]
            else:
                return None
        return value

    return get


_RUNTIME: dict[str, Any] = {
    "__builtins__": {},  # the generated code needs none, so it gets none
    "type": type,
    "len": len,
    "dict": dict,
    "str": str,
    "bool": bool,
    "Exception": Exception,
    "FqlEvaluationError": FqlEvaluationError,
    "_NUM": _NUM,
    "_eq": strict_equal,
    "_in": _in,
    "_unexpected": _unexpected,
    **{f"_{name}": function for name, function in (("gt", _gt), ("ge", _ge), ("lt", _lt), ("le", _le))},
}
_ORDER_NAMES = {">": "_gt", ">=": "_ge", "<": "_lt", "<=": "_le"}
_TEMPLATE = """\
def _fql(e):
    try:
        return {expression}
    except FqlEvaluationError:
        raise
    except Exception as error:
        raise _unexpected(error, e) from error
"""


class _Compiler:
    """Turns a folded tree into the source of one function, with its constants in its namespace."""

    def __init__(self, query: str) -> None:
        self.query = query
        self.namespace = dict(_RUNTIME)
        self.count = 0

    def compile(self, tree: _Node) -> Query:
        source = _TEMPLATE.format(expression=self.boolean(tree))
        try:
            code = compile(source, "<fql>", "exec")
        except (SyntaxError, RecursionError, MemoryError):
            raise FqlError("the query is too complex to compile", self.query, 0) from None
        exec(code, self.namespace)  # noqa: S102 - source built above from the tree, literals via repr()
        return Query(self.query, self.namespace["_fql"], source)

    def bind(self, prefix: str, value: Any) -> str:
        name = self.temporary(prefix)
        self.namespace[name] = value
        return name

    def temporary(self, prefix: str = "_t") -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def boolean(self, node: _Node) -> str:
        """Source that is True only when the node's value is `true`."""
        if isinstance(node, _Literal):
            return "True" if node.value is True else "False"
        source = self.value(node)
        return source if _is_boolean(node) else f"({source} is True)"

    def value(self, node: _Node) -> str:
        if isinstance(node, _Literal):
            return self.literal(node.value)
        if isinstance(node, _Path):
            return self.path(node.segments)
        if isinstance(node, _Not):
            return f"(not {self.boolean(node.operand)})"
        if isinstance(node, _Logical):
            return "(" + f" {node.operator} ".join(self.boolean(operand) for operand in node.operands) + ")"
        if isinstance(node, _Compare):
            return self.compare(node)
        return self.call(node)

    def literal(self, value: Any) -> str:
        if value is None or type(value) is bool:
            return repr(value)
        if type(value) in (str, int, float):
            return repr(value)  # a Python literal of exactly this value
        return self.bind("_c", value)

    def path(self, segments: tuple[str, ...]) -> str:
        if any(segment.isdecimal() for segment in segments):
            return f"{self.bind('_g', _get_path(segments))}(e)"
        if len(segments) == 1:
            return f"e.get({segments[0]!r})"
        # Flat rather than nested, so a long path does not hit Python's limit on nested parentheses.
        temp = self.temporary()
        steps = [f"type({temp} := e.get({segments[0]!r})) is dict"]
        steps += [f"type({temp} := {temp}.get({segment!r})) is dict" for segment in segments[1:-1]]
        return f"({temp}.get({segments[-1]!r}) if {' and '.join(steps)} else None)"

    def compare(self, node: _Compare) -> str:
        operator, left, right = node.operator, node.left, node.right
        if operator == "in":
            return self.membership(left, right)
        if isinstance(left, _Literal):  # keep the literal on the right
            left, right = right, left
            operator = _FLIPPED.get(operator, operator)
        if operator in ("=", "!="):
            source = self.equality(left, right)
            return source if operator == "=" else f"(not {source})"
        if isinstance(right, _Literal):
            temp = self.temporary()
            return f"(type({temp} := {self.value(left)}) in _NUM and {temp} {operator} {right.value!r})"
        return f"{_ORDER_NAMES[operator]}({self.value(left)}, {self.value(right)})"

    def equality(self, left: _Node, right: _Node) -> str:
        if not isinstance(right, _Literal):
            return f"_eq({self.value(left)}, {self.value(right)})"
        value, subject = right.value, self.value(left)
        if value is None or type(value) is bool:
            return f"({subject} is {value!r})"
        if type(value) is str:
            return f"({subject} == {value!r})"  # only a str equals a str: already strict
        if type(value) in _NUM:
            temp = self.temporary()
            return f"(({temp} := {subject}) == {value!r} and type({temp}) is not bool)"
        return f"_eq({subject}, {self.literal(value)})"

    def membership(self, left: _Node, right: _Node) -> str:
        subject = self.value(left)
        if isinstance(right, _Literal) and right.value:
            values = right.value
            for kinds, check in (((str,), "is str"), (_NUM, "in _NUM")):
                if all(type(item) in kinds for item in values):
                    temp = self.temporary()
                    return f"(type({temp} := {subject}) {check} and {temp} in {self.bind('_s', frozenset(values))})"
        return f"_in({subject}, {self.value(right)})"

    def call(self, node: _Call) -> str:
        site = _site(node.name, self.query, node.index)
        pattern = node.args[1] if len(node.args) == 2 else None
        if node.name in ("match", "contains") and isinstance(pattern, _Literal) and type(pattern.value) is str:
            return self.text_test(node, site, pattern)
        function = self.bind(f"_{node.name}", _FUNCTIONS[node.name].bind(site))
        return f"{function}({', '.join(self.value(arg) for arg in node.args)})"

    def text_test(self, node: _Call, site: _Site, pattern: _Literal) -> str:
        """`match`/`contains` with a literal: inlined as string methods when the subject is a string."""
        temp = self.temporary()
        if node.name == "contains":
            test = f"{pattern.value!r} in {temp}"
        else:
            test = self.glob_test(_glob(pattern, self.query), temp)
        fallback = self.bind("_n", _not_text(site))
        return f"({test} if type({temp} := {self.value(node.args[0])}) is str else {fallback}({temp}))"

    def glob_test(self, glob: Glob, temp: str) -> str:
        """Source testing the string in `temp`: string methods for the common shapes, else the regex."""
        literals = [repr(text) for text in glob.literals]
        if glob.kind == "any":
            return "True"
        if glob.kind == "exact":
            return f"{temp} == {literals[0]}"
        if glob.kind == "prefix":
            return f"{temp}.startswith({literals[0]})"
        if glob.kind == "suffix":
            return f"{temp}.endswith({literals[0]})"
        if glob.kind == "contains":
            return f"{literals[0]} in {temp}"
        if glob.kind == "affixes":
            least = sum(len(text) for text in glob.literals)
            return f"(len({temp}) >= {least} and {temp}.startswith({literals[0]}) and {temp}.endswith({literals[1]}))"
        if glob.kind == "segments":
            return f"{self.bind('_g', glob.matches)}({temp})"
        if glob.regex is None:
            raise ValueError(f"glob {glob.pattern!r} of kind {glob.kind} has no regex")
        return f"{self.bind('_r', glob.regex.fullmatch)}({temp}) is not None"


def _not_text(site: _Site) -> Callable[[Any], bool]:
    """The subject of an inlined `match`/`contains` was not a string: false for null, else a type error."""

    def fallback(value: Any) -> bool:
        if value is None:
            return False
        raise site.type_error(0, value)

    return fallback


def _is_boolean(node: _Node) -> bool:
    if isinstance(node, _Not | _Logical | _Compare):
        return True
    if isinstance(node, _Call):
        return _FUNCTIONS[node.name].returns_bool
    return isinstance(node, _Literal) and type(node.value) is bool


# --- Positions -----------------------------------------------------------------------------------


def _line_and_column(query: str, index: int) -> tuple[int, int]:
    line = query.count("\n", 0, index) + 1
    return line, index - (query.rfind("\n", 0, index) + 1) + 1


def _where(query: str, index: int) -> str:
    line, column = _line_and_column(query, index)
    return f"line {line}, column {column}" if "\n" in query else f"column {column}"
