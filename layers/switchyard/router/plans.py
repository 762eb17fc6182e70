"""Tracking plans (Segment's Protocols), applied by the router after the schema filters and before
dedupe and the archive: a blocked event is archived and delivered nowhere, unless forwarded.

Each schema is compiled once per plan version into Python code (fastjsonschema), so a valid event
costs one call per schema. Only an event that fails is looked at closely: an object schema is taken
apart into its `required` list and one compiled validator per property, so every violation is
listed with its field (and can be omitted), not only the first one.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import fastjsonschema

from switchyard.config.compiled import (
    CompiledWorkspace,
    TrackingPlan,
    UnplannedEvents,
    UnplannedProperties,
    ViolationsControl,
)
from switchyard.filters.paths import without_fields

VIOLATION_EVENT = "Violation Generated"
VIOLATIONS_USER = "schema-violations"  # Segment's userId for forwarded violations
UNPLANNED = "(unplanned)"  # the event label of unplanned track events in counts


class ViolationType(StrEnum):
    """A violation's kind, from the JSON Schema keyword that failed."""

    REQUIRED = "Required"
    TYPE = "Type"
    ENUM = "Enum"
    PATTERN = "Pattern"
    FORMAT = "Format"
    RANGE = "Range"
    LENGTH = "Length"
    ADDITIONAL_PROPERTIES = "Additional Properties"
    SCHEMA = "Schema"  # any other keyword (allOf, if/then, dependencies ...)


_TYPE_OF_RULE = {
    "required": ViolationType.REQUIRED,
    "type": ViolationType.TYPE,
    "enum": ViolationType.ENUM,
    "const": ViolationType.ENUM,
    "pattern": ViolationType.PATTERN,
    "format": ViolationType.FORMAT,
    "minimum": ViolationType.RANGE,
    "maximum": ViolationType.RANGE,
    "exclusiveMinimum": ViolationType.RANGE,
    "exclusiveMaximum": ViolationType.RANGE,
    "multipleOf": ViolationType.RANGE,
    "minLength": ViolationType.LENGTH,
    "maxLength": ViolationType.LENGTH,
    "minItems": ViolationType.LENGTH,
    "maxItems": ViolationType.LENGTH,
    "uniqueItems": ViolationType.LENGTH,
    "minProperties": ViolationType.LENGTH,
    "maxProperties": ViolationType.LENGTH,
    "additionalProperties": ViolationType.ADDITIONAL_PROPERTIES,
}


class PlanBlock(StrEnum):
    """Why a tracking plan blocked an event."""

    UNPLANNED_EVENT = "unplanned_event"
    VIOLATIONS = "violations"


@dataclass(frozen=True, slots=True)
class Violation:
    type: ViolationType
    field: str  # dotted path in the message ("" for the message itself)
    description: str

    def to_document(self) -> dict[str, str]:
        return {"type": self.type, "field": self.field, "description": self.description}


@dataclass(slots=True)
class Checked:
    """A message its source's plan had something to say about: `message` None when blocked, else
    a new dict (violations recorded, fields omitted). Not frozen: made on the hot path."""

    message: dict[str, Any] | None
    label: str  # the track event's name (UNPLANNED for unplanned ones), else the call type
    violations: tuple[Violation, ...] = ()
    blocked: PlanBlock | None = None
    omitted: tuple[str, ...] = ()  # fields removed: unplanned properties, and violating fields under `omit`


def _joined(base: str, name: str) -> str:
    return f"{base}.{name}" if base else name


