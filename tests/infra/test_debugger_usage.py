"""The Source Debugger and usage in the stack: the router's rate option, its grants on the usage
items (nothing more), and the lifecycle rule that expires the debugger's objects after a day."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from infra.options import StackOptions
from switchyard.debugger import DEBUGGER_PREFIX, ENV_DEBUGGER_MESSAGES_PER_SECOND
from switchyard.settings import RouterSettings

from .conftest import DUBLIN, named, resources

pytestmark = pytest.mark.infra


def test_the_debugger_rate_defaults_to_five_and_is_bounded() -> None:
    assert StackOptions(region=DUBLIN).debugger_messages_per_second == 5
    assert StackOptions(region=DUBLIN, debugger_messages_per_second="0").debugger_messages_per_second == 0
    for wrong in (-1, 101, True):
        with pytest.raises(ValidationError):
            StackOptions(region=DUBLIN, debugger_messages_per_second=wrong)


def test_the_router_gets_the_rate_and_reads_it_with_the_same_default(template_json: dict) -> None:
    function = named(template_json, "AWS::Lambda::Function", "RouterFunction")["Properties"]
    variables = function["Environment"]["Variables"]
    assert variables[ENV_DEBUGGER_MESSAGES_PER_SECOND] == "5"
    settings = RouterSettings.model_validate(
        {
            "CONFIG_TABLE_NAME": "c",
            "DEDUPE_TABLE_NAME": "d",
            "ARCHIVE_BUCKET_NAME": "a",
            "DELIVERY_QUEUE_URL": "q",
            "DELIVERY_TABLE_NAME": "t",
        }
    )
    assert settings.debugger_messages_per_second == StackOptions(region=DUBLIN).debugger_messages_per_second


def test_the_router_reads_and_updates_only_the_usage_items(template_json: dict) -> None:
    policy = named(template_json, "AWS::IAM::Policy", "RouterFunctionRoleDefaultPolicy")
    reads = [
        statement
        for statement in policy["Properties"]["PolicyDocument"]["Statement"]
        if "dynamodb:GetItem" in statement["Action"]
        and statement["Resource"]["Fn::GetAtt"][0].startswith("DeliveryTable")
    ]
    assert len(reads) == 1
    assert sorted(reads[0]["Action"]) == ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    assert reads[0]["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["usage#*"]}}


def test_the_debugger_objects_expire_after_a_day(template_json: dict) -> None:
    archive = next(b for b in resources(template_json, "AWS::S3::Bucket").values() if "BucketName" in b["Properties"])
    rules = {rule["Id"]: rule for rule in archive["Properties"]["LifecycleConfiguration"]["Rules"]}
    rule = rules["expire-debugger-messages"]
    assert rule["Prefix"] == DEBUGGER_PREFIX
    assert rule["ExpirationInDays"] == 1
    assert rule["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
    assert rule["Status"] == "Enabled"
