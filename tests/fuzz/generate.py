"""What the fuzzer sends: schemathesis cases from the OpenAPI document, and hostile requests.

schemathesis generates, from the document, bodies, queries, headers and path parameters that
conform to it (positive) or break it (negative). What a schema cannot express is generated here:
bad gzip (truncated, many members, trailing junk, bombs), wrong content types, odd headers, bytes
that are not UTF-8, lone surrogates, U+FFFE and NUL, timestamps at the ends of time, integers
beyond 64 bits, deep and huge JSON, wrong, absent and disabled write keys, unknown paths and
methods. Requests built only from valid parts are marked `clean`: they must be accepted, and their
messages (tagged with a messageId) must land in the stream.

Draws are few and cheap per request (sampled pools, small collections): the campaign sends
100,000 requests on two shared cores.
"""

from __future__ import annotations

import base64
import functools
import gzip
import json
import zlib
from collections.abc import Callable, Sequence
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis import GenerationMode

from switchyard.constants import MAX_BATCH_BYTES
from switchyard.ingest.messages import BATCH_PATHS, CALL_TYPES, SINGLE_CALL_PATHS
from switchyard.ingest.openapi import DOCUMENT_PATH
from tests.fuzz.wire import Request
from tests.fuzz.workspace import DISABLED_KEY, FUNCTION_ID, WEB_KEY

TAG = "\x00tag\x00"  # replaced by a fresh messageId when the request is sent (see Tagger)
CALLS = sorted(CALL_TYPES)  # what `type` may be (short names are paths only)
MESSAGE_PATHS = sorted((*SINGLE_CALL_PATHS, *BATCH_PATHS))
UNKNOWN_KEY = "wk_fuzz_nokey_8d2f17"

# --- values -----------------------------------------------------------------------------------

# Strings a message may carry and that must be accepted: NUL, noncharacters, astral planes,
# combining marks, bidi overrides, long ones (their partition key is hashed), JSON lookalikes.
EDGE_TEXT = [
    "u-1",
    "\x00",
    "a\x00b",
    "\ufffe",
    "\uffff",
    "\U0010ffff",
    "😀",
    "😀" * 200,
    "e\u0301",
    "\u202eevil",
    "\u2028\u2029",
    "İı",
    "ß",
    "ﬀ",
    "\\",
    '"',
    "\r\n\t",
    "null",
    "{}",
    " ",
    "a" * 300,
    "%s%n%x",
    "${jndi:ldap://x}",
    "<script>alert(1)</script>",
    "' OR 1=1 --",
]
_CHOICES: dict[str, st.SearchStrategy[Any]] = {}


def choice(options: Sequence[Any]) -> st.SearchStrategy[Any]:
    """st.sampled_from, built once per distinct option list: building a strategy costs far more
    than drawing from it, and draws happen ~50 times per request."""
    key = repr(options)
    found = _CHOICES.get(key)
    if found is None:
        found = _CHOICES[key] = st.sampled_from(options)
    return found


@functools.cache
def pooled(name: str) -> st.SearchStrategy[Any]:
    """st.sampled_from over one of this module's pools (by name: some are too large to repr)."""
    return st.sampled_from(globals()[name])


@functools.cache
def ints(low: int, high: int) -> st.SearchStrategy[int]:
    return st.integers(low, high)


BOOLEANS = st.booleans()
text = st.one_of(pooled("EDGE_TEXT"), st.text(max_size=12))
non_empty_text = st.one_of(pooled("EDGE_TEXT"), st.text(min_size=1, max_size=12))

