"""Sending with any destination type: settings, mapping, packing, requests, per-event outcomes.

One `send` takes the events the deliverer hands over (at most `plan().events_per_send`) and:

1. builds the typed settings (public ones from the config item, credentials from SSM, cached);
2. maps each event to the tool's items, or settles it as unsupported;
3. packs each channel's items into requests within the tool's count and byte limits, each
   item serialized once;
4. makes the requests one after another, none after the deadline, each cut at the deadline;
5. reads each answer as one verdict per item and gives each event the worst of its items'
   verdicts (retry, then final, then delivered): an event whose items were all accepted is never
   sent again, even when other events of the same request were refused;
6. sends the next steps the answers named (`Verdict.then`: a chained call), packed the same way,
   after the requests already planned.

Samples kept for operators show no credential: every credential's value is masked wherever it
appears (URL, headers, body), and so are the headers a type names secret.

`delete_users` asks a tool with a user-deletion API to delete users (a GDPR request): one request
per `max_deletions_per_call` userIds, through the same settings, requests, masking and transport
errors as `send`, each answered by one attempt. A request whose verdict names next steps (look the
user's id up, then delete it) sends them at once, each once the one before was taken: the attempt
is the last step's.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import orjson
from pydantic import ValidationError
from urllib3.exceptions import HTTPError

from switchyard.config.compiled import Destination
from switchyard.delivery.attempts import Attempt, AttemptStatus
from switchyard.delivery.http import Answer, BoundedHttp
from switchyard.delivery.network import network_code
from switchyard.destinations.base import (
    Again,
    AwsCall,
    Call,
    CallContext,
    DeletionAttempt,
    DestinationSettings,
    DestinationType,
    HttpCall,
    Item,
    Limits,
    NoCall,
    Unsupported,
    Verdict,
)

SAMPLE_CHARS = 2048
MASK = "<redacted>"
# A request is not started with less time than this before the deadline.
MIN_REQUEST_SECONDS = 0.5

CREDENTIALS_UNAVAILABLE = "credentials_unavailable"
UNSUPPORTED = "unsupported"  # discarded.unsupported.<reason>
ITEM_TOO_LARGE = "item_too_large"
OUT_OF_TIME = "out_of_time"
MAPPING_FAILED = "mapping_failed"
DELETION_NOT_CONFIGURED = "deletion_not_configured"
DELETION_UNSUPPORTED = "deletion_unsupported"

# AWS error codes that no retry will fix (a request we built wrong); everything else is retried,
# a missing bus or stream included: after it is created, the events go through.
_FINAL_AWS_ERRORS = frozenset({"ValidationException", "SerializationException", "InvalidArgumentException"})

_NO_CREDENTIALS: dict[str, Any] = {}  # one object, so the settings cache recognises "none" again
_SEVERITY = {AttemptStatus.DELIVERED: 0, AttemptStatus.FINAL: 1, AttemptStatus.RETRY: 2}


class Credentials(Protocol):
    def get(self, destination_id: str) -> dict[str, Any]: ...


class AwsClients(Protocol):
    def __call__(self, service: str) -> Any: ...


class NoCredentials:
    def get(self, destination_id: str) -> dict[str, Any]:
        return {}


@dataclass(frozen=True, slots=True)
class SendPlan:
    """How the deliverer should hand events to an adapter, and how long one hand-over may take."""

    events_per_send: int
    attempt_seconds: float
    cut_at_deadline: bool = True  # False: the attempt runs its own time-out (a Lambda invocation)


@dataclass(frozen=True, slots=True)
class Preview:
    requests: list[tuple[dict[str, Any], list[int]]]  # (the request as shown, indexes of its events)
    settled: dict[int, Attempt]  # events settled without a request (unsupported, too large, unmappable)


@dataclass(slots=True)
class Packed:
    """The items of one request, serialized."""

    channel: str
    indexes: list[int]  # of the events the items belong to
    payloads: list[bytes]  # the items, serialized
    again: bool = False  # sent again at once after the tool's answer (see `Again`)

    def only(self, positions: Sequence[int], *, again: bool = False) -> Packed:
        return Packed(self.channel, [self.indexes[i] for i in positions], [self.payloads[i] for i in positions], again)


def again(batch: Packed, verdicts: Sequence[Verdict]) -> list[Packed]:
    """What to send again at once: the items to resend without those the tool refused (only when
    it refused some, so the next request differs), or both halves of a request too large."""
    if any(verdict.again is Again.SPLIT for verdict in verdicts) and len(verdicts) > 1:
        middle = len(verdicts) // 2
        return [batch.only(range(middle), again=True), batch.only(range(middle, len(verdicts)), again=True)]
    resend = [i for i, verdict in enumerate(verdicts) if verdict.again is Again.RESEND]
    if resend and len(resend) < len(verdicts):
        return [batch.only(resend, again=True)]
    return []


class ToolAdapter:
    """The deliverer's adapter for one destination type: generic over the type's declarations."""

    def __init__(
        self,
        kind: DestinationType,
        aws_region: str,
        *,
        http: BoundedHttp | None = None,
        credentials: Credentials | None = None,
        aws_clients: AwsClients | None = None,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.kind = kind
        self._aws_region = aws_region
        self._http = http or BoundedHttp()
        self._credentials = credentials or NoCredentials()
        self._aws_clients = aws_clients
        self._clock = clock
        self._monotonic = monotonic
        self._settings_cache: dict[str, tuple[Destination, dict[str, Any], DestinationSettings]] = {}
        self._lock = threading.Lock()

    # -- what the deliverer asks -------------------------------------------------------------

    def plan(self, destination: Destination) -> SendPlan:
        # The stored settings were validated by `apply` and carry every default: no need to again.
        settings = self.kind.settings_model.model_construct(**destination.settings)
        return SendPlan(self.kind.events_per_send(settings), settings.timeout_seconds)

    def send(self, destination: Destination, events: Sequence[dict[str, Any]], deadline: float) -> list[Attempt]:
        try:
            settings, secrets = self.settings(destination)
        except CredentialsUnavailable as error:
            return [self._settled(AttemptStatus.RETRY, CREDENTIALS_UNAVAILABLE, {"error": str(error)})] * len(events)
        attempts: list[Attempt | None] = [None] * len(events)
        omitted: dict[int, tuple[str, ...]] = {}
        pending = deque(self.map_and_pack(events, settings, attempts, omitted))
        while pending:
            pending.extend(self._deliver_batch(pending.popleft(), settings, secrets, deadline, attempts, omitted))
        done = [attempt if attempt is not None else self._nothing_to_send() for attempt in attempts]
        for index, reasons in omitted.items():
            done[index] = replace(done[index], omitted=reasons)
        return done

    def preview(self, destination: Destination, events: Sequence[dict[str, Any]]) -> Preview:
        """What `send` would do, without sending: the requests as samples show them (credentials
        masked) with the events each carries, and the events settled without a request."""
        settings, secrets = self.settings(destination)
        attempts: list[Attempt | None] = [None] * len(events)
        requests = []
        for batch in self.map_and_pack(events, settings, attempts):
            context = CallContext(self._aws_region, self._clock())
            call = self.kind.call(batch.channel, batch.payloads, settings, context)
            if isinstance(call, NoCall):
                self._record(batch.indexes, call.verdicts, {}, {}, attempts)
                continue
            requests.append((shown_call(call, secrets, self.kind.secret_headers), batch.indexes))
        settled = {index: attempt for index, attempt in enumerate(attempts) if attempt is not None}
        return Preview(requests, settled)

    @property
    def supports_deletion(self) -> bool:
        return self.kind.max_deletions_per_call > 0

    def delete_users(self, destination: Destination, user_ids: Sequence[str], deadline: float) -> list[DeletionAttempt]:
        """One attempt per request: the userIds in chunks of the tool's `max_deletions_per_call`."""
        size = self.kind.max_deletions_per_call
        if not user_ids:
            return []
        if size <= 0:
            response = {"error": f"{self.kind.title} has no user-deletion API"}
            return [DeletionAttempt(tuple(user_ids), AttemptStatus.FINAL, DELETION_UNSUPPORTED, {}, response)]
        chunks = [tuple(user_ids[start : start + size]) for start in range(0, len(user_ids), size)]
        try:
            settings, secrets = self.settings(destination)
        except CredentialsUnavailable as error:
            response = {"error": str(error)}
            return [
                DeletionAttempt(chunk, AttemptStatus.RETRY, CREDENTIALS_UNAVAILABLE, {}, response) for chunk in chunks
            ]
        return [self._delete_chunk(chunk, settings, secrets, deadline) for chunk in chunks]

    def _delete_chunk(
        self, user_ids: tuple[str, ...], settings: DestinationSettings, secrets: tuple[str, ...], deadline: float
    ) -> DeletionAttempt:
        call = self.kind.delete_call(user_ids, settings, CallContext(self._aws_region, self._clock()))
        if call is None:
            response = {"error": self.kind.deletion_requirement(settings)}
            return DeletionAttempt(user_ids, AttemptStatus.FINAL, DELETION_NOT_CONFIGURED, {}, response)
        attempt, then = self._deletion_step(user_ids, call, settings, secrets, deadline)
        pending = deque(then)
        # A step goes once the one before it was taken, so the attempt is the last step's.
        while pending and attempt.status is AttemptStatus.DELIVERED:
            item = pending.popleft()
            context = CallContext(self._aws_region, self._clock())
            step = self.kind.call(item.channel, [orjson.dumps(item.payload)], settings, context)
            attempt, then = self._deletion_step(user_ids, step, settings, secrets, deadline)
            pending.extend(then)
        return attempt

    def _deletion_step(
        self,
        user_ids: tuple[str, ...],
        call: Call | NoCall,
        settings: DestinationSettings,
        secrets: tuple[str, ...],
        deadline: float,
    ) -> tuple[DeletionAttempt, tuple[Item, ...]]:
        """One request of a deletion: its attempt, and the next steps its verdict names."""
        if isinstance(call, NoCall):  # a step the type found needless after all
            verdict = call.verdicts[0]
            return DeletionAttempt(user_ids, verdict.status, verdict.code, {}, {}, verdict.retry_after), verdict.then
        if deadline - self._monotonic() < MIN_REQUEST_SECONDS:
            return DeletionAttempt(user_ids, AttemptStatus.RETRY, OUT_OF_TIME, {}, {}), ()
        shown = shown_call(call, secrets, self.kind.secret_headers)
        try:
            answer = self._execute(call, settings, deadline)
        except TransportError as error:
            status = AttemptStatus.FINAL if error.final else AttemptStatus.RETRY
            return DeletionAttempt(user_ids, status, error.code, shown, {"error": shown_text(str(error), secrets)}), ()
        verdict = self.kind.interpret_delete(call, answer, self._clock())
        shown_response = shown_answer(answer, secrets)
        attempt = DeletionAttempt(user_ids, verdict.status, verdict.code, shown, shown_response, verdict.retry_after)
        return attempt, verdict.then

    # -- the steps ---------------------------------------------------------------------------

    def settings(self, destination: Destination) -> tuple[DestinationSettings, tuple[str, ...]]:
        """Typed settings with credentials merged in; cached until the config or credentials change."""
        credentials: dict[str, Any] = _NO_CREDENTIALS
        if destination.credentials:
            try:
                credentials = self._credentials.get(destination.id)
            except Exception as error:  # noqa: BLE001 - SSM unreachable or throttled: later, never unauthenticated
                raise CredentialsUnavailable(type(error).__name__) from error
            if set(destination.credentials) - set(credentials):
                raise CredentialsUnavailable("not stored yet")
        with self._lock:
            cached = self._settings_cache.get(destination.id)
        if cached is not None and cached[0] == destination and cached[1] is credentials:
            settings = cached[2]
        else:
            try:
                settings = self.kind.settings_model.model_validate({**destination.settings, **credentials})
            except ValidationError as error:
                raise CredentialsUnavailable(f"settings do not validate: {error.error_count()} problem(s)") from error
            with self._lock:
                self._settings_cache[destination.id] = (destination, credentials, settings)
        hidden = [*secret_values(credentials), *self.kind.hidden_values(settings)]
        return settings, tuple(sorted(hidden, key=len, reverse=True))

    def map_and_pack(
        self,
        events: Sequence[dict[str, Any]],
        settings: DestinationSettings,
        attempts: list[Attempt | None],
        omitted: dict[int, tuple[str, ...]] | None = None,
    ) -> list[Packed]:
        """Steps 2 and 3: the requests' contents; events settled on the way get their attempt.

        An event's items are all packed or none is: one that cannot be serialized settles the event.
        """
        # Per channel, in the order channels first appear: the events' indexes and their items,
        # serialized (two parallel lists, so a request can take slices of them as they are).
        channels: dict[str, tuple[list[int], list[bytes]]] = {}
        # The last channel's lists: most events map to the channel of the one before.
        last_channel: str | None = None
        last_indexes: list[int] = []
        last_payloads: list[bytes] = []
        map_event, dumps = self.kind.map, orjson.dumps  # locals: used per event
        for index, event in enumerate(events):
            try:
                mapped = map_event(event, settings)
                if mapped.__class__ is Unsupported:
                    reason = mapped.reason  # type: ignore[union-attr]
                    attempts[index] = self._settled(AttemptStatus.UNSUPPORTED, f"{UNSUPPORTED}.{reason}", {})
                    continue
                if len(mapped) == 1:  # the usual case: no list of serialized items to build first
                    channel, payload, left_out = mapped[0]  # type: ignore[index]
                    serialized = dumps(payload)
                    if left_out and omitted is not None:
                        omitted[index] = left_out
                else:  # none, or several: all serialized before any is packed
                    serialized = None
                    several = [(item.channel, dumps(item.payload)) for item in mapped]  # type: ignore[union-attr]
                    left_out = tuple(reason for item in mapped for reason in item.omitted)  # type: ignore[union-attr]
                    if left_out and omitted is not None:
                        omitted[index] = left_out
            except (KeyError, TypeError, ValueError, AttributeError, orjson.JSONEncodeError) as error:
                attempts[index] = self._settled(AttemptStatus.FINAL, MAPPING_FAILED, {"error": repr(error)[:200]})
                continue
            if serialized is None:
                for channel, serialized in several:
                    indexes, payloads = _members(channels, channel)
                    indexes.append(index)
                    payloads.append(serialized)
                continue
            if channel is not last_channel:  # most often the type's same constant; an equal one is found too
                members = channels.get(channel)
                if members is None:
                    members = channels[channel] = ([], [])
                last_indexes, last_payloads = members
                last_channel = channel
            last_indexes.append(index)
            last_payloads.append(serialized)
        batches: list[Packed] = []
        for channel, (indexes, payloads) in channels.items():
            batches.extend(self._pack(channel, indexes, payloads, self.kind.limits(channel, settings), attempts))
        return batches

    def _pack(
        self, channel: str, indexes: list[int], payloads: list[bytes], limits: Limits, attempts: list[Attempt | None]
    ) -> list[Packed]:
        """Greedy, in order: a request closes when the next item would break a limit."""
        overhead, max_items, max_bytes = limits.overhead_bytes, limits.max_items, limits.max_bytes
        # Most often no request can reach the byte limit, even with its largest items (one
        # separator byte each): then requests are cut by count alone, as slices, with no loop per item.
        largest = max(map(len, payloads))
        if limits.max_item_bytes is not None and largest > limits.max_item_bytes:
            return self._pack_by_size(channel, indexes, payloads, limits, attempts)
        if max_items > 0 and overhead + (largest + 1) * min(max_items, len(payloads)) <= max_bytes:
            if len(payloads) <= max_items:
                return [Packed(channel, indexes, payloads)]
            return [
                Packed(channel, indexes[start : start + max_items], payloads[start : start + max_items])
                for start in range(0, len(payloads), max_items)
            ]
        return self._pack_by_size(channel, indexes, payloads, limits, attempts)

    def _pack_by_size(
        self, channel: str, indexes: list[int], payloads: list[bytes], limits: Limits, attempts: list[Attempt | None]
    ) -> list[Packed]:
        """`_pack` item by item, for items large enough to close a request by its size."""
        batches: list[Packed] = []
        taken: list[int] = []
        packed: list[bytes] = []
        overhead, max_items, max_bytes = limits.overhead_bytes, limits.max_items, limits.max_bytes
        size = overhead
        max_item = limits.max_item_bytes if limits.max_item_bytes is not None else max_bytes
        for index, payload in zip(indexes, payloads, strict=True):
            cost = len(payload) + 1  # the separator
            if overhead + cost > max_bytes or cost - 1 > max_item:
                attempts[index] = self._settled(AttemptStatus.FINAL, ITEM_TOO_LARGE, {"bytes": cost - 1})
                continue
            if packed and (len(packed) >= max_items or size + cost > max_bytes):
                batches.append(Packed(channel, taken, packed))
                taken, packed, size = [], [], overhead
            taken.append(index)
            packed.append(payload)
            size += cost
        if packed:
            batches.append(Packed(channel, taken, packed))
        return batches

    def _deliver_batch(
        self,
        batch: Packed,
        settings: DestinationSettings,
        secrets: tuple[str, ...],
        deadline: float,
        attempts: list[Attempt | None],
        omitted: dict[int, tuple[str, ...]],
    ) -> list[Packed]:
        """One request; returns what the answer says to send again at once (see `Again`) and the
        next steps it named (see `Verdict.then`)."""
        if not batch.again and not all(_pending(attempts[index]) for index in batch.indexes):
            # An event with an item already to be retried: its other items go with the retry.
            kept = [i for i, index in enumerate(batch.indexes) if _pending(attempts[index])]
            if not kept:
                return []
            batch = batch.only(kept)
        indexes = batch.indexes
        if deadline - self._monotonic() < MIN_REQUEST_SECONDS:
            verdicts = [Verdict(AttemptStatus.RETRY, OUT_OF_TIME)] * len(indexes)
            self._record(indexes, verdicts, {}, {}, attempts, replace=batch.again)
            return []
        context = CallContext(self._aws_region, self._clock())
        call = self.kind.call(batch.channel, batch.payloads, settings, context)
        if isinstance(call, NoCall):
            self._record(indexes, call.verdicts, {}, {}, attempts, replace=batch.again)
            return []
        shown = shown_call(call, secrets, self.kind.secret_headers)
        try:
            answer = self._execute(call, settings, deadline)
        except TransportError as error:
            response = {"error": shown_text(str(error), secrets)}
            verdict = Verdict(AttemptStatus.FINAL if error.final else AttemptStatus.RETRY, error.code)
            self._record(indexes, [verdict] * len(indexes), shown, response, attempts, replace=batch.again)
            return []
        now = self._clock()
        verdicts = self.kind.interpret(call, answer, len(indexes), now)
        self._record(indexes, verdicts, shown, shown_answer(answer, secrets), attempts, replace=batch.again)
        return again(batch, verdicts) + self._next_steps(indexes, verdicts, settings, attempts, omitted)

    def _next_steps(
        self,
        indexes: list[int],
        verdicts: list[Verdict],
        settings: DestinationSettings,
        attempts: list[Attempt | None],
        omitted: dict[int, tuple[str, ...]],
    ) -> list[Packed]:
        """The requests an answer made necessary (`Verdict.then`), packed per channel like the first;
        what a step leaves out (e.g. properties the tool said it lacks) is counted as the map's is."""
        channels: dict[str, tuple[list[int], list[bytes]]] = {}
        for index, verdict in zip(indexes, verdicts, strict=True):
            if not verdict.then or verdict.status is not AttemptStatus.DELIVERED:
                continue
            try:
                steps = [(item.channel, orjson.dumps(item.payload)) for item in verdict.then]
            except orjson.JSONEncodeError as error:
                attempts[index] = self._settled(AttemptStatus.FINAL, MAPPING_FAILED, {"error": repr(error)[:200]})
                continue
            for channel, serialized in steps:
                members, payloads = _members(channels, channel)
                members.append(index)
                payloads.append(serialized)
            left_out = tuple(reason for item in verdict.then for reason in item.omitted)
            if left_out:
                omitted[index] = omitted.get(index, ()) + left_out
        batches: list[Packed] = []
        for channel, (members, payloads) in channels.items():
            batches.extend(self._pack(channel, members, payloads, self.kind.limits(channel, settings), attempts))
        return batches

    def _execute(self, call: Call, settings: DestinationSettings, deadline: float) -> Any:
        if isinstance(call, HttpCall):
            try:
                return self._http.request(
                    call.method,
                    call.url,
                    body=call.body,
                    headers={"Content-Type": "application/json", **call.headers},
                    deadline=min(deadline, self._monotonic() + settings.timeout_seconds),
                )
            except (HTTPError, OSError) as error:
                raise TransportError(network_code(error), f"{network_code(error)}: {error}") from error
        if self._aws_clients is None:
            raise TransportError("no_aws_client", f"{self.kind.name} needs AWS clients")
        client = self._aws_clients(call.service)
        try:
            return getattr(client, call.operation)(**call.params)
        except Exception as error:  # noqa: BLE001 - botocore's errors: classified below
            code = getattr(error, "response", {}).get("Error", {}).get("Code") or type(error).__name__
            final = code in _FINAL_AWS_ERRORS or type(error).__name__ == "ParamValidationError"
            raise TransportError(code, f"{code}: {error}", final=final) from error

    def _record(
        self,
        indexes: list[int],
        verdicts: list[Verdict],
        request: dict[str, Any],
        response: dict[str, Any],
        attempts: list[Attempt | None],
        *,
        replace: bool = False,
    ) -> None:
        """An event's outcome is its worst item's; a resent item's new verdict replaces its last."""
        if len(verdicts) != len(indexes):
            raise ValueError(f"{self.kind.name}: {len(verdicts)} verdicts for {len(indexes)} items")
        answered = self._clock()
        for index, verdict in zip(indexes, verdicts, strict=True):
            previous = attempts[index]
            if not replace and previous is not None and _SEVERITY[previous.status] >= _SEVERITY[verdict.status]:
                continue
            attempts[index] = Attempt(
                verdict.status,
                verdict.code,
                retry_after=verdict.retry_after,
                request=request,
                response=response,
                answered_at=answered,
                final_from_attempt=verdict.final_from_attempt,
            )

    def _settled(self, status: AttemptStatus, code: str, response: dict[str, Any]) -> Attempt:
        return Attempt(status, code, response=response, answered_at=self._clock())

    def _nothing_to_send(self) -> Attempt:
        """An event the type mapped to no item at all (e.g. an identify without traits)."""
        return Attempt(AttemptStatus.DELIVERED, "no_items", answered_at=self._clock())


