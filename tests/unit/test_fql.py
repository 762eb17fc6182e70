"""FQL conformance: a table of queries against one event, malformed queries with their positions,
evaluation errors, and the limits. Segment's own examples (docs/api/public-api/fql) are included."""

from __future__ import annotations

import random
import re
from typing import Any

import pytest

from switchyard.filters import fql
from switchyard.filters.fql import MAX_DEPTH, MAX_QUERY_BYTES, FqlError, FqlEvaluationError, compile_query
from switchyard.filters.globs import GlobError, cached_glob, compile_glob

EVENT: dict[str, Any] = {
    "type": "track",
    "event": "Button Clicked",
    "userId": "user-1",
    "anonymousId": None,
    "context": {
        "library": {"name": "analytics.js", "version": "1.0"},
        "traits": {"email": "ana@example.com"},
        "page": {"path": "/docs/fql", "url": "https://x.example/Docs?Q=1"},
    },
    "properties": {
        "features": ["discounts", "dark-mode"],
        "revenue": 120,
        "price": 19.99,
        "quantity": 0,
        "neg": -4,
        "pos": 5.4,
        "enabled": True,
        "disabled": False,
        "truthy": True,
        "one": 1,
        "plan": "Pro Plan",
        "lower": "hello world",
        "mixed": "HeLLo World",
        "title": "アイ",
        "empty": "",
        "nothing": None,
        "count": "42",
        "ratio": "2.5",
        "zero_str": "0",
        "false_str": "False",
        "list": [1, 2.0, "3", True, None, [1]],
        "obj": {"k": 1},
        "products": [{"sku": "a-1"}, {"sku": "b-2"}],
        "product 1": {"price": "19.99"},
        "a.b": 1,
        "$ref": "x",
        "and": "kw",
        "with-dash": "d",
        "_under": "u",
        "quote": "it's",
        "dq": 'say "hi"',
        "backslash": "a\\b",
        "multiline": "a\nb",
        "star": "a*b",
        "bracket": "[x]",
        "qmark": "why?",
        "dash": "-",
        "s": "abcd",
        "pattern": "user-*",
        "classpattern": "user-[0-9]",
        "badpattern": "[a",
    },
}

