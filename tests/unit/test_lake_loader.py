"""Loading archive hours into the lake against an emulated S3 (versioned, as deployed) and Glue:
the tables and their files, the catalog growing and widening, compaction, reloads that change
nothing, selective sync, and the hours a scheduled run picks."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import orjson
import pyarrow as pa
import pytest
from moto import mock_aws

from switchyard.config.compiled import LakeSync
from switchyard.constants import LAKE_DATABASE
from switchyard.lake import loader as loader_module
from switchyard.lake import parquet
from switchyard.lake.catalog import GlueCatalog, merged
from switchyard.lake.hours import Hour
from switchyard.lake.loader import LakeLoader, compacted_key
from switchyard.lake.schedule import due_hours
from switchyard.lake.service import LakeService

BUCKET, REGION = "archive", "us-west-2"
HOUR = Hour("web", "2026-11-30", "10")
LOADED_AT = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def message(kind: str, message_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "type": kind,
        "messageId": message_id,
        "anonymousId": "anon-1",
        "userId": "user-1",
        "receivedAt": "2026-11-30T10:15:00.000Z",
        "timestamp": "2026-11-30T10:14:59.000Z",
        "sentAt": "2026-11-30T10:15:00.000Z",
        "projectId": "web",
        "context": {"library": {"name": "analytics.js", "version": "2.0"}, "ip": "203.0.113.9"},
        **fields,
    }


EVENTS = [
    message("track", "m1", event="Order Completed", properties={"total": 30.5, "plan": 1}),
    message("track", "m2", event="Signed Up", properties={"plan": "pro"}),
    message("identify", "m3", traits={"email": "a@example.com", "name": "Ann"}),
    message("page", "m4", name="Home", properties={"path": "/"}),
    message("screen", "m5", name="Settings"),
    message("group", "m6", groupId="g1", traits={"employees": 20}),
    message("alias", "m7", previousId="anon-1"),
]


def gz(*events: dict[str, Any]) -> bytes:
    return gzip.compress(b"\n".join(orjson.dumps(e) for e in events) + b"\n")


@pytest.fixture
def aws() -> Iterator[tuple[Any, Any]]:
    with mock_aws():
        s3, glue = boto3.client("s3", region_name=REGION), boto3.client("glue", region_name=REGION)
        s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
        s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        glue.create_database(DatabaseInput={"Name": LAKE_DATABASE})
        yield s3, glue


def archive(s3: Any, hour: Hour, *objects: list[dict[str, Any]]) -> list[str]:
    keys = []
    for index, events in enumerate(objects):
        key = f"{hour.partition}shard-{index}-{events[0]['messageId']}.jsonl.gz"
        s3.put_object(Bucket=BUCKET, Key=key, Body=gz(*events))
        keys.append(key)
    return keys


def loader(s3: Any, glue: Any, sync: dict[str, LakeSync] | None = None) -> LakeLoader:
    catalog = GlueCatalog(glue, BUCKET, retention_days=365)
    return LakeLoader(BUCKET, s3, catalog, lambda source: (sync or {}).get(source, LakeSync()), clock=lambda: LOADED_AT)


def lake_file(s3: Any, table: str, hour: Hour = HOUR) -> Any:
    """The table's rows of the hour, all its files (one per chunk) in order."""
    keys = keys_under(s3, f"lake/{table}/{hour.partition}")
    parts = [parquet.read_parquet(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()) for key in keys]
    return pa.concat_tables(parts, promote_options="permissive")


def keys_under(s3: Any, prefix: str) -> list[str]:
    return sorted(item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET, Prefix=prefix).get("Contents", []))


def glue_columns(glue: Any, table: str) -> dict[str, str]:
    described = glue.get_table(DatabaseName=LAKE_DATABASE, Name=table)["Table"]
    return {column["Name"]: column["Type"] for column in described["StorageDescriptor"]["Columns"]}


