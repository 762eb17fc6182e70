"""Plain-text views for operators: Event Delivery reports and dead letters."""

from __future__ import annotations

import re
from datetime import timedelta

import orjson

from switchyard.delivery.deadletters import DeadLetter
from switchyard.delivery.stats import DeliveryReport

_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_period(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([mhd])", text.strip())
    if not match:
        raise ValueError(f"--since takes a number and a unit (m, h or d), like 30m, 1h or 7d; got {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


def format_delivery_report(report: DeliveryReport) -> str:
    rate = f"{report.success_rate:.1%}" if report.success_rate is not None else "n/a"
    p95 = f"{report.p95_latency_ms:.0f} ms" if report.p95_latency_ms is not None else "n/a"
    lines = [
        f"Event Delivery for {report.destination_id}, {report.since:%Y-%m-%d %H:%M} to {report.until:%H:%M} UTC",
        f"  delivered       {report.delivered}",
        f"  not delivered   {report.not_delivered}   (of which dead-lettered {report.dead_lettered})",
        f"  success rate    {rate}",
        f"  filtered        {report.filtered}   (calls it does not take, its filters' drops: not failures)",
        f"  retries         {report.retried}",
        f"  p95 latency     {p95}   (receivedAt to the destination's answer)",
    ]
    if report.errors:
        lines.append("  why (each with its latest sample):")
        for label, count in report.errors.items():
            lines.append(f"    {label:<32} {count}")
            sample = report.samples.get(label)
            if sample:
                lines.append(f"      received  {short(sample.get('received'))}")
                lines.append(f"      request   {short(sample.get('request'))}")
                lines.append(f"      response  {short(sample.get('response'))}")
    return "\n".join(lines)


def format_dead_letters(destination_id: str, letters: list[DeadLetter]) -> str:
    if not letters:
        return f"{destination_id}: no dead letters"
    lines = [f"{destination_id}: {len(letters)} dead letter(s)"]
    for letter in letters:
        event = letter.request.event
        lines.append(
            f"  {letter.failed_at}  {letter.message_id}  {event.get('type')} {event.get('event') or ''}  "
            f"attempts={letter.attempts}  last error: {letter.last_error}"
        )
    return "\n".join(lines)


def short(value: object, limit: int = 160) -> str:
    text = orjson.dumps(value, default=str).decode() if not isinstance(value, str) else value
    return text if len(text) <= limit else text[: limit - 3] + "..."