# (query, expected) evaluated against EVENT
CASES: list[tuple[str, bool]] = [
    # Segment's documented examples
    ("event = 'Button Clicked'", True),
    ("event = 'Screen Tapped'", False),
    ("context.path.path = '/login'", False),
    ("type = 'identify' or type = 'track'", True),
    ("event = 'Button Clicked' and type = 'track'", True),
    ("match( context.library.version, '1.*' )", True),
    ("match( context.library.version, '2.*' )", False),
    ("type = 'track' and ( event = 'Click' or match( event, 'Button *' ) )", True),
    ("!contains( context.library.name, 'js' )", False),
    ("'dark-mode' in properties.features", True),
    ("'blink' in properties.features", False),
    ("!( type in ['track', 'identify'] )", False),
    # paths and null
    ("userId = 'user-1'", True),
    ('userId = "user-1"', True),
    ("missing = null", True),
    ("missing.deeper.still = null", True),
    ("anonymousId = null", True),
    ("userId = null", False),
    ("userId != null", True),
    ("missing != null", False),
    ("context.library = null", False),
    ("properties.nothing = null", True),
    ("properties.revenue.deeper = null", True),
    ("type.length = null", True),
    ("properties.features.0 = 'discounts'", True),
    ("properties.features.1 = 'dark-mode'", True),
    ("properties.features.2 = null", True),
    ("properties.products.1.sku = 'b-2'", True),
    ("properties.products.sku = null", True),
    ("null = null", True),
    ("null != null", False),
    ("missing = alsomissing", True),
    ("Event = 'Button Clicked'", False),
    # field path escapes
    (r"properties.product\ 1.price = '19.99'", True),
    (r"properties.product\ 1 != null", True),
    (r"properties.a\.b = 1", True),
    ("properties.a.b = null", True),
    (r"properties.\$ref = 'x'", True),
    (r"properties.\and = 'kw'", True),
    ("properties.with-dash = 'd'", True),
    ("properties._under = 'u'", True),
    (r"\userId = 'user-1'", True),
    # string literals and their escapes
    (r"properties.quote = 'it\'s'", True),
    ('properties.quote = "it\'s"', True),
    (r'properties.dq = "say \"hi\""', True),
    (r"properties.dq = 'say " + '"hi"' + "'", True),
    (r"properties.backslash = 'a\\b'", True),
    (r"properties.backslash = 'a\b'", True),
    (r"length('a\\b') = 3", True),
    (r"length('\n') = 2", True),
    ("properties.multiline = 'a\nb'", True),
    # values in boolean context: only `true` is true
    ("true", True),
    ("false", False),
    ("null", False),
    ("missing", False),
    ("properties.enabled", True),
    ("properties.disabled", False),
    ("userId", False),
    ("properties.one", False),
    ("'abc'", False),
    ("1", False),
    ("!missing", True),
    ("!properties.enabled", False),
    ("!userId", True),
    ("!null", True),
    # strict equality, numbers against strings and booleans
    ("properties.revenue = 120", True),
    ("properties.revenue = 120.0", True),
    ("properties.revenue = '120'", False),
    ("properties.revenue != '120'", True),
    ("properties.price = 19.99", True),
    ("properties.one = true", False),
    ("properties.truthy = 1", False),
    ("properties.truthy = true", True),
    ("properties.truthy != 1", True),
    ("properties.quantity = false", False),
    ("properties.quantity = 0", True),
    ("properties.disabled = 0", False),
    ("properties.count = 42", False),
    ("properties.count = '42'", True),
    ("properties.revenue = -120", False),
    ("properties.neg = -4", True),
    ("properties.neg = +4", False),
    ("properties.pos = +5.4", True),
    ("properties.neg = -4.0", True),
    ("properties.revenue = 0120", True),
    ("1 = 1.0", True),
    ("true = 1", False),
    ("'1' = 1", False),
    ("null = false", False),
    ("null = 0", False),
    ("null = ''", False),
    ("properties.empty = ''", True),
    ("properties.features = ['discounts', 'dark-mode']", True),
    ("properties.features = ['dark-mode', 'discounts']", False),
    ("properties.features != ['discounts']", True),
    ("properties.list = [1, 2, '3', true, null, [1]]", True),
    ("properties.list = [1, 2, '3', 1, null, [1]]", False),
    ("properties.obj = properties.obj", True),
    ("properties.obj = null", False),
    ("context.library.name = context.library.name", True),
    ("properties.revenue = properties.one", False),
    ("properties.one = properties.truthy", False),
    ("event = 'button clicked'", False),
    ("'track' = type", True),
    ("120 = properties.revenue", True),
    ("null = anonymousId", True),
    ("true = properties.enabled", True),
    # ordering: numbers only, false otherwise
    ("properties.revenue > 100", True),
    ("properties.revenue > 120", False),
    ("properties.revenue >= 120", True),
    ("properties.revenue < 120.5", True),
    ("properties.revenue <= 119.99", False),
    ("100 < properties.revenue", True),
    ("120 >= properties.revenue", True),
    ("200 <= properties.revenue", False),
    ("properties.count > 10", False),
    ("missing > 0", False),
    ("missing < 0", False),
    ("missing >= 0", False),
    ("properties.truthy > 0", False),
    ("properties.revenue > properties.price", True),
    ("properties.price < properties.revenue", True),
    ("properties.count > properties.price", False),
    ("properties.revenue >= properties.revenue", True),
    ("properties.price <= properties.one", False),
    ("properties.neg < -3.5", True),
    ("-1 < 1", True),
    ("!(properties.revenue > 100)", False),
    ("!properties.revenue > 100", False),
    ("length(userId) > 0", True),
    # in
    ("type in ['track', 'page']", True),
    ("type in ['page', 'screen']", False),
    ("type in []", False),
    ("properties.revenue in [100, 120]", True),
    ("properties.revenue in [120.0]", True),
    ("properties.one in [true]", False),
    ("properties.truthy in [1, 2]", False),
    ("properties.truthy in [true]", True),
    ("missing in [null]", True),
    ("missing in ['a', null]", True),
    ("missing in ['a']", False),
    ("properties.count in [42]", False),
    ("properties.count in ['42', 42]", True),
    ("'3' in properties.list", True),
    ("3 in properties.list", False),
    ("2 in properties.list", True),
    ("true in properties.list", True),
    ("1 in properties.list", True),
    ("null in properties.list", True),
    ("[1] in properties.list", True),
    ("'x' in missing", False),
    ("'P' in properties.plan", False),
    ("properties.features in [['discounts', 'dark-mode']]", True),
    ("type in ['track', 1, null]", True),
    ("properties.one in [1.0, 'x']", True),
    ("!(type in ['page'])", True),
    ("'a' in ['a', 'b']", True),
    # logic and precedence
    ("!true", False),
    ("!false", True),
    ("!!true", True),
    ("true or false and false", True),
    ("(true or false) and false", False),
    ("false and false or true", True),
    ("false or false or true", True),
    ("true and true and false", False),
    ("!true or true", True),
    ("!(true or true)", False),
    ("!false and false", False),
    ("type = 'track' and event = 'Button Clicked' or missing = 1", True),
    ("type = 'page' and (event = 'x' or true)", False),
    ("type = 'track' and !(event = 'x')", True),
    ("type = 'track' and !event = 'x'", True),
    ("missing and true", False),
    ("missing or true", True),
    ("missing or missing", False),
    ("userId and true", False),
    ("((((true))))", True),
    ("true = true", True),
    ("(1 = 1) = true", True),
    ("(1 = 2) = false", True),
    ("(userId = 'user-1') = (type = 'track')", True),
    ("type='track'and event='Button Clicked'", True),
    ("type = 'track'\nand\tevent = 'Button Clicked'", True),
    ("missing = 1 and contains(properties.one, 'x')", False),
    ("type = 'track' or length(properties.obj) > 0", True),
    # contains
    ("contains(userId, 'user')", True),
    ("contains(userId, 'User')", False),
    ("contains(userId, '')", True),
    ("contains(missing, 'x')", False),
    ("contains(null, 'x')", False),
    ("contains(userId, missing)", False),
    ("contains(userId, null)", False),
    ("contains(properties.plan, properties.lower)", False),
    ("contains(context.library.name, 'js')", True),
    ("contains('abc', 'b')", True),
    ("contains(lowercase(properties.plan), 'pro')", True),
    ("contains(properties.title, 'イ')", True),
    # match: Segment's table, on literals and on a field
    ("match('abcd', 'a*d')", True),
    ("match('', '*')", True),
    ("match('abc', 'ab')", False),
    ("match('abcd', 'a??d')", True),
    ("match('abcd', '*d')", True),
    (r"match('ab*d', 'ab\*d')", True),
    ("match('abCd', 'ab[cC]d')", True),
    ("match('abcd', 'ab[a-z]d')", True),
    ("match('abcd', 'ab[A-Z]d')", False),
    ("match(properties.s, 'a*d')", True),
    ("match(properties.s, 'ab')", False),
    ("match(properties.s, 'a??d')", True),
    ("match(properties.s, 'ab[A-Z]d')", False),
    # match: each compiled shape, classes and escapes
    ("match(context.traits.email, '*@example.com')", True),
    ("match(context.traits.email, '*@EXAMPLE.com')", False),
    ("match(context.traits.email, 'ana@*')", True),
    ("match(context.traits.email, 'ana*com')", True),
    ("match(context.traits.email, 'ana*org')", False),
    ("match(context.traits.email, 'anaana*ana')", False),
    ("match(context.traits.email, '*example*')", True),
    ("match(context.traits.email, '*')", True),
    ("match(context.traits.email, '**')", True),
    ("match(context.traits.email, 'ana@example.com')", True),
    ("match(context.traits.email, 'ana@example.co')", False),
    ("match(context.traits.email, '???@example.com')", True),
    ("match(context.traits.email, '??@example.com')", False),
    ("match(context.traits.email, '[a-c]na@*')", True),
    ("match(context.traits.email, '[^a]na@*')", False),
    ("match(context.traits.email, '[!b]na@*')", True),
    ("match(context.traits.email, '[xyz]*')", False),
    ("match(context.page.path, '/docs/*')", True),
    ("match(context.page.path, '*/fql')", True),
    ("match(context.page.path, '/*/fql')", True),
    ("match(properties.multiline, 'a*b')", True),
    ("match(properties.multiline, 'a?b')", True),
    (r"match(properties.star, 'a\*b')", True),
    (r"match(properties.star, 'a\*c')", False),
    (r"match(properties.bracket, '\[x\]')", True),
    (r"match(properties.bracket, '[\[]x]')", True),
    (r"match(properties.qmark, 'why\?')", True),
    ("match(properties.qmark, 'why?')", True),
    ("match(properties.title, '??')", True),
    ("match(properties.dash, '[a-]')", True),
    ("match(properties.dash, '[-]')", True),
    ("match(missing, '*')", False),
    ("match(null, '*')", False),
    ("match(userId, missing)", False),
    ("match(userId, properties.pattern)", True),
    ("match(userId, properties.classpattern)", True),
    ("match(event, 'Button *')", True),
    ("match(userId, '')", False),
    ("match(properties.empty, '')", True),
    ("match(properties.mixed, 'hello*')", False),
    ("match(lowercase(properties.mixed), 'hello*')", True),
    # length
    ("length(userId) = 6", True),
    ("length(properties.title) = 6", True),
    ("length(properties.features) = 2", True),
    ("length(missing) = 0", True),
    ("length(null) = 0", True),
    ("length('') = 0", True),
    ("length('ア') = 3", True),
    ("length(properties.empty) = 0", True),
    ("length(properties.list) = 6", True),
    ("length([]) = 0", True),
    # case functions
    ("lowercase(properties.mixed) = 'hello world'", True),
    ("uppercase(properties.mixed) = 'HELLO WORLD'", True),
    ("lowercase(missing) = null", True),
    ("uppercase(null) = null", True),
    ("snakecase('test string') = 'test_string'", True),
    ("kebabcase('test string') = 'test-string'", True),
    ("titlecase('test string') = 'Test String'", True),
    ("snakecase(properties.plan) = 'Pro_Plan'", True),
    ("snakecase(lowercase(properties.plan)) = 'pro_plan'", True),
    ("kebabcase(lowercase(event)) = 'button-clicked'", True),
    ("titlecase(properties.lower) = 'Hello World'", True),
    ("titlecase('iPhone case') = 'IPhone Case'", True),
    ("snakecase(missing) = null", True),
    ("kebabcase(null) = null", True),
    ("titlecase(null) = null", True),
    ("snakecase('a  b') = 'a__b'", True),
    ("lowercase('ÀB') = 'àb'", True),
    ("uppercase(properties.title) = 'アイ'", True),
    # typeof
    ("typeof(userId) = 'string'", True),
    ("typeof(properties.revenue) = 'number'", True),
    ("typeof(properties.price) = 'number'", True),
    ("typeof(properties.features) = 'list'", True),
    ("typeof(properties.enabled) = 'bool'", True),
    ("typeof(missing) = 'null'", True),
    ("typeof(null) = 'null'", True),
    ("typeof(properties.obj) = 'object'", True),
    ("typeof(properties.nothing) = 'null'", True),
    ("typeof(typeof(missing)) = 'string'", True),
    ("typeof(1.5) = 'number'", True),
    ("typeof(true) = 'bool'", True),
    ("typeof([]) = 'list'", True),
    # bool()
    ("bool(properties.enabled)", True),
    ("bool(properties.disabled)", False),
    ("bool(missing)", False),
    ("bool(null)", False),
    ("bool(properties.revenue)", True),
    ("bool(properties.quantity)", False),
    ("bool(userId)", True),
    ("bool(properties.empty)", False),
    ("bool(properties.zero_str)", False),
    ("bool(properties.false_str)", False),
    ("bool('true')", True),
    ("bool(properties.features)", True),
    ("bool([])", False),
    ("bool(properties.obj)", True),
    ("bool(0.0)", False),
    ("!bool(missing)", True),
    # string()
    ("string(properties.revenue) = '120'", True),
    ("string(properties.price) = '19.99'", True),
    ("string(1.0) = '1'", True),
    ("string(properties.enabled) = 'true'", True),
    ("string(properties.disabled) = 'false'", True),
    ("string(missing) = ''", True),
    ("string(userId) = 'user-1'", True),
    ("""string(properties.features) = '["discounts","dark-mode"]'""", True),
    ("""string(properties.obj) = '{"k":1}'""", True),
    ("string(-0.5) = '-0.5'", True),
    ("string(properties.revenue) = 120", False),
    ("string(properties.title) = 'アイ'", True),
    # number()
    ("number(properties.count) = 42", True),
    ("number(properties.ratio) = 2.5", True),
    ("number(properties.revenue) = 120", True),
    ("number(missing) = null", True),
    ("number('  7 ') = 7", True),
    ("number('1e3') = 1000", True),
    ("number('-0.5') < 0", True),
    ("number('.5') = 0.5", True),
    ("number(properties.count) > 40", True),
    ("typeof(number('3')) = 'number'", True),
    # nested functions
    ("length(lowercase(userId)) = 6", True),
    ("contains(string(properties.revenue), '12')", True),
    ("match(lowercase(titlecase(properties.lower)), 'hello *')", True),
    ("typeof(length(missing)) = 'number'", True),
    ("bool(length(properties.features))", True),
    ("number(string(properties.revenue)) = 120", True),
    ("length(string(properties.features)) = 25", True),
    ("uppercase(snakecase(lowercase(properties.plan))) = 'PRO_PLAN'", True),
    ("contains(lowercase(context.page.url), 'docs?q=1')", True),
]


