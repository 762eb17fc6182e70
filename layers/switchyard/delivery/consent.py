"""Consent (Segment's Consent Management): a destination that names consent categories gets an
event only when the event's `context.consent.categoryPreferences` grants every one of them (each
`true`). An event without preferences follows its source's `consent_default`. Applied by delivery
before destination filters, to live traffic and replays alike; the archive keeps every event.
"""

from __future__ import annotations

from typing import Any

from switchyard.config.compiled import ConsentDefault, Destination

FILTERED_BY_CONSENT = "filtered_by_consent"  # Event Delivery's label


def consented(destination: Destination, event: dict[str, Any], default: ConsentDefault) -> bool:
    context = event.get("context")
    consent = context.get("consent") if isinstance(context, dict) else None
    preferences = consent.get("categoryPreferences") if isinstance(consent, dict) else None
    if not isinstance(preferences, dict):
        return default is ConsentDefault.ALLOW
    return all(preferences.get(category) is True for category in destination.consent)
