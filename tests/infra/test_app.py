"""The app: two independent regional stacks from one class, outputs the CLI can find."""

from __future__ import annotations

import pytest
from aws_cdk.cx_api import CloudAssembly, SynthesisMessageLevel

from app import PLACEHOLDER_ACCOUNT, build_app
from infra.stack import RegionalStack
from switchyard import constants
from switchyard.alerts.names import OUTPUT_ALERT_TOPIC

from .conftest import ACCOUNT, DUBLIN, OREGON, SKIP_BUNDLING, Synthesized

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
    constants.OUTPUT_ANALYSTS_POLICY,
    constants.OUTPUT_LAKE_DATABASE,
    constants.OUTPUT_LAKE_LOADER,
    constants.OUTPUT_ATHENA_WORKGROUP,
    OUTPUT_ALERT_TOPIC,
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


def account_rule(template_json: dict) -> dict:
    (assertion,) = template_json["Rules"]["SynthesizedForThisAccount"]["Assertions"]
    return assertion


def test_a_template_synthesized_without_an_account_is_refused_by_cloudformation(default_app: Synthesized) -> None:
    for template_json in default_app.json.values():
        assertion = account_rule(template_json)
        # CloudFormation checks rules before it creates anything: no real account is 000000000000.
        assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "AWS::AccountId"}, PLACEHOLDER_ACCOUNT]}
        assert "without an AWS account" in assertion["AssertDescription"]
        assert "-c account=" in assertion["AssertDescription"]


def warnings(assembly: CloudAssembly, stack_name: str) -> list[str]:
    artifact = assembly.get_stack_artifact(stack_name)
    return [str(m.entry.data) for m in artifact.messages if m.level == SynthesisMessageLevel.WARNING]


def test_synth_without_an_account_warns_that_it_cannot_be_deployed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CDK_DEFAULT_ACCOUNT", raising=False)
    assembly = build_app(SKIP_BUNDLING).synth()
    for stack_name in constants.REGIONS.values():
        (warning,) = [w for w in warnings(assembly, stack_name) if PLACEHOLDER_ACCOUNT in w]
        assert "cannot be deployed" in warning and f"npx cdk deploy {stack_name}" in warning


def test_a_template_deploys_only_to_the_account_it_was_synthesized_for(custom_app: Synthesized) -> None:
    for template_json in custom_app.json.values():
        assertion = account_rule(template_json)
        assert assertion["Assert"] == {"Fn::Equals": [{"Ref": "AWS::AccountId"}, ACCOUNT]}
        assert f"synthesized for account {ACCOUNT}" in assertion["AssertDescription"]


def test_the_credentials_account_is_used_without_a_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CDK_DEFAULT_ACCOUNT", ACCOUNT)  # what the CLI sets when it has credentials
    assembly = build_app(SKIP_BUNDLING).synth()
    for stack_name in constants.REGIONS.values():
        assert assembly.get_stack_by_name(stack_name).environment.account == ACCOUNT
        assert not [w for w in warnings(assembly, stack_name) if PLACEHOLDER_ACCOUNT in w]


def test_outputs_have_the_keys_the_cli_reads(template_json: dict) -> None:
    assert set(template_json["Outputs"]) == OUTPUT_KEYS | {constants.OUTPUT_WEB_ACL}


def test_without_the_firewall_there_is_no_web_acl_output(http_api_app: Synthesized) -> None:
    assert set(http_api_app.json[OREGON]["Outputs"]) == OUTPUT_KEYS
    assert set(http_api_app.json[DUBLIN]["Outputs"]) == OUTPUT_KEYS | {constants.OUTPUT_API_DOMAIN_TARGET}


def test_outputs_are_not_exported(template_json: dict) -> None:
    assert not [key for key, output in template_json["Outputs"].items() if "Export" in output]


# `arn:...:stack/<name>/<uuid>` -> the uuid's first 8 hex digits: new with every creation of the stack.
STACK_SUFFIX = {
    "Fn::Select": [0, {"Fn::Split": ["-", {"Fn::Select": [2, {"Fn::Split": ["/", {"Ref": "AWS::StackId"}]}]}]}]
}
KEPT = ("Retain", "RetainExceptOnCreate")  # what `cdk destroy` leaves behind