@pytest.mark.parametrize(("query", "expected"), CASES, ids=[query for query, _ in CASES])
def test_query_on_the_event(query: str, expected: bool):
    assert compile_query(query).matches(EVENT) is expected


# (query, 1-based column, part of the message)
MALFORMED: list[tuple[str, int, str]] = [
    ("", 1, "empty"),
    ("   ", 1, "empty"),
    ("a =", 4, "expected a value"),
    ("= 1", 1, "expected a value"),
    ("a = 1)", 6, "closes nothing"),
    ("contains(a, 'b'))", 17, "closes nothing"),
    ("(a = 1", 7, "expected ')' to close the '(' at column 1"),
    ("a == 1", 3, "'=='"),
    ("a = 'x", 5, "not closed"),
    ("a = \"x'", 5, "not closed"),
    ("a = 1e5", 5, "not a number"),
    ("a = 1.", 5, "not a number"),
    ("a = 1.2.3", 5, "not a number"),
    ("a = .5", 5, "unexpected character '.'"),
    ("a = -b", 5, "unexpected character '-'"),
    ("a..b = 1", 3, "empty name"),
    ("a. = 1", 2, "cannot end with '.'"),
    ("a\\", 2, "escapes nothing"),
    ("a = 1 AND b = 2", 7, "case-sensitive: write 'and'"),
    ("a = 1 Or b = 2", 7, "case-sensitive: write 'or'"),
    ("a = 1 && b = 2", 7, "unexpected character '&'"),
    ("a = 1 || b", 7, "unexpected character '|'"),
    ("a = $b", 5, "unexpected character '$'"),
    ("a = b = c", 7, "do not chain"),
    ("a > 1 < 2", 7, "do not chain"),
    ("a = 1 b = 2", 7, "expected 'and', 'or'"),
    ("a = 1 !", 7, "expected 'and', 'or'"),
    ("!", 2, "expected a value"),
    ("a = !b", 5, "negates a whole comparison"),
    ("()", 2, "expected a value"),
    ("and", 1, "expected a value"),
    ("a = 1 and", 10, "expected a value"),
    ("a or or b", 6, "expected a value"),
    ("in", 1, "expected a value"),
    ("a in", 5, "expected a value"),
    ("foo(a)", 1, "unknown function 'foo'"),
    ("Contains(a, 'b')", 1, "unknown function"),
    ("contains(a)", 1, "takes 2 arguments, got 1"),
    ("length(a, b)", 1, "takes 1 argument, got 2"),
    ("lowercase()", 1, "takes 1 argument, got 0"),
    ("contains(a, 'b'", 16, "',' or ')'"),
    ("contains(a 'b')", 12, "',' or ')'"),
    ("a in [1, 2", 11, "',' or ']'"),
    ("a in [1,]", 9, "a literal in the list"),
    ("a in [b]", 7, "a literal in the list"),
    ("a in 'x'", 6, "needs a list"),
    ("a in 5", 6, "needs a list"),
    ("a in null", 6, "needs a list"),
    ("a > 'x'", 5, "compares numbers"),
    ("'x' < a", 1, "compares numbers"),
    ("a >= null", 6, "compares numbers"),
    ("a < true", 5, "compares numbers"),
    ("contains(a, 5)", 13, "a string or null as argument 2"),
    ("match(a, 1)", 10, "as argument 2"),
    ("length(5)", 8, "a string, a list or null"),
    ("lowercase(true)", 11, "not bool"),
    ("number(true)", 8, "not bool"),
    ("number('abc')", 1, "not a number"),
    ("match(a, '[a')", 11, "not closed by ']'"),
    ("match(a, 'ab[z-a]')", 16, "backwards"),
    ('match(a, "x\\\\")', 12, "cannot end with"),
    ("match(a, '[]')", 11, "matches nothing"),
    ("a = 1" + "0" * 400 + ".5", 5, "too large"),
    ("type = 'track'\nand (", 6, "expected a value"),
]