class _SchemaCheck:
    """One JSON Schema over the value at `field`, compiled once; lists every violation of a value."""

    def __init__(self, schema: dict[str, Any], field: str) -> None:
        self._schema = schema
        self._field = field
        self._validate: Callable[[Any], Any] = fastjsonschema.compile(schema)
        # Built on the first failure, kept for the next ones.
        self._parts: tuple[list[tuple[str, _SchemaCheck]], _SchemaCheck | None] | None = None

    def violations(self, value: Any) -> list[Violation]:
        try:
            self._validate(value)
        except fastjsonschema.JsonSchemaValueException as error:
            return self._explain(value, error)
        return []

    def _explain(self, value: Any, error: fastjsonschema.JsonSchemaValueException) -> list[Violation]:
        if not (isinstance(value, dict) and self._decomposable()):
            return [self._from_error(error)]
        properties, rest = self._decomposed()
        found = [
            Violation(ViolationType.REQUIRED, field, f"{field} is required")
            for name in self._schema.get("required", ())
            if name not in value
            for field in [_joined(self._field, name)]
        ]
        for name, check in properties:
            if name in value:
                found += check.violations(value[name])
        if rest is not None:
            found += rest.violations(value)
        return found or [self._from_error(error)]

    def _decomposable(self) -> bool:
        """An object schema whose parts mean the same alone: no references into the whole."""
        schema = self._schema
        return (
            ("properties" in schema or "required" in schema)
            and isinstance(schema.get("properties", {}), dict)
            and "$ref" not in repr(schema)
        )

    def _decomposed(self) -> tuple[list[tuple[str, _SchemaCheck]], _SchemaCheck | None]:
        if self._parts is None:
            properties = [
                (name, _SchemaCheck(sub, _joined(self._field, name)))
                for name, sub in self._schema.get("properties", {}).items()
                if isinstance(sub, dict)
            ]
            rest_schema = {k: v for k, v in self._schema.items() if k not in ("properties", "required")}
            # `additionalProperties` needs `properties` to know which ones are additional.
            if "additionalProperties" in rest_schema or "patternProperties" in rest_schema:
                rest_schema["properties"] = {name: {} for name in self._schema.get("properties", {})}
            meaningful = set(rest_schema) - {"$schema", "$id", "title", "description", "type", "default", "examples"}
            rest = _SchemaCheck(rest_schema, self._field) if meaningful else None
            self._parts = (properties, rest)
        return self._parts

    def _from_error(self, error: fastjsonschema.JsonSchemaValueException) -> Violation:
        path = [str(part) for part in (error.path or ["data"])[1:]]
        field = ".".join([self._field, *path] if self._field else path)
        kind = _TYPE_OF_RULE.get(error.rule or "", ViolationType.SCHEMA)
        description = error.message.replace(error.name, field or "the message", 1)
        return Violation(kind, field, description)


class PlanCheck:
    """One tracking plan, compiled: `check(message)` applies its schemas and controls."""

    def __init__(self, plan: TrackingPlan) -> None:
        self.plan = plan
        self._common = _SchemaCheck(plan.common, "") if plan.common else None
        self._calls = {
            call: (_SchemaCheck(schema, ""), _planned_keys(schema.get("properties", {}).get("traits")), "traits")
            for call, schema in (("identify", plan.identify), ("group", plan.group))
            if schema
        }
        self._events = {
            event.name: (_SchemaCheck(event.properties, "properties"), _planned_keys(event.properties), "properties")
            for event in plan.events
        }
        self._block_unplanned = plan.controls.unplanned_events is UnplannedEvents.BLOCK
        self._omit_unplanned = plan.controls.unplanned_properties is UnplannedProperties.OMIT

    def check(self, message: dict[str, Any]) -> Checked | None:
        """None when the message conforms and goes on unchanged (the common case), else what the
        plan found and what its controls make of the message."""
        call = message.get("type")
        if call == "track":
            name = message.get("event")
            planned = self._events.get(name)  # type: ignore[arg-type]
            if planned is None:
                if self._block_unplanned:
                    return Checked(None, UNPLANNED, blocked=PlanBlock.UNPLANNED_EVENT)
                label = UNPLANNED
            else:
                label = name  # type: ignore[assignment]
        else:
            planned = self._calls.get(call)  # type: ignore[arg-type]
            label = str(call)
        violations: list[Violation] = []
        omitted: list[str] = []
        if planned is not None:
            check, keys, container = planned
            values = message.get(container)
            if call == "track":
                violations = check.violations(values if isinstance(values, dict) else {})
            else:
                violations = check.violations(message)
            if self._omit_unplanned and keys is not None and isinstance(values, dict):
                omitted = [f"{container}.{key}" for key in values if key not in keys]
        if self._common is not None:
            violations += self._common.violations(message)
        if not violations and not omitted:
            return None
        return self._enforced(message, label, violations, omitted)

    def _enforced(
        self, message: dict[str, Any], label: str, violations: list[Violation], omitted: list[str]
    ) -> Checked:
        """What the controls make of a message with violations or unplanned properties."""
        control = self.plan.controls.violations
        if violations and control is ViolationsControl.BLOCK:
            return Checked(None, label, tuple(violations), blocked=PlanBlock.VIOLATIONS)
        if violations and control is ViolationsControl.OMIT:
            omitted += [v.field for v in violations if v.field and v.type is not ViolationType.REQUIRED]
        changed = without_fields(message, omitted) if omitted else dict(message)
        if violations:
            context = changed.get("context") if isinstance(changed.get("context"), dict) else {}
            protocols = context.get("protocols") if isinstance(context.get("protocols"), dict) else {}
            records = [violation.to_document() for violation in violations]
            changed["context"] = {**context, "protocols": {**protocols, "violations": records}}
        return Checked(changed, label, tuple(violations), omitted=tuple(omitted))


