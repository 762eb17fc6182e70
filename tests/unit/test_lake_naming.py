"""Lake table and column names: Segment's go-snakecase, digits, reserved words, unicode, length, collisions."""

from __future__ import annotations

import re

import pytest

from switchyard.lake.naming import MAX_NAME_LENGTH, column_name, snakecase, table_name

# go-snakecase's own test cases (segmentio/go-snakecase, snake_test.go).
GO_SNAKECASE_SAMPLES = [
    ("sample text", "sample_text"),
    ("sample-text", "sample_text"),
    ("sample_text", "sample_text"),
    ("sample___text", "sample_text"),
    ("sampleText", "sample_text"),
    ("inviteYourCustomersAddInvites", "invite_your_customers_add_invites"),
    ("sample 2 Text", "sample_2_text"),
    ("   sample   2    Text   ", "sample_2_text"),
    ("   $#$sample   2    Text   ", "sample_2_text"),
    ("SAMPLE 2 TEXT", "sample_2_text"),
    ("___$$Base64Encode", "base64_encode"),
    ("FOO:BAR$BAZ", "foo_bar_baz"),
    ("FOO#BAR#BAZ", "foo_bar_baz"),
    ("something.com", "something_com"),
    ("$something%", "something"),
    ("•¶§ƒ˚foo˙∆˚¬", "foo"),
    ("CStringRef", "cstring_ref"),
]


@pytest.mark.parametrize(("text", "expected"), GO_SNAKECASE_SAMPLES)
def test_snakecase_matches_go_snakecase(text: str, expected: str):
    assert snakecase(text) == expected


@pytest.mark.parametrize(
    ("event", "table"),
    [
        ("Order Completed", "order_completed"),
        ("order_completed", "order_completed"),
        ("OrderCompleted", "order_completed"),
        ("order-completed", "order_completed"),
        ("  Order -- Completed!! ", "order_completed"),
        ("Product ID Viewed", "product_id_viewed"),
        ("productIDViewed", "product_idviewed"),  # go-snakecase keeps an upper-case run as one word
        ("Signed Up v2", "signed_up_v2"),
        ("Identify", "identify"),
    ],
)
def test_event_names_become_snake_case_tables(event: str, table: str):
    assert table_name(event) == table


@pytest.mark.parametrize(
    ("event", "table"),
    [
        ("101 Account Update", "_101_account_update"),  # the example in Segment's Data Lakes docs
        ("2FA Enabled", "_2fa_enabled"),
        ("3", "_3"),
    ],
)
def test_a_leading_digit_gets_an_underscore(event: str, table: str):
    assert table_name(event) == table


@pytest.mark.parametrize(
    ("event", "table"),
    [("Select", "_select"), ("open", "_open"), ("Order", "_order"), ("User", "_user"), ("Group", "_group")],
)
def test_sql_reserved_words_get_an_underscore(event: str, table: str):
    assert table_name(event) == table


@pytest.mark.parametrize("standard", ["tracks", "pages", "screens", "identifies", "groups", "aliases", "users"])
def test_events_named_like_a_standard_table_get_an_underscore(standard: str):
    assert table_name(standard) == "_" + standard
    assert table_name(standard.title()) == "_" + standard
    assert column_name(standard) == standard  # columns may take those names


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Café Visité", "cafe_visite"),
        ("Größe Gewählt", "grosse_gewahlt"),
        ("Ærøskøbing", "aeroskobing"),
        ("naïve résumé", "naive_resume"),
        ("Ｆｕｌｌｗｉｄｔｈ", "fullwidth"),  # NFKD folds compatibility forms too
        ("Signed Up 🎉", "signed_up"),
    ],
)
def test_accented_latin_letters_keep_their_base_letter(name: str, expected: str):
    assert table_name(name) == expected
    assert column_name(name) == expected


@pytest.mark.parametrize("name", ["購入完了", "!!!", "", "🎉", "—"])
def test_a_name_with_nothing_usable_left_is_named_by_its_hash(name: str):
    table = table_name(name)
    assert re.fullmatch(r"unnamed_[0-9a-f]{8}", table)
    assert table_name(name) == table  # stable: the same table in every batch
    assert column_name(name) == table


def test_different_unusable_names_stay_different():
    assert len({table_name(name) for name in ["購入完了", "キャンセル", "!!!", "???", ""]}) == 5


def test_long_names_are_cut_to_the_limit_with_a_hash_that_keeps_them_apart():
    shared = "Checkout Step Completed With A Very Long Descriptive Name " * 4
    first, second = table_name(shared + "Alpha"), table_name(shared + "Beta")
    assert len(first) == len(second) == MAX_NAME_LENGTH
    assert first != second
    assert first.startswith("checkout_step_completed_with_a_very_long_descriptive_name_checkout")
    assert re.fullmatch(r"[a-z0-9_]+_[0-9a-f]{8}", first)
    assert table_name(shared + "Alpha") == first


def test_a_name_at_the_limit_is_kept_whole():
    name = "a" * MAX_NAME_LENGTH
    assert table_name(name) == name
    assert len(column_name("b" * (MAX_NAME_LENGTH + 1))) == MAX_NAME_LENGTH


@pytest.mark.parametrize(
    ("path", "column"),
    [
        ("context.page.url", "context_page_url"),
        ("context.userAgent", "context_user_agent"),
        ("context.app.version", "context_app_version"),
        ("product.id", "product_id"),
        ("productId", "product_id"),
        ("product_id.sku", "product_id_sku"),
        ("address.street", "address_street"),
        ("accountType", "account_type"),
        ("_metadata", "metadata"),
        ("timestamp", "_timestamp"),  # a reserved word: properties never take a table's own names
        ("open", "_open"),
    ],
)
def test_column_names_flatten_with_underscores(path: str, column: str):
    assert column_name(path) == column


def test_spellings_of_one_name_collide_into_one_column():
    spellings = ["productId", "product_id", "ProductId", "Product Id", "product.id", "product__id", "PRODUCT_ID"]
    assert {column_name(spelling) for spelling in spellings} == {"product_id"}
    assert {table_name(name) for name in ["Order Completed", "order_completed", "ORDER COMPLETED"]} == {
        "order_completed"
    }


@pytest.mark.parametrize(
    "name",
    ["Order Completed", "101 Account Update", "Select", "購入完了", "x" * 300, "Café", "context.page.url", "_private"],
)
def test_names_normalise_once_and_for_all(name: str):
    """A column name given back (a selective sync setting, say) names the same column."""
    column = column_name(name)
    assert column_name(column) == column
    assert re.fullmatch(r"[a-z0-9_]+", column)
    assert not column[0].isdigit()