# Integers orjson keeps exact (-2^63 .. 2^64-1) and floats; and integers beyond 64 bits.
GOOD_NUMBERS = [
    0,
    -1,
    7,
    2**31,
    2**53 + 1,
    2**63 - 1,
    -(2**63),
    2**63,
    2**64 - 1,
    1.5,
    -0.0,
    1e19,
    1.7976931348623157e308,
]
BAD_INTEGERS = [2**64, 2**64 + 1, -(2**63) - 1, 10**30, -(10**40), 10**300]
# Timestamps that leave the corrected time inside years 1..9999 when there is no sentAt.
GOOD_TIMESTAMPS = [
    "2026-11-30T10:00:00.000Z",
    "2026-11-30T10:00:00+05:30",
    "2026-11-30T10:00:00.123456-08:00",
    "2026-11-30",
    "2026-11-30T10:00:00",
    "0001-01-01T00:00:00Z",
    "0001-01-01T00:00:00.000001",
    "9999-12-31T23:59:59.999Z",
    "9999-12-31T23:59:59.999999",
    "not a date",
    "",
    "9999-W52-7",
    "2020-02-30T00:00:00Z",
    "24:00",
    12345,
    None,
]
# With an offset or a sentAt at the other end of time, these fall outside years 1..9999.
EXTREME_TIMESTAMPS = [
    "0001-01-01T00:00:00+01:00",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T23:59:59-01:00",
    "9999-12-31T23:59:59.999999-23:59",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59.999Z",
]
NOT_OBJECTS = ["x", [1, 2], 5, True, 0.5, []]
json_leaf = st.one_of(pooled("GOOD_NUMBERS"), text, st.booleans(), st.none())
json_value = st.one_of(
    json_leaf,
    st.lists(json_leaf, max_size=3),
    st.dictionaries(text, json_leaf, max_size=3),
)
small_object = st.dictionaries(text, json_value, max_size=4)
CONTEXTS = st.fixed_dictionaries(
    {}, optional={"ip": st.sampled_from(["203.0.113.9", "::1", "x"]), "library": json_value}
)
GROUP_IDS = st.one_of(non_empty_text, st.sampled_from([7, 2.5, 2**64 - 1]))


def deep_json(depth: int, kind: str) -> str:
    """JSON text nested `depth` levels (beyond what json.dumps recurses into)."""
    if kind == "object":
        return '{"a":' * depth + "1" + "}" * depth
    return "[" * depth + "1" + "]" * depth


DEEP = "\x00deep\x00"  # replaced in the serialized text by deep_json(...)

# --- messages ---------------------------------------------------------------------------------


@st.composite
def _valid_message(draw: Callable[..., Any], call: str, *, typed: bool = False) -> dict[str, Any]:
    """A message the contract accepts, tagged with a messageId (replaced with a fresh one on send)."""
    message: dict[str, Any] = {}
    who = draw(choice(("user", "anon", "both", "user+null")))
    if who in ("user", "both", "user+null") or call == "alias":
        message["userId"] = draw(non_empty_text)
    if who in ("anon", "both"):
        message["anonymousId"] = draw(non_empty_text)
    if who == "user+null":
        message["anonymousId"] = None
    if call == "track":
        message["event"] = draw(non_empty_text)
    elif call == "group":
        message["groupId"] = draw(GROUP_IDS)
    elif call == "alias":
        message["previousId"] = draw(non_empty_text)
    if typed:
        message["type"] = call
    extras = draw(ints(0, 255))
    if extras & 1:
        message["properties" if call != "identify" else "traits"] = draw(small_object)
    if extras & 2:
        message["context"] = draw(CONTEXTS)
    if extras & 4:
        message["integrations"] = draw(
            choice([{}, {"All": False}, {"All": True, "Webhook": False}, {"Bulk Webhook": {"opt": 1}}])
        )
    if extras & 8:
        message["timestamp"] = draw(pooled("GOOD_TIMESTAMPS"))
    if extras & 16:
        message["_metadata"] = {"bundled": ["Segment.io"], "unbundled": []}
        message["channel"] = draw(choice(["server", "browser", "mobile"]))
    if extras & 32 and "timestamp" in message and isinstance(message["timestamp"], str):
        message["sentAt"] = message["timestamp"]  # no skew: the corrected time is the timestamp itself
    if extras & 64:
        message["properties" if call != "identify" else "traits"] = {"blob": "x" * draw(choice([1000, 31_000]))}
    message["messageId"] = TAG
    return message


@functools.cache
def valid_message(call: str, *, typed: bool = False) -> st.SearchStrategy[dict[str, Any]]:
    return _valid_message(call, typed=typed)


def _set(message: dict[str, Any], key: str, value: Any) -> dict[str, Any]:
    message[key] = value
    return message


def _drop(message: dict[str, Any], *keys: str) -> dict[str, Any]:
    for key in keys:
        message.pop(key, None)
    return message


