"""`switchyard destinations types|test`: the catalog, and Segment's Event Tester for one destination."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from switchyard import aws, constants
from switchyard.config.workspace import ConfigError, compile_workspace, load_workspace
from switchyard.delivery.attempts import Attempt
from switchyard.destinations.base import (
    DEFAULT_CONCURRENCY,
    DEFAULT_RATE_LIMIT_PER_SECOND,
    DestinationType,
    RegionalSettings,
)
from switchyard.destinations.catalog import FUNCTION_TYPE, TOOLS
from switchyard.destinations.driver import CredentialsUnavailable, ToolAdapter


def destinations_command(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    if args.destinations_command == "types":
        print(catalog_text())
        return 0
    return run_test(args, fail)


def catalog_text() -> str:
    blocks = [describe_type(kind) for kind in TOOLS.values()]
    blocks.append(f"{FUNCTION_TYPE}\n  your own code: a destination function of the workspace (`function: <id>`)")
    return "\n\n".join(blocks)


def describe_type(kind: DestinationType) -> str:
    lines = [f"{kind.name} — {kind.title}", f"  calls: {', '.join(kind.calls)}"]
    if kind.hosts is not None:
        eu = kind.hosts.eu or "none (warned in eu-* stacks)"
        lines.append(f"  hosts: {kind.hosts.us} (US), {eu} (EU)")
    if (kind.default_rate_limit_per_second, kind.default_concurrency) != (
        DEFAULT_RATE_LIMIT_PER_SECOND,
        DEFAULT_CONCURRENCY,
    ):
        lines.append(
            f"  defaults: rate_limit_per_second {kind.default_rate_limit_per_second},"
            f" concurrency {kind.default_concurrency}"
        )
    lines.append("  settings:")
    model = kind.settings_model
    for name, info in model.model_fields.items():
        lines.append(f"    {name:<24} {_flags(name, info, model.SECRET_FIELDS)}{info.description or ''}".rstrip())
    if issubclass(model, RegionalSettings):
        lines.append("  (region unset: EU host in eu-* stacks, US host elsewhere)")
    return "\n".join(lines)


def _flags(name: str, info: FieldInfo, secrets: tuple[str, ...]) -> str:
    flags = ["required" if info.is_required() else f"default {_default(info)}"]
    if name in secrets:
        flags.append("secret")
    return f"[{', '.join(flags)}] "


def _default(info: FieldInfo) -> str:
    if info.default is not PydanticUndefined:
        return json.dumps(info.default, default=str)
    return json.dumps(info.default_factory(), default=str) if info.default_factory else "none"  # type: ignore[call-arg]


def run_test(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    """The exact requests for an event (secrets masked) and, with --send, the tool's answers."""
    try:
        spec = load_workspace(args.config)
    except ConfigError as error:
        return fail(str(error))
    found = next((d for d in spec.destinations if d.id == args.destination_id), None)
    if found is None:
        return fail(f"{args.config}: no destination {args.destination_id!r}")
    if found.type not in TOOLS:
        return fail(f"{found.id} is a destination function: test it with `switchyard functions test {found.function}`")
    try:
        payload = json.loads(args.event.read_text())
    except (OSError, ValueError) as error:
        return fail(f"{args.event}: not a JSON event: {error}")
    events = payload if isinstance(payload, list) else [payload]
    destination = compile_workspace(spec).destination(found.id)
    if destination is None or found.settings is None:
        return fail(f"{found.id}: not a configured tool destination")
    region = args.region or os.environ.get("AWS_REGION") or constants.DEFAULT_REGION
    adapter = ToolAdapter(
        TOOLS[found.type],
        region,
        credentials=_FileCredentials(found.settings.credentials()),
        aws_clients=lambda service: aws.client(service, region=region),
    )
    try:
        if not args.send:
            preview = adapter.preview(destination, events)
            print(json.dumps(_preview_document(preview, len(events)), indent=2))
            return 0
        attempts = adapter.send(destination, events, deadline=time.monotonic() + 30)
    except CredentialsUnavailable as error:
        return fail(f"{found.id}: {error}")
    print(json.dumps([_attempt_document(attempt) for attempt in attempts], indent=2))
    return 0 if all(attempt.status == "delivered" for attempt in attempts) else 1


class _FileCredentials:
    """The credentials as the workspace file gives them (`{env: VAR}` already read)."""

    def __init__(self, values: dict[str, Any]) -> None:
        self._values = values

    def get(self, destination_id: str) -> dict[str, Any]:
        return self._values


def _preview_document(preview: Any, count: int) -> dict[str, Any]:
    return {
        "requests": [{"events": indexes, "request": request} for request, indexes in preview.requests],
        "not_sent": {str(index): attempt.label for index, attempt in preview.settled.items()},
        "events": count,
        "sent": False,
    }


def _attempt_document(attempt: Attempt) -> dict[str, Any]:
    return {
        "outcome": attempt.label,
        "retry_after_seconds": attempt.retry_after,
        "request": attempt.request,
        "response": attempt.response,
    }
