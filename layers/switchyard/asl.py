"""Amazon States Language pieces the replay and deletion workflows share.

Both definitions are JSON text with `${Variable}` placeholders: CDK deploys the text with
`definition_substitutions` (CloudFormation's Fn::Sub fills them in) and the local stack runs it in
moto's engine after `render` does the same, so what runs locally is what deploys.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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


def invoke(variable: str, payload: Any) -> dict[str, Any]:
    """A task invoking the function whose ARN the substitution `variable` holds."""
    return {
        "Type": "Task",
        "Resource": "arn:aws:states:::lambda:invoke",
        "Parameters": {"FunctionName": f"${{{variable}}}", **payload},
    }


def render(template: str, substitutions: dict[str, str], variables: Iterable[str]) -> str:
    """The template with `${Variable}` replaced, as CloudFormation does at deploy time."""
    missing = set(variables) - set(substitutions)
    if missing:
        raise ValueError(f"missing substitutions: {sorted(missing)}")
    return re.sub(r"\$\{(\w+)\}", lambda match: substitutions[match.group(1)], template)
