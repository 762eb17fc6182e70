"""What ingest logs about refused input: a bounded rate, and the shape of a message, not its values."""

from __future__ import annotations

import orjson

from switchyard.ingest.logsampling import LogBudget, message_shape


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_cut_at_the_budget_and_the_skipped_lines_are_counted_on_the_next_one():
    clock = Clock()
    budget = LogBudget(per_minute=6, clock=clock)
    assert [budget.spend() for _ in range(6)] == [0] * 6
    assert [budget.spend() for _ in range(100)] == [None] * 100
    clock.now += 10  # 6 a minute: one line every 10 seconds
    assert budget.spend() == 100, "the next line says how many were skipped"
    assert budget.spend() is None
    clock.now += 10
    assert budget.spend() == 1


def test_an_idle_budget_refills_to_its_burst_and_no_further():
    clock = Clock()
    budget = LogBudget(per_minute=3, clock=clock)
    for _ in range(3):
        budget.spend()
    clock.now += 3600
    assert [budget.spend() for _ in range(4)] == [0, 0, 0, None]


def test_a_shape_keeps_keys_and_types_and_drops_values_and_the_write_key():
    message = {
        "type": "track",
        "userId": "alice@example.com",
        "writeKey": "wk_secret_123",
        "properties": {"amount": 42.5, "count": 3, "vip": True, "note": None, "tags": ["a", "b", "c", "d"]},
    }
    shape = orjson.loads(message_shape(message))
    assert shape == {
        "type": "string",
        "userId": "string",
        "properties": {
            "amount": "number",
            "count": "number",
            "vip": "boolean",
            "note": "null",
            "tags": ["string", "string", "string", "... 4 items"],
        },
    }


def test_a_shape_is_bounded_however_large_or_deep_the_message():
    deep: dict = {}
    cursor = deep
    for _ in range(500):
        cursor["a"] = {}
        cursor = cursor["a"]
    assert len(message_shape({"k" * 10_000: 1, **{f"key{i}": i for i in range(5000)}, "deep": deep})) <= 2048
    assert message_shape(["not", "an", "object"]) == '["string","string","string"]'
    assert message_shape("text") == '"string"'