# Each breaks a message (or may: a bad timestamp is sometimes still in range). Most keep the tag.
MUTATIONS: list[tuple[str, Callable[[dict[str, Any], Any], dict[str, Any]]]] = [
    ("no-ids", lambda m, d: _drop(m, "userId", "anonymousId")),
    (
        "user-id-not-string",
        lambda m, d: _drop(_set(m, "userId", d(choice([5, [], {}, True, ""]))), "anonymousId"),
    ),
    ("anonymous-id-empty", lambda m, d: _drop(_set(m, "anonymousId", ""), "userId")),
    ("event-missing", lambda m, d: _drop(m, "event")),
    ("event-wrong", lambda m, d: _set(m, "event", d(choice([5, [], None, "", {"a": 1}])))),
    ("group-id-wrong", lambda m, d: _set(m, "groupId", d(choice([None, "", [], {}, True])))),
    ("previous-id-missing", lambda m, d: _drop(m, "previousId")),
    (
        "field-not-object",
        lambda m, d: _set(m, d(choice(["properties", "traits", "context", "integrations"])), d(pooled("NOT_OBJECTS"))),
    ),
    ("message-id-wrong", lambda m, d: _set(m, "messageId", d(choice([5, "m" * 101, None, [], "m" * 100])))),
    ("integer-beyond-64-bits", lambda m, d: _set(m, "properties", {"n": d(pooled("BAD_INTEGERS"))})),
    (
        "nested-integer-beyond-64-bits",
        lambda m, d: _set(m, "context", {"a": [{"b": d(pooled("BAD_INTEGERS"))}]}),
    ),
    ("timestamp-extreme", lambda m, d: _set(m, "timestamp", d(pooled("EXTREME_TIMESTAMPS")))),
    (
        "timestamp-and-sent-at-apart",
        lambda m, d: _set(_set(m, "timestamp", "0001-01-01T00:00:00Z"), "sentAt", "9999-12-31T23:59:59Z"),
    ),
    ("sent-at-extreme", lambda m, d: _set(m, "sentAt", d(pooled("EXTREME_TIMESTAMPS")))),
    (
        "timestamp-wrong-type",
        lambda m, d: _set(
            m,
            d(choice(["timestamp", "sentAt", "originalTimestamp"])),
            d(choice([[], {}, 1e300, True])),
        ),
    ),
    (
        "lone-surrogate",
        lambda m, d: _set(
            m,
            d(choice(["userId", "event", "anonymousId"])),
            d(choice(["\ud800", "a\udfff", "\udc00\ud800"])),
        ),
    ),
    ("deep", lambda m, d: _set(m, "properties", DEEP)),
    ("too-large", lambda m, d: _set(m, "properties", {"blob": "x" * d(choice([32_800, 40_000, 200_000]))})),
    ("many-keys", lambda m, d: _set(m, "traits", {f"k{i}": i for i in range(d(choice([500, 3000])))})),
    ("type-wrong", lambda m, d: _set(m, "type", d(choice(["trak", 5, None, "", "TRACK", "batch"])))),
    ("type-missing", lambda m, d: _drop(m, "type")),
    (
        "write-key-in-message",
        lambda m, d: _set(m, "writeKey", d(choice([WEB_KEY, DISABLED_KEY, UNKNOWN_KEY, 5]))),
    ),
]


@st.composite
def _message_body(draw: Callable[..., Any], call: str, *, typed: bool = False) -> tuple[dict[str, Any], bool]:
    """(message, clean): valid, or broken by one or two mutations."""
    message = draw(valid_message(call, typed=typed))
    if draw(ints(0, 9)) < 4:
        return message, True
    for _ in range(draw(ints(1, 2))):
        _, mutate = draw(pooled("MUTATIONS"))
        message = mutate(message, draw)
    return message, False


@functools.cache
def message_body(call: str, *, typed: bool = False) -> st.SearchStrategy[tuple[dict[str, Any], bool]]:
    return _message_body(call, typed=typed)


@st.composite
def batch_body(draw: Callable[..., Any]) -> tuple[Any, bool]:
    size = draw(choice([0, 1, 1, 2, 3, 5, 20, 100, 2500, 2501]))
    if size >= 2500 and draw(ints(0, 99)) > 0:  # a full batch now and then: each costs ~1 s
        size = 4
    if size > 20:  # many items: all alike, they are cheap to draw
        item, clean = draw(message_body(draw(pooled("CALLS")), typed=True))
        if len(repr(item)) > 2_000:  # keep the body under API Gateway's 10 MB, which answers itself
            size = 20
        items = [dict(item) for _ in range(size)]
    else:
        drawn = [draw(message_body(draw(pooled("CALLS")), typed=True)) for _ in range(size)]
        items, cleans = [item for item, _ in drawn], [clean for _, clean in drawn]
        clean = all(cleans)
    body: dict[str, Any] = {"batch": items}
    extras = draw(ints(0, 63))
    if extras & 1:
        body["context"] = {"library": {"name": "analytics-python", "version": "2.4.0"}}
    if extras & 2:
        body["integrations"] = {"All": True}
    if extras & 4 and extras & 8:
        body["context" if extras & 16 else "integrations"] = draw(pooled("NOT_OBJECTS"))
        clean = False
    if extras & 32 and not extras & 4:
        body["batch"] = draw(choice([{"a": 1}, "x", None, 5, [1, "x", None, []]]))
        clean = False
    return body, clean and 0 < size <= 2500


