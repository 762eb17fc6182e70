#!/usr/bin/env python3
"""The Switchyard CDK app: one independent regional stack per region, from one stack class.

    npx cdk synth                       # both stacks, no credentials or Docker needed (but without
                                        # credentials or -c account=..., not deployable: deploy_only_to)
    npx cdk deploy Switchyard-Oregon    # us-west-2
    npx cdk deploy Switchyard-Dublin    # eu-west-1

Options come from CDK context (see infra/options.py and docs/deploy.md).
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent
for path in (ROOT, ROOT / "layers"):  # the domain package, when not installed (pip install -e .)
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

from aws_cdk import Annotations, App, Aws, CfnRule, CfnRuleAssertion, Environment, Fn, Stack, Validations  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from infra.paths import CDK_JSON  # noqa: E402
from infra.stack import RegionalStack  # noqa: E402
from switchyard import constants  # noqa: E402

# Synth works without credentials (tests, `make synth`): the templates then name this placeholder in
# their ARNs and names, and must never be deployed (see deploy_only_to).
PLACEHOLDER_ACCOUNT = "000000000000"


def cdk_json_context() -> dict[str, Any]:
    """The context of cdk.json (feature flags, defaults), as the CLI would pass it."""
    return json.loads(CDK_JSON.read_text()).get("context", {})


def resolve_account(app: App) -> str | None:
    """`-c account=...`, else the account of the CLI's credentials; None when neither is known."""
    account = app.node.try_get_context("account") or os.environ.get("CDK_DEFAULT_ACCOUNT")
    return str(account) if account else None


def deploy_only_to(stack: Stack, *, resolved: bool) -> None:
    """Refuse to deploy `stack` anywhere but the account it was synthesized for.

    Its template names that account in ARNs, bucket names and key policies, so it is right nowhere
    else. A CloudFormation rule checks the account before anything is created, however the template
    gets there (`cdk deploy --app cdk.out` from a credential-less synth, an upload by hand). Without
    a resolved account, the synth also warns: the CLI then fails to reach account 000000000000, and
    the warning says why.
    """
    if resolved:
        problem = f"This template was synthesized for account {stack.account}."
    else:
        problem = (
            "This template was synthesized without an AWS account (no credentials, no -c account=...): "
            f"it names the placeholder {PLACEHOLDER_ACCOUNT} and cannot be deployed."
        )
        Annotations.of(stack).add_warning_v2(
            "switchyard:placeholder-account",
            f"{problem} Run `npx cdk deploy {stack.stack_name}` with credentials for the target account "
            "(`aws sts get-caller-identity` works), or pass -c account=<id>.",
        )
    CfnRule(
        stack,
        "SynthesizedForThisAccount",
        assertions=[
            CfnRuleAssertion(
                assert_=Fn.condition_equals(Aws.ACCOUNT_ID, stack.account),
                assert_description=f"{problem} Synthesize it again with credentials for the account it goes "
                "to (npx cdk deploy does), or with -c account=<that account>.",
            )
        ],
    )


def build_app(context: dict[str, Any] | None = None) -> App:
    """Both regional stacks with cdk-nag registered.

    `context` is layered over cdk.json's (tests pass `{"aws:cdk:bundling-stacks": []}`); under the
    CLI, its own context (cdk.json, cdk.context.json, `-c`) takes precedence over both.
    """
    app = App(context={**cdk_json_context(), **(context or {})})
    account = resolve_account(app)
    for region, stack_name in constants.REGIONS.items():
        stack = RegionalStack(
            app,
            stack_name,
            env=Environment(account=account or PLACEHOLDER_ACCOUNT, region=region),
            description=f"Switchyard {region}: tracking API, events stream, router, delivery, config, "
            "archive (data received here stays here)",
        )
        deploy_only_to(stack, resolved=account is not None)
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


if __name__ == "__main__":
    build_app().synth()
