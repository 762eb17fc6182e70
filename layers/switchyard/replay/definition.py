"""The replay workflow's Amazon States Language definition, shared by CDK and the local stack.

CDK deploys this exact text (`DefinitionBody.from_string` with `definition_substitutions`) and the
local stack runs it in moto's Step Functions engine after the same `${...}` substitutions, so
what runs locally is what deploys (a test compares the synthesized template with this).

Item batching happens in the plan step: each manifest item is a batch of archive objects. (The
ItemBatcher field would do the same in AWS, but moto's engine cannot parse it.)
"""

from __future__ import annotations

import json
from typing import Any

from switchyard.asl import distributed_map, invoke, lambda_retry, plan_task
from switchyard.asl import render as render_template

# Substitution variables, as CloudFormation's Fn::Sub and CDK's definition_substitutions name them.
PLAN_FUNCTION = "PlanFunctionArn"
WORKER_FUNCTION = "WorkerFunctionArn"
REPORT_FUNCTION = "ReportFunctionArn"
ARCHIVE_BUCKET = "ArchiveBucketName"
VARIABLES = (PLAN_FUNCTION, WORKER_FUNCTION, REPORT_FUNCTION, ARCHIVE_BUCKET)


def definition() -> dict[str, Any]:
    failed_to_report = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Report"}]
    return {
        "Comment": "Switchyard replay: plan the archive objects in range, replay them in parallel, report.",
        "StartAt": "Plan",
        "States": {
            "Plan": plan_task(PLAN_FUNCTION, catch=failed_to_report, next_state="AnythingToReplay"),
            "AnythingToReplay": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.plan.batches", "NumericGreaterThan": 0, "Next": "Replay"}],
                "Default": "Report",
            },
            "Replay": {
                **distributed_map(
                    bucket_variable=ARCHIVE_BUCKET,
                    manifest_path="$.plan.manifest",
                    concurrency_path="$.plan.concurrency",
                    item_selector={
                        "objects.$": "$$.Map.Item.Value",
                        "replay.$": "$.replay",
                        "concurrency.$": "$.plan.concurrency",
                    },
                    step="ReplayBatch",
                    function_variable=WORKER_FUNCTION,
                    result_selector={"sent.$": "$.Payload.sent"},
                    attempts=6,
                ),
                # A few batches may fail (after their retries) without failing the replay; the
                # report's objects read (objects_done of objects) shows what was not replayed.
                "ToleratedFailurePercentage": 5.0,
                "ResultPath": None,
                "Catch": failed_to_report,
                "Next": "Report",
            },
            "Report": {
                **invoke(REPORT_FUNCTION, {"Payload.$": "$"}),
                "ResultSelector": {"report.$": "$.Payload"},
                "Retry": lambda_retry(3),
                "End": True,
            },
        },
    }


DEFINITION_TEMPLATE = json.dumps(definition(), indent=2)


def render(substitutions: dict[str, str], template: str = DEFINITION_TEMPLATE) -> str:
    """The template with `${Variable}` replaced, as CloudFormation does at deploy time."""
    return render_template(template, substitutions, VARIABLES)
