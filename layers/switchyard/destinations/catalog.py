"""Every destination type Switchyard delivers to, by the name `destinations[].type` uses."""

from __future__ import annotations

from switchyard.destinations.amplitude import AMPLITUDE
from switchyard.destinations.base import DestinationType
from switchyard.destinations.braze import BRAZE
from switchyard.destinations.customerio import CUSTOMERIO
from switchyard.destinations.eventbridge import EVENTBRIDGE
from switchyard.destinations.facebook_conversions import FACEBOOK_CONVERSIONS
from switchyard.destinations.firehose import FIREHOSE
from switchyard.destinations.ga4 import GA4
from switchyard.destinations.hubspot import HUBSPOT
from switchyard.destinations.intercom import INTERCOM
from switchyard.destinations.klaviyo import KLAVIYO
from switchyard.destinations.mixpanel import MIXPANEL
from switchyard.destinations.posthog import POSTHOG
from switchyard.destinations.slack import SLACK
from switchyard.destinations.webhook import WEBHOOK

# `type: function` is the other kind: the workspace's own code (destinations/function.py).
FUNCTION_TYPE = "function"

TOOLS: dict[str, DestinationType] = {
    kind.name: kind
    for kind in (
        WEBHOOK,
        AMPLITUDE,
        MIXPANEL,
        GA4,
        POSTHOG,
        EVENTBRIDGE,
        FIREHOSE,
        KLAVIYO,
        BRAZE,
        CUSTOMERIO,
        SLACK,
        HUBSPOT,
        INTERCOM,
        FACEBOOK_CONVERSIONS,
    )
}
