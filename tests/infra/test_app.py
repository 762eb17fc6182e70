"""The app: two independent regional stacks from one class, outputs the CLI can find."""

from __future__ import annotations

import pytest

from app import PLACEHOLDER_ACCOUNT
from infra.stack import RegionalStack
from switchyard import constants

from .conftest import ACCOUNT, DUBLIN, OREGON, Synthesized

pytestmark = pytest.mark.infra

OUTPUT_KEYS = {
    constants.OUTPUT_API_ENDPOINT,
    constants.OUTPUT_EVENTS_STREAM,
    constants.OUTPUT_CONFIG_TABLE,
    constants.OUTPUT_ARCHIVE_BUCKET,
    constants.OUTPUT_DEDUPE_TABLE,
    constants.OUTPUT_DELIVERY_QUEUE,
    constants.OUTPUT_DELIVERY_TABLE,
    constants.OUTPUT_REPLAY_STATE_MACHINE,
    constants.OUTPUT_REPLAY_QUEUE,
    constants.OUTPUT_DELETION_STATE_MACHINE,
    constants.OUTPUT_ARCHIVE_RETENTION_DAYS,
    constants.OUTPUT_ALARM_TOPIC,
    constants.OUTPUT_FUNCTION_WEBHOOKS,
}


def test_one_stack_per_region_named_as_the_constants_say(default_app: Synthesized) -> None:
    assert (
        {region: stack.stack_name for region, stack in default_app.stacks.items()}
        == {OREGON: "Switchyard-Oregon", DUBLIN: "Switchyard-Dublin"}
        == constants.REGIONS
    )


def test_both_stacks_come_from_the_same_class(default_app: Synthesized) -> None:
    assert all(type(stack) is RegionalStack for stack in default_app.stacks.values())


def test_synth_without_credentials_uses_a_placeholder_account(default_app: Synthesized) -> None:
    assert {stack.account for stack in default_app.stacks.values()} == {PLACEHOLDER_ACCOUNT}


def test_account_from_context(custom_app: Synthesized) -> None:
    assert {stack.account for stack in custom_app.stacks.values()} == {ACCOUNT}


def test_outputs_have_the_keys_the_cli_reads(template_json: dict) -> None:
    assert set(template_json["Outputs"]) == OUTPUT_KEYS | {constants.OUTPUT_WEB_ACL}


def test_without_the_firewall_there_is_no_web_acl_output(http_api_app: Synthesized) -> None:
    assert set(http_api_app.json[OREGON]["Outputs"]) == OUTPUT_KEYS
    assert set(http_api_app.json[DUBLIN]["Outputs"]) == OUTPUT_KEYS | {constants.OUTPUT_API_DOMAIN_TARGET}


def test_outputs_are_not_exported(template_json: dict) -> None:
    assert not [key for key, output in template_json["Outputs"].items() if "Export" in output]


def test_physical_names_match_the_local_stack(default_app: Synthesized, region: str) -> None:
    outputs = default_app.json[region]["Outputs"]
    resources = default_app.json[region]["Resources"]

    def name_of(output_key: str, name_property: str) -> str:
        return resources[outputs[output_key]["Value"]["Ref"]]["Properties"][name_property]

    assert name_of(constants.OUTPUT_EVENTS_STREAM, "Name") == constants.resource_name(constants.EVENTS_STREAM, region)
    assert name_of(constants.OUTPUT_CONFIG_TABLE, "TableName") == constants.resource_name(
        constants.CONFIG_TABLE, region
    )
    assert name_of(constants.OUTPUT_DEDUPE_TABLE, "TableName") == constants.resource_name(
        constants.DEDUPE_TABLE, region
    )
    assert name_of(constants.OUTPUT_DELIVERY_QUEUE, "QueueName") == constants.resource_name(
        constants.DELIVERY_QUEUE, region
    )  # a queue's Ref is its URL
    assert name_of(constants.OUTPUT_DELIVERY_TABLE, "TableName") == constants.resource_name(
        constants.DELIVERY_TABLE, region
    )
    assert name_of(constants.OUTPUT_REPLAY_QUEUE, "QueueName") == constants.resource_name(
        constants.REPLAY_QUEUE, region
    )
    assert name_of(constants.OUTPUT_REPLAY_STATE_MACHINE, "StateMachineName") == constants.resource_name(
        constants.REPLAY_STATE_MACHINE, region
    )  # a state machine's Ref is its ARN
    assert name_of(constants.OUTPUT_ARCHIVE_BUCKET, "BucketName") == constants.archive_bucket_name(
        region, PLACEHOLDER_ACCOUNT
    )


def test_the_http_api_takes_the_rest_apis_place_without_the_firewall(http_api_app: Synthesized) -> None:
    stack = http_api_app.stacks[DUBLIN]
    assert stack.http_api is not None
    assert stack.rest_api is None and stack.tracking_api.firewall is None


def test_stack_exposes_the_frame_later_capabilities_plug_into(default_app: Synthesized) -> None:
    stack = default_app.stacks[DUBLIN]
    for attribute in (
        "events_stream",
        "config_table",
        "dedupe_table",
        "archive",
        "archive_bucket",
        "archive_catalog",
        "delivery_queue",
        "delivery_table",
        "router",
        "delivery",
        "replay",
        "replay_queue",
        "replay_state_machine",
        "dependencies_layer",
        "domain_layer",
        "make_function",
        "observability",
        "tracking_api",
        "rest_api",  # the default (`waf=true`); `http_api` with `waf=false`
        "options",
    ):
        assert getattr(stack, attribute) is not None, attribute
