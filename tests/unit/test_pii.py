"""Personal data: the built-in and custom matchers (by key, by whole value with check digits),
removing and hashing per destination, and the router's bounded inventory."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import random
from typing import Any

import orjson
import pytest

from switchyard.config.compiled import CompiledWorkspace, DestinationPii, PiiMatcher
from switchyard.config.workspace import ConfigError, compile_workspace, parse_workspace
from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.policy import Action
from switchyard.privacy.inventory import MAX_FIELDS_PER_BATCH, count_pii, field_pattern
from switchyard.privacy.pii import PiiScanner, redacted
from switchyard.router.service import KinesisRecord, Router
from tests.support.delivery import FakeAdapter, FakeDeadLetters, make_deliverer, queued
from tests.support.router import MemoryArchive, MemoryDedupe, MemoryQueue

SCANNER = PiiScanner()


@pytest.mark.parametrize(
    ("value", "kind"),
    [
        ("ana@shop.io", "email"),
        (" Ana.Silva+news@mail.example.pt ", "email"),
        ("+351210000000", "phone"),
        ("4111 1111 1111 1111", "credit_card"),
        ("5500-0000-0000-0004", "credit_card"),
        ("GB82 WEST 1234 5698 7654 32", "iban"),
        ("DE89370400440532013000", "iban"),
        ("203.0.113.7", "ip_address"),
        ("2001:db8::8a2e:370:7334", "ip_address"),
        ("078-05-1120", "ssn"),
    ],
)
def test_values_of_each_built_in_class_are_found(value: str, kind: str):
    assert SCANNER.kind_of_value(value) == kind


@pytest.mark.parametrize(
    "value",
    [
        "4111 1111 1111 1112",  # fails Luhn
        "1234567890123456",  # not a card's first digit
        "GB82 WEST 1234 5698 7654 33",  # fails mod 97
        "999.1.1.300",
        "12:30:45",
        "000-12-3456",  # never issued
        "2026-11-30T10:00:00.000Z",
        "Order Completed",
        "ana@",
        "210000000",  # a phone number without its country code is just digits
    ],
)
def test_near_misses_are_not_personal_data(value: str):
    assert SCANNER.kind_of_value(value) is None


def test_key_names_match_without_case_or_separators_and_message_fields_are_never_scanned():
    message = {
        "type": "identify",
        "userId": "ana@shop.io",
        "messageId": "4111111111111111",
        "traits": {"Email_Address": "not-an-email", "phone-number": 351210000000, "address": {"street": "Rua 1"}},
        "context": {"ip": "203.0.113.7", "library": {"name": "ana@shop.io"}, "traits": {"mail": "a@b.io"}},
    }
    found = {(f.field, f.kind) for f in SCANNER.find(message)}
    assert found == {
        ("traits.Email_Address", "email"),
        ("traits.phone-number", "phone"),
        ("traits.address.street", "street_address"),
        ("context.ip", "ip_address"),
        ("context.traits.mail", "email"),
    }


def test_custom_matchers_by_key_and_by_pattern():
    scanner = PiiScanner([PiiMatcher("employee_id", ("staff_no",), r"EMP-[0-9]{6}")])
    message = {"type": "track", "properties": {"owner": "EMP-004211", "staff_no": 42, "note": "EMP-1"}}
    assert {(f.field, f.kind) for f in scanner.find(message)} == {
        ("properties.owner", "employee_id"),
        ("properties.staff_no", "employee_id"),
    }


def test_blocked_classes_are_removed_and_hashed_ones_sent_as_sha256_without_changing_the_original():
    message = {
        "type": "identify",
        "traits": {"email": "Ana@Shop.io ", "cards": ["4111111111111111", "x"], "plan": "pro"},
        "context": {"ip": "203.0.113.7"},
    }
    changed = redacted(message, SCANNER.find(message), frozenset({"credit_card", "ip_address"}), frozenset({"email"}))
    assert changed["traits"] == {
        "email": hashlib.sha256(b"ana@shop.io").hexdigest(),
        "cards": [None, "x"],
        "plan": "pro",
    }
    assert changed["context"] == {}
    assert message["traits"]["cards"][0] == "4111111111111111" and message["context"]["ip"] == "203.0.113.7"


def test_the_inventory_counts_each_field_once_per_event_with_list_positions_folded():
    messages = [
        ("web", {"type": "identify", "traits": {"email": "a@b.io", "cards": ["4111111111111111", "5500000000000004"]}}),
        ("web", {"type": "identify", "traits": {"email": "c@d.io"}}),
    ]
    assert field_pattern(("traits", "cards", "10", "number")) == "traits.cards.*.number"
    assert field_pattern(("properties", "contacts", "jane@x.com")) == "properties.contacts.*"
    assert field_pattern(("properties", "1b4e28ba-2fa1-11d2-883f-0000c2e76f99")) == "properties.*"
    assert field_pattern(("properties", "order_2024", "billing address")) == "properties.order_2024.billing address"
    assert count_pii(SCANNER, messages) == {
        ("web", "email", "traits.email"): 2,
        ("web", "credit_card", "traits.cards.*"): 1,
    }


def test_the_inventory_is_bounded_per_source_and_batch():
    wide = {"type": "track", "properties": {f"email_{i}": "a@b.io" for i in range(MAX_FIELDS_PER_BATCH + 50)}}
    counts = count_pii(SCANNER, [("web", wide), ("app", {"type": "track", "properties": {"email": "a@b.io"}})])
    assert sum(1 for source, _, _ in counts if source == "web") == MAX_FIELDS_PER_BATCH
    assert ("app", "email", "properties.email") in counts, "another source has its own bound"


# -- the workspace file --------------------------------------------------------------------------------

WORKSPACE = """\
workspace: acme
sources: [{id: web, name: Web, write_key: wk_web_123}]
privacy:
  inventory: true
  matchers:
    - {name: employee_id, keys: [staff_no], pattern: "EMP-[0-9]{6}"}
