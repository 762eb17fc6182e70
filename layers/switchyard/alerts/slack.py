"""The Slack forwarder: an SNS notification of the alert topic as a Slack message.

The webhook URL is `notify.slack_webhook`, which `apply` keeps as an SSM SecureString; it is read
through a cache (one SSM read per execution environment and CACHE_SECONDS) and never logged: its
path is the secret. Without one configured, a notification is dropped with a log line.

Slack answering 429 or 5xx, or not answering, is retried here with the delivery path's backoff
(honouring Retry-After) while the invocation has time; then the invocation fails and Lambda's
asynchronous retries (two, minutes apart) take over. Any other refusal (a revoked webhook: 403,
404, 410) is final: retrying cannot help, and the log says so.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from urllib3.exceptions import HTTPError

from switchyard.config.compiled import RetryPolicy
from switchyard.delivery.attempts import AttemptStatus, classify_status, parse_retry_after
from switchyard.delivery.http import BoundedHttp, DeadlineExceeded
from switchyard.delivery.policy import backoff_seconds
from switchyard.secure_parameters import get_json

CACHE_SECONDS = 300
ATTEMPT_SECONDS = 5.0
# Short in-process backoff: the invocation has seconds, Lambda's own retries come minutes apart.
RETRY = RetryPolicy(max_hours=1, initial_delay_seconds=1, max_delay_seconds=4)
_STATE_ICONS = {"ALARM": ":rotating_light:", "OK": ":white_check_mark:", "INSUFFICIENT_DATA": ":grey_question:"}


class SlackUnavailable(Exception):
    """Slack did not take the message in time; the invocation fails so that Lambda retries it."""


class WebhookRefused(Exception):
    """Slack refused the message for good (the webhook was revoked or is wrong)."""


def message_for(notification: dict[str, Any]) -> dict[str, str]:
    """Slack's `{"text": ...}` for one SNS notification (an alarm's state change, or any other)."""
    try:
        alarm = json.loads(notification.get("Message", ""))
    except ValueError:
        alarm = None
    if not isinstance(alarm, dict) or "AlarmName" not in alarm:
        subject = notification.get("Subject") or "Switchyard alert"
        return {"text": f"*{subject}*\n{notification.get('Message', '')}"}
    state = alarm.get("NewStateValue", "")
    lines = [
        f"{_STATE_ICONS.get(state, ':bell:')} *{state}* {alarm['AlarmName']}",
        alarm.get("AlarmDescription") or "",
        f"_{alarm.get('NewStateReason', '')}_",
        f"{alarm.get('Region', '')} · {alarm.get('StateChangeTime', '')} · was {alarm.get('OldStateValue', '')}",
    ]
    return {"text": "\n".join(line for line in lines if line.strip("_ "))}


@dataclass
class CachedWebhook:
    """The webhook URL from SSM, re-read at most every `ttl_seconds`."""

    ssm: Any
    parameter: str
    ttl_seconds: float = CACHE_SECONDS
    clock: Callable[[], float] = time.monotonic
    _value: str | None = None
    _read_at: float | None = None

    def url(self) -> str | None:
        now = self.clock()
        if self._read_at is None or now - self._read_at >= self.ttl_seconds:
            self._value = get_json(self.ssm, self.parameter).get("url")
            self._read_at = now
        return self._value


class SlackPoster:
    def __init__(
        self,
        http: BoundedHttp,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        wall_clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self._http = http
        self._clock = clock
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._rng = rng or random.Random()

    def post(self, url: str, message: dict[str, str], deadline: float) -> int:
        """POST the message; returns the attempts it took. Raises WebhookRefused (final) or
        SlackUnavailable (worth retrying later). `deadline` is on `clock`."""
        body = orjson.dumps(message)
        attempt = 0
        while True:
            attempt += 1
            retry_after: float | None = None
            try:
                answer = self._http.request(
                    "POST",
                    url,
                    body=body,
                    headers={"Content-Type": "application/json"},
                    deadline=min(deadline, self._clock() + ATTEMPT_SECONDS),
                )
            except (DeadlineExceeded, HTTPError, OSError) as error:
                problem = f"no answer ({type(error).__name__})"
            else:
                status = classify_status(answer.status)
                if status is AttemptStatus.DELIVERED:
                    return attempt
                if status is not AttemptStatus.RETRY:
                    raise WebhookRefused(f"Slack answered {answer.status}: check notify.slack_webhook")
                problem = f"Slack answered {answer.status}"
                retry_after = parse_retry_after(answer.headers.get("Retry-After"), self._wall_clock())
            delay = float(backoff_seconds(attempt, RETRY, self._rng))
            if retry_after is not None:
                delay = max(delay, retry_after)
            if self._clock() + delay + ATTEMPT_SECONDS > deadline:
                raise SlackUnavailable(f"{problem} after {attempt} attempt(s)")
            self._sleep(delay)
