"""Loading one source's hour of the archive into the lake, and compacting that hour's archive.

An hour is `source_id=<id>/date=<YYYY-MM-DD>/hour=<HH>/` in the archive bucket. Loading it reads
every gzip JSON Lines object there, builds the Segment warehouse tables (switchyard.lake.rows and
.arrow), writes one Parquet file per table to `lake/<table>/source_id=<id>/date=.../hour=.../`
under a fixed name (so a reload replaces it), removes the files of tables the hour no longer has,
and widens the catalog. Every older version of the files it replaced is deleted too: the bucket is
versioned, and a user deletion must leave no copy of the user's rows once the hour is reloaded.

Compaction (a closed hour only: the router writes no more into it) then merges the hour's many small
objects into a few, `compacted-0000.jsonl.gz`, ... of at most COMPACTED_LINES lines each (a replay
worker reads a whole object at once), keeping every line byte for byte (the first of any repeated
messageId). They are written before the small objects are deleted, so nothing is lost if the loader
dies in between; the next load of the hour merges the leftovers again. Replay and user deletion read
compacted objects as they read any other. Idempotent: loading an hour again changes nothing when the
archive did not change.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pyarrow as pa

from switchyard.config.compiled import LakeSync
from switchyard.constants import LAKE_PREFIX
from switchyard.lake import arrow, parquet, rows
from switchyard.lake.catalog import LakeCatalog
from switchyard.lake.hours import Hour
from switchyard.router.archive import ARCHIVE_CONTENT_TYPE, archive_body, archive_lines

ARCHIVE_SUFFIX = ".jsonl.gz"
# What each load wrote, per hour (outside `lake/`, which holds only tables): the next load of the
# hour removes the files of tables it no longer has, and the scheduler finds hours not loaded yet.
# A failed attempt leaves `failed.json` beside it (why), removed by the next load that succeeds.
LOADS_PREFIX = "_lake_loads/"
COMPACTED_PREFIX = "compacted-"
# Lines per compacted object: ~30 MB of JSON, a few MB of gzip (well over the 128 KB S3 tiers from),
# what a replay worker reads and parses at once within its memory.
COMPACTED_LINES = 20_000
COMPACTION_LEVEL = 6  # written once an hour and kept for months: size counts more than the CPU
PARQUET_SUFFIX = ".parquet"
# Lines loaded at once: ~150 MB of JSON with its rows and Arrow arrays, well inside the loader's 2 GB.
CHUNK_LINES = 100_000


@dataclass
class HourLoad:
    """What loading an hour did."""

    hour: Hour
    messages: int = 0
    skipped: int = 0  # lines that were not Segment messages
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows written
    widened: dict[str, list[str]] = field(default_factory=dict)  # table -> columns that became string
    objects_before: int = 0  # archive objects of the hour
    objects_after: int = 0  # after compaction (the same when the hour was not compacted)
    seconds: float = 0.0


class LakeLoader:
    def __init__(
        self,
        bucket: str,
        s3: Any,
        catalog: LakeCatalog,
        selective_sync: Callable[[str], LakeSync],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._bucket = bucket
        self._s3 = s3
        self._catalog = catalog
        self._selective_sync = selective_sync
        self._clock = clock
        self._monotonic = monotonic

    def load(self, hour: Hour, *, compact: bool) -> HourLoad:
        """The hour, CHUNK_LINES lines at a time (one Parquet file per table and chunk), so a busy
        source's hour fits the function's memory; compacted on the way when `compact`."""
        started = self._monotonic()
        result = HourLoad(hour)
        keys = self._archive_keys(hour)
        result.objects_before = result.objects_after = len(keys)
        compaction = _Compaction(self._s3, self._bucket, hour) if compact and needs_compaction(hour, keys) else None
        written: set[str] = set()
        for index, lines in enumerate(self._chunks(keys)):
            if compaction is not None:
                compaction.add(lines)
            self._load_chunk(hour, index, lines, result, written)
        previous = self.last_load(hour)
        for key in sorted(set(previous.get("files", [])) - written if previous else ()):
            self._delete_versions(key, keep=None)
        if compaction is not None:
            result.objects_after = compaction.finish(keys)
        result.seconds = self._monotonic() - started
        self._record(hour, result, written)
        return result

    def _load_chunk(self, hour: Hour, index: int, lines: list[bytes], result: HourLoad, written: set[str]) -> None:
        chunk = build_chunk(
            lines,
            loaded_at=self._clock(),
            sync=self._selective_sync(hour.source_id),
            known=lambda tables: {table: self._catalog.columns(table) for table in tables},
        )
        result.messages += chunk.messages
        result.skipped += chunk.skipped
        for table, build in chunk.builds.items():
            key = self._lake_key(table, hour, index)
            self._put_replacing(key, parquet.write_parquet(build.table))
            self._catalog.ensure(table, build.columns, hour.source_id)
            written.add(key)
            result.rows[table] = result.rows.get(table, 0) + build.table.num_rows
            if build.widened:
                result.widened[table] = sorted({*result.widened.get(table, ()), *build.widened})
                self._rewrite_widened(table, build.widened, skip=key)

    def archived_at(self, hour: Hour) -> datetime | None:
        """When the hour's archive last changed (its newest object), or None when it holds nothing."""
        newest = None
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=hour.partition):
            for item in page.get("Contents", []):
                if item["Key"].endswith(ARCHIVE_SUFFIX) and (newest is None or item["LastModified"] > newest):
                    newest = item["LastModified"]
        return newest

    def loaded_at(self, hour: Hour) -> datetime | None:
        record = self.last_load(hour)
        return datetime.fromisoformat(record["loaded_at"]) if record else None

    def last_load(self, hour: Hour) -> dict[str, Any] | None:
        """What the hour's last load recorded (None: never loaded)."""
        try:
            body = self._s3.get_object(Bucket=self._bucket, Key=_load_key(hour))["Body"].read()
        except self._s3.exceptions.NoSuchKey:
            return None
        return orjson.loads(body)

    def record_failure(self, hour: Hour, error: str) -> None:
        """Beside the hour's last good load, why the latest attempt failed (until one succeeds)."""
        record = {"failed_at": self._clock().isoformat(), "error": error}
        self._s3.put_object(Bucket=self._bucket, Key=_failure_key(hour), Body=orjson.dumps(record))

    def _record(self, hour: Hour, result: HourLoad, files: set[str]) -> None:
        record = {
            "loaded_at": self._clock().isoformat(),
            "messages": result.messages,
            "skipped": result.skipped,
            "rows": result.rows,
            "widened": result.widened,
            "objects_before": result.objects_before,
            "objects_after": result.objects_after,
            "files": sorted(files),
        }
        self._s3.put_object(Bucket=self._bucket, Key=_load_key(hour), Body=orjson.dumps(record))
        self._s3.delete_object(Bucket=self._bucket, Key=_failure_key(hour))

    # The archive side.

    def _archive_keys(self, hour: Hour) -> list[str]:
        keys = []
        for page in self._s3.get_paginator("list_objects_v2").paginate(Bucket=self._bucket, Prefix=hour.partition):
            keys += [item["Key"] for item in page.get("Contents", []) if item["Key"].endswith(ARCHIVE_SUFFIX)]
        return sorted(keys)

    def _chunks(self, keys: Iterable[str]) -> Iterator[list[bytes]]:
        """The hour's lines in the keys' order, CHUNK_LINES at a time, each messageId's first only
        (a compaction cut short leaves both the compacted objects and the small ones they merged)."""
        seen: set[bytes] = set()
        chunk: list[bytes] = []
        for key in keys:
            for line in archive_lines(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read()):
                identity = _message_id(line)
                if identity is not None:
                    if identity in seen:
                        continue
                    seen.add(identity)
                chunk.append(line)
                if len(chunk) == CHUNK_LINES:
                    yield chunk
                    chunk = []
        if chunk:
            yield chunk

    # The lake side.

    @staticmethod
    def _lake_key(table: str, hour: Hour, chunk: int) -> str:
        return f"{LAKE_PREFIX}{table}/{hour.partition}part-{chunk:05d}{PARQUET_SUFFIX}"

    def _rewrite_widened(self, table: str, widened: Iterable[str], skip: str) -> None:
        """Every other file of `table` (all sources and hours) with the widened columns as strings:
        Athena reads a Parquet column only as the type its table declares. Rare (a property whose
        values changed type) and bounded by the table's size."""
        columns = set(widened)
        for page in self._s3.get_paginator("list_objects_v2").paginate(
            Bucket=self._bucket, Prefix=f"{LAKE_PREFIX}{table}/"
        ):
            for item in page.get("Contents", []):
                key = item["Key"]
                if key == skip or not key.endswith(PARQUET_SUFFIX):
                    continue
                data = parquet.read_parquet(self._s3.get_object(Bucket=self._bucket, Key=key)["Body"].read())
                cast = _as_strings(data, columns)
                if cast is not None:
                    self._put_replacing(key, parquet.write_parquet(cast))

    def _put_replacing(self, key: str, body: bytes) -> None:
        """Write `key`, then delete every older version of it (derived data: only the newest counts)."""
        answer = self._s3.put_object(
            Bucket=self._bucket, Key=key, Body=body, ContentType="application/vnd.apache.parquet"
        )
        current = answer.get("VersionId")
        self._delete_versions(key, keep=current)

    def _delete_versions(self, key: str, keep: str | None) -> None:
        for page in self._s3.get_paginator("list_object_versions").paginate(Bucket=self._bucket, Prefix=key):
            for version in [*page.get("Versions", []), *page.get("DeleteMarkers", [])]:
                if version["Key"] == key and version["VersionId"] not in (keep, None, "null"):
                    self._s3.delete_object(Bucket=self._bucket, Key=key, VersionId=version["VersionId"])


