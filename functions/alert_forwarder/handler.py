"""Slack forwarder: each notification of the alert topic, posted to the workspace's Slack webhook."""

from __future__ import annotations

import time
from typing import Any

from aws_lambda_powertools.utilities.typing import LambdaContext

from switchyard import aws
from switchyard.alerts.names import slack_webhook_parameter
from switchyard.alerts.slack import CachedWebhook, SlackPoster, WebhookRefused, message_for
from switchyard.delivery.http import BoundedHttp
from switchyard.observability import logger
from switchyard.settings import AlertSettings

# Leave Lambda time to report a failure (and retry the event) rather than be cut off.
MARGIN_SECONDS = 2.0

_webhook: CachedWebhook | None = None
_poster: SlackPoster | None = None


def webhook() -> CachedWebhook:
    global _webhook
    if _webhook is None:
        _webhook = CachedWebhook(aws.client("ssm"), slack_webhook_parameter(AlertSettings.from_environment().region))
    return _webhook


def poster() -> SlackPoster:
    global _poster
    if _poster is None:
        _poster = SlackPoster(BoundedHttp())
    return _poster


@logger.inject_lambda_context(log_event=False)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, int]:
    """SNS invokes asynchronously with one record; an exception makes Lambda retry it."""
    url = webhook().url()
    posted = 0
    for record in event.get("Records", ()):
        notification = record["Sns"]
        if url is None:
            logger.info(
                "no Slack webhook in notify: notification not forwarded", extra={"id": notification.get("MessageId")}
            )
            continue
        deadline = time.monotonic() + context.get_remaining_time_in_millis() / 1000 - MARGIN_SECONDS
        try:
            attempts = poster().post(url, message_for(notification), deadline)
        except WebhookRefused as error:
            logger.error("Slack refused the alert for good", extra={"error": str(error)})
            continue
        logger.info("alert posted to Slack", extra={"id": notification.get("MessageId"), "attempts": attempts})
        posted += 1
    return {"posted": posted}
