"""The deletion's audit objects in the archive bucket, beside its manifest, never outside the region:
each rewrite batch's list of changed keys (`objects/<batch>-<attempt>.json`) and the final report
(`report.json`) that merges them with the counts and the destinations' answers."""

from __future__ import annotations

import uuid
from typing import Any

import orjson

from switchyard import aws
from switchyard.constants import DELETION_PREFIX


def report_key(deletion_id: str) -> str:
    return f"{DELETION_PREFIX}{deletion_id}/report.json"


class AuditObjects:
    def __init__(self, bucket: str, s3: Any = None) -> None:
        self._bucket = bucket
        self._s3 = s3

    @property
    def _client(self) -> Any:
        if self._s3 is None:
            self._s3 = aws.client("s3")
        return self._s3

    def _parts_prefix(self, deletion_id: str) -> str:
        return f"{DELETION_PREFIX}{deletion_id}/objects/"

    def put_part(self, deletion_id: str, batch: int, changed: list[dict[str, Any]]) -> None:
        """One attempt's changes: a retried batch writes a part of its own (what the first attempt
        changed before failing is not found again by the retry, which sees it clean)."""
        key = f"{self._parts_prefix(deletion_id)}{batch:06d}-{uuid.uuid4().hex[:8]}.json"
        self._client.put_object(
            Bucket=self._bucket, Key=key, Body=orjson.dumps(changed), ContentType="application/json"
        )

    def changed_objects(self, deletion_id: str) -> list[dict[str, Any]]:
        changed: list[dict[str, Any]] = []
        paginator = self._client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self._bucket, Prefix=self._parts_prefix(deletion_id)):
            for item in page.get("Contents", []):
                changed += orjson.loads(self._client.get_object(Bucket=self._bucket, Key=item["Key"])["Body"].read())
        return sorted(changed, key=lambda entry: entry["key"])

    def put_report(self, deletion_id: str, report: dict[str, Any]) -> str:
        key = report_key(deletion_id)
        body = orjson.dumps(report, option=orjson.OPT_INDENT_2)
        self._client.put_object(Bucket=self._bucket, Key=key, Body=body, ContentType="application/json")
        return key

    def report(self, deletion_id: str) -> dict[str, Any] | None:
        try:
            body = self._client.get_object(Bucket=self._bucket, Key=report_key(deletion_id))["Body"].read()
        except self._client.exceptions.NoSuchKey:
            return None
        return orjson.loads(body)
