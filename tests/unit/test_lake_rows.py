"""Messages to the rows of Segment's warehouse tables: tables, columns, flattening, users, selective sync, bad input."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from switchyard.config.compiled import LakeSync
from switchyard.lake.rows import (
    COMMON_COLUMNS,
    MAX_FLATTEN_DEPTH,
    LakeRows,
    build_rows,
)

LOADED_AT = datetime(2026, 11, 30, 13, 5, tzinfo=UTC)
CONTEXT = {
    "library": {"name": "analytics.js", "version": "next-1.72.0"},
    "page": {"path": "/p/1", "url": "https://shop.example.eu/p/1", "title": "Kettle"},
    "userAgent": "Mozilla/5.0",
    "ip": "203.0.113.41",
    "screen": {"width": 1512, "height": 982},
}


def envelope(kind: str, message_id: str, **fields: object) -> dict:
    return {
        "type": kind,
        "messageId": message_id,
        "anonymousId": "anon-1",
        "userId": "user-1",
        "receivedAt": "2026-11-30T12:00:01.412Z",
        "sentAt": "2026-11-30T12:00:01.000Z",
        "originalTimestamp": "2026-11-30T12:00:00.123Z",
        "timestamp": "2026-11-30T12:00:00.535Z",
        "context": CONTEXT,
        "integrations": {"All": True},
        "projectId": "source-1",
        "channel": "client",
        **fields,
    }


def track(message_id: str = "t1", event: str = "Order Completed", /, **properties: object) -> dict:
    return envelope("track", message_id, event=event, properties=properties)


def rows_of(batch: LakeRows, table: str) -> list[dict[str, object]]:
    return batch.tables[table].rows()


def build(*messages: object, sync: LakeSync | None = None) -> LakeRows:
    return build_rows(list(messages), loaded_at=LOADED_AT, sync=sync or LakeSync())


def test_each_message_type_lands_in_its_table():
    batch = build(
        track(),
        envelope("page", "p1", name="Home", category="Docs", properties={"title": "Welcome"}),
        envelope("screen", "s1", name="Settings", properties={"tab": "privacy"}),
        envelope("identify", "i1", traits={"email": "zoe@example.com"}),
        envelope("group", "g1", groupId="acme", traits={"employees": 42}),
        envelope("alias", "a1", previousId="anon-1"),
    )
    assert set(batch.tables) == {
        "tracks",
        "order_completed",
        "pages",
        "screens",
        "identifies",
        "groups",
        "aliases",
        "users",
    }
    assert batch.bad_messages == 0
    assert [len(batch.tables[name]) for name in ("tracks", "pages", "screens", "identifies", "groups", "aliases")] == [
        1
    ] * 6


def test_each_table_has_exactly_its_own_columns_context_and_payload():
    def message(kind: str, **fields: object) -> dict:
        return {**envelope(kind, kind[0] + "1", **fields), "context": {"ip": "203.0.113.41"}}

    batch = build(
        message("track", event="Order Completed", properties={"total": 5}),
        message("page", name="Home", category="Docs", properties={"title": "Welcome"}),
        message("screen", name="Settings", properties={"tab": "privacy"}),
        message("identify", traits={"email": "zoe@example.com"}),
        message("group", groupId="acme", traits={"employees": 42}),
        message("alias", previousId="anon-1"),
    )
    common = set(COMMON_COLUMNS) | {"context_ip"}
    assert {name: set(rows.columns()) for name, rows in batch.tables.items()} == {
        "tracks": common | {"event", "event_text"},
        "order_completed": common | {"event", "event_text", "total"},
        "pages": common | {"name", "category", "title"},
        "screens": common | {"name", "category", "tab"},
        "identifies": common | {"email"},
        "groups": common | {"group_id", "employees"},
        "aliases": common | {"previous_id"},
        "users": {"id", "received_at", "uuid_ts", "email"},
    }


def test_every_table_has_the_common_columns_from_the_envelope():
    batch = build(track(), envelope("identify", "i1", traits={"plan": "pro"}))
    for table in ("tracks", "order_completed", "identifies"):
        (row,) = rows_of(batch, table)
        assert set(COMMON_COLUMNS) <= set(row)
        assert row["received_at"] == "2026-11-30T12:00:01.412Z"
        assert row["sent_at"] == "2026-11-30T12:00:01.000Z"
        assert row["original_timestamp"] == "2026-11-30T12:00:00.123Z"
        assert row["timestamp"] == "2026-11-30T12:00:00.535Z"
        assert row["uuid_ts"] == LOADED_AT
        assert row["anonymous_id"] == "anon-1"
        assert row["user_id"] == "user-1"
    assert rows_of(batch, "tracks")[0]["id"] == "t1"
    assert rows_of(batch, "identifies")[0]["id"] == "i1"


def test_context_is_flattened_and_envelope_only_fields_are_left_out():
    (row,) = rows_of(build(track()), "tracks")
    assert row["context_page_url"] == "https://shop.example.eu/p/1"
    assert row["context_library_name"] == "analytics.js"
    assert row["context_user_agent"] == "Mozilla/5.0"
    assert row["context_screen_width"] == 1512
    assert not {"type", "project_id", "channel", "integrations", "integrations_all", "context"} & set(row)


def test_tracks_have_the_event_slug_and_text_but_no_properties():
    batch = build(track(price=49.5, currency="EUR"))
    (row,) = rows_of(batch, "tracks")
    assert row["event"] == "order_completed"
    assert row["event_text"] == "Order Completed"
    assert "price" not in row and "currency" not in row


def test_each_event_gets_a_table_with_its_properties():
    batch = build(
        track("t1", "Order Completed", total=99.5, productId="sku-1"),
        track("t2", "Signed Up", plan="pro"),
        track("t3", "order_completed", total=10),
    )
    assert batch.event_tables == ("order_completed", "signed_up")
    orders = rows_of(batch, "order_completed")
    assert [(row["id"], row["event_text"], row["total"]) for row in orders] == [
        ("t1", "Order Completed", 99.5),
        ("t3", "order_completed", 10),
    ]
    assert {row["event"] for row in orders} == {"order_completed"}
    assert orders[0]["product_id"] == "sku-1"
    assert orders[0]["context_page_path"] == "/p/1"
    (signup,) = rows_of(batch, "signed_up")
    assert signup["plan"] == "pro" and "total" not in signup
    assert sorted(row["id"] for row in rows_of(batch, "tracks")) == ["t1", "t2", "t3"]


def test_a_new_property_adds_a_column_null_for_earlier_rows():
    batch = build(track("t1", total=1), track("t2", total=2, coupon="WINTER"))
    columns = batch.tables["order_completed"].columns()
    assert columns["coupon"] == [None, "WINTER"]
    assert columns["total"] == [1, 2]
    assert all(len(values) == 2 for values in columns.values())


def test_nested_properties_flatten_and_arrays_stay_json():
    batch = build(
        track(
            product={"id": "sku-1", "price": {"amount": 10, "currency": "EUR"}},
            products=[{"id": "a"}, {"id": "b"}],
            tags=["x", "y"],
        )
    )
    (row,) = rows_of(batch, "order_completed")
    assert row["product_id"] == "sku-1"
    assert row["product_price_amount"] == 10
    assert row["product_price_currency"] == "EUR"
    assert json.loads(row["products"]) == [{"id": "a"}, {"id": "b"}]
    assert row["tags"] == '["x","y"]'


def test_objects_deeper_than_the_limit_stay_json():
    assert MAX_FLATTEN_DEPTH == 4
    deep = {"a": {"b": {"c": {"d": "leaf", "e": {"f": 1}}}}}
    context = {**CONTEXT, "traits": {"address": {"geo": {"lat": 47.4, "more": {"x": 1}}}}}
    batch = build(envelope("track", "t1", event="Deep", properties=deep, context=context))
    (row,) = rows_of(batch, "deep")
    assert row["a_b_c_d"] == "leaf"
    assert json.loads(row["a_b_c_e"]) == {"f": 1}
    assert row["context_traits_address_geo_lat"] == 47.4
    assert json.loads(row["context_traits_address_geo_more"]) == {"x": 1}


def test_nulls_and_empty_objects_make_no_column():
    batch = build(track(coupon=None, extra={}, total=1))
    assert "coupon" not in batch.tables["order_completed"].columns()
    assert "extra" not in batch.tables["order_completed"].columns()


def test_properties_named_like_the_tables_own_columns_are_dropped():
    own = ("id", "user_id", "event", "event_text", "received_at", "timestamp", "uuid_ts", "userId", "_anonymous_id")
    (row,) = rows_of(build(track(**dict.fromkeys(own, "spoofed"), total=5)), "order_completed")
    assert row["id"] == "t1" and row["user_id"] == "user-1" and row["anonymous_id"] == "anon-1"
    assert (row["event"], row["event_text"]) == ("order_completed", "Order Completed")
    assert row["received_at"] == "2026-11-30T12:00:01.412Z" and row["uuid_ts"] == LOADED_AT
    assert row["timestamp"] == "2026-11-30T12:00:00.535Z" and "_timestamp" not in row
    assert row["total"] == 5


def test_properties_never_take_context_columns():
    message = track(context={"ip": "10.0.0.1", "extra": "x"}, context_ip="10.0.0.2", total=5)
    (row,) = rows_of(build(message), "order_completed")
    assert row["context_ip"] == "203.0.113.41"
    assert "context_extra" not in row


def test_an_anonymous_message_has_no_user_id_and_a_user_id_property_cannot_fill_it():
    message = track(user_id="spoofed")
    del message["userId"]
    (row,) = rows_of(build(message), "order_completed")
    assert "user_id" not in row


@pytest.mark.parametrize(
    ("properties", "expected"),
    [
        ({"productId": "camel", "product_id": "snake"}, "snake"),
        ({"product_id": "snake", "productId": "camel"}, "snake"),
        ({"productId": "camel", "ProductId": "pascal"}, "camel"),
        ({"ProductId": "pascal", "productId": "camel"}, "pascal"),
        ({"product": {"id": "nested"}, "product_id": "snake"}, "snake"),
        ({"product_id": "snake", "product": {"id": "nested"}}, "snake"),
        ({"product": {"id": "nested"}, "productId": "camel"}, "nested"),
        ({"product_id": None, "productId": "camel"}, "camel"),
    ],
)
def test_keys_landing_on_one_column_the_one_written_as_the_column_wins(properties: dict, expected: str):
    (row,) = rows_of(build(track(**properties)), "order_completed")
    assert row["product_id"] == expected


def test_context_keys_landing_on_one_column_settle_the_same_way():
    context = {"userAgent": "camel", "user_agent": "snake", "page": {"url": "nested"}, "page_url": "flat"}
    (row,) = rows_of(build(envelope("track", "t1", event="E", context=context)), "e")
    assert (row["context_user_agent"], row["context_page_url"]) == ("snake", "flat")


def test_spellings_share_a_column_across_messages():
    batch = build(track("t1", productId="a"), track("t2", product_id="b"))
    assert batch.tables["order_completed"].columns()["product_id"] == ["a", "b"]


def test_unicode_and_reserved_keys_are_normalised():
    (row,) = rows_of(build(track(**{"Größe": "XL", "open": True, "Preis (€)": 3})), "order_completed")
    assert row["grosse"] == "XL"
    assert row["_open"] is True
    assert row["preis"] == 3


def test_pages_and_screens_have_name_category_and_properties():
    batch = build(
        envelope("page", "p1", name="Pricing", category="Marketing", properties={"title": "Plans", "path": "/pricing"}),
        envelope("page", "p2", properties={"name": "From Properties", "category": "Docs", "url": "/docs"}),
        envelope("screen", "s1", name="Settings", properties={"tab": "privacy"}),
    )
    first, second = rows_of(batch, "pages")
    assert (first["name"], first["category"]) == ("Pricing", "Marketing")
    assert (first["title"], first["path"]) == ("Plans", "/pricing")
    assert (second["name"], second["category"], second["url"]) == ("From Properties", "Docs", "/docs")
    (screen,) = rows_of(batch, "screens")
    assert (screen["name"], screen["tab"]) == ("Settings", "privacy")


def test_identifies_groups_and_aliases_carry_their_own_fields_and_traits():
    batch = build(
        envelope("identify", "i1", traits={"email": "zoe@example.com", "address": {"city": "Zürich"}, "id": "x"}),
        envelope("group", "g1", groupId="acme", traits={"employeeCount": 42, "name": "Acme"}),
        envelope("alias", "a1", previousId="anon-1", userId="user-1"),
    )
    (identify,) = rows_of(batch, "identifies")
    assert (identify["email"], identify["address_city"], identify["id"]) == ("zoe@example.com", "Zürich", "i1")
    (group,) = rows_of(batch, "groups")
    assert (group["group_id"], group["employee_count"], group["name"]) == ("acme", 42, "Acme")
    (alias,) = rows_of(batch, "aliases")
    assert (alias["previous_id"], alias["user_id"]) == ("anon-1", "user-1")


def test_users_hold_the_latest_traits_per_user():
    batch = build(
        envelope("identify", "i2", userId="u1", receivedAt="2026-11-30T12:30:00Z", traits={"plan": "pro", "seats": 5}),
        envelope(
            "identify",
            "i1",
            userId="u1",
            receivedAt="2026-11-30T12:00:00Z",
            traits={"plan": "free", "email": "a@example.com"},
        ),
        envelope("identify", "i3", userId=42, receivedAt="2026-11-30T12:10:00Z", traits={"plan": "team"}),
        envelope("identify", "i4", userId=None, traits={"plan": "anonymous"}),
    )
    users = {row["id"]: row for row in rows_of(batch, "users")}
    assert set(users) == {"u1", "42"}
    assert users["u1"]["plan"] == "pro"  # the later identify, though it came first
    assert users["u1"]["email"] == "a@example.com"  # kept from the earlier one
    assert users["u1"]["seats"] == 5
    assert users["u1"]["received_at"] == "2026-11-30T12:30:00Z"
    assert users["u1"]["uuid_ts"] == LOADED_AT
    assert "anonymous_id" not in users["u1"] and "context_ip" not in users["u1"]
    assert batch.tables["users"].standard_columns == ("id", "received_at", "uuid_ts")


def test_no_users_table_without_identified_users():
    message = envelope("identify", "i1", traits={"plan": "free"})
    del message["userId"]
    assert "users" not in build(message).tables


def test_a_naive_load_time_is_utc():
    batch = build_rows([track()], loaded_at=datetime(2026, 11, 30, 13, 5))
    assert rows_of(batch, "tracks")[0]["uuid_ts"] == LOADED_AT


def test_selective_sync_disabled_gives_no_rows():
    batch = build(track(), envelope("identify", "i1"), sync=LakeSync(enabled=False))
    assert batch.tables == {} and batch.bad_messages == 0


def test_selective_sync_drops_excluded_events_by_name_or_table():
    batch = build(
        track("t1", "Order Completed"),
        track("t2", "Signed Up"),
        track("t3", "Cart Viewed"),
        sync=LakeSync(exclude_events=("Order Completed", "signed_up")),
    )
    assert set(batch.tables) == {"tracks", "cart_viewed"}
    assert [row["id"] for row in rows_of(batch, "tracks")] == ["t3"]
    assert batch.excluded_messages == 2


def test_selective_sync_drops_properties_traits_and_context_keys_everywhere():
    sync = LakeSync(exclude_properties=("email", "address.street", "context.ip", "product", "context.page"))
    batch = build(
        track(product={"id": "sku-1"}, product_count=2, email="x@example.com"),
        envelope("identify", "i1", traits={"email": "zoe@example.com", "address": {"street": "Main", "city": "Bern"}}),
        sync=sync,
    )
    order = rows_of(batch, "order_completed")[0]
    assert not {"email", "product_id", "context_ip", "context_page_url", "context_page_path"} & set(order)
    assert order["product_count"] == 2  # a sibling key is not a child of the excluded one
    assert order["context_library_name"] == "analytics.js"
    for table in ("identifies", "users"):
        (row,) = rows_of(batch, table)
        assert "email" not in row and "address_street" not in row
        assert row["address_city"] == "Bern"


@pytest.mark.parametrize(
    "bad",
    [
        None,
        "track",
        42,
        ["track"],
        {},
        {"messageId": "no-type"},
        {"type": "bogus"},
        {"type": ["track"]},
        {"type": None},
        {"type": "track"},  # no event name
        {"type": "track", "event": ""},
        {"type": "track", "event": 7},
    ],
    ids=repr,
)
def test_bad_messages_are_skipped_and_counted(bad: object):
    batch = build(bad, track(), bad)
    assert batch.bad_messages == 2
    assert len(batch.tables["tracks"]) == 1


def test_odd_but_valid_shapes_do_not_raise():
    batch = build(
        envelope("track", "t1", event="Odd", properties="not an object", context=["not", "an", "object"]),
        envelope("identify", "i1", traits=None),
        envelope("page", "p1", properties=None, name=None),
    )
    assert batch.bad_messages == 0
    (row,) = rows_of(batch, "odd")
    assert row["event"] == "odd" and not any(name.startswith("context_") for name in row)


def test_no_messages_no_tables():
    batch = build()
    assert batch.tables == {} and batch.bad_messages == 0 and batch.excluded_messages == 0
