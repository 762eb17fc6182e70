"""Plain-text views for operators: periods, dead letters, short JSON."""

from __future__ import annotations

import re
from datetime import timedelta

import orjson

from switchyard.delivery.deadletters import DeadLetter

_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_period(text: str) -> timedelta:
    match = re.fullmatch(r"(\d+)([mhd])", text.strip())
    if not match:
        raise ValueError(f"--since takes a number and a unit (m, h or d), like 30m, 1h or 7d; got {text!r}")
    return timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})


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
