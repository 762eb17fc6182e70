"""Physical names of the resources a `cdk destroy` or a failed first deploy keeps.

What `removal_policy=retain` keeps (the config and delivery tables, the archive bucket, the
workflows' log groups) outlives its stack, so a fixed name would still be taken when the stack is
created again: after a failed first deploy (CloudFormation rolls the stack back but keeps them), or
after a `cdk destroy`. Each such name therefore ends with the first 8 hex digits of the stack's
id, which CloudFormation draws anew each time it creates the stack and keeps over its updates:
`switchyard-config-us-west-2-1a2b3c4d`. The CLI finds them through the stack's outputs; the local
stack keeps the plain `constants.resource_name`.

Everything else with a fixed name is deleted with its stack and on rollback (stream, dedupe table,
queues, state machines), so its name is free again when a deploy is retried.
"""

from __future__ import annotations

from aws_cdk import Fn, Stack
from constructs import Construct

from switchyard import constants


def stack_suffix(scope: Construct) -> str:
    """The stack id's first 8 hex digits (`arn:...:stack/<name>/<uuid>`): new with each creation."""
    uuid = Fn.select(2, Fn.split("/", Stack.of(scope).stack_id))
    return Fn.select(0, Fn.split("-", uuid))


def kept_name(scope: Construct, kind: str) -> str:
    """`switchyard-<kind>-<region>-<suffix>`: a retained resource's name, never reused by a new stack."""
    return Fn.join("-", [constants.resource_name(kind, Stack.of(scope).region), stack_suffix(scope)])


def kept_bucket_name(scope: Construct, kind: str) -> str:
    """`switchyard-<kind>-<region>-<account>-<suffix>`: S3 names are global, hence the account too
    (at most 19 + 14 + 1 + 12 + 1 + 8 = 55 characters of S3's 63 for `archive` in any region)."""
    stack = Stack.of(scope)
    return Fn.join("-", [constants.resource_name(kind, stack.region), stack.account, stack_suffix(scope)])


def vended_log_group_name(scope: Construct, service: str, name: str) -> str:
    """`/aws/vendedlogs/<service>/<name>-<suffix>`: services that deliver logs through CloudWatch Logs'
    vended log delivery (Step Functions) add each group they write to a resource policy of the
    account, limited to 5,120 characters, unless its name starts with `/aws/vendedlogs/`, which one
    statement covers."""
    return Fn.join("-", [f"/aws/vendedlogs/{service}/{name}", stack_suffix(scope)])
