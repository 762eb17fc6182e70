"""Data controls: what a source's tracking plan and schema filters add to the router, and what ten
destination filters add to delivery, each as a ratio to the same work without them.

The router is the real one over bench/router.py's in-memory AWS fakes and the same Lambda batches;
the controlled workspace gives source `web` schema filters (blocked event names, an omitted trait)
and a tracking plan its events conform to, as most traffic does. Delivery is the real `Deliverer`
handing a queue batch to one webhook destination through an adapter that answers at once, so what
differs is the filters alone: ten, most of which match few events, and one `if: all` that drops a
property from every event. Figures are CPU time of the whole process, worker threads included.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from typing import Any

from bench.common import Figure, time_pair
from bench.router import BATCH_SIZE, FakeDynamoDB, FakeS3, FakeSQS, lambda_event, stored_event
from switchyard.config.compiled import CompiledWorkspace, Destination
from switchyard.config.workspace import compile_workspace, parse_workspace
from switchyard.constants import DELIVERY_BATCH_SIZE, DELIVERY_LAMBDA_TIMEOUT_SECONDS
from switchyard.delivery.attempts import Attempt, AttemptStatus
from switchyard.delivery.breaker import CircuitBreakers
from switchyard.delivery.policy import Action
from switchyard.delivery.requests import DeliveryRequest
from switchyard.delivery.service import Deliverer, QueuedDelivery
from switchyard.destinations.driver import SendPlan
from switchyard.router.plans import TrackingPlans
from switchyard.router.service import KinesisRecord, Router

TITLE = "Data controls (tracking plans, schema and destination filters)"
TARGET_RATIO = 1.2
NOW = 1_796_000_000.0
# The delivery Lambda's budget, as functions/delivery/handler.py gives it (its time-out less 10 s).
BUDGET_SECONDS = DELIVERY_LAMBDA_TIMEOUT_SECONDS - 10

SOURCE = "sources: [{id: web, name: Web, write_key: wk_bench_web_123}]\n"
SOURCE_WITH_SCHEMA = """\
sources:
  - id: web
    name: Web
    write_key: wk_bench_web_123
    schema: {block_events: [Debug Ping, "Legacy *"], omit_traits: [ssn]}
"""
ROUTED = 'destinations: [{id: hooks, type: webhook, sources: [web], settings: {url: "http://127.0.0.1:9/hook"}}]\n'

TRACKING_PLAN = r"""
tracking_plans:
  - id: web-plan
    name: Web
    sources: [web]
    common: {type: object, required: [type, messageId]}
    identify: {type: object, properties: {traits: {type: object, properties: {email: {type: string}}}}}
    events:
      - name: Product Viewed
        properties:
          type: object
          required: [product_id, sku, name, price, currency]
          properties:
            product_id: {type: string, pattern: "^sku-[0-9]{5}$"}
            sku: {type: string, pattern: "^[A-Z]{3}-[0-9]{5}-"}
            name: {type: string, minLength: 1, maxLength: 200}
            category: {type: string, enum: [Footwear, Apparel, Accessories, Equipment]}
            brand: {type: string}
            price: {type: number, minimum: 0}
            currency: {type: string, pattern: "^[A-Z]{3}$"}
            quantity: {type: integer, minimum: 1}
      - name: Product Added
        properties:
          type: object
          required: [product_id, price, quantity]
          properties:
            product_id: {type: string, pattern: "^sku-[0-9]{5}$"}
            name: {type: string}
            price: {type: number, minimum: 0}
            currency: {type: string, pattern: "^[A-Z]{3}$"}
            quantity: {type: integer, minimum: 1}
            cart_id: {type: string}
      - name: Order Completed
        properties:
          type: object
          required: [order_id, revenue, currency]
          properties:
            order_id: {type: string}
            revenue: {type: number, minimum: 0}
            tax: {type: number, minimum: 0}
            shipping: {type: number, minimum: 0}
            currency: {type: string, pattern: "^[A-Z]{3}$"}
            coupon: {type: [string, "null"]}
            products: {type: array, items: {type: object, required: [product_id]}}
    controls: {unplanned_events: allow, unplanned_properties: allow, violations: allow}
"""

# One webhook, unbatched: 10 requests in flight and a 5 s time-out let a whole queue batch go out
# within the budget (with the defaults, 5 and 10 s, only 20 of 50 would, the rest deferred).
HOOK = """\
destinations:
  - id: hooks
    type: webhook
    sources: [web]
    concurrency: 10
    settings: {url: "http://127.0.0.1:9/hook", timeout_seconds: 5}
