"""Amazon States Language pieces the replay and deletion workflows share.

Both definitions are JSON text with `${Variable}` placeholders: CDK deploys the text with
`definition_substitutions` (CloudFormation's Fn::Sub fills them in) and the local stack runs it in
moto's engine after `render` does the same, so what runs locally is what deploys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

# Lambda's transient errors: retried with backoff on every task.
LAMBDA_TRANSIENT_ERRORS = [
    "Lambda.ServiceException",
    "Lambda.AWSLambdaException",
    "Lambda.SdkClientException",
    "Lambda.TooManyRequestsException",
]


def lambda_retry(attempts: int) -> list[dict[str, Any]]:
    return [{"ErrorEquals": LAMBDA_TRANSIENT_ERRORS, "IntervalSeconds": 2, "MaxAttempts": attempts, "BackoffRate": 2.0}]


@dataclass(frozen=True)
class MapPlan:
    """What a workflow's plan step hands its Distributed Maps (`plan_task` keeps it at `$.plan`)."""

    manifest: str  # the manifest's key in the archive bucket: a JSON list of batches
    objects: int
    batches: int
    concurrency: int

    def to_output(self) -> dict[str, Any]:
        return asdict(self)


def plan_task(function_variable: str, *, catch: list[dict[str, Any]], next_state: str) -> dict[str, Any]:
    """The plan step: its function's MapPlan at `$.plan`, retried on Lambda's transient errors."""
    return {
        **invoke(function_variable, {"Payload.$": "$"}),
        "ResultSelector": {
            "manifest.$": "$.Payload.manifest",
            "batches.$": "$.Payload.batches",
            "concurrency.$": "$.Payload.concurrency",
        },
        "ResultPath": "$.plan",
        "Retry": lambda_retry(3),
        "Catch": catch,
        "Next": next_state,
    }


def invoke(variable: str, payload: Any) -> dict[str, Any]:
    """A task invoking the function whose ARN the substitution `variable` holds."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": f"${{{variable}}}", **payload},
    }


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN `start_execution(name=...)` gives the execution: known before it starts, so a record
    can name it first."""
    return state_machine_arn.replace(":stateMachine:", ":execution:") + f":{name}"


def render(template: str, substitutions: dict[str, str], variables: Iterable[str]) -> str:
    """The template with `${Variable}` replaced, as CloudFormation does at deploy time."""
    missing = set(variables) - set(substitutions)
    if missing:
        raise ValueError(f"missing substitutions: {sorted(missing)}")
    return re.sub(r"\$\{(\w+)\}", lambda match: substitutions[match.group(1)], template)


def distributed_map(
    *,
    bucket_variable: str,
    manifest_path: str,
    concurrency_path: str,
    item_selector: dict[str, Any],
    step: str,
    function_variable: str,
    result_selector: dict[str, str],
    attempts: int,
) -> dict[str, Any]:
    """A Distributed Map over a JSON manifest in S3: each item (a batch) goes to one invocation of
    the function `function_variable` names, as a child execution of its own."""
    return {
        "Type": "Map",
        "ItemReader": {
            "Resource": "arn:aws:states:::s3:getObject",
            "ReaderConfig": {"InputType": "JSON"},
            "Parameters": {"Bucket": f"${{{bucket_variable}}}", "Key.$": manifest_path},
        },
        "MaxConcurrencyPath": concurrency_path,
        "ItemSelector": item_selector,
        "ItemProcessor": {
            "ProcessorConfig": {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"},
            "StartAt": step,
            "States": {
                step: {
                    **invoke(function_variable, {"Payload.$": "$"}),
                    "ResultSelector": result_selector,
                    "Retry": lambda_retry(attempts),
                    "End": True,
                }
            },
        },
    }
