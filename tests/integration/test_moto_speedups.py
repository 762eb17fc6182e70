"""The emulator's moto speed-ups give moto's own answers (see devstack/moto_speedups.py)."""

from __future__ import annotations

import boto3
from moto import backends, mock_aws
from moto.sqs.models import sqs_backends

from switchyard.devstack import moto_speedups
from switchyard.devstack.moto_speedups import _ORIGINALS


def test_queue_counts_retention_and_the_module_listing_are_unchanged():
    moto_speedups.install()
    with mock_aws():
        sqs = boto3.client("sqs", region_name="us-west-2")
        url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        for index in range(6):
            sqs.send_message(QueueUrl=url, MessageBody=str(index), DelaySeconds=30 if index < 2 else 0)
        sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, VisibilityTimeout=30)
        backend = sqs_backends["123456789012"]["us-west-2"]
        queue = backend.get_queue("q")
        expired = queue._messages[-1]
        expired.sent_timestamp -= 120_000

        assert queue.messages == _ORIGINALS["messages"].fget(queue)  # type: ignore[attr-defined]
        for name in (
            "approximate_number_of_messages",
            "approximate_number_of_messages_delayed",
            "approximate_number_of_messages_not_visible",
        ):
            assert getattr(queue, name) == _ORIGINALS[name].fget(queue), name  # type: ignore[attr-defined]
        assert (
            queue.approximate_number_of_messages,
            queue.approximate_number_of_messages_delayed,
            queue.approximate_number_of_messages_not_visible,
        ) == (1, 2, 3)
        original = _ORIGINALS["is_message_valid_based_on_retention_period"]
        for message in queue._messages:
            assert backend.is_message_valid_based_on_retention_period("q", message) == original(backend, "q", message)
        assert not backend.is_message_valid_based_on_retention_period("q", expired)
    assert list(backends.list_of_moto_modules()) == list(_ORIGINALS["list_of_moto_modules"]())  # type: ignore[operator]
