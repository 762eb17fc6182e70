"""`type: firehose`: put each event on an Amazon Data Firehose stream of the stack's account and region.

Each event is one record: the event's JSON followed by a newline, so what the stream delivers (S3
objects, most often) is newline-delimited JSON however Firehose concatenates its buffer. The
delivery role may put records on the streams the workspace names and no other
(infra/destination_grants.py), so a stream is named, never an ARN.

A call holds at most 500 records and 4 MiB; a record at most 1,000 KiB (before base64, as AWS counts
them). Records Firehose refuses are retried alone (its documented codes, ServiceUnavailableException
and InternalFailure, are both transient); the others of the call are delivered.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import Field, field_validator

from switchyard.delivery.attempts import AttemptStatus
from switchyard.destinations.base import (
    AwsCall,
    Call,
    CallContext,
    DestinationSettings,
    DestinationType,
    Item,
    Limits,
    Verdict,
)

RECORDS = "records"
MAX_RECORDS_PER_CALL = 500
MAX_CALL_BYTES = 4 * 1024 * 1024
MAX_RECORD_BYTES = 1_000 * 1024
RECORD_END = b"\n"
STREAM_NAME_PATTERN = r"^[a-zA-Z0-9_.-]{1,64}$"  # Firehose's own pattern for a stream name
NO_RESULT = "no_result"  # the answer lacks the record's result: whether it was put is unknown
DELIVERED_CODE = "200"  # botocore raises on any other status

_ACCEPTED = Verdict(AttemptStatus.DELIVERED, DELIVERED_CODE)


class FirehoseSettings(DestinationSettings):
    """`type: firehose`: each event as a JSON line on `delivery_stream_name` (same account and region)."""

    delivery_stream_name: str = Field(
        pattern=STREAM_NAME_PATTERN,
        description="The Firehose stream's name (not its ARN), in the stack's account and region",
    )

    @field_validator("delivery_stream_name", mode="before")
    @classmethod
    def _a_name_not_an_arn(cls, value: object) -> object:
        if isinstance(value, str) and value.startswith("arn:"):
            raise ValueError("give the stream's name, not its ARN: it must be in the stack's account and region")
        return value


class Firehose(DestinationType):
    name = "firehose"
    title = "Amazon Data Firehose"
    settings_model = FirehoseSettings

    def map(self, event: dict[str, Any], settings: FirehoseSettings) -> list[Item]:
        return [Item(RECORDS, event)]

    def limits(self, channel: str, settings: FirehoseSettings) -> Limits:
        # The driver counts one separator byte per item: exactly the newline each record ends with.
        # The separator the driver counts per item is the record's closing newline.
        return Limits(
            max_items=MAX_RECORDS_PER_CALL,
            max_bytes=MAX_CALL_BYTES,
            max_item_bytes=MAX_RECORD_BYTES - len(RECORD_END),
        )

    def call(
        self, channel: str, payloads: Sequence[bytes], settings: FirehoseSettings, context: CallContext
    ) -> AwsCall:
        records = [{"Data": payload + RECORD_END} for payload in payloads]
        params = {"DeliveryStreamName": settings.delivery_stream_name, "Records": records}
        return AwsCall("firehose", "put_record_batch", params, body_size=sum(map(len, payloads)) + len(payloads))

    def interpret(self, call: Call, answer: Any, count: int, now: float) -> list[Verdict]:
        if not answer.get("FailedPutCount"):
            return [_ACCEPTED] * count
        results = answer.get("RequestResponses") or []
        return [record_verdict(results[index] if index < len(results) else None) for index in range(count)]


def record_verdict(result: Mapping[str, Any] | None) -> Verdict:
    if result is None:
        return Verdict(AttemptStatus.RETRY, NO_RESULT)
    code = result.get("ErrorCode")
    # Firehose asks for failed records to be sent again, whatever the code.
    return Verdict(AttemptStatus.RETRY, code) if code else _ACCEPTED


FIREHOSE = Firehose()
