"""Sending with the real Segment SDK (segment-analytics-python) to a local stack."""

from __future__ import annotations

from collections.abc import Callable

from segment.analytics import Client as SegmentClient

from switchyard.devstack.stack import LocalStack


def send_with_sdk(stack: LocalStack, key: str, calls: Callable[[SegmentClient], None]) -> None:
    """`calls` made on a client of the source `key`, flushed; every call accepted."""
    errors: list[Exception] = []
    client = SegmentClient(key, host=stack.api_url, max_retries=1, on_error=lambda error, _: errors.append(error))
    calls(client)
    client.flush()
    client.shutdown()
    assert errors == []
