"""A table's rows as a typed Arrow table, its column types inferred and kept in step with the catalog.

Column types are the catalog's (Glue/Athena) names: `boolean`, `bigint`, `double`, `timestamp`
(UTC, microseconds) and `string`. Per column, from its non-null values:

- booleans -> boolean; integers -> bigint; integers and floats -> double;
- the time columns (`received_at`, `sent_at`, `original_timestamp`, `timestamp`, `uuid_ts`) are
  always timestamp, a value that is no ISO-8601 time becoming null;
- ISO-8601 date-times (`2026-11-30T09:25:21.123Z`; a date alone is not one) -> timestamp, as
  Segment infers timestamps from the values;
- the tables' other own columns (`id`, `user_id`, `event`, ...) are always string;
- anything else, mixes included (`1` and `"1"`, `true` and `1`), and integers beyond 64 bits ->
  string, never an error. Non-string values in a string column are written as JSON (`true`, `1.5`).

`known` is what the catalog already has for the table. A known string column stays string. A
column known as a narrower type keeps it when the new values fit (integers fit double; whole
numbers fit bigint; ISO-8601 date-times fit timestamp); when they do not, the column is written as
string and reported in `widened`, for the caller to change the catalog. Columns with no value in
the batch are left out, except the table's own, which are always there: as in Segment, a column
appears with its first non-null value.

Columns come in a stable order: the table's own in their fixed order, then the rest by name.

Arrow infers each column's type from the Python values in C; Python only looks at the values
again for the rare column whose values are mixed or need converting.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import pyarrow as pa

from switchyard.lake.rows import TIME_COLUMNS, LakeRows, TableRows, as_text
from switchyard.timeutil import parse_timestamp

TIMESTAMP = pa.timestamp("us", tz="UTC")
ARROW_TYPES: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "bigint": pa.int64(),
    "double": pa.float64(),
    "timestamp": TIMESTAMP,
    "string": pa.string(),
}
_CATALOG_TYPES = {arrow_type: name for name, arrow_type in ARROW_TYPES.items()}
_DATE_TIME = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d")
_NOT_CONVERTED = (pa.ArrowException, OverflowError)


@dataclass(frozen=True, slots=True)
class TableBuild:
    table: pa.Table
    columns: dict[str, str]  # column -> catalog type, in the table's order
    widened: frozenset[str]  # known columns whose values no longer fit their type: string now


def build_tables(batch: LakeRows, known: Mapping[str, Mapping[str, str]] | None = None) -> dict[str, TableBuild]:
    """Every table of the batch; `known` maps table names to the catalog's columns for them.

    `tracks` takes its columns from the event tables' arrays where their types agree, rather than
    converting the same values again."""
    known = known or {}
    builds = {name: build_table(rows, known.get(name)) for name, rows in batch.tables.items() if name != "tracks"}
    if "tracks" in batch.tables:
        parts = [builds[name] for name in batch.event_tables]
        builds = {"tracks": _build(batch.tables["tracks"], known.get("tracks"), parts)} | builds
    return builds


def build_table(rows: TableRows, known: Mapping[str, str] | None = None) -> TableBuild:
    """`rows` as an Arrow table; `known` maps the catalog's columns for the table to their types."""
    return _build(rows, known, ())


def _build(rows: TableRows, known: Mapping[str, str] | None, parts: Sequence[TableBuild]) -> TableBuild:
    """The table; `parts`, when given, hold the same rows in order and lend their arrays."""
    known = known or {}
    unknown_types = {kind for kind in known.values() if kind not in ARROW_TYPES}
    if unknown_types:
        raise ValueError(f"catalog types {sorted(unknown_types)} are none of {sorted(ARROW_TYPES)}")
    standard = rows.standard_columns
    columns = rows.columns()
    names = [*standard, *sorted(name for name in columns if name not in standard)]
    arrays: list[pa.Array | pa.ChunkedArray] = []
    fields: list[pa.Field] = []
    types: dict[str, str] = {}
    widened: set[str] = set()
    for name in names:
        own = ("timestamp" if name in TIME_COLUMNS else "string") if name in standard else None
        typed = _lent(name, parts, own, known.get(name)) if parts else None
        if typed is None:
            typed = _made(name, columns[name], own, known.get(name), rows)
        if typed is None:
            continue
        kind, array = typed
        if name in known and kind != known[name]:
            widened.add(name)
        arrays.append(array)
        fields.append(pa.field(name, array.type))
        types[name] = kind
    return TableBuild(pa.Table.from_arrays(arrays, schema=pa.schema(fields)), types, frozenset(widened))


