"""The anonymousIds the archive ties to users: every anonymousId that appeared in an archived event
together with one of the userIds (an identify after a login, a track of a logged-in visitor).
Suppressing a user suppresses these too, or the same person keeps arriving under a cookie id.

It reads every archive object of the last `days` days (one S3 GET each), so it costs about
`$0.0004` per thousand objects; `switchyard users suppress` says how many it read.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from switchyard.router.archive import archive_lines


@dataclass
class Ties:
    anonymous_ids: set[str] = field(default_factory=set)
    objects_read: int = 0


def tied_anonymous_ids(
    s3: Any, bucket: str, source_ids: Iterable[str], user_ids: set[str], days: int, now: datetime | None = None
) -> Ties:
    now = now or datetime.now(UTC)
    ties = Ties()
    dates = [(now - timedelta(days=back)).strftime("%Y-%m-%d") for back in range(days)]
    for source_id in source_ids:
        for date in dates:
            prefix = f"source_id={source_id}/date={date}/"
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
                for item in page.get("Contents", []):
                    if item["Key"].endswith(".jsonl.gz"):
                        _collect(s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read(), user_ids, ties)
    return ties


def _collect(body: bytes, user_ids: set[str], ties: Ties) -> None:
    ties.objects_read += 1
    for line in archive_lines(body):
        event = orjson.loads(line)
        anonymous_id = event.get("anonymousId")
        if anonymous_id and str(event.get("userId")) in user_ids:
            ties.anonymous_ids.add(str(anonymous_id))
