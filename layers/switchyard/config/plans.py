"""The workspace file's `tracking_plans` (Segment's Protocols): JSON Schemas (draft-07) for a source's
messages and what to do with what they do not expect. A schema is written inline or as
`{file: plans/common.json}`, relative to the workspace file; each is compiled when the file is
validated, so a schema that is not valid draft-07 is refused with its line."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import fastjsonschema
from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from switchyard.config.compiled import (
    PlanControls,
    PlannedEvent,
    TrackingPlan,
    UnplannedEvents,
    UnplannedProperties,
    ViolationsControl,
)

PLAN_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
BASE_DIR = "base_dir"  # the validation context's key: the workspace file's folder


def read_schema(value: Any, info: ValidationInfo) -> dict[str, Any] | None:
    """An inline schema, or the one in `{file: path}`; either must compile as draft-07."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise ValueError("a JSON Schema is an object (or {file: path/to/schema.json})")
    if set(value) == {"file"}:
        base = (info.context or {}).get(BASE_DIR) or Path.cwd()
        path = Path(base) / str(value["file"])
        try:
            value = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ValueError(f"cannot read the schema file {path}: {error}") from error
        if not isinstance(value, dict):
            raise ValueError(f"{path}: a JSON Schema is an object")
    try:
        fastjsonschema.compile(value)
    except (fastjsonschema.JsonSchemaDefinitionException, ValueError, TypeError) as error:
        raise ValueError(f"not a valid JSON Schema (draft-07): {error}") from error
    return value


class PlannedEventSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1, max_length=200, description="The track event's name, exactly")
    properties: dict[str, Any] = Field(default_factory=dict, description="JSON Schema over its properties")

    check_schema = field_validator("properties", mode="before")(read_schema)


class PlanControlsSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    unplanned_events: UnplannedEvents = UnplannedEvents.ALLOW
    unplanned_properties: UnplannedProperties = UnplannedProperties.ALLOW
    violations: ViolationsControl = ViolationsControl.ALLOW
    forward_violations_to: str | None = Field(default=None, description="A source id for `Violation Generated`")
    forward_blocked_to: str | None = Field(default=None, description="A source id for blocked events")


class TrackingPlanSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=PLAN_ID_PATTERN)
    name: str | None = None
    sources: list[str] = Field(min_length=1)
    common: dict[str, Any] | None = Field(default=None, description="JSON Schema over every whole message")
    identify: dict[str, Any] | None = Field(default=None, description="JSON Schema over identify messages")
    group: dict[str, Any] | None = Field(default=None, description="JSON Schema over group messages")
    events: list[PlannedEventSpec] = Field(default_factory=list)
    controls: PlanControlsSpec = Field(default_factory=PlanControlsSpec)

    check_schemas = field_validator("common", "identify", "group", mode="before")(read_schema)

    @field_validator("events")
    @classmethod
    def _unique_events(cls, events: list[PlannedEventSpec]) -> list[PlannedEventSpec]:
        names = [event.name for event in events]
        duplicated = sorted({name for name in names if names.count(name) > 1})
        if duplicated:
            raise ValueError(f"events planned twice: {duplicated}")
        return events

    def compiled(self) -> TrackingPlan:
        return TrackingPlan(
            id=self.id,
            name=self.name or self.id,
            sources=tuple(self.sources),
            common=self.common,
            identify=self.identify,
            group=self.group,
            events=tuple(PlannedEvent(event.name, event.properties) for event in self.events),
            controls=PlanControls.from_document(self.controls.model_dump(mode="json")),
        )


def check_plan_connections(plans: list[TrackingPlanSpec], sources: set[str]) -> None:
    """Plans name known sources, each source has at most one plan, and forwarding goes to another
    known source (never back into a planned one of the same plan)."""
    seen: dict[str, str] = {}
    ids = [plan.id for plan in plans]
    if len(ids) != len(set(ids)):
        raise ValueError(f"duplicate tracking plan id {sorted({i for i in ids if ids.count(i) > 1})}")
    for plan in plans:
        unknown = [source for source in plan.sources if source not in sources]
        if unknown:
            raise ValueError(f"tracking plan {plan.id!r} names unknown source(s) {unknown}")
        for source in plan.sources:
            if source in seen:
                raise ValueError(f"source {source!r} is in two tracking plans: {seen[source]!r} and {plan.id!r}")
            seen[source] = plan.id
        for name in ("forward_violations_to", "forward_blocked_to"):
            target = getattr(plan.controls, name)
            if target is not None and target not in sources:
                raise ValueError(f"tracking plan {plan.id!r}: {name} names unknown source {target!r}")
            if target is not None and target in plan.sources:
                raise ValueError(f"tracking plan {plan.id!r}: {name} must be another source than its own")