def _planned_keys(schema: Any) -> frozenset[str] | None:
    """The properties an object schema plans (None: no object schema, so nothing is unplanned)."""
    if not isinstance(schema, dict):
        return None
    return frozenset(schema.get("properties", {}))


class TrackingPlans:
    """Each source's compiled plan, for the workspace version at hand (rebuilt when it changes)."""

    def __init__(self) -> None:
        self._workspace: CompiledWorkspace | None = None
        self._checks: dict[str, PlanCheck] = {}

    def for_source(self, workspace: CompiledWorkspace, source_id: str) -> PlanCheck | None:
        return self.by_source(workspace).get(source_id)

    def by_source(self, workspace: CompiledWorkspace) -> dict[str, PlanCheck]:
        if workspace is not self._workspace:
            compiled = {plan.id: PlanCheck(plan) for plan in workspace.tracking_plans}
            self._checks = {source: compiled[plan.id] for plan in workspace.tracking_plans for source in plan.sources}
            self._workspace = workspace
        return self._checks


def violation_events(
    message: dict[str, Any], checked: Checked, plan: TrackingPlan, source_name: str, target: str
) -> list[dict[str, Any]]:
    """One `Violation Generated` track event per violation, for the `target` source, shaped as
    Segment forwards them. Their messageIds derive from the original's, so a retried batch makes
    the same ones (and dedupe drops them)."""
    context = message.get("context") if isinstance(message.get("context"), dict) else {}
    original_id = str(message.get("messageId", ""))
    events = []
    for index, violation in enumerate(checked.violations):
        digest = hashlib.blake2b(f"{original_id}|{index}|{violation.field}".encode(), digest_size=16).hexdigest()
        events.append(
            {
                "type": "track",
                "event": VIOLATION_EVENT,
                "userId": VIOLATIONS_USER,
                "messageId": f"sch-{digest}",
                "projectId": target,
                "receivedAt": message.get("receivedAt"),
                "timestamp": message.get("receivedAt"),
                "context": {"app": context.get("app"), "library": context.get("library")},
                "integrations": {},
                "properties": {
                    "eventMessageID": original_id,
                    "eventName": message.get("event") or message.get("name") or "",
                    "eventSentAt": message.get("sentAt"),
                    "eventTimestamp": message.get("timestamp"),
                    "eventType": message.get("type"),
                    "sourceID": message.get("projectId"),
                    "sourceName": source_name,
                    "trackingPlanID": plan.id,
                    "trackingPlanName": plan.name,
                    "violationDescription": violation.description,
                    "violationField": violation.field,
                    "violationType": violation.type,
                },
            }
        )
    return events


def forwarded_blocked(message: dict[str, Any], checked: Checked, target: str) -> dict[str, Any]:
    """The blocked message as the `target` source receives it: the same messageId, and in
    `context.protocols` where it came from and why it was blocked."""
    context = message.get("context") if isinstance(message.get("context"), dict) else {}
    protocols = context.get("protocols") if isinstance(context.get("protocols"), dict) else {}
    note: dict[str, Any] = {"blocked": checked.blocked, "sourceId": message.get("projectId")}
    if checked.violations:
        note["violations"] = [violation.to_document() for violation in checked.violations]
    return {**message, "projectId": target, "context": {**context, "protocols": {**protocols, **note}}}
