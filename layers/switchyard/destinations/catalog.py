"""Every destination type Switchyard delivers to, by the name `destinations[].type` uses."""

from __future__ import annotations

from switchyard.destinations.base import DestinationType
from switchyard.destinations.webhook import WEBHOOK

# `type: function` is the other kind: the workspace's own code (destinations/function.py).
FUNCTION_TYPE = "function"

TOOLS: dict[str, DestinationType] = {kind.name: kind for kind in (WEBHOOK,)}
