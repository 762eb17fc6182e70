"""The short fuzzing campaign of `make test`: a few thousand generated requests, the same ones on
every run (config.SHORT is derandomized), against the handler in-process and the local stack over
HTTP. `make fuzz` runs the deep campaign (100,000 requests, random seed)."""

from __future__ import annotations

import pytest

from tests.fuzz import config
from tests.fuzz.run import Report, campaign
from tests.fuzz.targets import HttpTarget, InProcessTarget

pytestmark = pytest.mark.fuzz


def check(report: Report, requested: int) -> None:
    print(report.summary())  # shown with -s (or -rP): the figures of the run
    assert report.requests >= requested
    assert report.server_errors == 0, report.summary()
    assert not report.violations, report.summary()
    assert report.checked_tags > 0, "no accepted message was checked in the stream"
    assert {200, 400, 401, 403, 404} <= set(report.statuses), report.summary()


@pytest.mark.parametrize(("layout", "part"), [("http", 0), ("rest", 1)], ids=["http-api-events", "rest-api-events"])
def test_the_handler_holds_every_invariant_under_fuzzing(layout: str, part: int):
    """Half the requests arrive as the HTTP API sends them, half as the REST API behind the
    firewall (the `waf` option) does; the seeds are those of `python -m tests.fuzz --short`."""
    profile = config.SHORT
    count = profile.in_process // 2
    with InProcessTarget(layout) as target:
        report = campaign(target, count, config.run_seed(profile) + 10_000 * part, profile)
    check(report, count)


def test_the_local_stack_over_http_holds_every_invariant_under_fuzzing():
    profile = config.SHORT
    with HttpTarget() as target:
        report = campaign(target, profile.http, config.run_seed(profile) + 1_000_000, profile)
    check(report, profile.http)
