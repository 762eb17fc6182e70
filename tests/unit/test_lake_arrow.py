"""Rows to typed Arrow tables (inference, conflicts, the catalog's types), and Parquet that engines read back."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from switchyard.lake.arrow import TIMESTAMP, build_table, build_tables
from switchyard.lake.parquet import ROW_GROUP_ROWS, read_parquet, write_parquet
from switchyard.lake.rows import TRACK_COLUMNS, LakeRows, TableRows, build_rows

LOADED_AT = datetime(2026, 11, 30, 13, 5, tzinfo=UTC)
NINE_UTC = datetime(2026, 11, 30, 9, tzinfo=UTC)


def track(message_id: str, event: str = "Order Completed", /, **properties: object) -> dict:
    return {
        "type": "track",
        "event": event,
        "messageId": message_id,
        "anonymousId": "anon-1",
        "userId": "user-1",
        "receivedAt": "2026-11-30T12:00:01.412Z",
        "sentAt": "2026-11-30T12:00:01.000Z",
        "timestamp": "2026-11-30T12:00:00.535+00:00",
        "context": {"ip": "203.0.113.41", "screen": {"width": 1512}, "page": {"url": "https://example.eu/"}},
        "properties": properties,
    }


def batch_of(*messages: dict) -> LakeRows:
    return build_rows(list(messages), loaded_at=LOADED_AT)


def event_rows(*property_sets: dict) -> TableRows:
    batch = batch_of(*(track(f"t{index}", **properties) for index, properties in enumerate(property_sets)))
    return batch.tables["order_completed"]


def values(build_result, column: str) -> list[object]:
    return build_result.table.column(column).to_pylist()


def test_types_are_inferred_per_column():
    built = build_table(
        event_rows(
            {"paid": True, "quantity": 2, "price": 10, "total": 9.5, "sku": "A-1", "at": "2026-11-30T09:00:00Z"},
            {"paid": False, "quantity": 3, "price": 12.25, "sku": "B-2", "at": "2026-11-30T10:30:00.5+01:00"},
        )
    )
    types = built.columns
    assert (types["paid"], types["quantity"], types["price"], types["total"], types["sku"], types["at"]) == (
        "boolean",
        "bigint",
        "double",
        "double",
        "string",
        "timestamp",
    )
    schema = built.table.schema
    assert schema.field("paid").type == pa.bool_()
    assert schema.field("quantity").type == pa.int64()
    assert schema.field("price").type == pa.float64()
    assert schema.field("at").type == TIMESTAMP
    assert values(built, "price") == [10.0, 12.25]
    assert values(built, "at") == [
        datetime(2026, 11, 30, 9, tzinfo=UTC),
        datetime(2026, 11, 30, 9, 30, 0, 500000, tzinfo=UTC),
    ]
    assert built.widened == frozenset()


def test_time_columns_are_utc_microsecond_timestamps():
    rows = event_rows({"n": 1})
    rows_message = batch_of(
        {**track("t9"), "timestamp": "2026-11-30T12:00:00.123456789Z", "sentAt": "not a time", "receivedAt": 5}
    )
    built = build_table(rows)
    for column in ("received_at", "sent_at", "original_timestamp", "timestamp", "uuid_ts"):
        assert built.table.schema.field(column).type == TIMESTAMP
        assert built.columns[column] == "timestamp"
    assert values(built, "timestamp") == [datetime(2026, 11, 30, 12, 0, 0, 535000, tzinfo=UTC)]
    assert values(built, "uuid_ts") == [LOADED_AT]
    assert values(built, "original_timestamp") == [None]  # the message had none
    odd = build_table(rows_message.tables["tracks"])
    assert values(odd, "timestamp") == [datetime(2026, 11, 30, 12, 0, 0, 123456, tzinfo=UTC)]
    assert values(odd, "sent_at") == [None] and values(odd, "received_at") == [None]


def test_dates_without_a_time_and_other_text_stay_strings():
    built = build_table(
        event_rows({"day": "2026-11-30", "note": "2026-11-30T09:00:00Z"}, {"day": "2026-12-01", "note": "soon"})
    )
    assert built.columns["day"] == "string"
    assert built.columns["note"] == "string"
    assert values(built, "note") == ["2026-11-30T09:00:00Z", "soon"]


@pytest.mark.parametrize(
    ("first", "second", "expected"),
    [
        (1, "1", ["1", "1"]),
        (True, 1, ["true", "1"]),
        (1.5, "x", ["1.5", "x"]),
        (False, "no", ["false", "no"]),
        (2**70, 1, [str(2**70), "1"]),
        ("2026-11-30T09:00:00Z", 7, ["2026-11-30T09:00:00Z", "7"]),
    ],
)
def test_a_conflict_within_the_batch_widens_to_string(first: object, second: object, expected: list[str]):
    built = build_table(event_rows({"value": first}, {"value": second}))
    assert built.columns["value"] == "string"
    assert built.table.schema.field("value").type == pa.string()
    assert values(built, "value") == expected
    assert built.widened == frozenset()  # nothing known to widen


def test_integers_beyond_64_bits_are_strings():
    built = build_table(event_rows({"big": 2**64}, {"big": 3}))
    assert built.columns["big"] == "string"
    assert values(built, "big") == [str(2**64), "3"]


def test_own_string_columns_stay_strings_whatever_was_sent():
    message = {**track("t1"), "userId": 42, "anonymousId": {"odd": True}}
    built = build_table(batch_of(message).tables["tracks"])
    assert values(built, "user_id") == ["42"]
    assert values(built, "anonymous_id") == ['{"odd":true}']
    assert built.columns["user_id"] == "string"


@pytest.mark.parametrize(
    ("known", "sent", "kind", "written", "widened"),
    [
        ("string", [1, 2], "string", ["1", "2"], False),
        ("string", [True, None], "string", ["true", None], False),
        ("double", [1, 2], "double", [1.0, 2.0], False),
        ("bigint", [1, 2.0], "bigint", [1, 2], False),
        ("bigint", [1, 2.5], "string", ["1", "2.5"], True),
        ("bigint", ["1", "2"], "string", ["1", "2"], True),
        ("boolean", [True, False], "boolean", [True, False], False),
        ("boolean", [1, 0], "string", ["1", "0"], True),
        ("double", [True, 1.5], "string", ["true", "1.5"], True),
        ("timestamp", ["2026-11-30T09:00:00Z", None], "timestamp", [NINE_UTC, None], False),
        ("timestamp", ["2026-11-30T09:00:00Z", "soon"], "string", ["2026-11-30T09:00:00Z", "soon"], True),
        ("timestamp", [1700000000, 1], "string", ["1700000000", "1"], True),
    ],
)
def test_the_catalogs_types_are_honoured_or_widened(
    known: str, sent: list[object], kind: str, written: list[object], widened: bool
):
    built = build_table(event_rows(*({"value": value} for value in sent)), {"value": known, "gone": "bigint"})
    assert built.columns["value"] == kind
    assert values(built, "value") == written
    assert built.widened == ({"value"} if widened else set())
    assert "gone" not in built.columns  # known, but not in this batch


def test_own_columns_take_only_string_from_the_catalog():
    rows = event_rows({"n": 1})
    built = build_table(rows, {"received_at": "string", "user_id": "bigint", "timestamp": "timestamp"})
    assert values(built, "received_at") == ["2026-11-30T12:00:01.412Z"]
    assert built.columns["user_id"] == "string"
    assert built.columns["timestamp"] == "timestamp"
    assert built.widened == {"user_id"}


def test_an_unknown_catalog_type_is_an_error():
    with pytest.raises(ValueError, match="varchar"):
        build_table(event_rows({"n": 1}), {"n": "varchar"})


def test_columns_come_in_a_stable_order_and_empty_ones_are_left_out():
    rows = event_rows({"zeta": 1, "alpha": "a", "empty": None}, {"mid": True})
    built = build_table(rows)
    names = built.table.column_names
    assert names[: len(TRACK_COLUMNS)] == list(TRACK_COLUMNS)
    rest = names[len(TRACK_COLUMNS) :]
    assert rest == sorted(rest)
    assert {"zeta", "alpha", "mid", "context_ip", "context_screen_width"} <= set(rest)
    assert "empty" not in names
    assert list(built.columns) == names


def test_own_columns_are_there_even_when_empty():
    message = track("t1")
    for field in ("userId", "anonymousId", "sentAt", "timestamp"):
        del message[field]
    built = build_table(batch_of(message).tables["tracks"])
    assert built.table.column_names[: len(TRACK_COLUMNS)] == list(TRACK_COLUMNS)
    assert values(built, "user_id") == [None] and values(built, "sent_at") == [None]


def test_tracks_reuse_the_event_tables_columns_and_match_a_fresh_build():
    batch = batch_of(
        track("t1", "Order Completed", total=5),
        track("t2", "Signed Up", plan="pro"),
        {**track("t3", "Signed Up"), "context": {"ip": "10.0.0.1", "locale": "de-CH"}},
    )
    builds = build_tables(batch)
    assert set(builds) == set(batch.tables)
    fresh = build_table(batch.tables["tracks"])
    assert builds["tracks"].table.equals(fresh.table)
    assert builds["tracks"].columns == fresh.columns
    assert values(builds["tracks"], "context_locale") == [None, None, "de-CH"]
    assert values(builds["tracks"], "event") == ["order_completed", "signed_up", "signed_up"]


def test_tracks_columns_whose_types_differ_between_events_widen_to_string():
    batch = batch_of(
        {**track("t1", "Order Completed"), "context": {"screen": {"width": 1512}}},
        {**track("t2", "Signed Up"), "context": {"screen": {"width": "wide"}}},
    )
    builds = build_tables(batch, {"tracks": {"context_screen_width": "bigint"}})
    assert builds["order_completed"].columns["context_screen_width"] == "bigint"
    assert builds["signed_up"].columns["context_screen_width"] == "string"
    tracks = builds["tracks"]
    assert tracks.columns["context_screen_width"] == "string"
    assert values(tracks, "context_screen_width") == ["1512", "wide"]
    assert tracks.widened == {"context_screen_width"}


def test_parquet_round_trips_with_zstd_and_statistics():
    built = build_table(event_rows({"total": 9.5, "paid": True}, {"total": 3, "paid": False}))
    data = write_parquet(built.table)
    assert data[:4] == b"PAR1"
    assert read_parquet(data).equals(built.table)
    metadata = pq.ParquetFile(pa.BufferReader(data)).metadata
    assert metadata.num_row_groups == 1
    for index in range(metadata.num_columns):
        column = metadata.row_group(0).column(index)
        assert column.compression == "ZSTD"
        assert column.is_stats_set
    total = metadata.row_group(0).column(built.table.column_names.index("total"))
    assert (total.statistics.min, total.statistics.max) == (3.0, 9.5)


def test_big_tables_are_split_into_row_groups():
    table = pa.table({"n": pa.array(range(ROW_GROUP_ROWS + 10), pa.int64())})
    metadata = pq.ParquetFile(pa.BufferReader(write_parquet(table))).metadata
    assert metadata.num_row_groups == 2


def test_duckdb_reads_the_files_with_the_right_types(tmp_path: Path):
    built = build_table(
        event_rows(
            {"paid": True, "quantity": 2, "price": 9.5, "sku": "A-1", "shipped_at": "2026-11-30T15:00:00Z"},
            {"paid": False, "quantity": 1, "price": 3, "sku": "B-2", "tags": ["x"]},
        )
    )
    path = tmp_path / "order_completed.parquet"
    path.write_bytes(write_parquet(built.table))
    relation = duckdb.sql(
        "SELECT id, paid, quantity, price, sku, tags, shipped_at, received_at, uuid_ts, context_screen_width "
        "FROM read_parquet(?) ORDER BY id",
        params=[str(path)],
    )
    assert [str(kind) for kind in relation.types] == [
        "VARCHAR",
        "BOOLEAN",
        "BIGINT",
        "DOUBLE",
        "VARCHAR",
        "VARCHAR",
        "TIMESTAMP WITH TIME ZONE",
        "TIMESTAMP WITH TIME ZONE",
        "TIMESTAMP WITH TIME ZONE",
        "BIGINT",
    ]
    rows = duckdb.sql(
        "SELECT id, paid, quantity, price, sku, tags, epoch_us(shipped_at), epoch_us(received_at), "
        "epoch_us(uuid_ts), context_screen_width FROM read_parquet(?) ORDER BY id",
        params=[str(path)],
    ).fetchall()
    shipped = int(datetime(2026, 11, 30, 15, tzinfo=UTC).timestamp()) * 1_000_000
    loaded = int(LOADED_AT.timestamp()) * 1_000_000
    received = 1_796_040_001_412_000  # 2026-11-30T12:00:01.412Z
    assert rows == [
        ("t0", True, 2, 9.5, "A-1", None, shipped, received, loaded, 1512),
        ("t1", False, 1, 3.0, "B-2", '["x"]', None, received, loaded, 1512),
    ]
    paid = duckdb.sql("SELECT sum(price) FROM read_parquet(?) WHERE paid", params=[str(path)]).fetchall()
    assert paid == [(9.5,)]
