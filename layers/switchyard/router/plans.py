"""Tracking plans (Segment's Protocols), applied by the router after the schema filters and before
dedupe and the archive: a blocked event is archived and delivered nowhere, unless forwarded.

Each schema is compiled once per plan version into Python code (fastjsonschema), so a valid event
costs one call per schema. Only an event that fails is looked at closely: an object schema is taken
apart into its `required` list and one compiled validator per property, so every violation is
listed with its field (and can be omitted), not only the first one.
"""

from __future__ import annotations

import hashlib
import re
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
from switchyard.filters.paths import without_paths
from switchyard.privacy.pii import MESSAGE_FIELDS

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
    path: tuple[str, ...]  # keys (list positions as digits) from the message down; () for the message
    description: str

    @property
    def field(self) -> str:
        return ".".join(self.path)

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


_ANNOTATIONS = frozenset({"$schema", "$id", "title", "description", "type", "default", "examples"})
_TAKEN_APART = ("properties", "required", "additionalProperties")


class _SchemaCheck:
    """One JSON Schema over the value at `path`, compiled once; lists every violation of a value.

    `decompose`: a failing object is looked at part by part (its required keys, each property on
    its own validator, keys no property plans against `additionalProperties`, then what is left
    of the schema as a whole); the parts themselves are not taken apart again."""

    def __init__(self, schema: dict[str, Any], path: tuple[str, ...], *, decompose: bool = True) -> None:
        self._schema = schema
        self._path = path
        self._decompose = decompose and _decomposable(schema)
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
        if not (self._decompose and isinstance(value, dict)):
            return [self._from_error(error)]
        properties, rest = self._decomposed()
        found = [
            Violation(ViolationType.REQUIRED, path, f"{'.'.join(path)} is required")
            for name in self._schema.get("required", ())
            if name not in value
            for path in [(*self._path, str(name))]
        ]
        for name, check in properties:
            if name in value:
                found += check.violations(value[name])
        found += self._unplanned_keys(value)
        if rest is not None:
            found += rest.violations(value)
        return found or [self._from_error(error)]

    def _unplanned_keys(self, value: dict[str, Any]) -> list[Violation]:
        """One violation per key `additionalProperties` refuses (false, or a schema it fails)."""
        extra = self._schema.get("additionalProperties", True)
        if extra is True:
            return []
        planned = self._schema.get("properties", {})
        patterns = [re.compile(p) for p in self._schema.get("patternProperties", {})]
        found = []
        for key, item in value.items():
            if key in planned or any(pattern.search(key) for pattern in patterns):
                continue
            if extra is False or not _conforms(extra, item):
                path = (*self._path, str(key))
                found.append(Violation(ViolationType.ADDITIONAL_PROPERTIES, path, f"{'.'.join(path)} is not planned"))
        return found

    def _decomposed(self) -> tuple[list[tuple[str, _SchemaCheck]], _SchemaCheck | None]:
        if self._parts is None:
            properties = [
                (name, _SchemaCheck(sub, (*self._path, name)))
                for name, sub in self._schema.get("properties", {}).items()
                if isinstance(sub, dict)
            ]
            rest_schema = {k: v for k, v in self._schema.items() if k not in _TAKEN_APART}
            meaningful = set(rest_schema) - _ANNOTATIONS
            rest = _SchemaCheck(rest_schema, self._path, decompose=False) if meaningful else None
            self._parts = (properties, rest)
        return self._parts

    def _from_error(self, error: fastjsonschema.JsonSchemaValueException) -> Violation:
        path = (*self._path, *(str(part) for part in (error.path or ["data"])[1:]))
        kind = _TYPE_OF_RULE.get(error.rule or "", ViolationType.SCHEMA)
        description = error.message.replace(error.name, ".".join(path) or "the message", 1)
        return Violation(kind, path, description)


def _decomposable(schema: dict[str, Any]) -> bool:
    """An object schema whose parts mean the same alone: no references into the whole."""
    return (
        ("properties" in schema or "required" in schema)
        and isinstance(schema.get("properties", {}), dict)
        and isinstance(schema.get("patternProperties", {}), dict)
        and "$ref" not in repr(schema)
    )


def _conforms(schema: Any, value: Any) -> bool:
    """`value` against a sub-schema met only on a failure (compiled each time: rare)."""
    try:
        fastjsonschema.compile(schema)(value)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def _omittable(violation: Violation) -> bool:
    """A field `omit` may remove: not a missing one, not the message's own fields or identifiers
    (without them it could not be deduplicated or routed), not a whole properties/traits/context."""
    path = violation.path
    if violation.type is ViolationType.REQUIRED or not path or path[0] in MESSAGE_FIELDS:
        return False
    return not (len(path) == 1 and path[0] in _CONTAINERS)


_CONTAINERS = frozenset({"properties", "traits", "context"})


class PlanCheck:
    """One tracking plan, compiled: `check(message)` applies its schemas and controls."""

    def __init__(self, plan: TrackingPlan) -> None:
        self.plan = plan
        self._common = _SchemaCheck(plan.common, ()) if plan.common else None
        self._calls = {
            call: (_SchemaCheck(schema, ()), _planned_keys(schema.get("properties", {}).get("traits")), "traits")
            for call, schema in (("identify", plan.identify), ("group", plan.group))
            if schema
        }
        self._events = {
            event.name: (_SchemaCheck(event.properties, ("properties",)), _planned_keys(event.properties), "properties")
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
        omitted: list[tuple[str, ...]] = []
        if planned is not None:
            check, keys, container = planned
            values = message.get(container)
            if call == "track":
                violations = check.violations(values if isinstance(values, dict) else {})
            else:
                violations = check.violations(message)
            if self._omit_unplanned and keys is not None and isinstance(values, dict):
                omitted = [(container, str(key)) for key in values if key not in keys]
        if self._common is not None:
            violations += self._common.violations(message)
        if not violations and not omitted:
            return None
        return self._enforced(message, label, violations, omitted)

    def _enforced(
        self, message: dict[str, Any], label: str, violations: list[Violation], omitted: list[tuple[str, ...]]
    ) -> Checked:
        """What the controls make of a message with violations or unplanned properties."""
        control = self.plan.controls.violations
        if violations and control is ViolationsControl.BLOCK:
            return Checked(None, label, tuple(violations), blocked=PlanBlock.VIOLATIONS)
        if violations and control is ViolationsControl.OMIT:
            omitted += [violation.path for violation in violations if _omittable(violation)]
        changed = without_paths(message, omitted) if omitted else dict(message)
        if violations:
            context = changed.get("context") if isinstance(changed.get("context"), dict) else {}
            protocols = context.get("protocols") if isinstance(context.get("protocols"), dict) else {}
            records = [violation.to_document() for violation in violations]
            changed["context"] = {**context, "protocols": {**protocols, "violations": records}}
        return Checked(changed, label, tuple(violations), omitted=tuple(".".join(path) for path in omitted))


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
