"""A user deletion request (Segment's User Deletion): whose data goes, who asked, when."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

import orjson

from switchyard.timeutil import format_timestamp

MAX_USERS_PER_DELETION = 100


class DeletionRequestError(ValueError):
    """A deletion that must not start; the message says why."""


class DeletionStatus(StrEnum):
    PENDING = "PENDING"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"  # archive rewritten, tables cleared, every destination asked
    INCOMPLETE = "INCOMPLETE"  # the archive is clean, but a destination did not take its delete call
    FAILED = "FAILED"  # a step failed: run the deletion again (every step is idempotent)


FINISHED = frozenset({DeletionStatus.SUCCEEDED, DeletionStatus.INCOMPLETE, DeletionStatus.FAILED})


@dataclass(frozen=True)
class DeletionRequest:
    id: str
    user_ids: tuple[str, ...]
    anonymous_ids: tuple[str, ...] = ()  # named by the operator; the archive's ties are found by the workflow
    requested_by: str = ""  # the operator's AWS identity (ARN)
    requested_at: str = field(default_factory=lambda: format_timestamp(datetime.now(UTC)))

    def to_input(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "user_ids": list(self.user_ids),
            "anonymous_ids": list(self.anonymous_ids),
            "requested_by": self.requested_by,
            "requested_at": self.requested_at,
        }

    @classmethod
    def from_input(cls, data: dict[str, Any]) -> DeletionRequest:
        return cls(
            id=data["id"],
            user_ids=tuple(data["user_ids"]),
            anonymous_ids=tuple(data["anonymous_ids"]),
            requested_by=data["requested_by"],
            requested_at=data["requested_at"],
        )


def new_request(
    user_ids: list[str], anonymous_ids: list[str], requested_by: str, now: datetime | None = None
) -> DeletionRequest:
    """A valid request, or DeletionRequestError saying what is wrong (nothing has started)."""
    now = now or datetime.now(UTC)
    users = tuple(dict.fromkeys(user_id.strip() for user_id in user_ids))
    anonymous = tuple(dict.fromkeys(anonymous_id.strip() for anonymous_id in anonymous_ids))
    if not users and not anonymous:
        raise DeletionRequestError("name at least one userId (or --anonymous-id)")
    if "" in users or "" in anonymous:
        raise DeletionRequestError("an empty id cannot be deleted")
    if len(users) + len(anonymous) > MAX_USERS_PER_DELETION:
        raise DeletionRequestError(
            f"at most {MAX_USERS_PER_DELETION} ids per deletion (each deletion reads the whole archive; split the list)"
        )
    deletion_id = f"dl-{now:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:6]}"
    return DeletionRequest(deletion_id, users, anonymous, requested_by, format_timestamp(now))


@dataclass(frozen=True)
class Subjects:
    """The ids whose events go: the request's userIds and anonymousIds, and those the archive ties to them."""

    user_ids: frozenset[str]
    anonymous_ids: frozenset[str]

    def holds(self, event: dict[str, Any]) -> bool:
        user_id, anonymous_id = event.get("userId"), event.get("anonymousId")
        return (user_id is not None and str(user_id) in self.user_ids) or (
            anonymous_id is not None and str(anonymous_id) in self.anonymous_ids
        )

    def ties_in(self, event: dict[str, Any]) -> str | None:
        """The event's anonymousId when it arrived together with one of the userIds."""
        anonymous_id = event.get("anonymousId")
        if anonymous_id in (None, "") or str(event.get("userId")) not in self.user_ids:
            return None
        return str(anonymous_id)

    def texts(self) -> list[bytes]:
        """Each id as a JSON string, and as that string inside another (a sample shows a request's
        body as text): what a stored sample holding it contains."""
        found = []
        for value in sorted(self.user_ids | self.anonymous_ids):
            quoted = orjson.dumps(value)
            found += [quoted, orjson.dumps(quoted.decode())[1:-1]]
        return found