# --- transport --------------------------------------------------------------------------------


def gz(data: bytes) -> bytes:
    """gzip at level 1: the server inflates any level alike, and level 9 costs the fuzzer ~3 ms a body."""
    return gzip.compress(data, compresslevel=1)


def gzip_members(data: bytes, parts: int) -> bytes:
    step = max(1, len(data) // parts)
    return b"".join(gz(data[i : i + step]) for i in range(0, len(data), step)) or gz(b"")


BOMB = gz(b" " * 600_000)  # one member that inflates past the 512 KiB cap


# name -> (Content-Encoding header or None, transform, keeps the body valid)
ENCODINGS: list[tuple[str, str | None, Callable[[bytes], bytes], bool]] = [
    ("identity", None, lambda b: b, True),
    ("identity-header", "identity", lambda b: b, True),
    ("gzip", "gzip", gz, True),
    ("x-gzip", "x-gzip", gz, True),
    ("gzip-upper", " GZIP ", gz, True),
    ("gzip-two-members", "gzip", lambda b: gzip_members(b, 2), True),
    ("gzip-three-members", "gzip", lambda b: gzip_members(b, 3), True),
    ("gzip-zero-padding", "gzip", lambda b: gz(b) + b"\0" * 64, True),
    ("gzip-truncated", "gzip", lambda b: gz(b)[:-5], False),
    ("gzip-header-only", "gzip", lambda b: gz(b)[:10], False),
    ("gzip-trailing-junk", "gzip", lambda b: gz(b) + b"junk", False),
    ("gzip-trailing-magic", "gzip", lambda b: gz(b) + b"\x1f\x8b\x08", False),
    ("gzip-65-members", "gzip", lambda b: gz(b) * 65, False),
    ("gzip-bad-crc", "gzip", lambda b: gz(b)[:-8] + b"\0\0\0\0" + gz(b)[-4:], False),
    ("gzip-bomb", "gzip", lambda b: BOMB + gz(b), False),
    ("gzip-not-compressed", "gzip", lambda b: b, False),
    ("compressed-no-header", None, gz, False),
    ("deflate", "deflate", zlib.compress, False),
    ("br", "br", lambda b: b, False),
    ("two-encodings", "gzip, gzip", lambda b: gz(gz(b)), False),
    ("empty-encoding", "", lambda b: b, True),
]
CONTENT_TYPES: list[tuple[str | None, bool]] = [
    ("application/json", True),
    ("application/json; charset=utf-8", True),
    ("text/plain", True),
    ("text/plain;charset=UTF-8", True),
    (None, True),
    ("application/x-www-form-urlencoded", True),
    ("application/json; charset=utf-16", True),  # the body is UTF-8 JSON all the same
    ("multipart/form-data; boundary=x", False),
    ("application/octet-stream", False),
    ("image/png", False),
    ("video/mp4", False),
    ("APPLICATION/JSON", True),
    ("\x01\x7f", True),
    ("x" * 4000, True),
]
ODD_HEADERS: list[tuple[str, str]] = [
    ("X-Retry-Count", "3"),
    ("X-Forwarded-Proto", "gopher"),
    ("X-Forwarded-Proto", "https"),
    ("X-Forwarded-For", "198.51.100.1, 203.0.113.2"),
    ("Origin", "https://evil.example"),
    ("Accept", "text/html"),
    ("Cookie", "session=abc"),
    ("User-Agent", "curl/8.0 (\xe9)"),
    ("X-Empty", ""),
    ("X-Long", "v" * 6000),
    ("Authorization", "Bearer abc.def"),
    ("Content-Language", "de\x7f"),
]
RAW_BODIES: list[bytes] = [
    b"",
    b"   ",
    b"null",
    b"[]",
    b'"a"',
    b"{",
    b"}",
    b"\xef\xbb\xbf{}",
    b'{"userId":"u","event":"e","n":NaN}',
    b'{"userId":"u","event":"e","n":Infinity}',
    b'{"userId":"u","event":"e","n":1e400}',
    b'{"userId":"u","event":"e"} trailing',
    b'{"userId":"\xff\xfe","event":"e"}',
    b'{"userId":"\xed\xa0\x80","event":"e"}',
    b'{"userId":"u","event":"e","a":1,"a":2}',
    b'{"userId":"u", /* comment */ "event":"e"}',
    b'{"userId":"u","event":"e","p":' + b"9" * 400 + b"}",
    b'{"userId":"u","event":"e","p":-' + b"9" * 5000 + b"}",
    b'{"userId":"u","event":"e","p":0.' + b"1" * 5000 + b"}",
    json.dumps({"userId": "u", "event": "e"}).encode("utf-16"),
    b"\x00" * 64,
    b"userId=u&event=e",
    b'{"batch":' + b"[" * 5000 + b"]" * 5000 + b"}",
    b" " * 600_000,
]
SMALL_RAW_BODIES = [body for body in RAW_BODIES if len(body) < 10_000]
METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "TRACE", "FOO"]


