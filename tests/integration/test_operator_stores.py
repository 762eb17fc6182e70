"""What the router writes for operators, against moto's DynamoDB: tracking plan violations per
minute with samples, the personal-data inventory per day, and the suppression list's atomic
updates; each read back as the CLI reads it."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import boto3

from switchyard.config.store import ConfigStore
from switchyard.delivery.table import DeliveryTable
from switchyard.devstack.resources import LocalResources
from switchyard.privacy.inventory import PiiInventory, read_inventory
from switchyard.privacy.suppression import SuppressionStore, entries
from switchyard.router.plans import PlanBlock, ViolationType
from switchyard.router.service import BatchReport
from switchyard.router.violations import ViolationStats, read_violations

NOW = datetime.now(UTC).replace(second=0, microsecond=0)


def test_violation_counts_add_up_per_event_and_type_and_keep_the_latest_sample(aws: LocalResources):
    table = DeliveryTable(aws.delivery_table, boto3.client("dynamodb"))
    stats = ViolationStats(table)
    for minutes_ago, description in ((3, "first"), (1, "latest")):
        report = BatchReport()
        report.violations[("web", "Order Completed", ViolationType.TYPE)] = 2
        report.blocked_by_plan[("web", PlanBlock.UNPLANNED_EVENT)] = 1
        report.violation_samples[("web", "Order Completed", "Type: properties.order_id")] = {
            "violation": {"description": description},
            "received": {"messageId": description},
        }
        stats.record(report, NOW - timedelta(minutes=minutes_ago))
    read = read_violations(table, "web", timedelta(hours=1), now=NOW)
    assert read.violations == {("Order Completed", "Type"): 4}
    assert read.blocked == {"unplanned_event": 2}
    assert read.samples["Order Completed | Type: properties.order_id"]["violation"]["description"] == "latest"
    assert read_violations(table, "other", timedelta(hours=1), now=NOW).violations == {}


def test_the_inventory_adds_up_per_day_and_reads_the_days_asked(aws: LocalResources):
    table = DeliveryTable(aws.delivery_table, boto3.client("dynamodb"))
    inventory = PiiInventory(table)
    inventory.record(Counter({("web", "email", "traits.email"): 3}), NOW - timedelta(days=3))
    inventory.record(Counter({("web", "email", "traits.email"): 2, ("web", "ip_address", "context.ip"): 5}), NOW)
    assert read_inventory(table, "web", days=1, now=NOW).seen == {
        ("email", "traits.email"): 2,
        ("ip_address", "context.ip"): 5,
    }
    assert read_inventory(table, "web", days=7, now=NOW).seen[("email", "traits.email")] == 5


def test_suppressions_are_added_and_removed_atomically_and_survive_a_new_workspace(aws: LocalResources):
    store = SuppressionStore(aws.config_table, boto3.client("dynamodb"))
    assert store.load() == frozenset()
    store.add(entries(["u1", "u2"], ["a1"]))
    store.add(entries(["u3"]))
    store.remove(entries(["u2"]))
    assert store.load() == {"user:u1", "user:u3", "anonymous:a1"}
    config = ConfigStore(aws.config_table)
    stored = config.load()
    assert stored is not None
    config.save(stored.workspace, stored.version)  # what `switchyard apply` does
    assert store.load() == {"user:u1", "user:u3", "anonymous:a1"}, "apply never touches the list"
