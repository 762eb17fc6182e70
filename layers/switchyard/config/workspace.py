"""The workspace file (`workspace.yaml`): its model, and loading it with errors that name the line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, create_model, field_validator, model_validator

from switchyard import constants
from switchyard.config.alerts import AlertsSpec, check_alert_targets
from switchyard.config.compiled import (
    ALL_EVENTS,
    CompiledWorkspace,
    ConsentDefault,
    Destination,
    DestinationFilter,
    FilterActionType,
    FunctionConfig,
    LakeSync,
    RetryPolicy,
    SchemaControls,
    Source,
    write_key_hash,
)
from switchyard.config.plans import BASE_DIR, TrackingPlanSpec, check_plan_connections
from switchyard.config.privacy import DestinationPiiSpec, PrivacySpec, check_pii_classes
from switchyard.destinations.base import (
    DEFAULT_CONCURRENCY,
    DEFAULT_RATE_LIMIT_PER_SECOND,
    DestinationSettings,
    DestinationType,
    SecretText,
)
from switchyard.destinations.catalog import TOOLS
from switchyard.filters.fql import FqlError, compile_query
from switchyard.functions.runtime import check_function_file

_ID_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,62}$"
MAX_RATE_LIMIT_PER_SECOND = 10_000
MAX_CONCURRENCY = 50


class ConfigError(Exception):
    """A workspace file that cannot be applied; nothing has been changed."""


class SchemaSpec(BaseModel):
    """A source's schema controls (Segment's Schema filters): what never enters the pipeline.
    Applied by the router before the archive, so blocked events are gone everywhere."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    block_events: list[str] = Field(default_factory=list, description="Track event names; `*` matches any text")
    block_pages: bool | list[str] = Field(default=False, description="true: every page; or page names (`*` globs)")
    block_screens: bool | list[str] = Field(default=False, description="true: every screen; or screen names")
    omit_traits: list[str] = Field(default_factory=list, description="Identify traits removed")
    omit_group_traits: list[str] = Field(default_factory=list, description="Group traits removed")


class LakeSpec(BaseModel):
    """A source's selective sync into the lake (Segment's Selective Sync for warehouses)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    exclude_events: list[str] = Field(default_factory=list, description="Track event names kept out of the lake")
    exclude_properties: list[str] = Field(
        default_factory=list, description="Property (and trait) names kept out of every table; `a.b` for nested ones"
    )


class SourceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID_PATTERN, description="Stable id, stored on every event as projectId.")
    name: str = Field(min_length=1)
    write_key: str = Field(min_length=8, max_length=256, pattern=r"^[A-Za-z0-9_\-.~]+$")
    enabled: bool = True
    labels: dict[str, str] = Field(default_factory=dict)
    schema_controls: SchemaSpec | None = Field(default=None, alias="schema")
    consent_default: ConsentDefault = Field(
        default=ConsentDefault.ALLOW,
        description="What consent-gated destinations get of events without consent preferences",
    )
    lake: LakeSpec = Field(default_factory=LakeSpec, description="What of this source the lake's tables hold")


class RetrySpec(BaseModel):
    """Randomised exponential backoff on time-outs, connection errors, 429 and 5xx."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_hours: float = Field(default=4.0, gt=0, le=72)
    initial_delay_seconds: int = Field(default=5, ge=1, le=900)
    max_delay_seconds: int = Field(default=900, ge=1, le=43_200)


