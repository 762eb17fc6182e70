"""The stored form of a workspace: what the pipeline reads, with write keys reduced to hashes.

Write keys are credentials, so the config table keeps only their SHA-256; ingest hashes the key a
request presents and looks the hash up. Plain dataclasses: this is read on the ingest cold path,
where importing a validation framework costs more than it buys (the file model validated it).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any

from switchyard import constants


def write_key_hash(write_key: str) -> str:
    return hashlib.sha256(write_key.encode("utf-8")).hexdigest()


@dataclass(frozen=True, slots=True)
class LakeSync:
    """What of a source the lake holds (the workspace's `lake:`, Segment's Selective Sync; everything
    by default). `exclude_events` names track events, as sent or as their table name (`Order
    Completed` or `order_completed`): they leave `tracks` and get no table. `exclude_properties`
    names keys of properties, traits or context, dotted for nested ones (`address.street`,
    `context.ip`), matched by column name: the key and all under it are left out of every table."""

    enabled: bool = True
    exclude_events: tuple[str, ...] = ()
    exclude_properties: tuple[str, ...] = ()

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> LakeSync:
        return cls(
            enabled=document.get("enabled", True),
            exclude_events=tuple(document.get("exclude_events", ())),
            exclude_properties=tuple(document.get("exclude_properties", ())),
        )


@dataclass(frozen=True, slots=True)
class SchemaControls:
    """A source's schema filters (see the workspace's `schema`): `*` globs of names to block; a
    `True` block blocks every page (screen)."""

    block_events: tuple[str, ...] = ()
    block_pages: bool | tuple[str, ...] = False
    block_screens: bool | tuple[str, ...] = False
    omit_traits: tuple[str, ...] = ()
    omit_group_traits: tuple[str, ...] = ()

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> SchemaControls:
        def names(value: Any) -> bool | tuple[str, ...]:
            return value if isinstance(value, bool) else tuple(value)

        return cls(
            block_events=tuple(document.get("block_events", ())),
            block_pages=names(document.get("block_pages", False)),
            block_screens=names(document.get("block_screens", False)),
            omit_traits=tuple(document.get("omit_traits", ())),
            omit_group_traits=tuple(document.get("omit_group_traits", ())),
        )


class ConsentDefault(StrEnum):
    """What a consent-gated destination gets of a source's events that carry no consent preferences."""

    ALLOW = "allow"
    DENY = "deny"


@dataclass(frozen=True, slots=True)
class Source:
    id: str
    name: str
    enabled: bool
    write_key_sha256: str
    labels: dict[str, str] = field(default_factory=dict)
    schema: SchemaControls | None = None
    consent_default: ConsentDefault = ConsentDefault.ALLOW  # also for configurations stored before consent
    lake: LakeSync = field(default_factory=LakeSync)  # also for configurations stored before the lake

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> Source:
        fields = {
            **document,
            "schema": SchemaControls.from_document(document["schema"]) if document.get("schema") else None,
        }
        if "consent_default" in document:
            fields["consent_default"] = ConsentDefault(document["consent_default"])
        if "lake" in document:
            fields["lake"] = LakeSync.from_document(document["lake"])
        return cls(**fields)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """A destination's `retry` (defaults live in the workspace model, config/workspace.py)."""

    max_hours: float
    initial_delay_seconds: int
    max_delay_seconds: int


class FilterActionType(StrEnum):
    """What a destination filter does to the events its condition matches."""

    SAMPLE = "sample"  # keep `percent` of them (deterministic per `path` when given)
    DROP = "drop"
    DROP_PROPERTIES = "drop_properties"  # remove the listed keys
    ALLOW_PROPERTIES = "allow_properties"  # keep only the listed keys of the listed objects


@dataclass(frozen=True, slots=True)
class FilterAction:
    type: FilterActionType
    percent: float = 1.0  # sample: the share kept, 0..1
    path: str | None = None  # sample: the field whose value decides (None: the messageId)
    fields: tuple[tuple[str, tuple[str, ...]], ...] = ()  # object path ("" = top level) -> keys

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> FilterAction:
        return cls(
            type=FilterActionType(document["type"]),
            percent=document.get("percent", 1.0),
            path=document.get("path"),
            fields=tuple((path, tuple(keys)) for path, keys in _pairs(document.get("fields", ()))),
        )


def _pairs(fields: dict[str, Any] | list[Any] | tuple[Any, ...]) -> Any:
    """(path, keys) pairs from the workspace's mapping or the stored list of pairs."""
    return fields.items() if isinstance(fields, dict) else fields


ALL_EVENTS = "all"  # a filter condition that holds for every event (not FQL)