@pytest.mark.parametrize(("query", "column", "message"), MALFORMED, ids=[query for query, _, _ in MALFORMED])
def test_malformed_query_names_the_position(query: str, column: int, message: str):
    with pytest.raises(FqlError) as raised:
        compile_query(query)
    assert raised.value.column == column
    assert message in str(raised.value)


# (query, part of the message): valid queries that fail on EVENT
EVALUATION_ERRORS: list[tuple[str, str]] = [
    ("contains(properties.revenue, 'x')", "contains() at column 1: argument 1 must be a string or null, got number"),
    ("contains(userId, properties.revenue)", "argument 2 must be a string or null, got number"),
    ("match(properties.revenue, '*')", "match() at column 1: argument 1"),
    ("type = 'track' and match(properties.features, 'a*')", "match() at column 20: argument 1"),
    ("match(userId, properties.badpattern)", "not a valid glob"),
    ("match(userId, properties.revenue)", "argument 2"),
    ("length(properties.revenue)", "length() at column 1: argument 1 must be a string, a list or null, got number"),
    ("length(properties.obj) = 1", "got object"),
    ("lowercase(properties.features) = 'x'", "lowercase()"),
    ("titlecase(properties.enabled) = 'x'", "got bool"),
    ("number(properties.plan) = 1", "not a number"),
    ("number(properties.enabled) = 1", "got bool"),
    ("number(properties.obj) = 1", "got object"),
]


