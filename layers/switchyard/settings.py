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
            config_cache_seconds=env.get(
                constants.ENV_CONFIG_CACHE_SECONDS, constants.DEFAULT_CONFIG_CACHE_SECONDS
            ),
        )