@functools.cache
def stray_paths(key: str) -> st.SearchStrategy[str]:
    return st.sampled_from([*unknown_paths(key), "/openapi.json", "/v1/track", "/v1/batch", "/v1/pixel/track"])


def unknown_paths(key: str) -> list[str]:
    return [
        "/",
        "/v1",
        "/v1/",
        "/v1/trak",
        "/v1/track/extra",
        "/v2/track",
        "/V1/TRACK",
        "//v1//track",
        "/v1/pixel",
        "/v1/pixel/",
        "/v1/pixel/track/x",
        "/v1/projects/settings",
        "/v1/projects//settings",
        f"/v1/projects/{key}/settings/x",
        f"/v1/{key}",
        f"/v1/projects/{key}",
        "/functions",
        "/functions/",
        f"/functions/{FUNCTION_ID}/x",
        "/openapi.json/x",
        "/openapi",
        "/v1/%00",
        "/v1/%ff%fe",
        "/v1/%E2%80%AE",
        "/v1/track%2F",
        "/.env",
        "/v1/../../etc/passwd",
        "/v1/" + "a" * 3000,
    ]


# --- whole requests ---------------------------------------------------------------------------


def basic(key: str, colon: bool = True) -> str:
    return "Basic " + base64.b64encode(f"{key}{':' if colon else ''}".encode()).decode()


# name -> (Authorization header or None, writeKey for the body or None, makes a valid request)
AUTH_MODES: list[tuple[str, str | None, Any, bool]] = [
    ("basic", basic(WEB_KEY), None, True),
    ("basic-no-colon", basic(WEB_KEY, colon=False), None, True),
    ("body", None, WEB_KEY, True),
    ("both", basic(WEB_KEY), WEB_KEY, True),
    ("basic-wins-over-body", basic(WEB_KEY), UNKNOWN_KEY, True),
    ("none", None, None, False),
    ("unknown-basic", basic(UNKNOWN_KEY), None, False),
    ("unknown-body", None, UNKNOWN_KEY, False),
    ("disabled-basic", basic(DISABLED_KEY), None, False),
    ("disabled-body", None, DISABLED_KEY, False),
    ("body-key-not-string", None, 12345, False),
    ("empty-body-key", None, "", False),
    ("basic-empty", "Basic ", None, False),
    ("basic-not-base64", "Basic !!!", None, False),
    ("basic-not-utf8", "Basic " + base64.b64encode(b"\xff\xfe:").decode(), None, False),
    ("basic-colon-only", basic(""), None, False),
    ("basic-lower", "basic " + base64.b64encode(f"{WEB_KEY}:".encode()).decode(), None, True),
    ("bearer", "Bearer " + WEB_KEY, None, False),
    ("two-basics", basic(WEB_KEY) + "," + basic(UNKNOWN_KEY), None, False),
]


def serialize(payload: Any, ascii_only: bool) -> bytes:
    """JSON text, with DEEP placeholders replaced by deep nesting; lone surrogates as escapes
    (ascii_only) or as their raw, invalid UTF-8 bytes."""
    text_form = json.dumps(payload, ensure_ascii=ascii_only, separators=(",", ":"))
    if DEEP in text_form or json.dumps(DEEP) in text_form:
        nested = deep_json(len(text_form) % 7 * 50 + 200 + (len(text_form) % 3) * 400, "object")
        text_form = text_form.replace(json.dumps(DEEP), nested)
    return text_form.encode("utf-8", "surrogatepass")


# A drawn request, built on send: its tagged messages get fresh messageIds then (unique even when
# Hypothesis replays an example while shrinking), before serialization, base64 and gzip.
Draft = Callable[[Callable[[], str]], Request]