class FunctionSpec(BaseModel):
    """A Python module in the workspace folder, run in its own Lambda (see switchyard.functions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # At most 40 characters: the Lambda name `switchyard-fn-<id>-<region>` must fit in 64.
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,39}$")
    kind: Literal["source", "insert", "destination"]
    file: str = Field(min_length=1, description="Path of the .py file, relative to the workspace file")
    source: str | None = Field(default=None, description="Source functions: the source its messages belong to")
    settings: dict[str, Any] = Field(default_factory=dict)
    secrets: dict[str, SecretText] = Field(
        default_factory=dict, description="Settings stored encrypted (SSM SecureString)"
    )
    timeout_seconds: int = Field(default=5, ge=1, le=constants.USER_FUNCTION_MAX_TIMEOUT_SECONDS)

    @model_validator(mode="after")
    def _kind_rules(self) -> FunctionSpec:
        if self.kind == "source":
            if not self.source:
                raise ValueError("a source function names the `source` its messages belong to")
            if self.timeout_seconds > constants.SOURCE_FUNCTION_MAX_TIMEOUT_SECONDS:
                raise ValueError(
                    f"a source function answers its webhook: timeout_seconds is at most "
                    f"{constants.SOURCE_FUNCTION_MAX_TIMEOUT_SECONDS}"
                )
        elif self.source:
            raise ValueError("only source functions have a `source`")
        overlap = sorted(set(self.settings) & set(self.secrets))
        if overlap:
            raise ValueError(f"{overlap} appear in both settings and secrets")
        return self


MAX_FILTERS_PER_DESTINATION = 10


class SampleAction(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal[FilterActionType.SAMPLE]
    percent: float = Field(ge=0, le=1, description="The share of matching events kept, 0..1")
    path: str | None = Field(default=None, description="Sample per value of this field (default: the messageId)")


class DropAction(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal[FilterActionType.DROP]


class FieldsAction(BaseModel):
    """`fields` maps an object's path ("" for the top level) to the keys removed (drop) or kept (allow)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: Literal[FilterActionType.DROP_PROPERTIES, FilterActionType.ALLOW_PROPERTIES]
    fields: dict[str, list[str]] = Field(min_length=1)


FilterActionSpec = Annotated[SampleAction | DropAction | FieldsAction, Field(discriminator="type")]


class FilterSpec(BaseModel):
    """A destination filter (Segment's Destination Filters): if the condition holds, the actions apply."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    title: str = Field(min_length=1, max_length=200)
    condition: str = Field(alias="if", description='An FQL query, or "all"')
    actions: list[FilterActionSpec] = Field(min_length=1)
    enabled: bool = True

    @field_validator("condition")
    @classmethod
    def _valid_fql(cls, condition: str) -> str:
        if condition != ALL_EVENTS:
            try:
                compile_query(condition)
            except FqlError as error:
                raise ValueError(f"invalid FQL: {error}") from error
        return condition


class DestinationBase(BaseModel):
    """What every destination has; its `type` selects the model of its `settings`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    id: str = Field(pattern=_ID_PATTERN)
    type: str
    name: str | None = Field(default=None, description="Name the `integrations` object uses (default: id)")
    enabled: bool = True
    sources: list[str] = Field(default_factory=list, description="Ids of the sources connected to it")
    insert_function: str | None = Field(default=None, description="An insert function run just before delivery")
    rate_limit_per_second: int = Field(default=DEFAULT_RATE_LIMIT_PER_SECOND, ge=1, le=MAX_RATE_LIMIT_PER_SECOND)
    concurrency: int = Field(default=DEFAULT_CONCURRENCY, ge=1, le=MAX_CONCURRENCY)
    retry: RetrySpec = Field(default_factory=RetrySpec)
    filters: list[FilterSpec] = Field(default_factory=list, max_length=MAX_FILTERS_PER_DESTINATION)

    @field_validator("filters")
    @classmethod
    def _unique_titles(cls, filters: list[FilterSpec]) -> list[FilterSpec]:
        _require_unique("filter title", [spec_filter.title for spec_filter in filters])  # they name its counts
        return filters

    consent: list[str] = Field(
        default_factory=list, description="Consent categories an event must grant (context.consent.categoryPreferences)"
    )
    pii: DestinationPiiSpec | None = Field(default=None, description="Personal data removed or hashed before delivery")

    # No settings for a destination function; a tool's model otherwise (see `_tool_spec`).
    settings: DestinationSettings | None = None
    function: str | None = None


class FunctionDestinationSpec(DestinationBase):
    type: Literal["function"]
    function: str = Field(description="The destination function's id")
    settings: None = None


def _tool_spec(kind: DestinationType) -> type[DestinationBase]:
    """`type: <kind>` with its settings model, required."""
    return create_model(  # type: ignore[no-any-return]
        f"{kind.settings_model.__name__.removesuffix('Settings')}DestinationSpec",
        __base__=DestinationBase,
        __doc__=f"`type: {kind.name}`: {kind.title}.",
        type=(Literal[kind.name], ...),  # type: ignore[valid-type]
        settings=(kind.settings_model, ...),
        function=(None, None),
        rate_limit_per_second=(
            int,
            Field(default=kind.default_rate_limit_per_second, ge=1, le=MAX_RATE_LIMIT_PER_SECOND),
        ),
        concurrency=(int, Field(default=kind.default_concurrency, ge=1, le=MAX_CONCURRENCY)),
    )


