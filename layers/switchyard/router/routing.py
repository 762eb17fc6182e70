"""Which destinations an event goes to: connected, enabled, and allowed by its `integrations`."""

from __future__ import annotations

from typing import Any

from switchyard.config.compiled import CompiledWorkspace, Destination


def integration_setting(integrations: Any, destination: Destination) -> Any:
    """The event's word on this destination: `false` blocks, an object is options, else `All`.

    Keys are case-sensitive destination names; the id is accepted as well as the display name.
    """
    if not isinstance(integrations, dict):
        return True
    for key in (destination.name, destination.id):
        if key in integrations:
            return integrations[key]
    return integrations.get("All", True)


def route(message: dict[str, Any], workspace: CompiledWorkspace) -> list[tuple[Destination, dict[str, Any]]]:
    """(destination, options) for every destination the message must be delivered to."""
    targets = []
    integrations = message.get("integrations")
    for destination in workspace.connected_destinations(message.get("projectId") or ""):
        if not destination.enabled:
            continue
        setting = integration_setting(integrations, destination)
        if setting is False or setting is None:
            continue
        targets.append((destination, setting if isinstance(setting, dict) else {}))
    return targets
