"""An hour's Segment messages as the rows of Segment's warehouse tables.

Tables and columns follow Segment's warehouse schema (segment-docs, connections/storage/warehouses/
schema.md):

- every message table has `id` (the messageId), `anonymous_id`, `user_id`, `received_at`, `sent_at`,
  `original_timestamp`, `timestamp`, `uuid_ts` (when this load ran) and its `context_*` columns;
- each track event has its own table with `event` (the event's table name), `event_text` (the name
  as sent) and its properties; `tracks` has every track event, without the properties;
- `pages` and `screens` add `name`, `category` and their properties, `identifies` the traits,
  `groups` `group_id` and the traits, `aliases` `previous_id` (and traits, when sent);
- `users` holds each user's latest traits from the batch's identifies: `id` (the user id), the
  traits, `received_at` of the latest identify and `uuid_ts`.

Values are flattened as the docs describe: nested objects become `_`-joined columns
(`properties.product.id` -> `product_id`, `context.page.url` -> `context_page_url`), arrays are kept
as JSON text. The docs give no depth limit; here objects are flattened down to MAX_FLATTEN_DEPTH keys
below `properties`, `traits` or `context`, and an object found deeper is kept as JSON text, so a
runaway payload cannot make thousands of columns. Null values and empty objects make no column, as
in Segment ("creates a column only when it receives a non-null value"). Like Segment's warehouses,
the tables leave out `type`, `channel`, `projectId`, `integrations` and `_metadata`.

When keys clash:

- a property or trait whose column is one of the table's own (`id`, `user_id`, `event`, ...) is
  dropped, as Segment documents; so is one whose column starts with `context_`, which belong to the
  message's context;
- two keys of one message landing on one column: the key written exactly as the column
  (`product_id`) wins over other spellings (`productId`, a nested `product.id`); among those the
  first in the message wins.

A page or screen with no `name` or `category` of its own takes the one in its properties. `users`
has the trait columns identifies has, the later identify (by `received_at`, then messageId) winning
trait by trait. Rows of `tracks` come grouped by event.

Messages that are not objects, have no or an unknown `type`, or are tracks with no event name are
counted in `bad_messages` and skipped.

For speed the values go straight into each table's column lists, one pass, no row dicts: the
lists are what `pa.array` takes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import orjson

from switchyard.config.compiled import LakeSync
from switchyard.lake.naming import column_name, table_name
from switchyard.timeutil import parse_timestamp

MAX_FLATTEN_DEPTH = 4

COMMON_COLUMNS = (
    "id",
    "anonymous_id",
    "user_id",
    "received_at",
    "sent_at",
    "original_timestamp",
    "timestamp",
    "uuid_ts",
)
TRACK_COLUMNS = (*COMMON_COLUMNS, "event", "event_text")
PAGE_COLUMNS = (*COMMON_COLUMNS, "name", "category")
GROUP_COLUMNS = (*COMMON_COLUMNS, "group_id")
ALIAS_COLUMNS = (*COMMON_COLUMNS, "previous_id")
USER_COLUMNS = ("id", "received_at", "uuid_ts")
TIME_COLUMNS = frozenset({"received_at", "sent_at", "original_timestamp", "timestamp", "uuid_ts"})

# Message field -> column, for the fields every message table has.
_ENVELOPE = (
    ("messageId", "id"),
    ("anonymousId", "anonymous_id"),
    ("userId", "user_id"),
    ("receivedAt", "received_at"),
    ("sentAt", "sent_at"),
    ("originalTimestamp", "original_timestamp"),
    ("timestamp", "timestamp"),
)


class TableRows:
    """One table's rows as a list of values per column, None where a row has no value."""

    __slots__ = ("name", "standard_columns", "constants", "_values", "_count")

    def __init__(self, name: str, standard_columns: tuple[str, ...], constants: Mapping[str, object]) -> None:
        self.name = name
        self.standard_columns = standard_columns  # always present, in this order, first
        # Columns with one value for every row (`uuid_ts`; `event` in an event table): made only at the end.
        self.constants = dict(constants)
        # Filled by the builder, which pads a list with None before appending to it.
        self._values: dict[str, list[object]] = {name: [] for name in standard_columns if name not in self.constants}
        self._count = 0

    def __len__(self) -> int:
        return self._count

    def append(self, row: Mapping[str, object]) -> None:
        """Adds a row given as a dict (the builder's hot path writes the lists directly)."""
        row_index = self._count
        for name, value in row.items():
            if name not in self.constants and value is not None:
                _fill(self._values, name, row_index).append(value)
        self._count = row_index + 1

    def columns(self) -> dict[str, list[object]]:
        """Every column, the standard ones included, with one value per row."""
        count = self._count
        for values in self._values.values():
            if len(values) < count:
                values.extend([None] * (count - len(values)))
        return {**self._values, **{name: [value] * count for name, value in self.constants.items()}}

    def rows(self) -> list[dict[str, object]]:
        """The rows as dicts of their non-null values (for tests and tools)."""
        columns = self.columns()
        return [
            {name: values[index] for name, values in columns.items() if values[index] is not None}
            for index in range(self._count)
        ]