def retag(value: Any, fresh: Callable[[], str], tags: list[str]) -> Any:
    """A copy of `value` with every TAG replaced by a fresh messageId (appended to `tags`)."""
    kind = type(value)
    if kind is dict:
        return {key: retag(item, fresh, tags) for key, item in value.items()}
    if kind is list:
        return [retag(item, fresh, tags) for item in value]
    if kind is str and value == TAG:
        tags.append(fresh())
        return tags[-1]
    return value


@st.composite
def message_request(draw: Callable[..., Any]) -> Draft:
    """POST /v1/<call>: a single message or a batch, with auth, content type, encoding and headers."""
    call = draw(pooled("MESSAGE_PATHS"))
    auth_name, authorization, body_key, auth_ok = draw(pooled("AUTH_MODES"))
    raw = draw(ints(0, 19)) == 0
    payload: Any = None
    if raw:
        raw_body, clean = draw(pooled("RAW_BODIES")), False
    else:
        if call in BATCH_PATHS:
            payload, clean = draw(batch_body())
        else:
            payload, clean = draw(message_body(SINGLE_CALL_PATHS[call]))
        if body_key is not None and isinstance(payload, dict):
            payload["writeKey"] = body_key
    ascii_only = draw(BOOLEANS)
    encoding_name, encoding, transform, encoding_ok = draw(pooled("ENCODINGS"))
    content_type, type_ok = draw(pooled("CONTENT_TYPES"))
    headers: list[tuple[str, str]] = []
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    if encoding is not None:
        headers.append(("Content-Encoding", encoding))
    if authorization is not None:
        headers.append(("Authorization", authorization))
    if draw(ints(0, 4)) == 0:
        odd = draw(pooled("ODD_HEADERS"))
        headers.append(odd)
        auth_ok = auth_ok and odd[0] != "Authorization"  # two of them: neither is believed

    def make(fresh: Callable[[], str]) -> Request:
        tags: list[str] = []
        body = raw_body if raw else serialize(retag(payload, fresh, tags), ascii_only)
        return Request(
            "POST",
            f"/v1/{call}",
            headers=headers,
            body=transform(body),
            origin=f"hostile:{call}:{auth_name}:{encoding_name}:{content_type!r}{':raw' if raw else ''}",
            clean=clean and auth_ok and encoding_ok and type_ok and len(body) <= MAX_BATCH_BYTES,
            tags=tags,
        )

    return make


# A pixel's message travels in its URL. API Gateway and the local server answer long request lines
# themselves (414, the local one as HTML), before the function: the fuzzer keeps pixel URLs short.
PIXEL_MESSAGE_CHARS = 4_000


@st.composite
def pixel_request(draw: Callable[..., Any]) -> Draft:
    kind = draw(choice([*CALLS, "t", "p", "i", "x", "trak", "%00"]))
    call = SINGLE_CALL_PATHS.get(kind, "track")
    message, clean = draw(message_body(call))
    mode = draw(choice(("data", "data-urlsafe", "flat", "data-bad", "data-not-object", "raw-query")))
    key_in = draw(choice(("query", "basic", "none", "unknown", "disabled")))
    headers: list[tuple[str, str]] = []
    if key_in == "basic":
        headers.append(("Authorization", basic(WEB_KEY)))
    elif key_in in ("query", "unknown", "disabled"):
        message["writeKey"] = {"query": WEB_KEY, "unknown": UNKNOWN_KEY, "disabled": DISABLED_KEY}[key_in]
    fixed_query = ""
    if mode == "data-bad":
        fixed_query = "data=" + draw(choice(["!!!", "a", "====", "%ZZ", "", "eyJ", quote("ÿ€"), "e30=" * 3]))
        clean = False
    elif mode == "data-not-object":
        value = draw(choice([b"[1]", b"null", b'"x"', b"\xff", b'{"n":' + str(2**64).encode() + b"}"]))
        fixed_query, clean = urlencode({"data": base64.b64encode(value).decode()}), False
    elif mode == "raw-query":
        fixed_query = draw(choice(["&&&", "a=1&a=2", "data", "=x", "properties.a.b.c.d.e=1&userId=u", "a" * 5000]))
        clean = False
    elif mode == "flat":
        # Flat parameters are text: a message stays valid only if no object turns into text.
        clean = clean and not _has_empty_objects(message)
    clean = clean and kind in SINGLE_CALL_PATHS and key_in in ("query", "basic")
    if len(repr(message)) > PIXEL_MESSAGE_CHARS:  # a pixel is a URL: keep it one API Gateway takes
        message = {key: value for key, value in message.items() if key not in ("properties", "traits", "context")}

    def make(fresh: Callable[[], str]) -> Request:
        tags: list[str] = []
        query = fixed_query
        if mode in ("data", "data-urlsafe"):
            tagged = retag(message, fresh, tags)
            if mode == "data":
                encoded = base64.b64encode(serialize(tagged, ascii_only=True))
            else:
                encoded = base64.urlsafe_b64encode(serialize(tagged, ascii_only=False)).rstrip(b"=")
            query = urlencode({"data": encoded.decode()})
        elif mode == "flat":
            query = urlencode(flatten(retag(message, fresh, tags)), errors="surrogatepass")
        return Request(
            "GET",
            f"/v1/pixel/{kind}",
            query=query,
            headers=headers,
            origin=f"hostile:pixel:{mode}:{key_in}",
            clean=clean,
            tags=tags,
        )

    return make