_DESTINATION_SPECS = (FunctionDestinationSpec, *(_tool_spec(kind) for kind in TOOLS.values()))
DESTINATION_TYPES = frozenset({"function", *TOOLS})
DestinationSpec = Annotated[Union[_DESTINATION_SPECS], Field(discriminator="type")]  # noqa: UP007


class WorkspaceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    workspace: str = Field(pattern=_ID_PATTERN)
    sources: list[SourceSpec] = Field(default_factory=list)
    destinations: list[DestinationSpec] = Field(default_factory=list)
    functions: list[FunctionSpec] = Field(default_factory=list)
    tracking_plans: list[TrackingPlanSpec] = Field(default_factory=list)
    privacy: PrivacySpec | None = None
    alerts: AlertsSpec | None = Field(default=None, description="CloudWatch alarms `apply` manages, and whom they tell")

    @field_validator("sources")
    @classmethod
    def _unique_sources(cls, sources: list[SourceSpec]) -> list[SourceSpec]:
        _require_unique("source id", [source.id for source in sources])
        _require_unique("write key", [source.write_key for source in sources], show=False)
        return sources

    @field_validator("destinations")
    @classmethod
    def _unique_destinations(cls, destinations: list[DestinationSpec]) -> list[DestinationSpec]:
        _require_unique("destination id", [destination.id for destination in destinations])
        _require_unique("destination name", [destination.name or destination.id for destination in destinations])
        return destinations

    @model_validator(mode="after")
    def _connections_name_known_sources(self) -> WorkspaceSpec:
        known = {source.id for source in self.sources}
        for destination in self.destinations:
            unknown = [source for source in destination.sources if source not in known]
            if unknown:
                raise ValueError(f"destination {destination.id!r} is connected to unknown source(s) {unknown}")
        _require_unique("function id", [function.id for function in self.functions])
        kinds = {function.id: function.kind for function in self.functions}
        for function in self.functions:
            if function.kind == "source" and function.source not in known:
                raise ValueError(f"function {function.id!r} emits into unknown source {function.source!r}")
        for destination in self.destinations:
            for field_name, wanted in (("function", "destination"), ("insert_function", "insert")):
                function_id = getattr(destination, field_name)
                if function_id is not None and kinds.get(function_id) != wanted:
                    raise ValueError(
                        f"destination {destination.id!r}: `{field_name}: {function_id}` must name a {wanted} function"
                    )
        check_plan_connections(self.tracking_plans, known)
        check_pii_classes([(d.id, d.pii) for d in self.destinations if d.pii is not None], self.privacy)
        if self.alerts is not None:
            check_alert_targets(self.alerts, [s.id for s in self.sources], [d.id for d in self.destinations])
        return self


def _require_unique(what: str, values: list[str], *, show: bool = True) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what}" + (f" {value!r}" if show else " (two sources share one)"))
        seen.add(value)