@dataclass(slots=True)
class LakeRows:
    tables: dict[str, TableRows] = field(default_factory=dict)
    event_tables: tuple[str, ...] = ()  # the per-event tables, in the order `tracks` has their rows
    bad_messages: int = 0
    excluded_messages: int = 0  # track events Selective Sync leaves out


def as_text(value: object) -> str:
    """A value as a string column holds it: a string as it is, anything else as JSON."""
    if type(value) is str:
        return value
    try:
        return orjson.dumps(value).decode()
    except TypeError:  # an integer beyond 64 bits, say
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)


EVERYTHING = LakeSync()  # a source's sync when its workspace says nothing


def build_rows(messages: Iterable[object], *, loaded_at: datetime, sync: LakeSync = EVERYTHING) -> LakeRows:
    """The rows of each table for `messages`; `loaded_at` is every row's `uuid_ts`."""
    if not sync.enabled:
        return LakeRows()
    builder = _Builder(loaded_at if loaded_at.tzinfo else loaded_at.replace(tzinfo=UTC), sync)
    for message in messages:
        builder.add(message)
    return builder.finish()


def _fill(columns: dict[str, list[object]], name: str, row_index: int) -> list[object]:
    """The column's list, padded up to the row about to be appended."""
    values = columns.get(name)
    if values is None:
        columns[name] = values = [None] * row_index
    elif len(values) < row_index:
        values.extend([None] * (row_index - len(values)))
    return values


@dataclass(frozen=True, slots=True)
class _Rules:
    dropped: frozenset[str]  # columns a value may not take: the table's own, and excluded ones
    excluded: frozenset[str]
    context_owned: bool  # `context_*` columns are the context's, not this object's


_DROPPED: list[object] = []  # stands for the column of a key whose values are left out


class _Keys:
    """Where the values of one object's keys (`properties`, `context.page`, ...) go in one table,
    learned once per batch: the hot path finds a key's column in one lookup, not by normalising its
    path again for every message."""

    __slots__ = ("_path", "_depth", "_rules", "_columns", "lists", "children")

    def __init__(self, path: str, depth: int, rules: _Rules, columns: dict[str, list[object]]) -> None:
        self._path = path
        self._depth = depth
        self._rules = rules
        self._columns = columns  # the table's
        self.lists: dict[str, list[object]] = {}  # key -> its column's values, _DROPPED when left out
        self.children: dict[str, _Keys | None] = {}  # key -> the object under it, None when kept as JSON

    def learn(self, key: str) -> list[object]:
        column = column_name(self._path + key)
        rules = self._rules
        if column in rules.dropped or (rules.context_owned and column.startswith("context_")):
            values = _DROPPED
        else:
            values = self._columns.get(column)
            if values is None:
                self._columns[column] = values = []
        self.lists[key] = values
        return values

    def child(self, key: str) -> _Keys | None:
        path = self._path + key
        flattened = self._depth + 1 < MAX_FLATTEN_DEPTH and column_name(path) not in self._rules.excluded
        child = _Keys(path + ".", self._depth + 1, self._rules, self._columns) if flattened else None
        self.children[key] = child
        return child

    def spelled_as_column(self, key: str) -> bool:
        """Whether the key is written exactly as its column (`product_id`, not `productId` nor a
        nested `product.id`): at most one key of an object is."""
        path = self._path + key
        return self._depth == 0 and path.replace(".", "_") == column_name(path)