def _lent(
    name: str, parts: Sequence[TableBuild], own: str | None, known: str | None
) -> tuple[str, pa.ChunkedArray] | None:
    """The column made of the parts' arrays (nulls for a part without it), when they have one type
    that the column may take; None otherwise."""
    kinds = {part.columns[name] for part in parts if name in part.columns}
    if len(kinds) != 1:
        return None
    (kind,) = kinds
    if known not in (None, kind) or own not in (None, kind):
        return None
    arrow_type = ARROW_TYPES[kind]
    chunks: list[pa.Array] = []
    for part in parts:
        if name in part.columns:
            chunks.extend(part.table.column(name).chunks)
        else:
            chunks.append(pa.nulls(part.table.num_rows, arrow_type))
    return kind, pa.chunked_array(chunks, arrow_type)


def _made(
    name: str, values: list[object], own: str | None, known: str | None, rows: TableRows
) -> tuple[str, pa.Array] | None:
    if name in rows.constants and own is not None and known in (None, own):
        # One value for every row (`uuid_ts`, an event table's `event`): made once.
        return own, pa.repeat(pa.scalar(rows.constants[name], ARROW_TYPES[own]), len(rows))
    if own is not None:
        return _own_column(values, own, known)
    return _column(values, known)


def _own_column(values: list[object], own: str, known: str | None) -> tuple[str, pa.Array]:
    """A column of the table's own: its type, unless the catalog has another, which only string,
    the widest, can satisfy."""
    if known not in (None, own):
        return "string", _strings(values)
    return own, _times(values) if own == "timestamp" else _strings(values)


def _column(values: list[object], known: str | None) -> tuple[str, pa.Array] | None:
    """The column's catalog type and its values as an array of it; None when it has no values."""
    array = _inferred(values)
    if array is not None and array.type == pa.null():
        return None
    if array is not None and array.type == pa.string() and known in (None, "timestamp"):
        times = _date_times(values)
        if times is not None:
            array = times
    inferred = _CATALOG_TYPES[array.type] if array is not None else None
    wanted = known or inferred or "string"
    if wanted == inferred:
        return wanted, array
    converted = _converted(values, array, wanted)
    return (wanted, converted) if converted is not None else ("string", _strings(values))


def _inferred(values: list[object]) -> pa.Array | None:
    """The values as Arrow infers them; None when they are mixed or of no catalog type."""
    try:
        array = pa.array(values)
    except _NOT_CONVERTED:  # mixed kinds, or an integer beyond 64 bits
        return None
    if pa.types.is_timestamp(array.type):
        return array.cast(TIMESTAMP)
    return array if array.type in _CATALOG_TYPES or array.type == pa.null() else None


def _converted(values: list[object], array: pa.Array | None, kind: str) -> pa.Array | None:
    """`values` as an array of `kind`; None when they do not fit it."""
    if kind == "string":
        return _strings(values)
    if kind == "timestamp":  # strings were tried already
        return _date_times(values) if array is None else None
    if array is None:
        return None
    if kind == "double" and array.type == pa.int64():
        return array.cast(pa.float64(), safe=False)  # integers beyond 2**53 as the nearest double
    if kind == "bigint" and array.type == pa.float64():
        try:
            return array.cast(pa.int64())  # a safe cast: whole numbers fit, fractions fail
        except _NOT_CONVERTED:
            return None
    return None


def _strings(values: list[object]) -> pa.Array:
    try:
        return pa.array(values, pa.string())
    except _NOT_CONVERTED:
        texts = [value if value is None or type(value) is str else as_text(value) for value in values]
        return pa.array(texts, pa.string())


def _times(values: list[object]) -> pa.Array:
    """A time column: ISO-8601 strings (or datetimes) as UTC timestamps, null where a value is none."""
    try:  # Arrow reads the usual forms (`...T09:25:21.123Z`, `+02:00`) fast, all or nothing
        return pa.array(values, pa.string()).cast(TIMESTAMP)
    except _NOT_CONVERTED:
        return pa.array([_instant(value) for value in values], TIMESTAMP)


def _date_times(values: list[object]) -> pa.Array | None:
    """Strings (or datetimes) that are all ISO-8601 date-times as UTC timestamps; None otherwise."""
    first = next(value for value in values if value is not None)
    if type(first) is str and not _DATE_TIME.match(first):
        return None  # the usual case, known at the first value
    try:
        return pa.array(values, pa.string()).cast(TIMESTAMP)
    except _NOT_CONVERTED:
        pass
    times = [_instant(value) for value in values]
    if any(time is None and value is not None for time, value in zip(times, values, strict=True)):
        return None
    return pa.array(times, TIMESTAMP)


def _instant(value: object) -> datetime | None:
    if type(value) is datetime:
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if type(value) is not str or not _DATE_TIME.match(value):
        return None
    moment = parse_timestamp(value)  # naive UTC; also reads nanoseconds, and no offset as UTC
    return moment.replace(tzinfo=UTC) if moment else None
