"""User functions: each function of the workspace file is its own Lambda, whose role reaches nothing
of the pipeline.

Which functions: those of the workspace file named by the `workspace` option (none without it), read
with the CLI's own parser, which also checks that every function file exists and defines a handler
of its kind. A changed function file needs a deploy; settings and secrets need only `switchyard apply`.

- **Code**: the generic handler (`functions/user_function/handler.py`) with the workspace's module
  copied next to it as `user_function.py`, bundled locally (two file copies, no Docker). The asset
  hash covers both files, so a deploy ships an edited function file.
- **Layers**: the shared dependency and domain layers. They are code (the handler runs the module
  through `switchyard.functions.runtime`), not permissions: what the function can reach is its role.
- **Role**: its own log group and X-Ray (`make_function`), and `ssm:GetParameter` on its own secrets
  parameter (`/switchyard/<region>/functions/<id>/secrets`, a SecureString written by `switchyard
  apply`), nothing else: no stream, table, bucket, queue, key or other function. Granted even to a
  function without secrets today, since `apply` may add some without a deploy. No `kms:Decrypt`:
  the parameter is encrypted with the AWS managed key `aws/ssm`, whose key policy lets principals
  of the account decrypt through SSM, so `ssm:GetParameter` on the one parameter is the control.
- **Environment**: its id and kind (and `make_function`'s region and Powertools settings); no
  pipeline resource names.
- **Time-out**: the function's own plus a margin. The handler stops the code at the function's
  time-out and answers `function_timeout`; Lambda's time-out is only the backstop.
- **Callers**: the pipeline invokes the functions synchronously. The ingest function may invoke
  exactly the source functions, the delivery function exactly the insert and destination
  functions; no other role may invoke any.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aws_cdk import ArnFormat, AssetHashType, BundlingOptions, Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra import bundling
from infra.lambda_defaults import RUNTIME, LambdaDefaults
from infra.options import OptionError, StackOptions
from infra.paths import FUNCTIONS_DIR
from switchyard import constants

HANDLER_DIR = FUNCTIONS_DIR / "user_function"
USER_FUNCTION_MEMORY_MB = 256
# Lambda's limit on a function name (switchyard-fn-<id>-<region>).
MAX_FUNCTION_NAME_CHARS = 64
# The handler reads these (see functions/user_function/handler.py).
ENV_FUNCTION_ID = "SWITCHYARD_FUNCTION_ID"
ENV_FUNCTION_KIND = "SWITCHYARD_FUNCTION_KIND"
SOURCE, INSERT, DESTINATION = "source", "insert", "destination"
# Who may invoke which kind: ingest runs source functions on their webhook, delivery runs insert
# functions before delivering and destination functions as the delivery.
INVOKED_BY_INGEST = (SOURCE,)
INVOKED_BY_DELIVERY = (INSERT, DESTINATION)
SECRETS_READ_ACTIONS = ("ssm:GetParameter",)


@dataclass(frozen=True)
class FunctionDeployment:
    """What the stack needs of a workspace function."""

    id: str
    kind: str
    code_path: Path  # the workspace's .py file, absolute
    timeout_seconds: int


def function_deployments(workspace: Path) -> list[FunctionDeployment]:
    """The functions of a workspace file, validated by the CLI's parser (files included)."""
    # Imported here: a stack without the `workspace` option never loads the workspace model.
    from switchyard.config.workspace import ConfigError, function_path, load_workspace

    try:
        spec = load_workspace(workspace)
    except ConfigError as error:
        raise OptionError(f"workspace: {error}") from error
    return [
        FunctionDeployment(
            id=function.id,
            kind=function.kind,
            code_path=function_path(workspace, function),
            timeout_seconds=int(function.timeout_seconds),
        )
        for function in spec.functions
    ]


def lambda_timeout_seconds(timeout_seconds: float) -> int:
    """The backstop: the function's own time-out, which the handler enforces, plus a margin."""
    return math.ceil(timeout_seconds) + constants.USER_FUNCTION_LAMBDA_MARGIN_SECONDS


def user_function_code(code_path: Path, handler_dir: Path = HANDLER_DIR) -> lambda_.Code:
    """The handler plus the workspace's module as `user_function.py`, bundled by copying them."""
    return lambda_.Code.from_asset(
        str(handler_dir),
        asset_hash_type=AssetHashType.CUSTOM,
        asset_hash=bundling.user_function_hash(handler_dir, code_path),
        bundling=BundlingOptions(
            image=RUNTIME.bundling_image,  # required by the API, never pulled
            local=bundling.UserFunctionBundler(handler_dir, code_path),
        ),
    )


def secrets_parameter_arn(stack: Stack, function_id: str) -> str:
    name = constants.function_parameter(stack.region, function_id, "secrets")
    return stack.format_arn(
        service="ssm",
        resource="parameter",
        resource_name=name.lstrip("/"),  # the ARN of `/a/b` is `...:parameter/a/b`
        arn_format=ArnFormat.SLASH_RESOURCE_NAME,
    )


class UserFunctions(Construct):
    """One isolated Lambda per workspace function, and the pipeline's right to invoke them."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        defaults: LambdaDefaults,
        options: StackOptions,
        ingest: lambda_.Function,
        delivery: lambda_.Function,
    ) -> None:
        super().__init__(scope, construct_id)
        stack = Stack.of(self)
        region = stack.region
        workspace = options.workspace_path
        self.deployments = function_deployments(workspace) if workspace is not None else []
        self.functions: dict[str, lambda_.Function] = {}
        for deployment in self.deployments:
            name = constants.user_function_name(deployment.id, region)
            if len(name) > MAX_FUNCTION_NAME_CHARS:
                raise OptionError(
                    f"workspace: function id {deployment.id!r} is too long for its Lambda name {name!r} "
                    f"(at most {MAX_FUNCTION_NAME_CHARS} characters)"
                )
            holder = Construct(self, deployment.id)
            function = defaults.make_function(
                holder,
                "Function",
                code=user_function_code(deployment.code_path),
                description=f"Switchyard {deployment.kind} function {deployment.id}: workspace code, "
                "no access to the pipeline's resources",
                environment={ENV_FUNCTION_ID: deployment.id, ENV_FUNCTION_KIND: deployment.kind},
                timeout=Duration.seconds(lambda_timeout_seconds(deployment.timeout_seconds)),
                memory_size=USER_FUNCTION_MEMORY_MB,
                function_name=name,
            )
            function.add_to_role_policy(
                iam.PolicyStatement(
                    actions=list(SECRETS_READ_ACTIONS), resources=[secrets_parameter_arn(stack, deployment.id)]
                )
            )
            self.functions[deployment.id] = function
        _grant_invoke(ingest, self.of_kinds(INVOKED_BY_INGEST))
        _grant_invoke(delivery, self.of_kinds(INVOKED_BY_DELIVERY))

    def grant_destination_invoke(self, caller: lambda_.Function) -> None:
        """Lets `caller` (the user deletion's finish step) run destination functions' `on_delete`."""
        _grant_invoke(caller, self.of_kinds([DESTINATION]))

    def of_kinds(self, kinds: Sequence[str]) -> list[lambda_.Function]:
        return [self.functions[d.id] for d in self.deployments if d.kind in kinds]


def _grant_invoke(caller: lambda_.Function, functions: Sequence[lambda_.Function]) -> None:
    """`lambda:InvokeFunction` on exactly these functions' ARNs (not `grant_invoke`, which adds `:*`)."""
    if functions:
        caller.add_to_role_policy(
            iam.PolicyStatement(actions=["lambda:InvokeFunction"], resources=[f.function_arn for f in functions])
        )
