"""The ingest function's environment: a plain dataclass, validated by hand.

The other functions' settings are pydantic models (switchyard.settings). Ingest answers SDKs and
browsers, so its cold start is user-facing, and pydantic's first model costs ~70 ms there
(`python -X importtime`): six values do not need it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from switchyard import constants


class SettingsError(ValueError):
    """The function's environment lacks a value or has one it cannot use."""


@dataclass(frozen=True, slots=True)
class IngestSettings:
    events_stream_name: str
    config_table_name: str
    delivery_table_name: str  # where discards are counted per source (ingest/discard_stats.py)
    region: str
    stream_compression: bool  # deflate each stream record (switchyard.stream_codec)
    config_cache_seconds: float = constants.DEFAULT_CONFIG_CACHE_SECONDS
    put_budget_seconds: float = constants.INGEST_PUT_BUDGET_SECONDS

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] = os.environ) -> IngestSettings:
        """An empty variable counts as unset, as in switchyard.settings."""
        cache = environ.get(constants.ENV_CONFIG_CACHE_SECONDS) or str(constants.DEFAULT_CONFIG_CACHE_SECONDS)
        try:
            cache_seconds = float(cache)
        except ValueError:
            raise SettingsError(f"{constants.ENV_CONFIG_CACHE_SECONDS} is not a number: {cache!r}") from None
        if cache_seconds < 0:
            raise SettingsError(f"{constants.ENV_CONFIG_CACHE_SECONDS} must not be negative")
        return cls(
            events_stream_name=_required(environ, constants.ENV_EVENTS_STREAM),
            config_table_name=_required(environ, constants.ENV_CONFIG_TABLE),
            delivery_table_name=_required(environ, constants.ENV_DELIVERY_TABLE),
            region=environ.get(constants.ENV_REGION) or _required(environ, "AWS_REGION"),
            stream_compression=_switch(environ, constants.ENV_STREAM_COMPRESSION),
            config_cache_seconds=cache_seconds,
        )


def _switch(environ: Mapping[str, str], name: str) -> bool:
    """`true` or `false`; unset is false."""
    value = environ.get(name) or "false"
    if value not in ("true", "false"):
        raise SettingsError(f"{name} must be true or false, not {value!r}")
    return value == "true"


def _required(environ: Mapping[str, str], name: str) -> str:
    value = environ.get(name)
    if not value:
        raise SettingsError(f"{name} is not set")
    return value