@dataclass(frozen=True, slots=True)
class ChunkBuild:
    builds: dict[str, arrow.TableBuild]  # table -> its Arrow table
    messages: int  # lines that were JSON
    skipped: int  # lines that were not Segment messages


def build_chunk(
    lines: Iterable[bytes],
    *,
    loaded_at: datetime,
    sync: LakeSync,
    known: Callable[[Iterable[str]], Mapping[str, Mapping[str, str]]] = lambda _: {},
) -> ChunkBuild:
    """A chunk's lines as the Arrow tables of its Segment tables; `known` gives the catalog's columns
    of the tables built.

    Each line is parsed as the rows builder takes it, not all before it starts: a message is
    flattened while it is still in the CPU cache and freed right after. Parsing the whole chunk
    first, then flattening, then freeing it reads every message back from memory twice, and holds
    the chunk's parsed messages at once: on `make bench`'s hour that cost about 2 us per event,
    a tenth of the loader's time."""
    parsed = _Parsed(lines)
    with _collector_paused():
        built = rows.build_rows(parsed, loaded_at=loaded_at, sync=sync)
        builds = arrow.build_tables(built, known(built.tables))
    return ChunkBuild(builds, parsed.messages, parsed.skipped + built.bad_messages)


class _Parsed:
    """The lines as messages, one at a time; counts those that are JSON and those that are not."""

    def __init__(self, lines: Iterable[bytes]) -> None:
        self._lines = lines
        self.messages = 0
        self.skipped = 0

    def __iter__(self) -> Iterator[Any]:
        for line in self._lines:
            try:
                message = orjson.loads(line)
            except orjson.JSONDecodeError:
                self.skipped += 1
                continue
            self.messages += 1
            yield message


