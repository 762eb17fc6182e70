"""Function settings from the environment: names from constants, defaults on the fields."""

from __future__ import annotations

import pytest

from switchyard import constants
from switchyard.ingest.settings import IngestSettings, SettingsError
from switchyard.settings import DeliverySettings

INGEST = {
    constants.ENV_EVENTS_STREAM: "events",
    constants.ENV_CONFIG_TABLE: "config",
    constants.ENV_DELIVERY_TABLE: "delivery",
    "AWS_REGION": "eu-west-1",
}


def test_ingest_settings_take_the_runtime_region_unless_switchyard_names_one():
    assert IngestSettings.from_environment(INGEST).region == "eu-west-1"
    named = {**INGEST, constants.ENV_REGION: "us-west-2", constants.ENV_CONFIG_CACHE_SECONDS: "2.5"}
    settings = IngestSettings.from_environment(named)
    assert (settings.region, settings.config_cache_seconds) == ("us-west-2", 2.5)


@pytest.mark.parametrize(("value", "compress"), [(None, False), ("", False), ("false", False), ("true", True)])
def test_ingest_deflates_stream_records_only_when_told(value: str | None, compress: bool):
    environ = INGEST if value is None else {**INGEST, constants.ENV_STREAM_COMPRESSION: value}
    assert IngestSettings.from_environment(environ).stream_compression is compress


@pytest.mark.parametrize(
    "environ",
    [
        {**INGEST, constants.ENV_STREAM_COMPRESSION: "yes"},
        {**INGEST, constants.ENV_EVENTS_STREAM: ""},
        {**INGEST, constants.ENV_CONFIG_CACHE_SECONDS: "soon"},
        {**INGEST, constants.ENV_CONFIG_CACHE_SECONDS: "-1"},
        {k: v for k, v in INGEST.items() if k != "AWS_REGION"},
    ],
)
def test_ingest_settings_refuse_what_they_cannot_use(environ: dict[str, str]):
    with pytest.raises(SettingsError):
        IngestSettings.from_environment(environ)


def test_pipeline_settings_read_the_environment_by_alias(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv(constants.ENV_CONFIG_TABLE, "config")
    monkeypatch.setenv(constants.ENV_DELIVERY_TABLE, "delivery")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv(constants.ENV_REGION, "")  # empty counts as unset
    monkeypatch.delenv(constants.ENV_CONFIG_CACHE_SECONDS, raising=False)
    settings = DeliverySettings.from_environment()
    assert (settings.region, settings.config_cache_seconds) == ("eu-west-1", constants.DEFAULT_CONFIG_CACHE_SECONDS)
