"""Privacy: what the personal-data inventory adds to the router with the 7 built-in matchers and 13
of the workspace's own (20 in all), as a ratio to the same router with the inventory turned off
(it is on by default).

The router, its fakes and its batches are bench/controls.py's; the events are browser-like ones
with an email and an IP address in them (bench/router.py's), so the scan finds something in each.
"""

from __future__ import annotations

import time

from bench.common import Figure, time_pair
from bench.controls import ROUTED, SOURCE, router_for, workspace
from bench.router import BATCH_SIZE, lambda_event
from switchyard.router.service import KinesisRecord, Router

TITLE = "Privacy (personal-data inventory in the router)"
TARGET_RATIO = 1.3
CUSTOM_MATCHERS = "".join(
    f'    - {{name: custom_{i}, keys: [internal_ref_{i}, legacy_id_{i}], pattern: "X{i}-[0-9]{{8}}"}}\n'
    for i in range(13)
)
PRIVACY = f"privacy:\n  inventory: true\n  matchers:\n{CUSTOM_MATCHERS}"


def run() -> list[Figure]:
    plain = router_for(workspace(SOURCE + ROUTED + "privacy: {inventory: false}\n"))
    scanning = router_for(workspace(SOURCE + ROUTED + PRIVACY))
    records = [KinesisRecord.from_lambda(record) for record in lambda_event(BATCH_SIZE)["Records"]]
    if not scanning.process(records).pii_seen:
        raise RuntimeError("the benchmark's events hold no personal data the inventory finds")

    def routing(router: Router):  # type: ignore[no-untyped-def]
        def route_batch() -> None:
            report = router.process(records)
            assert report.first_failure is None and report.archived == BATCH_SIZE, report

        return route_batch

    scanning_seconds, plain_seconds = time_pair(
        routing(scanning), routing(plain), rounds=9, min_seconds=0.2, timer=time.process_time
    )
    return [
        Figure(
            f"router per record, {BATCH_SIZE}-record batch, inventory with 20 matchers",
            scanning_seconds / BATCH_SIZE * 1e6,
            "us",
            floor=plain_seconds / BATCH_SIZE * 1e6,
            target=TARGET_RATIO,
        )
    ]