def load_workspace(path: str | Path) -> WorkspaceSpec:
    """Read and validate a workspace file, its function files and its tracking plans' schema files;
    ConfigError names what is wrong."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path}: cannot read the workspace file: {error}") from error
    spec = parse_workspace(text, str(path), base_dir=path.parent)
    for function in spec.functions:
        try:
            check_function_file(function_path(path, function), function.kind)
        except ValueError as error:
            raise ConfigError(f"function {function.id!r}: {error}") from error
    return spec


def function_path(workspace_path: str | Path, function: FunctionSpec) -> Path:
    return (Path(workspace_path).parent / function.file).resolve()


def parse_workspace(text: str, origin: str = "<workspace>", base_dir: Path | None = None) -> WorkspaceSpec:
    """base_dir: where `{file: ...}` references are read from (the workspace file's folder)."""
    try:
        document = yaml.safe_load(text)
        root = yaml.compose(text)
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise ConfigError(f"{origin}{where}: not valid YAML: {problem}") from error
    if not isinstance(document, dict):
        raise ConfigError(f"{origin}: the workspace file must be a mapping with `workspace:` and `sources:`")
    try:
        return WorkspaceSpec.model_validate(document, context={BASE_DIR: base_dir})
    except ValidationError as error:
        raise ConfigError(_describe(error, root, origin)) from error


def _describe(error: ValidationError, root: yaml.Node | None, origin: str) -> str:
    lines = [f"{origin}: the workspace file is not valid ({error.error_count()} problem(s)):"]
    for problem in error.errors():
        location = _without_type_tag(problem["loc"])
        key = ".".join(str(part) for part in location) or "(top level)"
        line = _line_of(root, location)
        where = f"line {line}, " if line else ""
        hint = ""
        if problem["type"] == "string_type" and isinstance(problem.get("input"), bool):
            hint = " (YAML reads yes/no/on/off/true/false as booleans: quote the value)"
        lines.append(f"  {where}{key}: {problem['msg']}{hint}")
    return "\n".join(lines)


def _without_type_tag(location: tuple[Any, ...]) -> tuple[Any, ...]:
    """pydantic names the union member a destination matched (`destinations.0.amplitude.settings`):
    not a key of the file, so left out of what we show."""
    if len(location) > 2 and location[0] == "destinations" and location[2] in DESTINATION_TYPES:
        return location[:2] + location[3:]
    return location


def _line_of(node: yaml.Node | None, location: tuple[Any, ...]) -> int | None:
    """The 1-based line of the deepest YAML node the error location reaches."""
    line = node.start_mark.line + 1 if node is not None else None
    for part in location:
        child = None
        if isinstance(node, yaml.MappingNode):
            child = next((value for key, value in node.value if key.value == part), None)
            if child is None:  # an unknown key: point at the key itself
                child = next((key for key, _ in node.value if key.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            child = node.value[part]
        if child is None:
            break
        node = child
        line = node.start_mark.line + 1
    return line


def compile_workspace(spec: WorkspaceSpec, tokens: dict[str, str] | None = None) -> CompiledWorkspace:
    """The stored form of a validated workspace file (write keys and function tokens as hashes,
    function secrets and destination credentials left out: they go to SSM)."""
    tokens = tokens or {}
    return CompiledWorkspace(
        workspace=spec.workspace,
        sources=tuple(
            Source(
                id=source.id,
                name=source.name,
                enabled=source.enabled,
                write_key_sha256=write_key_hash(source.write_key),
                labels=dict(source.labels),
                schema=SchemaControls.from_document(source.schema_controls.model_dump())
                if source.schema_controls
                else None,
                consent_default=source.consent_default,
                lake=LakeSync(
                    enabled=source.lake.enabled,
                    exclude_events=tuple(source.lake.exclude_events),
                    exclude_properties=tuple(source.lake.exclude_properties),
                ),
            )
            for source in spec.sources
        ),
        destinations=tuple(
            Destination(
                id=destination.id,
                name=destination.name or destination.id,
                type=destination.type,
                enabled=destination.enabled,
                sources=tuple(destination.sources),
                settings=destination.settings.public_settings() if destination.settings else {},
                credentials=tuple(sorted(destination.settings.credentials())) if destination.settings else (),
                rate_limit_per_second=destination.rate_limit_per_second,
                concurrency=destination.concurrency,
                retry=RetryPolicy(**destination.retry.model_dump()),
                function=destination.function,
                insert_function=destination.insert_function,
                filters=tuple(
                    DestinationFilter.from_document(spec_filter.model_dump(mode="json"))
                    for spec_filter in destination.filters
                ),
                consent=tuple(destination.consent),
                pii=destination.pii.compiled() if destination.pii is not None else None,
            )
            for destination in spec.destinations
        ),
        functions=tuple(
            FunctionConfig(
                id=function.id,
                kind=function.kind,
                source=function.source,
                file=function.file,
                settings=dict(function.settings),
                secret_names=tuple(sorted(function.secrets)),
                timeout_seconds=function.timeout_seconds,
                token_sha256=tokens.get(function.id, ""),
            )
            for function in spec.functions
        ),
        tracking_plans=tuple(plan.compiled() for plan in spec.tracking_plans),
        privacy=(spec.privacy or PrivacySpec()).compiled(),  # without a `privacy` section: its defaults
    )
