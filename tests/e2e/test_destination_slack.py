"""Slack end to end: listed events sent to the local stack reach a receiver standing in for an
incoming webhook (its URL the credential, read from the environment) as one message per request,
rendered from their templates; other events are filtered. Slack's plain-text answers are read:
a final error counted by its text, a 429 with `Retry-After`, a 503. No sample shows the URL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson
import pytest
import yaml

from switchyard.cli.main import main
from switchyard.devstack.receiver import Received, WebhookReceiver
from switchyard.devstack.stack import LocalStack
from tests.e2e.conftest import TOOL_WORKSPACES, Receivers, wait_until
from tests.e2e.tool_runs import (
    MASK,
    FailsFirst,
    Moment,
    assert_retried_after_the_wait_and_delivered_once,
    counted_since,
    holds,
    new_run,
    of_run,
    report_of,
    retried_sample,
    send,
    settled_report,
    track,
    user,
)

pytestmark = pytest.mark.e2e

DESTINATION = "slack"
WRITE_KEY = "wk_e2e_slk_000"
# The webhook URL's secret part, as tools/slack.yaml gives it to `apply` after the receiver's URL.
WEBHOOK_URL_TEMPLATE = yaml.safe_load((TOOL_WORKSPACES / "slack.yaml").read_text())["environment"][
    "E2E_SLACK_WEBHOOK_URL"
]
WEBHOOK_PATH = WEBHOOK_URL_TEMPLATE.removeprefix("{receiver}")
WEBHOOK_SECRET = WEBHOOK_PATH.rsplit("/", 1)[-1]
# Seconds Slack asks to wait; above the destination's backoff (at most 2 s).
RETRY_AFTER_SECONDS = 3

Answer = tuple[int, dict[str, str], bytes]


def slack_ok(_: Received) -> Answer:
    return 200, {"Content-Type": "text/plain"}, b"ok"


def throttled(_: Received, __: str) -> Answer:
    return 429, {"Retry-After": str(RETRY_AFTER_SECONDS)}, b"rate_limited"


UNAVAILABLE = b"<html><body><h1>503 Service Unavailable</h1></body></html>"


def unavailable(_: Received, __: str) -> Answer:
    return 503, {"Content-Type": "text/html"}, UNAVAILABLE


@pytest.fixture
def slack(receivers: Receivers) -> Iterator[WebhookReceiver]:
    """The receiver standing in for the webhook, answering as Slack does before and after the test."""
    receiver = receivers.tools[DESTINATION]
    receiver.responder = slack_ok
    try:
        yield receiver
    finally:
        receiver.responder = slack_ok


def call(run: str, when: Moment, kind: str, **fields: Any) -> dict[str, Any]:
    """A call other than track, of the run's person."""
    common = {key: value for key, value in track(run, "", when).items() if key not in ("event", "properties")}
    return {**common, "type": kind, **fields}


def texts(receiver: WebhookReceiver, run: str) -> list[str]:
    return sorted(orjson.loads(received.body)["text"] for received in of_run(receiver, run))


def assert_samples_and_cli_show_no_url(stack: LocalStack, capsys: pytest.CaptureFixture[str]) -> str:
    report = report_of(stack, DESTINATION)
    assert report.samples, "there are samples to look at"
    for label, sample in report.samples.items():
        assert WEBHOOK_SECRET not in orjson.dumps(sample).decode(), f"the sample of {label} shows the webhook URL"
    capsys.readouterr()
    assert main(["delivery", DESTINATION, "--since", "1h", "--endpoint-url", stack.aws_endpoint]) == 0
    printed = capsys.readouterr().out
    assert WEBHOOK_SECRET not in printed
    return printed


