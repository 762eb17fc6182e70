"""Monthly tracked users (MTUs) with Apache DataSketches HLL sketches, mergeable across shards,
hours, sources and router instances.

Segment's definition: the distinct `userId`s, plus the distinct `anonymousId`s never associated
with a `userId` in the period. Three sketches per source, shard and hour keep what that takes:

- `users`: every `userId`;
- `anonymous`: the `anonymousId` of each message without a `userId`;
- `tied`: the `anonymousId` of each message with a `userId`, and an `alias` call's `previousId`
  (ids associated with a user).

An anonymousId seen alone in one hour and tied in another is in both; merged over the month, the
never-tied ones are |anonymous ∪ tied| − |tied|. Each estimate has a relative standard error of
about 1.6% (lg_k 12); the difference of two estimates is only as good as the larger of them, so the
bounds printed are the worst case of the three sketches' 95% bounds (wide when most visitors log
in: the tied set is then about as large as the user set). Up to a few hundred ids a sketch holds
them exactly (HLL's list and set modes), so small counts are exact.

Sketch updates are idempotent: a retried batch adds nothing it added before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from datasketches import hll_sketch, hll_union, tgt_hll_type

LG_K = 12  # 4,096 registers: ~1.6% relative standard error, at most ~2.1 KB serialized (HLL_4)
SKETCH_TYPE = tgt_hll_type.HLL_4
CONFIDENCE_STD_DEVS = 2  # the bounds at ~95% confidence


def _new() -> hll_sketch:
    return hll_sketch(LG_K, SKETCH_TYPE)


def _union(sketches: list[hll_sketch]) -> hll_sketch:
    union = hll_union(LG_K)
    for sketch in sketches:
        union.update(sketch)
    return union.get_result(SKETCH_TYPE)


def _id(value: Any) -> str | None:
    """Ids as text (`userId` may be sent as a number); empty ones are no id."""
    if value is None or value == "":
        return None
    return value if type(value) is str else str(value)


@dataclass(frozen=True)
class Estimate:
    """A distinct count with its bounds at ~95% confidence."""

    value: int
    lower: int
    upper: int

    @property
    def relative_error(self) -> float:
        """The larger distance from the estimate to a bound, as a share of the estimate."""
        if self.value == 0:
            return 0.0
        return max(self.upper - self.value, self.value - self.lower) / self.value


def _estimate(sketch: hll_sketch) -> Estimate:
    return Estimate(
        round(sketch.get_estimate()),
        round(sketch.get_lower_bound(CONFIDENCE_STD_DEVS)),
        round(sketch.get_upper_bound(CONFIDENCE_STD_DEVS)),
    )


@dataclass(frozen=True)
class Mtus:
    """Monthly tracked users: `users` distinct userIds plus `anonymous` anonymousIds never tied."""

    total: Estimate
    users: Estimate
    anonymous: Estimate


class People:
    """The three sketches of one source, shard and hour (or of their merge)."""

    __slots__ = ("users", "anonymous", "tied")

    def __init__(
        self, users: hll_sketch | None = None, anonymous: hll_sketch | None = None, tied: hll_sketch | None = None
    ) -> None:
        self.users = users or _new()
        self.anonymous = anonymous or _new()
        self.tied = tied or _new()

    def add(self, message: dict[str, Any]) -> None:
        get = message.get
        user_id = get("userId")
        anonymous_id = get("anonymousId")
        if type(anonymous_id) is not str:  # the common case (text) without a call, on the router's hot path
            anonymous_id = _id(anonymous_id)
        if user_id is None or user_id == "":
            if anonymous_id:
                self.anonymous.update(anonymous_id)
            return
        self.users.update(user_id if type(user_id) is str else str(user_id))
        if anonymous_id:
            self.tied.update(anonymous_id)
        if get("type") == "alias" and (previous := _id(get("previousId"))) is not None:
            self.tied.update(previous)

    @property
    def is_empty(self) -> bool:
        """No id at all (a batch of events forwarded to a source, with no calls of its own)."""
        return self.users.is_empty() and self.anonymous.is_empty() and self.tied.is_empty()

    def merged(self, *others: People) -> People:
        everyone = (self, *others)
        return People(
            _union([p.users for p in everyone]),
            _union([p.anonymous for p in everyone]),
            _union([p.tied for p in everyone]),
        )

    def serialize(self) -> tuple[bytes, bytes, bytes]:
        return self.users.serialize_compact(), self.anonymous.serialize_compact(), self.tied.serialize_compact()

    @classmethod
    def deserialize(cls, users: bytes, anonymous: bytes, tied: bytes) -> People:
        return cls(hll_sketch.deserialize(users), hll_sketch.deserialize(anonymous), hll_sketch.deserialize(tied))

    def mtus(self) -> Mtus:
        users = _estimate(self.users)
        seen = _estimate(_union([self.anonymous, self.tied]))  # every anonymousId, tied or not
        tied = _estimate(self.tied)
        alone = _estimate(self.anonymous)  # never tied is at most the ids seen without a user
        value = min(max(0, seen.value - tied.value), alone.value)
        never_tied = Estimate(
            value,
            min(value, max(0, seen.lower - tied.upper)),
            max(value, min(seen.upper - tied.lower, alone.upper)),
        )
        total = Estimate(users.value + never_tied.value, users.lower + never_tied.lower, users.upper + never_tied.upper)
        return Mtus(total, users, never_tied)