"""
FILTERS = """\
    filters:
      - {title: Drop internal testers, if: 'match(context.traits.email, "*@example.com")', actions: [{type: drop}]}
      - title: Sample large orders
        if: 'properties.revenue > 100 and event = "Order Completed"'
        actions: [{type: sample, percent: 0.5, path: userId}]
      - {title: No emails in properties, if: all, actions: [{type: drop_properties, fields: {properties: [email]}}]}
      - title: Only the plan trait
        if: 'type = "identify"'
        actions: [{type: allow_properties, fields: {traits: [plan]}}]
      - {title: Drop debug pages, if: 'type = "page" and name = "Debug"', actions: [{type: drop}]}
      - {title: Web only, if: 'context.library.name = "analytics-ios"', actions: [{type: drop}]}
      - {title: Drop bots, if: 'match(context.userAgent, "*bot*")', actions: [{type: drop}]}
      - {title: Drop staging, if: 'contains(context.page.url, "staging.")', actions: [{type: drop}]}
      - title: Sample experiments
        if: 'event = "Experiment Viewed"'
        actions: [{type: sample, percent: 0.1}]
      - {title: No aliases or groups, if: 'type in ["alias", "group"]', actions: [{type: drop}]}
"""


def workspace(text: str) -> CompiledWorkspace:
    return compile_workspace(parse_workspace("workspace: bench\n" + text))


# --- the router, with and without a tracking plan and schema filters


def router_for(compiled: CompiledWorkspace) -> Router:
    """As bench/router.py builds it, for the given workspace."""
    from switchyard.delivery.queue import DeliveryQueue
    from switchyard.router.archive import Archive
    from switchyard.router.dedupe import DedupeStore

    return Router(
        lambda: compiled,
        DedupeStore("dedupe", FakeDynamoDB()),
        Archive("archive", FakeS3()),
        DeliveryQueue("queue", FakeSQS()),
    )


def router_figure() -> Figure:
    plain = workspace(SOURCE + ROUTED)
    controlled = workspace(SOURCE_WITH_SCHEMA + ROUTED + TRACKING_PLAN)
    plan = TrackingPlans().for_source(controlled, "web")
    assert plan is not None
    for index in range(50):
        checked = plan.check(stored_event(index))
        if checked is not None:
            raise RuntimeError(f"the benchmark's events violate the tracking plan: {checked.violations}")

    records = [KinesisRecord.from_lambda(record) for record in lambda_event(BATCH_SIZE)["Records"]]
    routers = {"plain": router_for(plain), "controlled": router_for(controlled)}

    def routing(router: Router) -> Any:
        def route_batch() -> None:
            report = router.process(records)
            assert report.first_failure is None and report.archived == BATCH_SIZE, report
            assert report.fanned_out == BATCH_SIZE and not report.violations, report

        return route_batch

    controlled_seconds, plain_seconds = time_pair(
        routing(routers["controlled"]), routing(routers["plain"]), rounds=9, min_seconds=0.2, timer=time.process_time
    )
    return Figure(
        f"router per record, {BATCH_SIZE}-record batch, tracking plan + schema filters",
        controlled_seconds / BATCH_SIZE * 1e6,
        "us",
        floor=plain_seconds / BATCH_SIZE * 1e6,
        target=TARGET_RATIO,
    )


# --- delivery, with and without destination filters


class InstantAdapter:
    """Answers every event delivered, at once: a webhook's plan (one event per request)."""

    def plan(self, destination: Destination) -> SendPlan:
        return SendPlan(events_per_send=1, attempt_seconds=destination.settings["timeout_seconds"])

    def send(self, destination: Destination, events: Sequence[dict[str, Any]], deadline: float) -> list[Attempt]:
        return [Attempt(AttemptStatus.DELIVERED, "200", answered_at=NOW)] * len(events)


class UnlimitedLimiter:
    def take(self, destination_id: str, wanted: int, limit_per_second: int, *, replay: bool = False) -> int:
        return wanted


class NoDeadLetters:
    def put(self, request: DeliveryRequest, attempt: Attempt | None, attempts: int, reason: str) -> None:
        raise AssertionError("the benchmark's events are never dead-lettered")