def test_listed_events_post_their_messages_and_the_others_are_filtered(local_stack: LocalStack, slack: WebhookReceiver):
    run, when = new_run(), Moment.minutes_ago(5)
    email = f"{run}@example.com"
    order_url = "https://shop.example/o?id=1&ref=<mail>"
    messages = {
        "signed_up": track(run, "Signed Up", when),
        "order": track(run, "Order Completed", when, revenue=12.5, currency="EUR", url=order_url),
        "unlisted": track(run, "Checkout Started", when),
        "identify": call(run, when, "identify", traits={"email": email, "plan": "pro"}),
        "identify_without_plan": call(run, when, "identify", traits={"email": email}),
        "page": call(run, when, "page", name="Pricing", properties={"run": run}),
    }
    send(local_stack, WRITE_KEY, *messages.values())

    assert wait_until(lambda: len(texts(slack, run)) == 3, timeout=30), texts(slack, run)
    assert texts(slack, run) == sorted(
        [
            f"User {user(run)} did Signed Up.",
            f"User {user(run)} ordered 12.5 EUR <https://shop.example/o?id=1&amp;ref=&lt;mail&gt;|order>",
            f"{email} is on pro",
        ]
    )
    for received in of_run(slack, run):
        assert received.method == "POST"
        assert (received.path, received.query) == (WEBHOOK_PATH, "")
        assert received.headers["Content-Type"] == "application/json"
        assert list(orjson.loads(received.body)) == ["text"], "one message per request, nothing Slack ignores"

    unsupported = {
        "filtered.unsupported.event_not_listed": messages["unlisted"]["messageId"],
        "filtered.unsupported.identify_traits_missing": messages["identify_without_plan"]["messageId"],
        "filtered.unsupported.page_not_posted": messages["page"]["messageId"],
    }

    def filtered() -> dict[str, str]:
        samples = report_of(local_stack, DESTINATION).samples
        return {label: samples[label]["received"]["messageId"] for label in unsupported if label in samples}

    assert wait_until(lambda: filtered() == unsupported, timeout=15), filtered()
    assert holds(lambda: len(texts(slack, run)) == 3, seconds=1.0)


def test_a_slack_error_is_final_and_counted_by_its_text(
    local_stack: LocalStack, slack: WebhookReceiver, capsys: pytest.CaptureFixture[str]
):
    run, when = new_run(), Moment.minutes_ago(5)
    before = settled_report(local_stack, DESTINATION)

    def archived_for_refused(received: Received) -> Answer:
        if "Refused Archive" in orjson.loads(received.body)["text"]:
            return 410, {"Content-Type": "text/plain"}, b"channel_is_archived"
        return slack_ok(received)

    slack.responder = archived_for_refused
    send(local_stack, WRITE_KEY, track(run, "Refused Archive", when), track(run, "Report Exported", when))

    assert wait_until(lambda: len(of_run(slack, run)) == 2, timeout=30)
    assert holds(lambda: len(of_run(slack, run)) == 2), "neither message is sent again"
    expected = {"delivered": 1, "not_delivered": 1, "retried": 0, "discarded.410.channel_is_archived": 1}
    assert wait_until(lambda: counted_since(before, report_of(local_stack, DESTINATION)) == expected), counted_since(
        before, report_of(local_stack, DESTINATION)
    )
    sample = report_of(local_stack, DESTINATION).samples["discarded.410.channel_is_archived"]
    assert sample["response"] == {"status": 410, "body": "channel_is_archived"}
    assert sample["request"]["url"] == MASK, "the webhook URL is the credential: masked whole"
    printed = assert_samples_and_cli_show_no_url(local_stack, capsys)
    assert "discarded.410.channel_is_archived" in printed


def test_a_429_is_retried_no_sooner_than_retry_after_and_posted_once(local_stack: LocalStack, slack: WebhookReceiver):
    run, when = new_run(), Moment.minutes_ago(5)
    slack.responder = FailsFirst(run, throttled, slack_ok)
    send(local_stack, WRITE_KEY, track(run, "Report Exported", when))

    assert_retried_after_the_wait_and_delivered_once(slack, run, RETRY_AFTER_SECONDS)


def test_a_503_then_success_is_posted_once_and_its_sample_shows_no_url(
    local_stack: LocalStack, slack: WebhookReceiver, capsys: pytest.CaptureFixture[str]
):
    run, when = new_run(), Moment.minutes_ago(5)
    slack.responder = FailsFirst(run, unavailable, slack_ok)
    event = track(run, "Report Exported", when)
    send(local_stack, WRITE_KEY, event)

    shown = retried_sample(local_stack, slack, DESTINATION, run, event, "awaiting_retry.503")
    assert shown["response"] == {"status": 503, "body": UNAVAILABLE.decode()}
    assert shown["request"]["url"] == MASK
    assert_samples_and_cli_show_no_url(local_stack, capsys)