def kept_name(*parts: str) -> dict:
    return {"Fn::Join": ["-", [*parts, STACK_SUFFIX]]}


def test_physical_names_match_the_local_stack(default_app: Synthesized, region: str) -> None:
    outputs = default_app.json[region]["Outputs"]
    resources = default_app.json[region]["Resources"]

    def name_of(output_key: str, name_property: str) -> str:
        return resources[outputs[output_key]["Value"]["Ref"]]["Properties"][name_property]

    # Deleted with the stack (and on rollback): the local stack's names, free again for a retry.
    assert name_of(constants.OUTPUT_EVENTS_STREAM, "Name") == constants.resource_name(constants.EVENTS_STREAM, region)
    assert name_of(constants.OUTPUT_DEDUPE_TABLE, "TableName") == constants.resource_name(
        constants.DEDUPE_TABLE, region
    )
    assert name_of(constants.OUTPUT_DELIVERY_QUEUE, "QueueName") == constants.resource_name(
        constants.DELIVERY_QUEUE, region
    )  # a queue's Ref is its URL
    assert name_of(constants.OUTPUT_REPLAY_QUEUE, "QueueName") == constants.resource_name(
        constants.REPLAY_QUEUE, region
    )
    assert name_of(constants.OUTPUT_REPLAY_STATE_MACHINE, "StateMachineName") == constants.resource_name(
        constants.REPLAY_STATE_MACHINE, region
    )  # a state machine's Ref is its ARN
    # Kept by a failed first deploy and by `cdk destroy`: the local stack's names plus the stack's
    # suffix, so a retry, or a deploy after a destroy, creates new ones beside them.
    assert name_of(constants.OUTPUT_CONFIG_TABLE, "TableName") == kept_name(
        constants.resource_name(constants.CONFIG_TABLE, region)
    )
    assert name_of(constants.OUTPUT_DELIVERY_TABLE, "TableName") == kept_name(
        constants.resource_name(constants.DELIVERY_TABLE, region)
    )
    assert name_of(constants.OUTPUT_ARCHIVE_BUCKET, "BucketName") == kept_name(
        constants.archive_bucket_name(region, PLACEHOLDER_ACCOUNT)
    )


@pytest.mark.parametrize("app_name", ["default_app", "custom_app", "http_api_app"])
def test_nothing_kept_after_its_stack_has_a_fixed_name(app_name: str, request: pytest.FixtureRequest) -> None:
    synthesized: Synthesized = request.getfixturevalue(app_name)
    for template_json in synthesized.json.values():
        for logical_id, resource in template_json["Resources"].items():
            if resource.get("DeletionPolicy") in KEPT or resource.get("UpdateReplacePolicy") in KEPT:
                for key, value in resource.get("Properties", {}).items():
                    if key.endswith("Name"):
                        assert value["Fn::Join"][1][-1] == STACK_SUFFIX, (logical_id, key, value)


def test_a_failed_first_deploy_takes_its_logs_and_key_with_it(template_json: dict) -> None:
    # RetainExceptOnCreate: kept by `cdk destroy` and updates, deleted when their creation rolls back.
    # Tables (deletion protection) and buckets (S3 keeps a bucket that holds objects) stay Retain.
    policies = {
        kind: {r["DeletionPolicy"] for r in template_json["Resources"].values() if r["Type"] == kind}
        for kind in ("AWS::Logs::LogGroup", "AWS::KMS::Key", "AWS::DynamoDB::Table", "AWS::S3::Bucket")
    }
    assert policies["AWS::Logs::LogGroup"] == {"RetainExceptOnCreate"}
    assert policies["AWS::KMS::Key"] == {"RetainExceptOnCreate", "Delete"}  # archive; the alarm topic's
    assert policies["AWS::DynamoDB::Table"] == {"Retain", "Delete"}  # config and delivery; dedupe
    assert policies["AWS::S3::Bucket"] == {"Retain"}


def test_with_removal_policy_destroy_nothing_is_kept(custom_app: Synthesized) -> None:
    for template_json in custom_app.json.values():
        kept = [k for k, r in template_json["Resources"].items() if r.get("DeletionPolicy", "Delete") != "Delete"]
        assert kept == []


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