@pytest.mark.parametrize(("query", "message"), EVALUATION_ERRORS, ids=[query for query, _ in EVALUATION_ERRORS])
def test_wrong_types_at_evaluation_raise_a_typed_error(query: str, message: str):
    matches = compile_query(query).matches
    with pytest.raises(FqlEvaluationError) as raised:
        matches(EVENT)
    assert message in str(raised.value)


def test_error_messages_name_types_never_values():
    with pytest.raises(FqlEvaluationError) as raised:
        compile_query("number(properties.plan) = 1").matches(EVENT)
    assert "Pro Plan" not in str(raised.value)


def test_an_event_that_is_not_an_object_is_an_evaluation_error():
    with pytest.raises(FqlEvaluationError, match="not a JSON object"):
        compile_query("a = 1").matches([1, 2])  # type: ignore[arg-type]


def test_query_of_exactly_5_kb_compiles():
    query = "a = '" + "x" * (MAX_QUERY_BYTES - 6) + "'"
    assert len(query.encode()) == MAX_QUERY_BYTES
    assert compile_query(query).matches({"a": "x" * (MAX_QUERY_BYTES - 6)}) is True


def test_query_over_5_kb_is_refused_where_it_crosses_the_limit():
    with pytest.raises(FqlError, match="at most 5120") as raised:
        compile_query("a = '" + "x" * MAX_QUERY_BYTES + "'")
    assert raised.value.column == MAX_QUERY_BYTES + 1