@dataclass(frozen=True, slots=True)
class DestinationFilter:
    """One of a destination's filters: `condition` is an FQL query, or ALL_EVENTS."""

    title: str
    condition: str
    actions: tuple[FilterAction, ...]
    enabled: bool = True

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> DestinationFilter:
        return cls(
            title=document["title"],
            condition=document["condition"],
            actions=tuple(FilterAction.from_document(action) for action in document["actions"]),
            enabled=document.get("enabled", True),
        )


@dataclass(frozen=True, slots=True)
class Destination:
    id: str
    name: str
    type: str
    enabled: bool
    sources: tuple[str, ...]
    settings: dict[str, Any]
    rate_limit_per_second: int
    concurrency: int
    retry: RetryPolicy
    function: str | None = None
    insert_function: str | None = None
    credentials: tuple[str, ...] = ()  # names of the settings kept in SSM (config/credentials.py)
    filters: tuple[DestinationFilter, ...] = ()
    consent: tuple[str, ...] = ()  # consent categories an event must grant (all of them)
    pii: DestinationPii | None = None

    def __hash__(self) -> int:
        return hash(self.id)


@dataclass(frozen=True, slots=True)
class FunctionConfig:
    id: str
    kind: str
    source: str | None
    file: str
    settings: dict[str, Any]
    secret_names: tuple[str, ...]
    timeout_seconds: int
    token_sha256: str = ""  # source functions: the webhook token's hash

    def __hash__(self) -> int:
        return hash(self.id)


@dataclass(frozen=True, slots=True)
class PiiMatcher:
    """A class of personal data: fields whose key is one of `keys` (compared without case, `_`, `-`,
    spaces or dots), or whose whole string value matches `pattern`."""

    name: str
    keys: tuple[str, ...]
    pattern: str | None

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> PiiMatcher:
        return cls(document["name"], tuple(document["keys"]), document.get("pattern"))


@dataclass(frozen=True, slots=True)
class PrivacySettings:
    """The workspace's `privacy`: its own matchers beside the built-in ones, and whether the router
    keeps the inventory of where personal data was seen."""

    inventory: bool
    matchers: tuple[PiiMatcher, ...]

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> PrivacySettings:
        return cls(document["inventory"], tuple(PiiMatcher.from_document(m) for m in document["matchers"]))


@dataclass(frozen=True, slots=True)
class DestinationPii:
    """A destination's `pii`: the classes removed from its events, and those sent as SHA-256."""

    block: tuple[str, ...] = ()
    hash: tuple[str, ...] = ()


class UnplannedEvents(StrEnum):
    ALLOW = "allow"
    BLOCK = "block"


class UnplannedProperties(StrEnum):
    ALLOW = "allow"
    OMIT = "omit"


class ViolationsControl(StrEnum):
    ALLOW = "allow"  # recorded on the message, delivered as is
    OMIT = "omit"  # recorded, the offending fields removed
    BLOCK = "block"  # neither archived nor delivered (unless forwarded)


@dataclass(frozen=True, slots=True)
class PlanControls:
    """What a tracking plan does with what it does not expect (defaults: config/plans.py)."""

    unplanned_events: UnplannedEvents
    unplanned_properties: UnplannedProperties
    violations: ViolationsControl
    forward_violations_to: str | None  # a source id: one `Violation Generated` track event per violation
    forward_blocked_to: str | None  # a source id: blocked events go there instead of vanishing

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> PlanControls:
        return cls(
            unplanned_events=UnplannedEvents(document["unplanned_events"]),
            unplanned_properties=UnplannedProperties(document["unplanned_properties"]),
            violations=ViolationsControl(document["violations"]),
            forward_violations_to=document.get("forward_violations_to"),
            forward_blocked_to=document.get("forward_blocked_to"),
        )


@dataclass(frozen=True, slots=True)
class PlannedEvent:
    name: str
    properties: dict[str, Any]  # JSON Schema (draft-07) over the event's `properties`


@dataclass(frozen=True, slots=True)
class TrackingPlan:
    """JSON Schemas (draft-07) for a source's messages: `common` over every whole message,
    `identify` and `group` over those whole messages, and each planned track event's properties."""

    id: str
    name: str
    sources: tuple[str, ...]
    common: dict[str, Any] | None
    identify: dict[str, Any] | None
    group: dict[str, Any] | None
    events: tuple[PlannedEvent, ...]
    controls: PlanControls

    def __hash__(self) -> int:
        return hash(self.id)

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> TrackingPlan:
        return cls(
            id=document["id"],
            name=document["name"],
            sources=tuple(document["sources"]),
            common=document.get("common"),
            identify=document.get("identify"),
            group=document.get("group"),
            events=tuple(PlannedEvent(**event) for event in document.get("events", ())),
            controls=PlanControls.from_document(document["controls"]),
        )


