"""`switchyard dev`: the whole regional pipeline on one machine."""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path
from typing import Any

import boto3

from switchyard import constants
from switchyard.alerts.manager import AlertManager
from switchyard.config.apply import ApplyResult, apply_workspace
from switchyard.config.credentials import DestinationCredentialStore
from switchyard.config.store import ConfigStore
from switchyard.config.workspace import function_path, load_workspace
from switchyard.devstack.emulator import Emulator
from switchyard.devstack.faults import StackFaults
from switchyard.devstack.http_api import HttpApiServer
from switchyard.devstack.kinesis_poller import Consumer, KinesisPoller
from switchyard.devstack.lambda_runtime import LocalFunction
from switchyard.devstack.meter import AwsMeter
from switchyard.devstack.receiver import WebhookReceiver
from switchyard.devstack.resources import LocalResources, create_resources
from switchyard.devstack.sqs_poller import STOP_WAIT_SECONDS, SqsPoller
from switchyard.devstack.standins import ToolStandIns
from switchyard.devstack.stepfunctions import LambdaInvokeAdapter, placeholder_zip
from switchyard.functions.secrets import FunctionSecrets

LOCAL_ACCOUNT = "000000000000"


class NotStarted(RuntimeError):
    """The local stack was used before `start()`."""


class LocalStack:
    """Emulated AWS on `aws_port`, the tracking API on `port`, and the stream's consumers.

    Handlers are the real ones, configured through the same environment variables the CDK stack
    sets; boto3 reaches the emulator through AWS_ENDPOINT_URL, so no domain code knows it is local.

    For a soak: `faults` injects AWS failure answers and crashes (see faults.py), and
    `delivery_timeout_seconds` / `queue_visibility_seconds` scale the delivery function's time-out
    and the delivery queues' visibility time-out down from AWS's, so that a batch a crash or a
    time-out brings back returns within seconds. For `make cost`: `meter` counts the AWS requests
    and billed units the run makes (devstack/meter.py). `stream_compression` is the stack option of
    that name: ingest deflates each stream record.
    """

    def __init__(
        self,
        config_path: str | Path,
        *,
        port: int = 8080,
        aws_port: int = 4566,
        region: str = constants.DEFAULT_REGION,
        verbose: bool = False,
        stream_consumers: list[Consumer] | None = None,
        demo_receiver_port: int | None = None,
        delivery_workers: int = 6,
        faults: StackFaults | None = None,
        delivery_timeout_seconds: float = constants.DELIVERY_LAMBDA_TIMEOUT_SECONDS,
        queue_visibility_seconds: int = constants.DELIVERY_QUEUE_VISIBILITY_SECONDS,
        meter: AwsMeter | None = None,
        stream_compression: bool = False,
    ) -> None:
        self.config_path = Path(config_path)
        self.region = region
        self.verbose = verbose
        self._port = port
        self._aws_port = aws_port
        self._stream_consumers = list(stream_consumers or [])
        self._demo_receiver_port = demo_receiver_port
        self._delivery_workers = delivery_workers
        self._faults = faults or StackFaults()
        self._meter = meter
        self._stream_compression = stream_compression
        self._delivery_timeout = delivery_timeout_seconds
        self._visibility = queue_visibility_seconds
        self._sqs_pollers: list[SqsPoller] = []
        self._lambda_adapter = LambdaInvokeAdapter()
        self.receiver: WebhookReceiver | None = None
        self._moto: Emulator | None = None
        self._api: HttpApiServer | None = None
        self._poller: KinesisPoller | None = None
        self.applied: ApplyResult | None = None
        self.resources: LocalResources | None = None
        self.functions: dict[str, LocalFunction] = {}

    @property
    def aws_endpoint(self) -> str:
        if self._moto is None:
            raise NotStarted("start() first")
        host, port = self._moto.get_host_and_port()
        return f"http://{host}:{port}"

    @property
    def api_url(self) -> str:
        if self._api is None:
            raise NotStarted("start() first")
        return self._api.url

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region, endpoint_url=self.aws_endpoint)

    def start(self) -> LocalStack:
        self._moto = Emulator(port=self._aws_port, faults=self._faults.aws, meter=self._meter).start()
        self._api = HttpApiServer(self._invoke_ingest, port=self._port)
        self.resources = LocalResources(self.region, LOCAL_ACCOUNT, self.api_url)
        os.environ.update(self._aws_environment())
        self._lambda_adapter.install()
        create_resources(self.resources, endpoint_url=self.aws_endpoint, visibility_seconds=self._visibility)
        os.environ.update(self.environment())
        self.applied = apply_workspace(
            self.config_path,
            ConfigStore(self.resources.config_table, self.client("dynamodb")),
            FunctionSecrets(self.client("ssm"), self.region),
            DestinationCredentialStore(self.client("ssm"), self.region),
            region=self.region,
            alerts=AlertManager(
                self.client("cloudwatch"),
                self.client("sns"),
                self.client("ssm"),
                self.region,
                self.resources.alert_topic_arn,
            ),
        )
        self._start_user_functions()
        if self._demo_receiver_port is not None:
            standins = ToolStandIns()
            self.receiver = WebhookReceiver(
                self._demo_receiver_port,
                responder=standins,
                echo=lambda line: print(line, flush=True),
                describe_request=standins.describe,
            )
            self.receiver.start()
        self.functions["ingest"] = LocalFunction("ingest", constants.INGEST_LAMBDA_TIMEOUT_SECONDS)
        crashes = self._faults.invocations
        self.functions["router"] = LocalFunction("router", constants.ROUTER_LAMBDA_TIMEOUT_SECONDS, faults=crashes)
        if self._faults.after_archive is not None:
            hook = self._faults.after_archive
            self.functions["router"].each_environment(lambda module: module.run_after_archive(hook))
        self.functions["delivery"] = LocalFunction(
            "delivery", self._delivery_timeout, concurrency=self._delivery_workers, faults=crashes
        )
        self._api.start()
        consumers = [self.functions["router"].invoke, *self._stream_consumers]
        self._poller = KinesisPoller(
            self.client("kinesis"),
            self.resources.events_stream,
            self.region,
            consumers,
            batch_size=constants.ROUTER_BATCH_SIZE,
        )
        self._poller.start()
        sqs = self.client("sqs")
        delivery = self.functions["delivery"].invoke
        workers = self._delivery_workers
        self._sqs_pollers = [
            SqsPoller(sqs, self.resources.delivery_queue_url, delivery, region=self.region, workers=workers),
            # The replay lane: its own queue and workers, consumed by the same delivery function. It
            # polls every 50 ms without backing off: a replay's pace is set upstream, per second, and
            # a poll delayed by a backoff would hand a second's events over in one burst.
            SqsPoller(
                sqs,
                self.resources.replay_queue_url,
                delivery,
                region=self.region,
                workers=2,
                idle_seconds=0.05,
                max_idle_seconds=0.05,
            ),
            # What SQS gave up on after its receive limit goes to the dead-letter store.
            SqsPoller(sqs, self.resources.delivery_dlq_url, delivery, region=self.region, workers=1, idle_seconds=1.0),
        ]
        for poller in self._sqs_pollers:
            poller.start()
        for handler, timeout in (
            ("replay_plan", constants.REPLAY_PLAN_TIMEOUT_SECONDS),
            ("replay_worker", constants.REPLAY_WORKER_TIMEOUT_SECONDS),
            ("replay_report", constants.REPLAY_REPORT_TIMEOUT_SECONDS),
            ("deletion_plan", constants.DELETION_PLAN_TIMEOUT_SECONDS),
            ("deletion_worker", constants.DELETION_WORKER_TIMEOUT_SECONDS),
            ("deletion_finish", constants.DELETION_FINISH_TIMEOUT_SECONDS),
            ("lake_loader", constants.LAKE_LOADER_TIMEOUT_SECONDS),
        ):
            workers = 4 if handler in ("replay_worker", "deletion_worker") else 1
            self.functions[handler] = LocalFunction(handler, timeout, concurrency=workers)
            self._lambda_adapter.functions[self.resources.function_name(handler)] = self.functions[handler]
        return self

    def stop(self) -> None:
        for poller in self._sqs_pollers:  # all stop polling at once, then share one wait
            poller.signal_stop()
        if self._poller:
            self._poller.stop()
        deadline = time.monotonic() + STOP_WAIT_SECONDS
        for poller in self._sqs_pollers:
            poller.stop(deadline)
        if self.receiver:
            self.receiver.stop()
        if self._api:
            self._api.stop()
        if self._moto:
            self._moto.stop()
        self._lambda_adapter.uninstall()

    def __enter__(self) -> LocalStack:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _aws_environment(self) -> dict[str, str]:
        """The emulator's endpoint and (any) credentials, for every AWS client in this process."""
        if self._moto is None:
            raise NotStarted("start() first")
        _, moto_port = self._moto.get_host_and_port()
        return {
            "AWS_ENDPOINT_URL": self.aws_endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",  # noqa: S105 - the emulator accepts any credentials
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "MOTO_PORT": str(moto_port),
        }

    def environment(self) -> dict[str, str]:
        """What Lambda's environment holds in AWS (names from the same constants), plus the emulator."""
        if self.resources is None:
            raise NotStarted("start() first")
        return {
            **self._aws_environment(),
            constants.ENV_EVENTS_STREAM: self.resources.events_stream,
            constants.ENV_CONFIG_TABLE: self.resources.config_table,
            constants.ENV_REGION: self.region,
            constants.ENV_CONFIG_CACHE_SECONDS: "1",
            constants.ENV_DEDUPE_TABLE: self.resources.dedupe_table,
            constants.ENV_DEDUPE_WINDOW_HOURS: str(constants.DEFAULT_DEDUPE_WINDOW_HOURS),
            constants.ENV_ARCHIVE_BUCKET: self.resources.archive_bucket,
            constants.ENV_ARCHIVE_RETENTION_DAYS: str(self.resources.archive_retention_days),
            constants.ENV_LAKE_LOADER_FUNCTION: self.resources.function_name("lake_loader"),
            constants.ENV_DELIVERY_QUEUE_URL: self.resources.delivery_queue_url,
            constants.ENV_DELIVERY_TABLE: self.resources.delivery_table,
            constants.ENV_REPLAY_QUEUE_URL: self.resources.replay_queue_url,
            constants.ENV_STREAM_COMPRESSION: "true" if self._stream_compression else "false",
            "POWERTOOLS_SERVICE_NAME": constants.SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": constants.METRICS_NAMESPACE,
            # Locally nobody reads EMF from stdout; keep the terminal for what matters.
            "POWERTOOLS_METRICS_DISABLED": "false" if self.verbose else "true",
            "POWERTOOLS_LOG_LEVEL": "INFO" if self.verbose else "WARNING",
        }

    def _start_user_functions(self) -> None:
        """Each workspace function as its own Lambda (as `cdk deploy -c workspace=...` makes them),
        running the same generic handler over the module in the workspace folder."""
        if self.resources is None:
            raise NotStarted("start() first")
        role = self.client("iam").get_role(RoleName=f"switchyard-local-{self.region}")["Role"]["Arn"]
        lambda_client = self.client("lambda")
        for function in load_workspace(self.config_path).functions:
            name = constants.user_function_name(function.id, self.region)
            lambda_client.create_function(
                FunctionName=name,
                Runtime="python3.12",
                Role=role,
                Handler="handler.lambda_handler",
                Code={"ZipFile": placeholder_zip()},
                Timeout=function.timeout_seconds + 3,
            )
            local = LocalFunction("user_function", function.timeout_seconds + 3, concurrency=4)
            code = function_path(self.config_path, function)
            local.each_environment(lambda module, code=code: module.use_code(code))
            self.functions[f"fn:{function.id}"] = local
            self._lambda_adapter.functions[name] = local

    def _invoke_ingest(self, event: dict[str, Any]) -> dict[str, Any]:
        return self.functions["ingest"].invoke(event)


def quiet_library_logs() -> None:
    """The terminal is for the banner and the demo receiver; request lines and moto's notes
    about what its engine ignores (ToleratedFailurePercentage) are noise there, and so is its
    Step Functions engine's dump of a state that fails on purpose (a deletion that is not
    complete): `switchyard users deletion` and the execution history say what happened."""
    for name in ("werkzeug", "botocore", "urllib3"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("moto").setLevel(logging.ERROR)
    logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