def needs_compaction(hour: Hour, keys: Sequence[str]) -> bool:
    """Whether the hour holds anything but its compacted parts, in order (nothing arrived since)."""
    return len(keys) > 1 and list(keys) != [compacted_key(hour, index) for index in range(len(keys))]


class _Compaction:
    """The hour's lines written as parts of COMPACTED_LINES while they are loaded; the objects they
    replace are deleted only once every part is written. Parts are written in the keys' order, and
    the keys sort the hour's old parts first, so a part is rewritten only after the old part of that
    name was read."""

    def __init__(self, s3: Any, bucket: str, hour: Hour) -> None:
        self._s3 = s3
        self._bucket = bucket
        self._hour = hour
        self._pending: list[bytes] = []
        self.names: list[str] = []

    def add(self, lines: Sequence[bytes]) -> None:
        self._pending += lines
        while len(self._pending) >= COMPACTED_LINES:
            self._write(self._pending[:COMPACTED_LINES])
            self._pending = self._pending[COMPACTED_LINES:]

    def finish(self, keys: Sequence[str]) -> int:
        """Writes the last part, deletes what the parts replace; how many objects the hour now has."""
        if self._pending:
            self._write(self._pending)
            self._pending = []
        for key in keys:
            if key not in self.names:
                self._s3.delete_object(Bucket=self._bucket, Key=key)
        return len(self.names)

    def _write(self, lines: Sequence[bytes]) -> None:
        name = compacted_key(self._hour, len(self.names))
        body = archive_body(lines, level=COMPACTION_LEVEL)
        self._s3.put_object(Bucket=self._bucket, Key=name, Body=body, ContentType=ARCHIVE_CONTENT_TYPE)
        self.names.append(name)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """No garbage collection while a chunk's messages are parsed into rows and tables: millions of
    new containers, none of them garbage, would trigger it over and over (about 3x the parse time)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _as_strings(table: pa.Table, columns: set[str]) -> pa.Table | None:
    """`table` with those of `columns` it holds as another type cast to string (None: nothing to do)."""
    changed = table
    for name in sorted(columns & set(table.column_names)):
        column = changed.column(name)
        if pa.types.is_string(column.type):
            continue
        index = changed.schema.get_field_index(name)
        changed = changed.set_column(index, pa.field(name, pa.string()), column.cast(pa.string()))
    return None if changed is table else changed


def compacted_key(hour: Hour, index: int) -> str:
    return f"{hour.partition}{COMPACTED_PREFIX}{index:04d}{ARCHIVE_SUFFIX}"


def _load_key(hour: Hour) -> str:
    return f"{LOADS_PREFIX}{hour.partition}load.json"


def _failure_key(hour: Hour) -> str:
    return f"{LOADS_PREFIX}{hour.partition}failed.json"


def _message_id(line: bytes) -> bytes | None:
    """The `"messageId":"..."` of a stored line, found without parsing it (ingest always writes it)."""
    start = line.find(b'"messageId":"')
    if start < 0:
        return None
    start += len(b'"messageId":"')
    end = line.find(b'"', start)
    return line[start:end] if end > 0 else None