class CountingStats:
    def __init__(self) -> None:
        self.delivered_count = 0
        self.failed_count = 0

    def delivered(self, destination_id: str, event: dict[str, Any], at: float, *, measure_latency: bool) -> float:
        self.delivered_count += 1
        return 12.0

    def failed(self, destination_id: str, label: str, at: float, *, counter: Any, sample: dict[str, Any]) -> None:
        self.failed_count += 1

    def count(self, destination_id: str, counter: Any, at: float, amount: int = 1) -> None:
        pass

    def flush(self) -> None:
        pass


def deliverer_for(compiled: CompiledWorkspace) -> Deliverer:
    return Deliverer(
        lambda: compiled,
        {"webhook": InstantAdapter()},
        UnlimitedLimiter(),  # type: ignore[arg-type]
        NoDeadLetters(),  # type: ignore[arg-type]
        CircuitBreakers(),
        CountingStats,  # type: ignore[arg-type]
        clock=lambda: NOW,
        rng=random.Random(3),
    )


def delivered_events(count: int) -> list[dict[str, Any]]:
    """What the router fans out from a shop's web source: mostly product views, then pages,
    identifies (one in five of them by a tester @example.com), orders and cart additions."""
    events = []
    for index in range(count):
        event = stored_event(index)
        event["userId"] = f"user-{index % 40}" if index % 3 else None
        kind = index % 10
        if kind == 6:
            event.update(
                type="page", name="Product", properties={"path": "/p/1", "title": "Shoe", "url": "https://x/p"}
            )
            del event["event"]
        elif kind == 7:
            domain = "example.com" if index % 50 == 7 else "mail.example.org"
            traits = {"email": f"user{index}@{domain}", "plan": "pro", "name": "Ada Lovelace"}
            event.update(type="identify", traits=traits)
            event["context"]["traits"] = dict(traits)
            del event["event"], event["properties"]
        elif kind == 8:
            revenue = 64.5 if index % 20 == 8 else 259.97
            event.update(
                event="Order Completed",
                properties={"order_id": f"o-{index}", "revenue": revenue, "currency": "USD", "email": "a@b.example"},
            )
        elif kind == 9:
            event.update(
                event="Product Added", properties={"product_id": f"sku-{index:05d}", "price": 129.99, "quantity": 1}
            )
        events.append(event)
    return events


def delivery_figure() -> Figure:
    plain = workspace(SOURCE + HOOK)
    filtered = workspace(SOURCE + HOOK + FILTERS)
    assert len(filtered.destinations[0].filters) == 10
    events = delivered_events(DELIVERY_BATCH_SIZE)

    def delivering(deliverer: Deliverer, *, dropped: int | None = None) -> Any:
        def deliver_batch() -> None:
            # Fresh requests each time: a filter that changes an event replaces the request's event.
            items = [
                QueuedDelivery(f"q{index}", DeliveryRequest("hooks", event), 1, NOW)
                for index, event in enumerate(events)
            ]
            outcomes = deliverer.deliver(items, BUDGET_SECONDS)
            skipped = sum(outcome.decision.action is Action.SKIP for outcome in outcomes.values())
            done = sum(outcome.decision.action is Action.DONE for outcome in outcomes.values())
            assert done + skipped == len(items) and (dropped is None or skipped == dropped), (done, skipped)

        return deliver_batch

    filtered_deliverer = deliverer_for(filtered)
    items = [QueuedDelivery(f"q{i}", DeliveryRequest("hooks", event), 1, NOW) for i, event in enumerate(events)]
    outcomes = filtered_deliverer.deliver(items, BUDGET_SECONDS)
    dropped = sum(outcome.filtered_by is not None for outcome in outcomes.values())
    if not 0 < dropped < len(events) // 5:
        raise RuntimeError(f"the filters dropped {dropped} of {len(events)} events: not the intended mix")
    filtered_seconds, plain_seconds = time_pair(
        delivering(filtered_deliverer, dropped=dropped),
        delivering(deliverer_for(plain), dropped=0),
        rounds=15,
        min_seconds=0.1,
        timer=time.process_time,
    )
    return Figure(
        f"delivery per event, {DELIVERY_BATCH_SIZE}-event batch, 10 destination filters",
        filtered_seconds / len(events) * 1e6,
        "us",
        floor=plain_seconds / len(events) * 1e6,
        target=TARGET_RATIO,
    )


def run() -> list[Figure]:
    return [router_figure(), delivery_figure()]


if __name__ == "__main__":
    from bench.common import print_figures

    print_figures(TITLE, run())
