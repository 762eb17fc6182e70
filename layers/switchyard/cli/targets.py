"""Finding a region's resources: from its CloudFormation stack outputs, deployed or local.

The local stack registers a stack with the same outputs in the emulator, so this one code path
serves `--region eu-west-1` against AWS and `--endpoint-url http://127.0.0.1:4566` locally.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.exceptions import BotoCoreError, ClientError

from switchyard import constants


class TargetError(Exception):
    """The region's stack or one of its outputs cannot be found."""


# The local emulator accepts any credentials: a machine without AWS credentials still reaches it.
EMULATOR_CREDENTIALS = {"aws_access_key_id": "local", "aws_secret_access_key": "local"}


def client_for(session: boto3.session.Session, service: str, region: str, endpoint_url: str | None) -> Any:
    """AWS: boto3's own credential chain. An emulator: the same, or stand-ins when none is configured."""
    stand_ins = EMULATOR_CREDENTIALS if endpoint_url and session.get_credentials() is None else {}
    return session.client(service, region_name=region, endpoint_url=endpoint_url, **stand_ins)


@dataclass(frozen=True)
class Target:
    region: str
    endpoint_url: str | None
    outputs: dict[str, str]
    # Its own session: the process-wide default one caches the credentials it first found.
    session: boto3.session.Session = field(default_factory=boto3.session.Session, compare=False, repr=False)

    def client(self, service: str) -> Any:
        return client_for(self.session, service, self.region, self.endpoint_url)

    def output(self, key: str) -> str:
        try:
            return self.outputs[key]
        except KeyError:
            raise TargetError(
                f"stack {stack_name(self.region)} has no output {key!r}; is it deployed from this version?"
            ) from None


def stack_name(region: str) -> str:
    return constants.REGIONS.get(region, f"Switchyard-{region}")


def resolve_target(region: str | None = None, endpoint_url: str | None = None) -> Target:
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or constants.DEFAULT_REGION
    endpoint_url = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    session = boto3.session.Session()
    cloudformation = client_for(session, "cloudformation", region, endpoint_url)
    name = stack_name(region)
    try:
        stacks = cloudformation.describe_stacks(StackName=name)["Stacks"]
    except ClientError as error:
        raise TargetError(f"no stack {name} in {region}: deploy it first (`cdk deploy {name}`). ({error})") from error
    except BotoCoreError as error:
        where = endpoint_url or f"AWS in {region}"
        raise TargetError(f"cannot reach {where}: {error}") from error
    outputs = {output["OutputKey"]: output["OutputValue"] for output in stacks[0].get("Outputs", [])}
    return Target(region, endpoint_url, outputs, session)