def test_an_hour_becomes_the_segment_tables_with_one_file_each(aws: tuple[Any, Any]):
    s3, glue = aws
    archive(s3, HOUR, EVENTS[:3], EVENTS[3:])
    result = loader(s3, glue).load(HOUR, compact=False)
    assert (result.messages, result.skipped) == (7, 0)
    expected = {
        "tracks",
        "order_completed",
        "signed_up",
        "identifies",
        "users",
        "pages",
        "screens",
        "groups",
        "aliases",
    }
    assert set(result.rows) == expected
    assert result.rows["tracks"] == 2 and result.rows["order_completed"] == 1
    tracks = lake_file(s3, "tracks").to_pylist()
    assert sorted(row["event_text"] for row in tracks) == ["Order Completed", "Signed Up"]
    assert {row["id"] for row in tracks} == {"m1", "m2"}
    assert lake_file(s3, "order_completed").to_pylist()[0]["total"] == 30.5
    tables = {table["Name"] for table in glue.get_tables(DatabaseName=LAKE_DATABASE)["TableList"]}
    assert tables == expected
    described = glue.get_table(DatabaseName=LAKE_DATABASE, Name="tracks")["Table"]
    assert [key["Name"] for key in described["PartitionKeys"]] == ["source_id", "date", "hour"]
    assert described["Parameters"]["storage.location.template"] == (
        f"s3://{BUCKET}/lake/tracks/source_id=${{source_id}}/date=${{date}}/hour=${{hour}}/"
    )
    assert glue_columns(glue, "order_completed")["total"] == "double"


def test_a_closed_hour_is_compacted_into_one_object_holding_every_line_once(aws: tuple[Any, Any]):
    s3, glue = aws
    keys = archive(s3, HOUR, EVENTS[:2], EVENTS[2:5], EVENTS[5:])
    before = sorted(
        line
        for key in keys
        for line in gzip.decompress(s3.get_object(Bucket=BUCKET, Key=key)["Body"].read()).splitlines()
    )
    result = loader(s3, glue).load(HOUR, compact=True)
    assert (result.objects_before, result.objects_after) == (3, 1)
    assert keys_under(s3, HOUR.partition) == [compacted_key(HOUR, 0)]
    compacted = s3.get_object(Bucket=BUCKET, Key=compacted_key(HOUR, 0))["Body"].read()
    assert sorted(gzip.decompress(compacted).splitlines()) == before, "every line byte for byte"


def test_a_large_hour_is_compacted_into_objects_of_bounded_size(aws: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch):
    s3, glue = aws
    monkeypatch.setattr(loader_module, "COMPACTED_LINES", 3)
    archive(s3, HOUR, EVENTS[:2], EVENTS[2:4], EVENTS[4:6], EVENTS[6:])
    result = loader(s3, glue).load(HOUR, compact=True)
    assert (result.objects_before, result.objects_after) == (4, 3)
    assert keys_under(s3, HOUR.partition) == [compacted_key(HOUR, index) for index in range(3)]
    again = loader(s3, glue).load(HOUR, compact=True)
    assert (again.objects_before, again.objects_after) == (3, 3), "compacted already: nothing rewritten"
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix=compacted_key(HOUR, 0))["Versions"]
    assert len(versions) == 1


def test_a_compaction_cut_short_leaves_no_duplicate_in_the_next_load(aws: tuple[Any, Any]):
    s3, glue = aws
    archive(s3, HOUR, EVENTS[:4], EVENTS[4:])
    # What a loader that died between writing the compacted object and deleting the small ones leaves.
    s3.put_object(Bucket=BUCKET, Key=compacted_key(HOUR, 0), Body=gz(*EVENTS))
    result = loader(s3, glue).load(HOUR, compact=True)
    assert result.messages == 7 and result.rows["tracks"] == 2
    assert keys_under(s3, HOUR.partition) == [compacted_key(HOUR, 0)]
    compacted = s3.get_object(Bucket=BUCKET, Key=compacted_key(HOUR, 0))["Body"].read()
    assert len(gzip.decompress(compacted).splitlines()) == 7


def test_loading_an_hour_again_changes_nothing_and_keeps_one_version_per_file(aws: tuple[Any, Any]):
    s3, glue = aws
    archive(s3, HOUR, EVENTS)
    first = loader(s3, glue).load(HOUR, compact=True)
    tables_before = {name: lake_file(s3, name).to_pylist() for name in first.rows}
    second = loader(s3, glue).load(HOUR, compact=True)
    assert second.rows == first.rows
    assert {name: lake_file(s3, name).to_pylist() for name in second.rows} == tables_before
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix="lake/")
    keys = [version["Key"] for version in versions.get("Versions", [])]
    assert len(keys) == len(set(keys)), "older versions of a replaced file are deleted"


def test_a_new_property_adds_a_column_and_a_type_conflict_widens_it_everywhere(aws: tuple[Any, Any]):
    s3, glue = aws
    later = Hour("web", "2026-11-30", "11")
    archive(s3, HOUR, [message("track", "a1", event="Signed Up", properties={"seats": 3})])
    archive(s3, later, [message("track", "a2", event="Signed Up", properties={"seats": "many", "coupon": "X"})])
    lake = loader(s3, glue)
    lake.load(HOUR, compact=False)
    assert glue_columns(glue, "signed_up")["seats"] == "bigint"
    result = lake.load(later, compact=False)
    columns = glue_columns(glue, "signed_up")
    assert (columns["seats"], columns["coupon"]) == ("string", "string")
    assert result.widened == {"signed_up": ["seats"]}
    # The earlier hour's file now holds the column as the catalog declares it.
    assert lake_file(s3, "signed_up", HOUR).to_pylist()[0]["seats"] == "3"
    assert lake_file(s3, "signed_up", later).to_pylist()[0]["seats"] == "many"


