"""What every Switchyard function gets: runtime, architecture, layers, tracing (the `tracing` option),
JSON logs (`log_level`, `system_log_level`), Powertools env.

Later capabilities (router, delivery, replay, user functions) create their functions with
`LambdaDefaults.make_function(...)` and then grant the returned function what it uses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from aws_cdk import Duration, Stack
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from constructs import Construct

from infra import bundling, nag
from infra.dependencies_layer import DependenciesLayer
from infra.domain_layer import DomainLayer
from infra.options import StackOptions
from switchyard import constants

RUNTIME = lambda_.Runtime.PYTHON_3_12
ARCHITECTURE = lambda_.Architecture.ARM_64
if RUNTIME.name != f"python{bundling.LAMBDA_PYTHON_VERSION}":
    raise RuntimeError(f"layer wheels are built for python{bundling.LAMBDA_PYTHON_VERSION}, not {RUNTIME.name}")

DEFAULT_TIMEOUT = Duration.seconds(30)
CODE_EXCLUDE = ["__pycache__", "*.pyc", "tests"]
# X-Ray accepts trace data only through these actions, which have no resource types.
XRAY_WRITE_ACTIONS = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]


class LambdaDefaults(Construct):
    """The shared layers and policies, and the factory applying the defaults to a function."""

    def __init__(self, scope: Construct, construct_id: str, *, options: StackOptions) -> None:
        super().__init__(scope, construct_id)
        self.options = options
        self.dependencies_layer = DependenciesLayer(
            self, "Dependencies", runtime=RUNTIME, architecture=ARCHITECTURE
        ).layer
        self.domain_layer = DomainLayer(self, "Domain", runtime=RUNTIME, architecture=ARCHITECTURE).layer
        # One customer-managed policy for tracing, so the unavoidable `Resource: *` lives in exactly
        # one acknowledged place and never hides in a function's own policy; none at all when
        # nothing is traced (`tracing=off`).
        self.xray_policy: iam.ManagedPolicy | None = None
        if options.tracing != "off":
            self.xray_policy = iam.ManagedPolicy(
                self,
                "XRayWrite",
                description="Lets Switchyard functions send X-Ray trace segments",
                statements=[iam.PolicyStatement(actions=XRAY_WRITE_ACTIONS, resources=["*"])],
            )
            nag.acknowledge_xray_policy(self.xray_policy)

    def traced(self, *, sampled_upstream: bool = False) -> bool:
        """Whether a function records traces (and so gets the X-Ray policy): all with `tracing=active`,
        only those behind a sampling caller with `tracing=sampled`, none with `off`."""
        if self.options.tracing == "active":
            return True
        return self.options.tracing == "sampled" and sampled_upstream

    @property
    def layers(self) -> list[lambda_.ILayerVersion]:
        return [self.dependencies_layer, self.domain_layer]

    def environment(self) -> dict[str, str]:
        env = {
            "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": self.options.log_level,
            constants.ENV_REGION: Stack.of(self).region,
        }
        if self.options.config_cache_seconds is not None:
            env[constants.ENV_CONFIG_CACHE_SECONDS] = f"{self.options.config_cache_seconds:g}"
        return env

    def make_function(
        self,
        scope: Construct,
        construct_id: str,
        *,
        code: Path | lambda_.Code,
        handler: str = "handler.lambda_handler",
        description: str,
        environment: Mapping[str, str] | None = None,
        timeout: Duration = DEFAULT_TIMEOUT,
        memory_size: int = 512,
        extra_layers: Sequence[lambda_.ILayerVersion] = (),
        use_shared_layers: bool = True,
        sampled_upstream: bool = False,
        **kwargs: object,
    ) -> lambda_.Function:
        """A function with its own role (logs and tracing only) and its own log group.

        `code` is a directory (packaged as is) or a ready `Code` (e.g. a locally bundled asset).
        Grant it what it uses afterwards (`stream.grant_write(fn)`, ...). The shared layers are
        code, not permissions: user functions use them too, and stay isolated by their role.
        `sampled_upstream`: its callers sample traces (the REST API stage, for ingest), which it
        records with `tracing=sampled`.
        """
        traced = self.traced(sampled_upstream=sampled_upstream)
        log_group = logs.LogGroup(
            scope,
            f"{construct_id}Logs",
            retention=self.options.log_retention,
            removal_policy=self.options.removal_policy_except_on_create,
        )
        role = iam.Role(
            scope,
            f"{construct_id}Role",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description=f"Runs {scope.node.path}/{construct_id}: its logs, tracing and explicit grants only",
            managed_policies=[self.xray_policy] if traced and self.xray_policy else None,
        )
        log_group.grant_write(role)
        function = lambda_.Function(
            scope,
            construct_id,
            runtime=RUNTIME,
            architecture=ARCHITECTURE,
            code=code if isinstance(code, lambda_.Code) else lambda_.Code.from_asset(str(code), exclude=CODE_EXCLUDE),
            handler=handler,
            description=description,
            role=role,
            layers=[*(self.layers if use_shared_layers else []), *extra_layers],
            environment={**self.environment(), **(environment or {})},
            timeout=timeout,
            memory_size=memory_size,
            log_group=log_group,
            # JSON lines Lambda filters by level: the application's at `log_level`, its own
            # platform lines (START/END/REPORT at INFO) at `system_log_level`.
            logging_format=lambda_.LoggingFormat.JSON,
            application_log_level_v2=lambda_.ApplicationLogLevel[self.options.application_log_level],
            system_log_level_v2=lambda_.SystemLogLevel[self.options.system_log_level],
            **kwargs,
        )
        # Tracing set on the resource itself: `tracing=Tracing.ACTIVE` would add a second, wildcard
        # X-Ray statement to the role's own policy (xray_policy already grants it). PassThrough
        # (stated, so a change from Active takes effect) records only what a caller sampled.
        cfn_function = function.node.default_child
        if not isinstance(cfn_function, lambda_.CfnFunction):
            raise TypeError(f"unexpected function resource {cfn_function!r}")
        cfn_function.tracing_config = lambda_.CfnFunction.TracingConfigProperty(
            mode="Active" if self.options.tracing == "active" else "PassThrough"
        )
        nag.acknowledge_pinned_runtime(function)
        return function