def test_the_limit_counts_utf8_bytes_not_characters():
    query = "a = '" + "ア" * 2000 + "'"  # 2,002 characters, 6,006 bytes
    with pytest.raises(FqlError) as raised:
        compile_query(query)
    assert raised.value.column == 5 + (MAX_QUERY_BYTES - 5) // 3 + 1


@pytest.mark.parametrize(
    ("opening", "closing", "step"),
    [("(", ")", 1), ("!", "", 1), ("lowercase(", ")", 10), ("[", "]", 1)],
    ids=["parentheses", "negations", "calls", "lists"],
)
def test_nesting_is_limited_and_the_deepest_allowed_compiles(opening: str, closing: str, step: int):
    inner = "missing" if opening != "[" else "1"

    def nested(depth: int) -> str:
        body = opening * depth + inner + closing * depth
        return f"missing in {body}" if opening == "[" else body

    compile_query(nested(MAX_DEPTH))
    with pytest.raises(FqlError, match="nests deeper") as raised:
        compile_query(nested(MAX_DEPTH + 1))
    offset = len("missing in ") if opening == "[" else 0
    assert raised.value.column == offset + MAX_DEPTH * step + 1


def test_a_long_flat_query_compiles():
    query = " or ".join(f"properties.p{index} = {index}" for index in range(200))
    assert compile_query(query).matches({"properties": {"p199": 199}}) is True
    long_path = ".".join(f"k{index}" for index in range(300)) + " = null"
    assert compile_query(long_path).matches({}) is True