def _members(channels: dict[str, tuple[list[int], list[bytes]]], channel: str) -> tuple[list[int], list[bytes]]:
    """A channel's lists of event indexes and serialized items, new when it has none yet."""
    members = channels.get(channel)
    if members is None:
        members = channels[channel] = ([], [])
    return members


def _pending(attempt: Attempt | None) -> bool:
    return attempt is None or attempt.status is not AttemptStatus.RETRY


class CredentialsUnavailable(Exception):
    """The destination's credentials cannot be read (yet): its events wait."""


class TransportError(Exception):
    def __init__(self, code: str, message: str, *, final: bool = False) -> None:
        super().__init__(message)
        self.code = code
        self.final = final


def secret_values(credentials: dict[str, Any]) -> list[str]:
    """Every string inside the credentials (header maps included), longest first for masking."""
    values: list[str] = []
    for value in credentials.values():
        if isinstance(value, str):
            values.append(value)
        elif isinstance(value, dict):
            values.extend(str(inner) for inner in value.values())
    return sorted((value for value in values if len(value) >= 4), key=len, reverse=True)


def mask(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


def _readable(value: Any) -> str:
    """Bytes in AWS parameters (Firehose records) shown as the text they carry."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes | bytearray) else str(value)


def shown_text(text: str | bytes, secrets: Sequence[str]) -> str:
    """The start of a body or message, masked before it is cut so no credential shows in part."""
    longest = len(secrets[0]) if secrets else 0
    head = text[: SAMPLE_CHARS + longest]
    if isinstance(head, bytes):
        head = head.decode("utf-8", "replace")
    return mask(head, secrets)[:SAMPLE_CHARS]


def shown_call(call: Call, secrets: Sequence[str], secret_headers: frozenset[str]) -> dict[str, Any]:
    """The request as Event Delivery and `switchyard destinations test` show it: no credential."""
    if isinstance(call, AwsCall):
        params = orjson.dumps(call.params, default=_readable).decode()
        return {"aws": f"{call.service}.{call.operation}", "params": shown_text(params, secrets)}
    headers = {"Content-Type": "application/json", **call.headers}
    return {
        "method": call.method,
        "url": mask(call.url, secrets),
        "headers": {
            name: MASK if name.lower() in secret_headers else mask(value, secrets) for name, value in headers.items()
        },
        "body": shown_text(call.body, secrets),
    }


def shown_answer(answer: Any, secrets: Sequence[str]) -> dict[str, Any]:
    if isinstance(answer, Answer):
        return {"status": answer.status, "body": shown_text(answer.body, secrets)}
    metadata = answer.get("ResponseMetadata", {}) if isinstance(answer, dict) else {}
    body = (
        {key: value for key, value in answer.items() if key != "ResponseMetadata"} if isinstance(answer, dict) else {}
    )
    text = orjson.dumps(body, default=str).decode()
    return {"status": metadata.get("HTTPStatusCode", 200), "body": shown_text(text, secrets)}