def test_selective_sync_leaves_events_and_properties_out_and_removes_what_it_no_longer_loads(aws: tuple[Any, Any]):
    s3, glue = aws
    archive(s3, HOUR, EVENTS)
    loader(s3, glue).load(HOUR, compact=False)
    assert keys_under(s3, "lake/signed_up/") == ["lake/signed_up/" + HOUR.partition + "part-00000.parquet"]
    narrowed = {"web": LakeSync(exclude_events=("Signed Up",), exclude_properties=("total",))}
    result = loader(s3, glue, narrowed).load(HOUR, compact=False)
    assert "signed_up" not in result.rows and result.rows["tracks"] == 1
    assert keys_under(s3, "lake/signed_up/") == []
    versions = s3.list_object_versions(Bucket=BUCKET, Prefix="lake/signed_up/")
    assert not versions.get("Versions") and not versions.get("DeleteMarkers"), "no version of it is kept"
    assert "total" not in lake_file(s3, "order_completed").column_names
    off = loader(s3, glue, {"web": LakeSync(enabled=False)}).load(HOUR, compact=False)
    assert off.rows == {} and keys_under(s3, "lake/") == []


def test_the_catalog_only_grows_and_widens():
    assert merged({"a": "bigint", "b": "string"}, {"a": "bigint", "c": "double"}) == {
        "a": "bigint",
        "b": "string",
        "c": "double",
    }
    assert merged({"a": "bigint"}, {"a": "double"}) == {"a": "string"}


def test_a_chunk_is_parsed_line_by_line_into_tables_counting_what_is_no_message():
    lines = [orjson.dumps(event) for event in EVENTS[:2]] + [b"{not json", b'"a string"', orjson.dumps(EVENTS[2])]
    asked: list[str] = []

    def known(tables: Any) -> dict[str, dict[str, str]]:
        asked.extend(tables)
        return {"order_completed": {"plan": "string"}}

    chunk = loader_module.build_chunk(lines, loaded_at=LOADED_AT, sync=LakeSync(), known=known)
    assert (chunk.messages, chunk.skipped) == (4, 2)  # the bad line, and the string that is no message
    assert set(asked) == set(chunk.builds) == {"tracks", "order_completed", "signed_up", "identifies", "users"}
    assert chunk.builds["order_completed"].columns["plan"] == "string"  # the catalog's type: 1 written as "1"
    assert chunk.builds["order_completed"].table.column("plan").to_pylist() == ["1"]
    assert chunk.builds["tracks"].table.num_rows == 2


def at(hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, 30, hour, minute, tzinfo=UTC)


def test_a_scheduled_run_loads_closed_hours_whose_archive_changed_since_their_load():
    archived = {Hour("web", "2026-11-30", "09"): at(9, 59), Hour("web", "2026-11-30", "10"): at(10, 59)}
    loaded = {Hour("web", "2026-11-30", "09"): at(10, 5)}
    due = due_hours(at(11, 10), ["web", "app"], 0, archived.get, loaded.get)
    assert due == [Hour("web", "2026-11-30", "10")], "09 is loaded and unchanged; app archived nothing"
    loaded[Hour("web", "2026-11-30", "09")] = at(9, 30)  # records arrived after its last load
    assert Hour("web", "2026-11-30", "09") in due_hours(at(11, 10), ["web"], 0, archived.get, loaded.get)
    # The router is 20 minutes behind: 10:00-11:00 is not complete in the archive yet.
    assert due_hours(at(11, 10), ["web"], 20 * 60, archived.get, {}.get) == [Hour("web", "2026-11-30", "09")]


