"""Each function's environment, validated once at cold start; domain code receives values."""

from __future__ import annotations

import os

from pydantic import BaseModel, Field

from switchyard import constants


class IngestSettings(BaseModel):
    events_stream_name: str = Field(min_length=1)
    config_table_name: str = Field(min_length=1)
    region: str = Field(min_length=1)
    config_cache_seconds: float = Field(default=constants.DEFAULT_CONFIG_CACHE_SECONDS, ge=0)
    put_budget_seconds: float = Field(default=constants.INGEST_PUT_BUDGET_SECONDS, gt=0)

    @classmethod
    def from_environment(cls) -> IngestSettings:
        env = os.environ
        return cls(
            events_stream_name=env.get(constants.ENV_EVENTS_STREAM, ""),
            config_table_name=env.get(constants.ENV_CONFIG_TABLE, ""),
            region=env.get(constants.ENV_REGION) or env.get("AWS_REGION", ""),
            config_cache_seconds=env.get(constants.ENV_CONFIG_CACHE_SECONDS, constants.DEFAULT_CONFIG_CACHE_SECONDS),
        )


def _env(name: str, default: object = "") -> object:
    return os.environ.get(name, default)


class RouterSettings(BaseModel):
    config_table_name: str = Field(min_length=1)
    dedupe_table_name: str = Field(min_length=1)
    dedupe_window_hours: float = Field(default=constants.DEFAULT_DEDUPE_WINDOW_HOURS, ge=24)
    archive_bucket_name: str = Field(min_length=1)
    delivery_queue_url: str = Field(min_length=1)
    config_cache_seconds: float = Field(default=constants.DEFAULT_CONFIG_CACHE_SECONDS, ge=0)

    @classmethod
    def from_environment(cls) -> RouterSettings:
        return cls(
            config_table_name=_env(constants.ENV_CONFIG_TABLE),
            dedupe_table_name=_env(constants.ENV_DEDUPE_TABLE),
            dedupe_window_hours=_env(constants.ENV_DEDUPE_WINDOW_HOURS, constants.DEFAULT_DEDUPE_WINDOW_HOURS),
            archive_bucket_name=_env(constants.ENV_ARCHIVE_BUCKET),
            delivery_queue_url=_env(constants.ENV_DELIVERY_QUEUE_URL),
            config_cache_seconds=_env(constants.ENV_CONFIG_CACHE_SECONDS, constants.DEFAULT_CONFIG_CACHE_SECONDS),
        )


class DeliverySettings(BaseModel):
    region: str = Field(min_length=1)
    config_table_name: str = Field(min_length=1)
    delivery_table_name: str = Field(min_length=1)
    delivery_queue_url: str = Field(min_length=1)
    config_cache_seconds: float = Field(default=constants.DEFAULT_CONFIG_CACHE_SECONDS, ge=0)

    @classmethod
    def from_environment(cls) -> DeliverySettings:
        return cls(
            region=_env(constants.ENV_REGION) or _env("AWS_REGION"),
            config_table_name=_env(constants.ENV_CONFIG_TABLE),
            delivery_table_name=_env(constants.ENV_DELIVERY_TABLE),
            delivery_queue_url=_env(constants.ENV_DELIVERY_QUEUE_URL),
            config_cache_seconds=_env(constants.ENV_CONFIG_CACHE_SECONDS, constants.DEFAULT_CONFIG_CACHE_SECONDS),
        )


class ReplaySettings(BaseModel):
    archive_bucket_name: str = Field(min_length=1)
    delivery_table_name: str = Field(min_length=1)
    replay_queue_url: str = ""

    @classmethod
    def from_environment(cls) -> ReplaySettings:
        return cls(
            archive_bucket_name=_env(constants.ENV_ARCHIVE_BUCKET),
            delivery_table_name=_env(constants.ENV_DELIVERY_TABLE),
            replay_queue_url=_env(constants.ENV_REPLAY_QUEUE_URL),
        )
