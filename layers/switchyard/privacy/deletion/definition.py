"""The user deletion workflow's Amazon States Language definition, shared by CDK and the local
stack as the replay's is (switchyard/asl.py; a test compares the synthesized template with it).

Plan (suppress, list every archived version, write the manifest) -> Scan (Distributed Map: find
the anonymousIds tied to the users) -> Rewrite (Distributed Map over the same manifest: rewrite
every version that holds their events) -> Finish (stored samples and dead letters, destinations'
delete calls, report, audit record). Any failure goes to Finish, which records it: a deletion
tolerates no failed batch, since each one may hold the users' events. Every step is idempotent, so
a failed execution is redriven (or the deletion started again) without harm.
"""

from __future__ import annotations

import json
from typing import Any

from switchyard.asl import distributed_map, invoke, lambda_retry, plan_task
from switchyard.asl import render as render_template

# Substitution variables, as CloudFormation's Fn::Sub and CDK's definition_substitutions name them.
PLAN_FUNCTION = "PlanFunctionArn"
WORKER_FUNCTION = "WorkerFunctionArn"
FINISH_FUNCTION = "FinishFunctionArn"
ARCHIVE_BUCKET = "ArchiveBucketName"
VARIABLES = (PLAN_FUNCTION, WORKER_FUNCTION, FINISH_FUNCTION, ARCHIVE_BUCKET)

SCAN, REWRITE = "scan", "rewrite"


def _pass_over_archive(phase: str, next_state: str, failed: list[dict[str, Any]]) -> dict[str, Any]:
    """A Distributed Map of workers over the plan's manifest, one batch of objects each."""
    return {
        **distributed_map(
            bucket_variable=ARCHIVE_BUCKET,
            manifest_path="$.plan.manifest",
            concurrency_path="$.plan.concurrency",
            item_selector={
                "objects.$": "$$.Map.Item.Value",
                "batch.$": "$$.Map.Item.Index",
                "deletion.$": "$.deletion",
                "phase": phase,
            },
            step=f"{phase.capitalize()}Batch",
            function_variable=WORKER_FUNCTION,
            result_selector={"objects.$": "$.Payload.objects"},
            attempts=6,
        ),
        "ResultPath": None,
        "Catch": failed,
        "Next": next_state,
    }


def definition() -> dict[str, Any]:
    failed = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": "Finish"}]
    return {
        "Comment": "Switchyard user deletion: suppress, rewrite the archive without the users, "
        "clear stored samples, ask the destinations to delete, record it all.",
        "StartAt": "Plan",
        "States": {
            "Plan": plan_task(PLAN_FUNCTION, catch=failed, next_state="AnythingArchived"),
            "AnythingArchived": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.plan.batches", "NumericGreaterThan": 0, "Next": "Scan"}],
                "Default": "Finish",
            },
            "Scan": _pass_over_archive(SCAN, "Rewrite", failed),
            "Rewrite": _pass_over_archive(REWRITE, "Finish", failed),
            "Finish": {
                **invoke(FINISH_FUNCTION, {"Payload.$": "$"}),
                "ResultSelector": {"report.$": "$.Payload"},
                "Retry": lambda_retry(3),
                "Next": "Complete",
            },
            # The execution fails unless everything was done, so the stack's alarm on failed
            # executions tells an operator to look (`switchyard users deletion <id>`) and run it again.
            "Complete": {
                "Type": "Choice",
                "Choices": [{"Variable": "$.report.status", "StringEquals": "SUCCEEDED", "Next": "Deleted"}],
                "Default": "NotComplete",
            },
            "Deleted": {"Type": "Succeed"},
            "NotComplete": {
                "Type": "Fail",
                "Error": "DeletionNotComplete",
                "Cause": "see the deletion's audit record: switchyard users deletion <id>",
            },
        },
    }


DEFINITION_TEMPLATE = json.dumps(definition(), indent=2)


def render(substitutions: dict[str, str], template: str = DEFINITION_TEMPLATE) -> str:
    """The template with `${Variable}` replaced, as CloudFormation does at deploy time."""
    return render_template(template, substitutions, VARIABLES)