def _has_empty_objects(message: dict[str, Any]) -> bool:
    """An empty object has no flat parameter but its own name: it arrives as the text "{}"."""

    def walk(value: Any) -> bool:
        return isinstance(value, dict) and (not value or any(walk(v) for v in value.values()))

    return any(walk(value) for value in message.values())


def flatten(message: dict[str, Any], prefix: str = "") -> list[tuple[str, str]]:
    pairs: list[tuple[str, str]] = []
    for key, value in message.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            pairs += flatten(value, name + ".")
        elif isinstance(value, str):
            pairs.append((name, value))
        else:
            pairs.append((name, json.dumps(value)))
    return pairs


@st.composite
def settings_request(draw: Callable[..., Any]) -> Draft:
    key = draw(choice([WEB_KEY, DISABLED_KEY, UNKNOWN_KEY, "", " ", "a" * 500, "ключ", "%", "\x00"]))
    method = draw(choice(["GET", "GET", "POST", "HEAD"]))
    request = Request(
        method,
        f"/v1/projects/{quote(key, safe='')}/settings",
        headers=[draw(pooled("ODD_HEADERS"))] if draw(BOOLEANS) else [],
        origin="hostile:settings",
        clean=key == WEB_KEY and method == "GET",
    )
    return lambda fresh: request


@st.composite
def function_request(draw: Callable[..., Any], token: str) -> Draft:
    function_id = draw(choice([FUNCTION_ID, FUNCTION_ID, "nope-fn", FUNCTION_ID.upper(), "%00", "f" * 300]))
    token_in = draw(choice(("query", "query", "header", "wrong", "none", "both-wrong-header")))
    query, headers = "", []
    if token_in == "query":
        query = urlencode({"token": token})
    elif token_in == "header":
        headers.append(("X-Switchyard-Token", token))
    elif token_in == "wrong":
        query = urlencode({"token": token[:-1] + "x"})
    elif token_in == "both-wrong-header":  # the query's token is looked at first
        query = urlencode({"token": token})
        headers.append(("X-Switchyard-Token", "nope"))
    drawn = [draw(message_body(draw(pooled("CALLS")), typed=True)) for _ in range(draw(ints(0, 3)))]
    messages, clean = [m for m, _ in drawn], all(c for _, c in drawn)
    shape = draw(choice(("json", "json", "json-as-text", "form", "text", "crash", "retry", "nan", "raw")))
    body = b""
    if shape == "json":
        content_type = "application/json"
    elif shape == "json-as-text":  # not declared JSON: the function parses it itself (request.json())
        content_type = "text/plain"
    elif shape == "form":
        body, content_type, clean = urlencode({"kind": "form"}).encode(), "application/x-www-form-urlencoded", False
    elif shape == "text":
        body, content_type, clean = b"hello", "text/plain", False
    elif shape == "raw":
        body, content_type, clean = (
            draw(pooled("SMALL_RAW_BODIES")),
            draw(pooled("CONTENT_TYPES"))[0],
            False,
        )
    else:
        body, content_type, clean = json.dumps({"kind": shape}).encode(), "application/json", False
    if content_type is not None:
        headers.append(("Content-Type", content_type))
    encoding_name, encoding, transform, encoding_ok = draw(pooled("ENCODINGS"))
    if encoding is not None:
        headers.append(("Content-Encoding", encoding))
    ok = function_id == FUNCTION_ID and token_in in ("query", "header", "both-wrong-header") and encoding_ok
    clean = clean and ok

    def make(fresh: Callable[[], str]) -> Request:
        tags: list[str] = []
        json_shape = shape.startswith("json")
        data = serialize({"messages": retag(messages, fresh, tags)}, ascii_only=True) if json_shape else body
        return Request(
            "POST",
            f"/functions/{function_id}",
            query=query,
            headers=headers,
            body=transform(data),
            origin=f"hostile:function:{shape}:{token_in}:{encoding_name}",
            clean=clean,
            expected_accepted=len(messages) if clean else None,
            secrets=[token],
            tags=tags if json_shape else [],
        )

    return make


