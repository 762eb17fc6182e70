"""The shared per-second budget: live and replay together stay under the limit, replay gets at most half."""

from __future__ import annotations

import boto3
from moto import mock_aws

from switchyard.delivery.ratelimit import RateLimiter
from switchyard.delivery.table import DeliveryTable
from switchyard.devstack.resources import create_delivery_table


def make_limiter(now: list[float]) -> RateLimiter:
    client = boto3.client("dynamodb")
    create_delivery_table(client, "delivery")
    return RateLimiter(DeliveryTable("delivery", client), clock=lambda: now[0])


@mock_aws
def test_live_and_replay_share_one_budget_and_replay_gets_at_most_half():
    now = [1000.0]
    limiter = make_limiter(now)
    assert limiter.take("hooks", 80, 100) == 80
    assert limiter.take("hooks", 50, 100, replay=True) == 20, "only what live traffic left"
    assert limiter.take("hooks", 10, 100) == 0, "the second is used up"
    now[0] = 1001.0
    assert limiter.take("hooks", 80, 100, replay=True) == 50, "a replay takes at most half a second"
    assert limiter.take("hooks", 10, 100, replay=True) == 0
    assert limiter.take("hooks", 80, 100) == 50, "live traffic keeps the other half"
    assert limiter.take("other", 100, 100) == 100, "each destination has its own budget"
