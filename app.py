#!/usr/bin/env python3
"""The Switchyard CDK app: one independent regional stack per region, from one stack class.

    npx cdk synth                       # both stacks, no credentials or Docker needed
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

from aws_cdk import App, Environment, Validations  # noqa: E402
from cdk_nag import AwsSolutionsChecks  # noqa: E402

from infra.paths import CDK_JSON  # noqa: E402
from infra.stack import RegionalStack  # noqa: E402
from switchyard import constants  # noqa: E402

# Synth works without credentials; a deploy always has CDK_DEFAULT_ACCOUNT from the CLI.
PLACEHOLDER_ACCOUNT = "000000000000"


def cdk_json_context() -> dict[str, Any]:
    """The context of cdk.json (feature flags, defaults), as the CLI would pass it."""
    return json.loads(CDK_JSON.read_text()).get("context", {})


def resolve_account(app: App) -> str:
    return str(app.node.try_get_context("account") or os.environ.get("CDK_DEFAULT_ACCOUNT") or PLACEHOLDER_ACCOUNT)


def build_app(context: dict[str, Any] | None = None) -> App:
    """Both regional stacks with cdk-nag registered.

    `context` is layered over cdk.json's (tests pass `{"aws:cdk:bundling-stacks": []}`); under the
    CLI, its own context (cdk.json, cdk.context.json, `-c`) takes precedence over both.
    """
    app = App(context={**cdk_json_context(), **(context or {})})
    account = resolve_account(app)
    for region, stack_name in constants.REGIONS.items():
        RegionalStack(
            app,
            stack_name,
            env=Environment(account=account, region=region),
            description=f"Switchyard {region}: tracking API, events stream, router, delivery, config, "
            "archive (data received here stays here)",
        )
    Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    return app


if __name__ == "__main__":
    build_app().synth()
