"""Asking the loader to load hours again: after a user deletion rewrote their archive objects, the
lake's files of those hours still hold the user's rows until they are rebuilt from the archive.

The request is an asynchronous invocation of the loader function (`{"hours": [...]}`, what
`switchyard lake load` sends), so the deletion does not wait for Parquet to be written; Lambda
retries a failed one twice, and a failure shows on the loader's alarm. A reload deletes every older
version of the files it replaces, so no copy of the rows is left in the versioned bucket.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from switchyard.lake.hours import Hour

HOURS_PER_REQUEST = 1000  # an asynchronous invocation takes at most 256 KB


def hour_of_key(key: str) -> Hour | None:
    """The hour of an archive key `source_id=<id>/date=<YYYY-MM-DD>/hour=<HH>/<name>`."""
    parts = key.split("/")
    prefixes = ("source_id=", "date=", "hour=")
    if len(parts) < 4 or not all(part.startswith(prefix) for part, prefix in zip(parts[:3], prefixes, strict=True)):
        return None
    return Hour(parts[0].removeprefix("source_id="), parts[1].removeprefix("date="), parts[2].removeprefix("hour="))


class LakeReloads:
    def __init__(self, lambda_client: Any, loader_function: str) -> None:
        self._lambda = lambda_client
        self._function = loader_function

    def request(self, keys: Iterable[str]) -> int:
        """Ask for the hours of these archive keys to be loaded again; how many hours that is."""
        hours = sorted({hour for hour in map(hour_of_key, keys) if hour is not None})
        for start in range(0, len(hours), HOURS_PER_REQUEST):
            chunk = hours[start : start + HOURS_PER_REQUEST]
            payload = {"hours": [{"source": h.source_id, "date": h.date, "hour": h.hour} for h in chunk]}
            self._lambda.invoke(
                FunctionName=self._function, InvocationType="Event", Payload=json.dumps(payload).encode()
            )
        return len(hours)
