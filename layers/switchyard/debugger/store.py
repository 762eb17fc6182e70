"""The debugger's messages in the archive bucket, beside the archive: `_debugger/<source>/`.

The router writes at most one object per source and batch, holding the messages the sampler kept
(debugger/sampler.py) exactly as they were archived (ingest has removed any `writeKey`), after a
header line with the write's time and sampling rate. Object names start with the write time
counted down (`9999999999999 - epoch ms`), so a listing, which S3 returns in name order, returns the
newest objects first, and reading the latest messages costs one listing and a GET per object. A
lifecycle rule removes the objects a day after they were written (infra/archive.py).

The debugger shows a source's latest DEBUGGER_WINDOW messages; search (a substring of the message's
JSON, any case) and the type filter look at those.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from botocore.exceptions import ClientError

from switchyard import aws
from switchyard.debugger import DEBUGGER_PREFIX
from switchyard.timeutil import utc_now

DEBUGGER_WINDOW = 500  # the latest messages of a source the debugger shows
DEBUGGER_CONTENT_TYPE = "application/x-ndjson"
_COUNTDOWN_FROM = 10**13 - 1  # epoch milliseconds stay below it until the year 2286
_COUNTDOWN_DIGITS = 13
# A follow also looks this far behind the newest write it has seen: a router that stamped its
# write earlier may finish its PUT later.
FOLLOW_OVERLAP_MS = 10_000
_DELETES_PER_REQUEST = 1000  # S3 DeleteObjects' limit


class DebuggerClearFailed(Exception):
    """Some debugger objects could not be deleted."""


_READS_AT_ONCE = 16


def source_prefix(source_id: str) -> str:
    return f"{DEBUGGER_PREFIX}{source_id}/"


def object_key(source_id: str, written_at: datetime, shard_id: str, first_sequence: str) -> str:
    countdown = _COUNTDOWN_FROM - int(written_at.timestamp() * 1000)
    return f"{source_prefix(source_id)}{countdown:0{_COUNTDOWN_DIGITS}d}-{shard_id}-{first_sequence}.jsonl"


def written_ms(key: str) -> int:
    """When the object was written (epoch ms), from its name."""
    name = key.rsplit("/", 1)[-1]
    return _COUNTDOWN_FROM - int(name[:_COUNTDOWN_DIGITS])


def label(message: dict[str, Any]) -> str:
    """What the debugger's list shows for a message: the event, page or screen name, the user, the group."""
    kind = message.get("type")
    if kind == "track":
        name = message.get("event")
    elif kind in ("page", "screen"):
        name = message.get("name") or (message.get("properties") or {}).get("path")
    elif kind == "group":
        name = message.get("groupId")
    elif kind == "alias":
        name = f"{message.get('previousId')} -> {message.get('userId')}"
    else:
        name = message.get("userId") or message.get("anonymousId")
    return "" if name is None else str(name)


@dataclass(frozen=True)
class DebuggerEntry:
    id: str  # `<object key>#<line>`: unique, stable
    source_id: str
    written_at: datetime
    sampling_rate: float  # of the write that kept it: kept / sent since the previous write
    raw: str  # the message as archived
    message: dict[str, Any]

    @property
    def type(self) -> str:
        return str(self.message.get("type", ""))

    @property
    def label(self) -> str:
        return label(self.message)

    @property
    def received_at(self) -> str:
        return str(self.message.get("receivedAt", ""))

    @property
    def message_id(self) -> str:
        return str(self.message.get("messageId", ""))

    def pretty(self) -> str:
        return orjson.dumps(self.message, option=orjson.OPT_INDENT_2).decode()


@dataclass(frozen=True)
class DebuggerCursor:
    """Where a follow is: the newest write seen, and the objects seen in the overlap behind it."""

    newest_ms: int = 0
    keys: frozenset[str] = field(default_factory=frozenset)

    def encode(self) -> str:
        """As text, for a client that polls (the console)."""
        document = {"t": self.newest_ms, "k": sorted(self.keys)}
        return base64.urlsafe_b64encode(orjson.dumps(document)).decode()

    @classmethod
    def decode(cls, text: str) -> DebuggerCursor:
        try:
            document = orjson.loads(base64.urlsafe_b64decode(text.encode()))
            return cls(int(document["t"]), frozenset(str(key) for key in document["k"]))
        except (ValueError, KeyError, TypeError) as error:
            raise ValueError(f"not a debugger cursor: {text!r}") from error


@dataclass(frozen=True)
class DebuggerPage:
    source_id: str
    entries: tuple[DebuggerEntry, ...]  # newest first, at most `limit`, matching the filters
    window: int  # the latest messages looked at (at most DEBUGGER_WINDOW)
    sampling_rate: float | None  # of the newest write looked at (None: no message yet)
    cursor: DebuggerCursor  # pass as `after` to get only what is newer


@dataclass(frozen=True)
class _Object:
    key: str
    written_ms: int


