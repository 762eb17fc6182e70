"""Each function's environment, validated once at cold start; domain code receives values.

(Ingest's are in switchyard.ingest.settings, without pydantic: its cold start is user-facing.)

Each model reads the environment itself (`model_validate(os.environ)`): the variable names are the
fields' aliases, taken from `constants` (which the CDK stacks and the local stack set from too),
and each default lives on its field.
"""

from __future__ import annotations

import os
from typing import Self

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

from switchyard import constants
from switchyard.debugger import (
    DEFAULT_DEBUGGER_MESSAGES_PER_SECOND,
    ENV_DEBUGGER_MESSAGES_PER_SECOND,
    MAX_DEBUGGER_MESSAGES_PER_SECOND,
)

_FROM_ENVIRONMENT = ConfigDict(frozen=True, extra="ignore", populate_by_name=True)


class _EnvironmentSettings(BaseModel):
    model_config = _FROM_ENVIRONMENT

    @classmethod
    def from_environment(cls) -> Self:
        """From os.environ; a variable set to the empty string counts as unset."""
        return cls.model_validate({name: value for name, value in os.environ.items() if value})


def _region() -> str:
    # SWITCHYARD_REGION wins over the runtime's AWS_REGION (the local stack runs all regions in one process).
    return Field(min_length=1, validation_alias=AliasChoices(constants.ENV_REGION, "AWS_REGION"))


def _delivery_events_per_message() -> int:
    return Field(
        default=constants.DELIVERY_EVENTS_PER_MESSAGE,
        ge=1,
        le=constants.MAX_DELIVERY_EVENTS_PER_MESSAGE,
        validation_alias=constants.ENV_DELIVERY_EVENTS_PER_MESSAGE,
    )


def _config_cache_seconds() -> float:
    return Field(
        default=constants.DEFAULT_CONFIG_CACHE_SECONDS, ge=0, validation_alias=constants.ENV_CONFIG_CACHE_SECONDS
    )


class RouterSettings(_EnvironmentSettings):
    config_table_name: str = Field(min_length=1, validation_alias=constants.ENV_CONFIG_TABLE)
    dedupe_table_name: str = Field(min_length=1, validation_alias=constants.ENV_DEDUPE_TABLE)
    dedupe_window_hours: float = Field(
        default=constants.DEFAULT_DEDUPE_WINDOW_HOURS, ge=24, validation_alias=constants.ENV_DEDUPE_WINDOW_HOURS
    )
    archive_bucket_name: str = Field(min_length=1, validation_alias=constants.ENV_ARCHIVE_BUCKET)
    delivery_queue_url: str = Field(min_length=1, validation_alias=constants.ENV_DELIVERY_QUEUE_URL)
    delivery_events_per_message: int = _delivery_events_per_message()
    # Tracking plans' violation counts and samples (router/violations.py).
    delivery_table_name: str = Field(min_length=1, validation_alias=constants.ENV_DELIVERY_TABLE)
    config_cache_seconds: float = _config_cache_seconds()
    # The debugger's messages kept per source and second (0: none written).
    debugger_messages_per_second: int = Field(
        default=DEFAULT_DEBUGGER_MESSAGES_PER_SECOND,
        ge=0,
        le=MAX_DEBUGGER_MESSAGES_PER_SECOND,
        validation_alias=ENV_DEBUGGER_MESSAGES_PER_SECOND,
    )


class DeliverySettings(_EnvironmentSettings):
    region: str = _region()
    config_table_name: str = Field(min_length=1, validation_alias=constants.ENV_CONFIG_TABLE)
    delivery_table_name: str = Field(min_length=1, validation_alias=constants.ENV_DELIVERY_TABLE)
    config_cache_seconds: float = _config_cache_seconds()


class ReplaySettings(_EnvironmentSettings):
    archive_bucket_name: str = Field(min_length=1, validation_alias=constants.ENV_ARCHIVE_BUCKET)
    delivery_table_name: str = Field(min_length=1, validation_alias=constants.ENV_DELIVERY_TABLE)
    replay_queue_url: str = Field(default="", validation_alias=constants.ENV_REPLAY_QUEUE_URL)
    delivery_events_per_message: int = _delivery_events_per_message()


class DeletionSettings(_EnvironmentSettings):
    """The user deletion workflow's functions (plan, worker, finish)."""

    region: str = _region()
    archive_bucket_name: str = Field(min_length=1, validation_alias=constants.ENV_ARCHIVE_BUCKET)
    delivery_table_name: str = Field(min_length=1, validation_alias=constants.ENV_DELIVERY_TABLE)
    config_table_name: str = Field(min_length=1, validation_alias=constants.ENV_CONFIG_TABLE)
    dedupe_table_name: str = Field(min_length=1, validation_alias=constants.ENV_DEDUPE_TABLE)
    # The finish step asks the lake loader to rebuild the hours it rewrote (empty: no lake).
    lake_loader_function: str = Field(default="", validation_alias=constants.ENV_LAKE_LOADER_FUNCTION)


class LakeSettings(_EnvironmentSettings):
    """The lake loader (switchyard.lake)."""

    region: str = _region()
    archive_bucket_name: str = Field(min_length=1, validation_alias=constants.ENV_ARCHIVE_BUCKET)
    archive_retention_days: int = Field(default=365, ge=1, validation_alias=constants.ENV_ARCHIVE_RETENTION_DAYS)
    config_table_name: str = Field(min_length=1, validation_alias=constants.ENV_CONFIG_TABLE)
    # Its iterator age says when an hour is complete in the archive; empty: not checked (local stack).
    router_function_name: str = Field(default="", validation_alias=constants.ENV_ROUTER_FUNCTION)
    config_cache_seconds: float = _config_cache_seconds()


class AlertSettings(_EnvironmentSettings):
    """The alert functions (the Slack forwarder and the volume check): their names derive from the region."""

    region: str = _region()