def _flatten(source: dict, keys: _Keys, row_index: int) -> None:
    """Appends the leaves of `source` to their columns, as the row `row_index`.

    The Python work per value, so kept lean: a key's column is found by indexing (a miss, once per
    key and batch, raises), cheaper than a `dict.get` call for every value."""
    lists = keys.lists
    for key, value in source.items():
        kind = type(value)
        if kind is dict:
            if not value:
                continue
            try:
                child = keys.children[key]
            except KeyError:
                child = keys.child(key)
            if child is not None:
                _flatten(value, child, row_index)
                continue
            value = as_text(value)
        elif kind is list:
            value = as_text(value)
        elif value is None:
            continue
        try:
            values = lists[key]
        except KeyError:
            values = keys.learn(key)
        if values is _DROPPED:
            continue
        filled = len(values)
        if filled != row_index:
            if filled > row_index:  # another key of this message took the column
                if keys.spelled_as_column(key):
                    values[row_index] = value
                continue
            values.extend([None] * (row_index - filled))
        values.append(value)


@dataclass(frozen=True, slots=True)
class _Kind:
    """How a message type becomes rows."""

    table: str | None  # None for track: a table per event
    columns: tuple[str, ...]  # the table's own
    fields: tuple[tuple[str, str], ...]  # message field -> own column, beyond the envelope
    payload: str  # the object whose keys become the other columns
    named: bool = False  # a page or screen: `name` and `category` may come from the properties


_NAMED = (("name", "name"), ("category", "category"))
_KINDS = {
    "track": _Kind(None, TRACK_COLUMNS, (("event", "event_text"),), "properties"),
    "page": _Kind("pages", PAGE_COLUMNS, _NAMED, "properties", named=True),
    "screen": _Kind("screens", PAGE_COLUMNS, _NAMED, "properties", named=True),
    "identify": _Kind("identifies", COMMON_COLUMNS, (), "traits"),
    "group": _Kind("groups", GROUP_COLUMNS, (("groupId", "group_id"),), "traits"),
    "alias": _Kind("aliases", ALIAS_COLUMNS, (("previousId", "previous_id"),), "traits"),
}


class _Target:
    """A table being filled: its rows, the lists its message fields go to, and where its context
    and payload keys go."""

    __slots__ = ("rows", "fields", "context", "payload")

    def __init__(self, rows: TableRows, kind: _Kind, excluded: frozenset[str]) -> None:
        self.rows = rows
        columns = rows._values
        self.fields = tuple((field_name, columns[column]) for field_name, column in (*_ENVELOPE, *kind.fields))
        self.context = _Keys("context.", 0, _Rules(excluded, excluded, context_owned=False), columns)
        # `timestamp`, a reserved word, would become `_timestamp`: dropped all the same, as Segment does.
        own = frozenset(kind.columns) | {column_name(name) for name in kind.columns}
        self.payload = _Keys("", 0, _Rules(own | excluded, excluded, context_owned=True), columns)