@st.composite
def stray_request(draw: Callable[..., Any]) -> Draft:
    """Unknown paths and methods, preflights, the document itself."""
    key = draw(choice([WEB_KEY, UNKNOWN_KEY]))
    path = draw(stray_paths(key))
    method = draw(pooled("METHODS"))
    headers = [("Authorization", basic(key))] if draw(BOOLEANS) else []
    if method == "OPTIONS":
        headers += [("Origin", "https://shop.example"), ("Access-Control-Request-Method", "POST")]
    request = Request(
        method, path, headers=headers, body=b'{"userId":"u","event":"e"}', origin=f"hostile:stray:{method}"
    )
    return lambda fresh: request


def hostile_request(token: str) -> st.SearchStrategy[Draft]:
    return st.one_of(
        message_request(),
        message_request(),
        message_request(),
        message_request(),
        pixel_request(),
        settings_request(),
        function_request(token),
        stray_request(),
    )


# --- schemathesis -----------------------------------------------------------------------------

_SCHEMATHESIS_DEFAULT_HEADERS = {"user-agent", "x-schemathesis-testcaseid", "accept-encoding", "accept", "connection"}
_BASE = "http://fuzz.invalid"


def schemathesis_strategies() -> list[tuple[str, st.SearchStrategy[Any], GenerationMode]]:
    """One strategy per operation and mode (negative only where a value can break the schema)."""
    schema = schemathesis.openapi.from_path(str(DOCUMENT_PATH))
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        modes = [GenerationMode.POSITIVE]
        if operation.body or operation.query:
            modes.append(GenerationMode.NEGATIVE)
        for mode in modes:
            label = f"{operation.method.upper()} {operation.path}"
            found.append((label, operation.as_strategy(generation_mode=mode), mode))
    return found


@st.composite
def schemathesis_request(draw: Callable[..., Any], strategies: list[Any], token: str) -> Draft:
    label, strategy, mode = draw(choice(strategies))
    case = draw(strategy)
    prepared = requests.Request(**case.as_transport_kwargs(base_url=_BASE)).prepare()
    url = urlsplit(prepared.url)
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode("utf-8", "surrogatepass")
    headers = []
    for name, value in prepared.headers.items():
        if name.lower() in _SCHEMATHESIS_DEFAULT_HEADERS or name.lower() == "content-length":
            continue
        if any(c in value for c in "\r\n") or not value.isprintable() and value.strip() != value:
            continue
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            continue
        headers.append((name, value))
    if mode is GenerationMode.POSITIVE and (case.headers or {}).get("Content-Encoding", "").lower() in (
        "gzip",
        "x-gzip",
    ):
        body = gzip.compress(body)  # a conforming request says gzip and means it
    auth = draw(choice(("basic", "basic", "basic", "none", "unknown", "disabled")))
    if auth != "none" and not label.startswith("POST /functions"):
        headers.append(
            ("Authorization", basic({"basic": WEB_KEY, "unknown": UNKNOWN_KEY, "disabled": DISABLED_KEY}[auth]))
        )
    query = url.query
    if label.startswith("POST /functions") and draw(BOOLEANS):
        query = urlencode({"token": token}) + ("&" + query if query else "")
    request = Request(
        prepared.method or case.method.upper(),
        url.path or "/",
        query=query,
        headers=headers,
        body=body,
        origin=f"schemathesis:{mode.value}:{label}",
        secrets=[token],
    )
    return lambda fresh: request


def any_request(strategies: list[Any], token: str, schemathesis_share: float) -> st.SearchStrategy[Draft]:
    """A request: from schemathesis with probability `schemathesis_share`, else a hostile one."""
    cut = round(schemathesis_share * 100)
    from_document, hostile = schemathesis_request(strategies, token), hostile_request(token)

    @st.composite
    def pick(draw: Callable[..., Any]) -> Draft:
        return draw(from_document if draw(ints(0, 99)) < cut else hostile)

    return pick()