def test_the_service_loads_every_hour_it_can_and_compacts_only_closed_ones(aws: tuple[Any, Any]):
    s3, glue = aws
    open_hour = Hour("web", "2026-11-30", "12")
    archive(s3, HOUR, EVENTS[:3], EVENTS[3:])
    archive(s3, open_hour, EVENTS[:1], EVENTS[1:2])
    lake = loader(s3, glue)
    service = LakeService(lake, lambda: None, lambda: 0.0, clock=lambda: at(12, 30))  # type: ignore[arg-type,return-value]
    hours = [{"source": h.source_id, "date": h.date, "hour": h.hour} for h in (HOUR, open_hour)]
    hours.append({"source": "web", "date": "not-a-date", "hour": "1"})
    report = service.handle({"hours": hours})
    assert [load.hour for load in report.loaded] == [HOUR, open_hour]
    assert [load.objects_after for load in report.loaded] == [1, 2], "the open hour keeps its objects"
    assert list(report.failed) == [Hour("web", "not-a-date", "01")]
    assert report.to_output()["failed"][0]["error"].startswith("ValueError")
    failure = s3.get_object(Bucket=BUCKET, Key="_lake_loads/source_id=web/date=not-a-date/hour=01/failed.json")
    assert orjson.loads(failure["Body"].read())["error"].startswith("ValueError"), "failed hours are recorded"
    assert keys_under(s3, "_lake_loads/source_id=web/date=2026-11-30/hour=10/") == [
        "_lake_loads/source_id=web/date=2026-11-30/hour=10/load.json"
    ]


def test_an_hour_with_nothing_archived_writes_nothing(aws: tuple[Any, Any]):
    s3, glue = aws
    result = loader(s3, glue).load(HOUR, compact=True)
    assert (result.messages, result.rows, result.objects_after) == (0, {}, 0)
    assert keys_under(s3, "lake/") == []


def test_hours_of_a_range(aws: tuple[Any, Any]):
    from switchyard.lake.schedule import hours_between

    hours = hours_between(["web"], at(22, 30) - timedelta(days=1), at(0, 10))
    assert [h.label for h in hours] == ["web 2026-11-29T22", "web 2026-11-29T23", "web 2026-11-30T00"]


class RecordingLambda:
    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def invoke(self, **arguments: Any) -> dict[str, Any]:
        self.calls.append({**arguments, "Payload": orjson.loads(arguments["Payload"])})
        return {"StatusCode": 202}


def test_a_deletion_asks_the_loader_to_rebuild_each_hour_it_rewrote_once_without_waiting():
    from switchyard.lake.reloads import HOURS_PER_REQUEST, LakeReloads, hour_of_key

    assert hour_of_key(compacted_key(HOUR, 0)) == HOUR
    assert hour_of_key("_deletions/abc/manifest.json") is None
    client = RecordingLambda()
    keys = [f"{HOUR.partition}a.jsonl.gz", f"{HOUR.partition}b.jsonl.gz", "source_id=app/date=2026-11-30/hour=11/c"]
    assert LakeReloads(client, "switchyard-lake-loader-us-west-2").request(keys) == 2
    [call] = client.calls
    assert (call["FunctionName"], call["InvocationType"]) == ("switchyard-lake-loader-us-west-2", "Event")
    assert call["Payload"] == {
        "hours": [
            {"source": "app", "date": "2026-11-30", "hour": "11"},
            {"source": "web", "date": "2026-11-30", "hour": "10"},
        ]
    }
    many = [f"source_id=web/date=2026-11-{1 + i // 24:02d}/hour={i % 24:02d}/x" for i in range(HOURS_PER_REQUEST + 5)]
    client = RecordingLambda()
    LakeReloads(client, "loader").request(many)
    assert [len(call["Payload"]["hours"]) for call in client.calls] == [HOURS_PER_REQUEST, 5]


def test_a_busy_hour_is_loaded_in_chunks_and_a_smaller_reload_removes_the_surplus_files(
    aws: tuple[Any, Any], monkeypatch: pytest.MonkeyPatch
):
    s3, glue = aws
    monkeypatch.setattr(loader_module, "CHUNK_LINES", 3)
    many = [message("track", f"c{index}", event="Signed Up", properties={"n": index}) for index in range(8)]
    keys = archive(s3, HOUR, many[:4], many[4:])
    result = loader(s3, glue).load(HOUR, compact=False)
    assert result.rows["signed_up"] == 8 and result.messages == 8
    parts = keys_under(s3, f"lake/signed_up/{HOUR.partition}")
    assert [key.rsplit("/", 1)[1] for key in parts] == [
        "part-00000.parquet",
        "part-00001.parquet",
        "part-00002.parquet",
    ]
    assert sorted(lake_file(s3, "signed_up").column("n").to_pylist()) == list(range(8))
    s3.delete_object(Bucket=BUCKET, Key=keys[1])  # what a user deletion leaves: fewer events
    loader(s3, glue).load(HOUR, compact=False)
    assert len(keys_under(s3, f"lake/signed_up/{HOUR.partition}")) == 2
    assert sorted(lake_file(s3, "signed_up").column("n").to_pylist()) == [0, 1, 2, 3]