@dataclass(frozen=True)
class CompiledWorkspace:
    workspace: str
    sources: tuple[Source, ...] = ()
    destinations: tuple[Destination, ...] = ()
    functions: tuple[FunctionConfig, ...] = ()
    tracking_plans: tuple[TrackingPlan, ...] = ()
    privacy: PrivacySettings | None = None  # None only for configurations stored before it: no inventory

    def __post_init__(self) -> None:
        object.__setattr__(self, "_by_key_hash", {source.write_key_sha256: source for source in self.sources})
        object.__setattr__(self, "_by_id", {source.id: source for source in self.sources})
        object.__setattr__(self, "_destinations", {destination.id: destination for destination in self.destinations})
        connected: dict[str, list[Destination]] = {}
        for destination in self.destinations:
            for source_id in destination.sources:
                connected.setdefault(source_id, []).append(destination)
        object.__setattr__(self, "_connected", {key: tuple(value) for key, value in connected.items()})
        object.__setattr__(self, "_functions", {function.id: function for function in self.functions})
        plans = {source_id: plan for plan in self.tracking_plans for source_id in plan.sources}
        object.__setattr__(self, "_plans", plans)
        named = constants.METRIC_NAMED_IDS
        object.__setattr__(self, "_metric_sources", {source.id for source in self.sources[:named]})
        object.__setattr__(self, "_metric_destinations", {destination.id for destination in self.destinations[:named]})

    def source_metric_name(self, source_id: str) -> str:
        """The source's dimension value in CloudWatch: its id, for the first METRIC_NAMED_IDS sources."""
        return source_id if source_id in self._metric_sources else constants.OTHER_METRIC_NAME  # type: ignore[attr-defined]

    def destination_metric_name(self, destination_id: str) -> str:
        """The destination's dimension value in CloudWatch: its id, for the first METRIC_NAMED_IDS."""
        if destination_id in self._metric_destinations:  # type: ignore[attr-defined]
            return destination_id
        return constants.OTHER_METRIC_NAME

    def function(self, function_id: str) -> FunctionConfig | None:
        return self._functions.get(function_id)  # type: ignore[attr-defined]

    def destination(self, destination_id: str) -> Destination | None:
        return self._destinations.get(destination_id)  # type: ignore[attr-defined]

    def connected_destinations(self, source_id: str) -> tuple[Destination, ...]:
        """Every destination connected to the source, enabled or not."""
        return self._connected.get(source_id, ())  # type: ignore[attr-defined]

    def source_for_write_key(self, write_key: str) -> Source | None:
        return self._by_key_hash.get(write_key_hash(write_key))  # type: ignore[attr-defined]

    def source(self, source_id: str) -> Source | None:
        return self._by_id.get(source_id)  # type: ignore[attr-defined]

    def tracking_plan(self, source_id: str) -> TrackingPlan | None:
        """The plan the source is connected to (at most one)."""
        return self._plans.get(source_id)  # type: ignore[attr-defined]

    def to_document(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "sources": [asdict(source) for source in self.sources],
            "destinations": [asdict(destination) for destination in self.destinations],
            "functions": [asdict(function) for function in self.functions],
            "tracking_plans": [asdict(plan) for plan in self.tracking_plans],
            "privacy": asdict(self.privacy) if self.privacy is not None else None,
        }

    @classmethod
    def from_document(cls, document: dict[str, Any]) -> CompiledWorkspace:
        return cls(
            workspace=document["workspace"],
            sources=tuple(Source.from_document(source) for source in document.get("sources", [])),
            destinations=tuple(
                Destination(
                    **{
                        **destination,
                        "sources": tuple(destination["sources"]),
                        "credentials": tuple(destination.get("credentials", ())),
                        "retry": RetryPolicy(**destination["retry"]),
                        "filters": tuple(DestinationFilter.from_document(f) for f in destination.get("filters", ())),
                        "consent": tuple(destination.get("consent", ())),
                        "pii": DestinationPii(tuple(pii["block"]), tuple(pii["hash"]))
                        if (pii := destination.get("pii"))
                        else None,
                    }
                )
                for destination in document.get("destinations", [])
            ),
            functions=tuple(
                FunctionConfig(**{**function, "secret_names": tuple(function["secret_names"])})
                for function in document.get("functions", [])
            ),
            tracking_plans=tuple(TrackingPlan.from_document(plan) for plan in document.get("tracking_plans", ())),
            privacy=PrivacySettings.from_document(privacy) if (privacy := document.get("privacy")) else None,
        )


EMPTY_WORKSPACE = CompiledWorkspace(workspace="")