destinations:
  - id: analytics
    type: webhook
    sources: [web]
    settings: {url: "http://h/1"}
    filters:
      - {title: No internal traffic, if: 'match(traits.email, "*@example.com")', actions: [{type: drop}]}
    pii: {block: [credit_card, employee_id], hash: [email]}
"""


def test_privacy_settings_survive_the_config_store():
    compiled = compile_workspace(parse_workspace(WORKSPACE))
    assert CompiledWorkspace.from_document(orjson.loads(orjson.dumps(compiled.to_document()))) == compiled
    assert compiled.destinations[0].pii == DestinationPii(("credit_card", "employee_id"), ("email",))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("hash: [email]", "hash: [emails]"), r"unknown pii classes \['emails'\]"),
        (("hash: [email]", "hash: [credit_card]"), "both blocked and hashed"),
        (("name: employee_id", "name: email"), "already taken"),
        (('pattern: "EMP-[0-9]{6}"', 'pattern: "EMP-[0-9"'), "not a regular expression"),
    ],
)
def test_bad_privacy_settings_are_refused(change: tuple[str, str], message: str):
    with pytest.raises(ConfigError, match=message):
        parse_workspace(WORKSPACE.replace(*change))


def test_the_deliverer_filters_first_then_removes_and_hashes():
    workspace = compile_workspace(parse_workspace(WORKSPACE))
    adapter = FakeAdapter()
    internal, customer = queued(0, "analytics"), queued(1, "analytics")
    internal.request.event["traits"] = {"email": "ops@example.com"}
    customer.request.event["traits"] = {"email": "ana@shop.io", "card": "4111111111111111", "staff_no": "7"}
    deliverer = make_deliverer(*workspace.destinations, adapter=adapter, privacy=workspace.privacy)
    outcomes = deliverer.deliver([internal, customer])
    assert outcomes["q0"].filtered_by == "No internal traffic", "the filter saw the email before it was hashed"
    (sent,) = adapter.events
    assert sent["traits"] == {"email": hashlib.sha256(b"ana@shop.io").hexdigest()}


# -- the router's inventory ------------------------------------------------------------------------------


def test_the_router_counts_only_what_it_archives():
    workspace = compile_workspace(parse_workspace(WORKSPACE))

    def record(sequence: int, message_id: str) -> KinesisRecord:
        message = {"type": "identify", "projectId": "web", "messageId": message_id, "traits": {"email": "a@b.io"}}
        message["receivedAt"] = "2026-11-30T10:00:00.000Z"
        return KinesisRecord("shard-0", str(sequence), base64.b64encode(orjson.dumps(message)).decode())

    router = Router(lambda: workspace, MemoryDedupe(), MemoryArchive(), MemoryQueue())
    report = router.process([record(1, "m1"), record(2, "m1"), record(3, "m2")])
    assert report.pii_seen == {("web", "email", "traits.email"): 2}, "the duplicate is not counted"
    off = dataclasses.replace(workspace, privacy=dataclasses.replace(workspace.privacy, inventory=False))  # type: ignore[arg-type]
    assert not Router(lambda: off, MemoryDedupe(), MemoryArchive(), MemoryQueue()).process([record(4, "m4")]).pii_seen


def test_the_inventory_looks_at_a_bounded_sample_of_each_batch_and_scales_its_counts():
    class CountingScanner(PiiScanner):
        looked_at = 0

        def find(self, message: dict[str, Any]) -> Any:
            CountingScanner.looked_at += 1
            return super().find(message)

    with_email = {"type": "identify", "traits": {"email": "a@b.io"}}
    without = {"type": "identify", "traits": {"plan": "pro"}}
    messages = [("web", with_email if i % 2 else without) for i in range(1000)]
    counts = count_pii(CountingScanner(), messages, sample=20, rng=random.Random(7))
    assert CountingScanner.looked_at == 20
    assert list(counts) == [("web", "email", "traits.email")]
    assert 250 <= counts[("web", "email", "traits.email")] <= 750, "about half of 1,000, from 20"


def test_custom_patterns_keep_their_own_flags_and_get_what_a_built_in_check_refuses():
    scanner = PiiScanner(
        [
            PiiMatcher("employee_id", (), r"(?i)emp-[0-9]{6}"),
            PiiMatcher("grouped", (), r"(?P<g0>ZZ)-[0-9]{4}"),
            PiiMatcher("mac_address", (), r"(?:[0-9A-F]{2}:){5}[0-9A-F]{2}"),
            PiiMatcher("account", (), r"[0-9]{16}"),
        ]
    )
    assert scanner.kind_of_value("EMP-004211") == "employee_id"
    assert scanner.kind_of_value("ZZ-1234") == "grouped"
    assert scanner.kind_of_value("AA:BB:CC:DD:EE:FF") == "mac_address", "not an IP address after all"
    assert scanner.kind_of_value("4111111111111112") == "account", "fails Luhn: not a card, but an account"
    assert scanner.kind_of_value("4111111111111111") == "credit_card"


def test_a_custom_matcher_cannot_take_a_built_in_key():
    with pytest.raises(ConfigError, match="key 'Email' already belongs to 'email'"):
        parse_workspace(WORKSPACE.replace("keys: [staff_no]", "keys: [staff_no, Email]"))


def test_a_dead_letter_keeps_the_event_as_received_so_a_redrive_is_not_hashed_twice():
    workspace = compile_workspace(parse_workspace(WORKSPACE))
    dead_letters = FakeDeadLetters()
    item = queued(0, "analytics")
    item.request.event["traits"] = {"email": "ana@shop.io"}
    failing = FakeAdapter(AttemptStatus.RETRY)
    deliverer = make_deliverer(
        *workspace.destinations, adapter=failing, dead_letters=dead_letters, privacy=workspace.privacy, max_receives=1
    )
    assert deliverer.deliver([item])["q0"].decision.action is Action.GIVE_UP, "its last receive: a dead letter"
    assert failing.events[0]["traits"]["email"] != "ana@shop.io", "the tool was sent the hash"
    (parked,) = dead_letters.requests
    assert parked.event["traits"] == {"email": "ana@shop.io"}