def test_multi_line_query_errors_give_line_and_column():
    with pytest.raises(FqlError) as raised:
        compile_query("type = 'track'\nand event = = 'x'")
    assert (raised.value.line, raised.value.column, raised.value.position) == (2, 13, 28)
    assert "line 2, column 13" in str(raised.value)
    assert raised.value.pointer() == "and event = = 'x'\n            ^"


def test_query_keeps_its_text():
    assert compile_query("type = 'track'").text == "type = 'track'"


def test_a_compiled_query_never_parses_again(monkeypatch: pytest.MonkeyPatch):
    query = compile_query("match(userId, 'user-*') and properties.revenue > 100")
    monkeypatch.setattr(fql, "_Parser", None)
    monkeypatch.setattr(fql, "_tokenize", None)
    assert query.matches(EVENT) is True


def test_match_on_a_pattern_from_the_event_uses_a_bounded_cache():
    assert cached_glob.cache_info().maxsize == 256
    compile_query("match(userId, properties.pattern)").matches(EVENT)
    assert cached_glob("user-*").matches("user-1")


def test_query_text_only_reaches_the_generated_code_as_literals():
    query = compile_query("a = '__import__(\"os\")' or b = \"')\" or \\'q = 1")
    assert query.matches({"a": '__import__("os")'}) is True
    assert query.matches({"'q": 1}) is True
    assert query.matches({}) is False


@pytest.mark.parametrize(
    ("pattern", "kind"),
    [
        ("", "exact"),
        ("abc", "exact"),
        (r"a\*c", "exact"),
        ("*", "any"),
        ("***", "any"),
        ("abc*", "prefix"),
        ("*abc", "suffix"),
        ("*abc*", "contains"),
        ("ab*cd", "affixes"),
        ("a?c", "regex"),
        ("a*b*c", "segments"),
        ("[ab]*", "regex"),
    ],
)
def test_globs_compile_to_the_cheapest_test(pattern: str, kind: str):
    assert compile_glob(pattern).kind == kind


@pytest.mark.parametrize(
    ("pattern", "text", "expected"),
    [
        ("ab*cd", "abcd", True),
        ("ab*cd", "abcxcd", True),
        ("ab*ab", "ab", False),
        ("a*b*c", "aXbYc", True),
        ("a*b*c", "acb", False),
        ("[0-9][0-9]", "42", True),
        ("[0-9][0-9]", "4x", False),
        ("*.[jt]s", "index.ts", True),
        (r"\\*", "\\anything", True),
    ],
)
def test_glob_matches_whole_strings(pattern: str, text: str, expected: bool):
    assert compile_glob(pattern).matches(text) is expected


def test_invalid_glob_names_the_character():
    with pytest.raises(GlobError) as raised:
        compile_glob("ab[")
    assert raised.value.index == 2


def test_star_only_globs_find_their_pieces_left_to_right_as_a_regular_expression_would_match():
    rng = random.Random(5)
    patterns = ["a*b*c", "*ab*ba*", "x*x*x", "*a*a*", "ab*a*b*ab"]
    for pattern in patterns:
        glob = compile_glob(pattern)
        assert glob.kind == "segments"
        regex = re.compile(".*".join(re.escape(part) for part in pattern.split("*")), re.DOTALL)
        for _ in range(2000):
            text = "".join(rng.choice("abcx") for _ in range(rng.randrange(0, 12)))
            assert glob.matches(text) is (regex.fullmatch(text) is not None), (pattern, text)


def test_a_long_hostile_name_is_matched_by_finding_pieces_not_by_backtracking():
    glob = compile_glob("*Test*Event*Debug")
    assert glob.kind == "segments" and glob.regex is None, "no regular expression to backtrack"
    assert glob.matches("TestEvent" * 1000 + "Debu") is False
    assert glob.matches("TestEvent" * 1000 + "Debug") is True