class DebuggerStore:
    def __init__(self, bucket: str, s3: Any = None, *, now: Callable[[], datetime] = utc_now, workers: int = 8) -> None:
        self._bucket = bucket
        self._s3 = s3
        self._now = now
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="debugger")

    @property
    def _client(self) -> Any:
        if self._s3 is None:
            self._s3 = aws.client("s3")
        return self._s3

    # Writing (the router).

    def write_many(self, writes: Sequence[DebuggerWrite]) -> list[str]:
        """One object per write, concurrently; returns their keys."""
        at = self._now()
        return list(self._pool.map(lambda write: self._write(write, at), writes))

    def _write(self, write: DebuggerWrite, at: datetime) -> str:
        key = object_key(write.source_id, at, write.shard_id, write.first_sequence)
        header = {
            "writtenAt": at.isoformat(),
            "samplingRate": write.sampling_rate,
            "kept": len(write.messages),
        }
        body = b"\n".join([orjson.dumps(header), *write.messages]) + b"\n"
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType=DEBUGGER_CONTENT_TYPE)
        return key

    # Clearing (a user deletion).

    def clear(self) -> int:
        """Removes every version of every debugger object, of every source; returns how many.

        A user deletion clears the debugger rather than reading it for the users' ids: the samples are
        a live view that expires within a day anyway, and a day of objects (up to one per source and
        router batch) is far more to read than to delete. The debugger fills again with new messages."""
        removed = 0
        for page in self._client.get_paginator("list_object_versions").paginate(
            Bucket=self._bucket, Prefix=DEBUGGER_PREFIX
        ):
            versions = [
                {"Key": version["Key"], "VersionId": version["VersionId"]}
                for version in page.get("Versions", []) + page.get("DeleteMarkers", [])
            ]
            for start in range(0, len(versions), _DELETES_PER_REQUEST):
                batch = versions[start : start + _DELETES_PER_REQUEST]
                answer = self._client.delete_objects(Bucket=self._bucket, Delete={"Objects": batch, "Quiet": True})
                if answer.get("Errors"):
                    first = answer["Errors"][0]
                    raise DebuggerClearFailed(
                        f"{len(answer['Errors'])} not deleted, e.g. {first['Key']}: {first['Code']}"
                    )
                removed += len(batch)
        return removed

    # Reading (the CLI, the console).

    def latest(
        self,
        source_id: str,
        *,
        limit: int = DEBUGGER_WINDOW,
        search: str | None = None,
        call_type: str | None = None,
        after: DebuggerCursor | None = None,
    ) -> DebuggerPage:
        """The source's latest messages, newest first: the last DEBUGGER_WINDOW (with `after`: only
        those written since that cursor), those matching `search` and `call_type`, at most `limit`."""
        entries: list[DebuggerEntry] = []
        listed: list[_Object] = []
        for chunk in self._chunks(self._objects(source_id, after)):
            listed += chunk
            for found in self._pool.map(lambda item: self._read(source_id, item), chunk):
                entries += found
            if len(entries) >= DEBUGGER_WINDOW:
                break
        window = entries[:DEBUGGER_WINDOW]
        sampling_rate = window[0].sampling_rate if window else None
        needle = search.casefold() if search else None
        matching = [
            entry
            for entry in window
            if (call_type is None or entry.type == call_type) and (needle is None or needle in entry.raw.casefold())
        ]
        return DebuggerPage(source_id, tuple(matching[:limit]), len(window), sampling_rate, _cursor(after, listed))

    def _objects(self, source_id: str, after: DebuggerCursor | None) -> Iterator[_Object]:
        """The source's objects, newest first (with `after`: back to its overlap, unseen ones only)."""
        oldest = after.newest_ms - FOLLOW_OVERLAP_MS if after is not None else None
        request = {"Bucket": self._bucket, "Prefix": source_prefix(source_id)}
        while True:
            page = self._client.list_objects_v2(**request)
            for item in page.get("Contents", []):
                found = _Object(item["Key"], written_ms(item["Key"]))
                if oldest is not None and found.written_ms < oldest:
                    return
                if after is None or found.key not in after.keys:
                    yield found
            if not page.get("IsTruncated"):
                return
            request["ContinuationToken"] = page["NextContinuationToken"]

    @staticmethod
    def _chunks(objects: Iterator[_Object]) -> Iterator[list[_Object]]:
        chunk: list[_Object] = []
        for found in objects:
            chunk.append(found)
            if len(chunk) == _READS_AT_ONCE:
                yield chunk
                chunk = []
        if chunk:
            yield chunk

    def _read(self, source_id: str, found: _Object) -> list[DebuggerEntry]:
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=found.key)["Body"].read()
        except ClientError as error:
            if error.response["Error"]["Code"] == "NoSuchKey":
                return []  # expired between the listing and the read
            raise
        header_line, *lines = [line for line in body.split(b"\n") if line]
        header = orjson.loads(header_line)
        written_at = datetime.fromtimestamp(found.written_ms / 1000, UTC)
        rate = float(header.get("samplingRate", 1.0))
        entries = [
            DebuggerEntry(f"{found.key}#{index}", source_id, written_at, rate, line.decode(), orjson.loads(line))
            for index, line in enumerate(lines, start=1)
        ]
        entries.reverse()  # the stream's order within a write: newest last
        return entries


@dataclass(frozen=True)
class DebuggerWrite:
    """One source's kept messages of one batch."""

    source_id: str
    shard_id: str
    first_sequence: str  # of the batch's first message of the source: names the object
    sampling_rate: float
    messages: list[bytes]  # as archived


def _cursor(after: DebuggerCursor | None, listed: list[_Object]) -> DebuggerCursor:
    newest = max([found.written_ms for found in listed] + [after.newest_ms if after else 0])
    recent = {found.key for found in listed if found.written_ms >= newest - FOLLOW_OVERLAP_MS}
    if after is not None:
        recent |= {key for key in after.keys if written_ms(key) >= newest - FOLLOW_OVERLAP_MS}
    return DebuggerCursor(newest, frozenset(recent))
