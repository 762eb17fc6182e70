"""CloudWatch metric and dimension names: one home for what the handlers emit (EMF) and what the
dashboard and alarms read (infra/observability.py), so a rename cannot break only one side."""

from __future__ import annotations

from enum import StrEnum


class Metric(StrEnum):
    # Ingest (dimensions: service; per source: service, source; discards: + reason)
    MESSAGES_RECEIVED = "MessagesReceived"
    BYTES_RECEIVED = "BytesReceived"
    MESSAGES_DISCARDED = "MessagesDiscarded"
    REQUESTS_REFUSED = "RequestsRefused"
    REQUESTS_FAILED = "RequestsFailed"
    MESSAGES_SUPPRESSED = "MessagesSuppressed"  # per source: valid messages of suppressed users, dropped
    # Router (dimension: service)
    ROUTER_RECORDS = "RouterRecords"
    ARCHIVED = "Archived"
    FANNED_OUT = "FannedOut"
    DUPLICATES = "Duplicates"
    ROUTER_UNDECODABLE = "RouterUndecodable"
    ROUTER_SUPPRESSED = "RouterSuppressed"  # suppressed users' records already on the stream, dropped
    # Router, per source and reason: events a source's schema filters blocked or changed
    FILTERED_AT_SOURCE = "FilteredAtSource"
    # Router, per source and violation type (per event: `switchyard violations`), and per source and reason
    PLAN_VIOLATIONS = "PlanViolations"
    BLOCKED_BY_PLAN = "BlockedByPlan"
    # Delivery (dimensions: service, and service + destination)
    DELIVERED = "Delivered"
    NOT_DELIVERED = "NotDelivered"
    RETRIED = "Retried"
    DEAD_LETTERED = "DeadLettered"
    FILTERED = "Filtered"  # unsupported calls and destination filters: outside the success rate
    FILTERED_AT_DESTINATION = "FilteredAtDestination"  # dimensions: destination, filter (its title)
    FILTERED_BY_CONSENT = "FilteredByConsent"  # dimension: destination
    DELIVERY_LATENCY = "DeliveryLatency"
    # Alerts' volume check (dimensions: service, source, window_minutes): events received in the
    # window, in percent above (+) or below (-) the same window a week earlier (switchyard.alerts.volume)
    SOURCE_VOLUME_CHANGE = "SourceVolumeChange"


class Dimension(StrEnum):
    SERVICE = "service"
    SOURCE = "source"
    REASON = "reason"
    DESTINATION = "destination"
    FILTER = "filter"
    VIOLATION_TYPE = "type"
    WINDOW_MINUTES = "window_minutes"


ROUTER_METRICS = (
    Metric.ROUTER_RECORDS,
    Metric.ARCHIVED,
    Metric.FANNED_OUT,
    Metric.DUPLICATES,
    Metric.ROUTER_UNDECODABLE,
)
DELIVERY_OUTCOMES = (Metric.DELIVERED, Metric.NOT_DELIVERED, Metric.RETRIED, Metric.DEAD_LETTERED)