class _Builder:
    def __init__(self, loaded_at: datetime, sync: LakeSync) -> None:
        self._loaded_at = loaded_at
        self._excluded_events = frozenset(table_name(event) for event in sync.exclude_events)
        self._excluded_columns = frozenset(column_name(path) for path in sync.exclude_properties)
        self._targets: dict[str, _Target] = {}
        self._event_tables: dict[str, str] = {}  # event name -> table name
        self._bad = 0
        self._excluded = 0

    def add(self, message: object) -> None:
        message_type = message.get("type") if type(message) is dict else None
        kind = _KINDS.get(message_type) if type(message_type) is str else None
        if kind is None:
            self._bad += 1
            return
        table = kind.table or self._event_table(message.get("event"))
        if table is None:
            return
        target = self._targets.get(table)
        if target is None:
            target = self._targets[table] = self._target(table, kind)
        row_index = target.rows._count
        for field_name, values in target.fields:
            value = message.get(field_name)
            if value is not None:
                if len(values) != row_index:
                    values.extend([None] * (row_index - len(values)))
                values.append(value)
        context = message.get("context")
        if type(context) is dict and context:
            _flatten(context, target.context, row_index)
        payload = message.get(kind.payload)
        if type(payload) is dict and payload:
            if kind.named:
                _named_from_properties(target.rows._values, payload, row_index)
            _flatten(payload, target.payload, row_index)
        target.rows._count = row_index + 1

    def finish(self) -> LakeRows:
        tables = {name: target.rows for name, target in self._targets.items()}
        event_tables = tuple(dict.fromkeys(self._event_tables.values()))
        if event_tables:
            tables = {"tracks": self._tracks([tables[name] for name in event_tables])} | tables
        users = self._users(tables["identifies"]) if "identifies" in tables else None
        if users:
            tables["users"] = users
        return LakeRows(tables, event_tables, self._bad, self._excluded)

    def _event_table(self, event: object) -> str | None:
        """The event's table; None (counted) for a track with no event name or one left out."""
        if type(event) is not str or not event:
            self._bad += 1
            return None
        table = self._event_tables.get(event)
        if table is None:
            table = table_name(event)
            if table in self._excluded_events:
                self._excluded += 1
                return None
            self._event_tables[event] = table
        return table

    def _target(self, table: str, kind: _Kind) -> _Target:
        constants: dict[str, object] = {"uuid_ts": self._loaded_at}
        if kind.table is None:
            constants["event"] = table
        return _Target(TableRows(table, kind.columns, constants), kind, self._excluded_columns)

    def _tracks(self, event_tables: list[TableRows]) -> TableRows:
        """`tracks` from the event tables: their rows without the properties."""
        tracks = TableRows("tracks", TRACK_COLUMNS, {"uuid_ts": self._loaded_at})
        own = frozenset(TRACK_COLUMNS) - {"uuid_ts"}
        for table in event_tables:
            for name, values in table.columns().items():
                if name in own or name.startswith("context_"):
                    _fill(tracks._values, name, tracks._count).extend(values)
            tracks._count += len(table)
        return tracks

    def _users(self, identifies: TableRows) -> TableRows | None:
        """Each identified user's traits, the later identify's winning trait by trait."""
        columns = identifies.columns()
        user_ids, received, message_ids = columns["user_id"], columns["received_at"], columns["id"]
        identified = [index for index, user_id in enumerate(user_ids) if user_id is not None]
        if not identified:
            return None

        def order(index: int) -> tuple[datetime, str]:
            return parse_timestamp(received[index]) or datetime.min, as_text(message_ids[index])

        identified.sort(key=order)
        own = frozenset(COMMON_COLUMNS)
        traits = [
            (name, values) for name, values in columns.items() if name not in own and not name.startswith("context_")
        ]
        latest: dict[str, dict[str, object]] = {}
        for index in identified:
            user = latest.setdefault(as_text(user_ids[index]), {})
            for name, values in traits:
                if values[index] is not None:
                    user[name] = values[index]
            user["received_at"] = received[index]
        users = TableRows("users", USER_COLUMNS, {"uuid_ts": self._loaded_at})
        for user_id, user in latest.items():
            users.append({**user, "id": user_id})
        return users


def _named_from_properties(columns: dict[str, list[object]], properties: dict, row_index: int) -> None:
    """A page's or screen's `name` and `category`, when the message has none, from its properties."""
    for column in ("name", "category"):
        values = columns[column]
        value = properties.get(column)
        if len(values) <= row_index and value is not None:
            values.extend([None] * (row_index - len(values)))
            values.append(value)
