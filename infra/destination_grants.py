"""The delivery role's reach into the workspace's AWS-native destinations, and nothing beyond them.

- **EventBridge**: `events:PutEvents` on each bus a `type: eventbridge` destination names,
  `arn:<partition>:events:<region>:<account>:event-bus/<name>`.
- **Firehose**: `firehose:PutRecordBatch` on each stream a `type: firehose` destination names,
  `arn:<partition>:firehose:<region>:<account>:deliverystream/<name>`.

Exact ARNs, in the stack's own account and region (the settings take a name, never an ARN), so there
is no wildcard to acknowledge. Which destinations: those of the workspace file named by the
`workspace` option (none without it), read with the CLI's own parser, enabled or not, since
`switchyard apply` may enable one without a deploy. A bus or stream added or renamed later needs a
deploy; until then its deliveries fail with AccessDeniedException and are retried, then
dead-lettered, never dropped.

The buses and streams are the user's (the console, their own CDK app): this stack neither creates nor
imports them, so a missing one fails its deliveries only (ResourceNotFoundException, retried).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from aws_cdk import ArnFormat, Stack
from aws_cdk import aws_iam as iam

from infra.options import OptionError

PUT_EVENTS = "events:PutEvents"
PUT_RECORD_BATCH = "firehose:PutRecordBatch"


@dataclass(frozen=True)
class DestinationTargets:
    """The AWS resources the workspace's destinations deliver to, by name, sorted and unique."""

    event_buses: tuple[str, ...] = ()
    delivery_streams: tuple[str, ...] = ()


def destination_targets(workspace: Path) -> DestinationTargets:
    """The buses and streams a workspace file's destinations name, validated by the CLI's parser."""
    # Imported here: a stack without the `workspace` option never loads the workspace model.
    from switchyard.config.workspace import ConfigError, load_workspace
    from switchyard.destinations.eventbridge import EventBridgeSettings
    from switchyard.destinations.firehose import FirehoseSettings

    try:
        spec = load_workspace(workspace)
    except ConfigError as error:
        raise OptionError(f"workspace: {error}") from error
    settings = [destination.settings for destination in spec.destinations]
    return DestinationTargets(
        event_buses=tuple(sorted({s.event_bus_name for s in settings if isinstance(s, EventBridgeSettings)})),
        delivery_streams=tuple(sorted({s.delivery_stream_name for s in settings if isinstance(s, FirehoseSettings)})),
    )


def grant_destination_access(role: iam.IRole | None, workspace: Path | None) -> DestinationTargets:
    """Lets `role` (the delivery function's) put to exactly the workspace's buses and streams."""
    if role is None:
        raise ValueError("the delivery function has no role to grant destination access to")
    targets = destination_targets(workspace) if workspace is not None else DestinationTargets()
    stack = Stack.of(role)
    if targets.event_buses:
        _allow(role, PUT_EVENTS, [_arn(stack, "events", "event-bus", name) for name in targets.event_buses])
    if targets.delivery_streams:
        streams = [_arn(stack, "firehose", "deliverystream", name) for name in targets.delivery_streams]
        _allow(role, PUT_RECORD_BATCH, streams)
    return targets


def _arn(stack: Stack, service: str, resource: str, name: str) -> str:
    return stack.format_arn(
        service=service, resource=resource, resource_name=name, arn_format=ArnFormat.SLASH_RESOURCE_NAME
    )


def _allow(role: iam.IRole, action: str, resources: list[str]) -> None:
    added = role.add_to_principal_policy(iam.PolicyStatement(actions=[action], resources=resources))
    if not added.statement_added:
        raise ValueError(f"{action} could not be granted to {role.node.path} (an imported role?)")
