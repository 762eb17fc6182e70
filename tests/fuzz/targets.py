"""Where the fuzzer's requests go.

- InProcessTarget: the real ingest handler on moto (mock_aws), reached through the local stack's
  API Gateway v2 event adapter (switchyard.devstack.http_api) in a WSGI app driven by werkzeug's
  test client: the same bytes-to-event path as `switchyard dev`, without sockets. Fast enough for
  the 100,000-request run (measured: ~0.2 ms a refusal, ~2 ms an accepted message).
  With layout="rest", the same requests arrive as the REST API behind the firewall (the `waf`
  stack option, the default) sends them: payload 1.0 events built by tests/support/rest_api_events
  (its stage, resources and routing), through the handler's gateway_event normalization. What
  that API answers itself (no resource or method for a request) is its JSON `unknown_path`.
- HttpTarget: the local stack itself (LocalStack, as tests/e2e starts it), over real HTTP, with the
  router and the functions' Lambdas running beside it: ~2 ms a refusal, ~20 ms an accepted message,
  so a smaller run.

Both record what the handler logs at ERROR (a crash behind an answer, e.g. the pixel's GIF) and
read back what landed in Kinesis.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import boto3
import orjson
from moto import mock_aws
from werkzeug.test import Client
from werkzeug.wrappers import Request as WsgiRequest
from werkzeug.wrappers import Response

from switchyard import constants
from switchyard.config.apply import apply_workspace
from switchyard.config.credentials import DestinationCredentialStore
from switchyard.config.store import CachedWorkspace, ConfigStore
from switchyard.devstack.http_api import to_http_api_event, to_wsgi_response
from switchyard.devstack.lambda_runtime import LocalLambdaContext, load_handler_module
from switchyard.devstack.resources import LocalResources, create_resources
from switchyard.devstack.stack import LocalStack
from switchyard.functions.runtime import FunctionRunner, SourceResult, load_module
from switchyard.functions.secrets import FunctionSecrets
from switchyard.ingest.service import IngestService
from switchyard.streams import KinesisEventStream
from tests.fuzz.wire import Answer, Request
from tests.fuzz.workspace import FUNCTION_ID, FUNCTION_SETTINGS, write_workspace
from tests.support.rest_api_events import to_rest_api_event
from tests.support.streams import StreamReader

REGION = "us-west-2"
ACCOUNT = "000000000000"
_GATEWAY_MAX_BODY = 10 * 1024 * 1024  # API Gateway's limit, as the local adapter applies it
_GATEWAY_MARK = "X-Fuzz-Answered-By-Gateway"  # set by the emulation, removed before the checks
# The REST API's answer to a path or method it has no resource for (infra/tracking_api.py GATEWAY_ANSWERS).
_REST_UNKNOWN_PATH = (
    '{"code":"unknown_path","message":"No such endpoint; see the tracking API reference."}',
    {"Access-Control-Allow-Origin": "*", "Access-Control-Expose-Headers": "Retry-After, X-RateLimit-Reset"},
)


class ErrorLog(logging.Handler):
    """What the switchyard logger says at ERROR or above; its own output (and the metrics that
    Powertools prints) is muted meanwhile."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[str] = []
        self._logger = logging.getLogger(constants.SERVICE_NAME)
        self._muted: list[tuple[logging.Handler, int]] = []

    def emit(self, record: logging.LogRecord) -> None:
        detail = "".join(traceback.format_exception(*record.exc_info)) if record.exc_info else ""
        self.records.append(f"{record.getMessage()}\n{detail}".strip())

    def __enter__(self) -> ErrorLog:
        self._stdout = sys.stdout
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - closed in __exit__
        self._muted = [(handler, handler.level) for handler in self._logger.handlers]
        for handler, _ in self._muted:
            handler.setLevel(logging.CRITICAL + 1)
        self._logger.addHandler(self)
        return self

    def __exit__(self, *_: object) -> None:
        self._logger.removeHandler(self)
        for handler, level in self._muted:
            handler.setLevel(level)
        sys.stdout.close()
        sys.stdout = self._stdout

    def take(self) -> list[str]:
        taken, self.records = self.records, []
        return taken


class InProcessFunctions:
    """The source function run in-process by the real runtime, with the serializations of the
    Lambda hop (which needs Docker on moto): FunctionInvoker writes the request with orjson,
    Lambda's Python runtime writes the answer with json, FunctionInvoker reads it with orjson."""

    def __init__(self, folder: Path) -> None:
        module = load_module(folder / "functions" / "fuzzhook.py", "fuzzhook")
        self._runner = FunctionRunner(module, "source", 2)

    def run_request(self, function: Any, request: dict[str, Any]) -> SourceResult:
        result = self._runner.run_request(orjson.loads(orjson.dumps(request)), dict(FUNCTION_SETTINGS))
        return SourceResult.from_dict(orjson.loads(json.dumps(result.to_dict())))


def answer_of(status: int, headers: Any, body: bytes, started: float) -> Answer:
    return Answer(status, {name.lower(): value for name, value in headers.items()}, body, time.monotonic() - started)


class InProcessTarget:
    def __init__(self, layout: str = "http") -> None:
        self.layout = layout
        self.name = "in-process" if layout == "http" else "in-process REST"
        self.crashes: list[str] = []
        self.errors = ErrorLog()

    def __enter__(self) -> InProcessTarget:
        self._environ = dict(os.environ)
        self._folder = tempfile.TemporaryDirectory(prefix="switchyard-fuzz-")
        folder = Path(self._folder.name)
        os.environ.update(
            {
                "POWERTOOLS_METRICS_DISABLED": "true",
                constants.ENV_REGION: REGION,
                "AWS_DEFAULT_REGION": REGION,
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",  # noqa: S105 - moto's
            }
        )
        os.environ.pop("AWS_ENDPOINT_URL", None)
        self._mock = mock_aws()
        self._mock.start()
        self.resources = LocalResources(REGION, ACCOUNT, "https://api.example")
        create_resources(self.resources, shard_count=2)
        ssm = boto3.client("ssm", region_name=REGION)
        apply_workspace(
            write_workspace(folder),
            ConfigStore(self.resources.config_table),
            FunctionSecrets(ssm, REGION),
            DestinationCredentialStore(ssm, REGION),
        )
        self.token = FunctionSecrets(ssm, REGION).token(FUNCTION_ID)
        module = load_handler_module("ingest")
        workspace = CachedWorkspace(ConfigStore(self.resources.config_table), ttl_seconds=60)
        stream = KinesisEventStream(self.resources.events_stream, budget_seconds=5.0)
        service = IngestService(workspace.get, stream, REGION, functions=InProcessFunctions(folder))
        api = module.IngestApi(service)
        self._handler = module.lambda_handler_for(lambda: api)
        self._client = Client(self._gateway)
        self._reader = StreamReader(boto3.client("kinesis", region_name=REGION), self.resources.events_stream)
        self.errors.__enter__()
        return self

    def __exit__(self, *_: object) -> None:
        self.errors.__exit__()
        self._mock.stop()
        self._folder.cleanup()
        os.environ.clear()
        os.environ.update(self._environ)

    def _gateway(self, environ: dict[str, Any], start_response: Any) -> Any:
        """What switchyard.devstack.http_api.HttpApiServer does with a request, minus the socket."""
        request = WsgiRequest(environ)
        if (request.content_length or 0) > _GATEWAY_MAX_BODY:
            response = Response('{"message":"Request Entity Too Large"}', status=413, content_type="application/json")
            return response(environ, start_response)
        body = request.get_data(cache=False)
        if self.layout == "rest":
            event = to_rest_api_event(request, body)
            if event is None:
                text, headers = _REST_UNKNOWN_PATH
                headers = {**headers, _GATEWAY_MARK: "1"}
                return Response(text, status=404, headers=headers, content_type="application/json")(
                    environ, start_response
                )
        else:
            event = to_http_api_event(request, body)
        try:
            result = self._handler(event, LocalLambdaContext("ingest"))
            response = to_wsgi_response(result)
        except Exception:  # what API Gateway answers when the function itself fails
            self.crashes.append(traceback.format_exc())
            response = Response('{"message":"Internal Server Error"}', status=500, content_type="application/json")
        return response(environ, start_response)

    def send(self, request: Request) -> Answer:
        started = time.monotonic()
        path = request.path
        if self.layout == "rest" and path.startswith(constants.HTTP_API_ROOT_PATHS):
            path = f"/{constants.REST_API_STAGE}{path}"  # webhooks and the document sit below the stage
        response = self._client.open(
            path=path,
            method=request.method,
            query_string=request.query or None,
            headers=request.headers,
            data=request.body,
            environ_base={"REMOTE_ADDR": "198.51.100.7"},
        )
        body = b"" if request.method == "HEAD" else response.get_data()
        answer = answer_of(response.status_code, response.headers, body, started)
        answer.gateway = answer.headers.pop(_GATEWAY_MARK.lower(), None) is not None
        return answer

    def read_stream(self) -> list[dict[str, Any]]:
        return self._reader.read_new()

    def resource_names(self) -> list[str]:
        return [self.resources.events_stream, self.resources.config_table, self.resources.delivery_table]


class HttpTarget:
    """The local stack over HTTP; one keep-alive connection (reopened when the server closes it)."""

    name = "http"

    def __init__(self) -> None:
        self.crashes: list[str] = []
        self.errors = ErrorLog()

    def __enter__(self) -> HttpTarget:
        self._environ = dict(os.environ)
        self._folder = tempfile.TemporaryDirectory(prefix="switchyard-fuzz-http-")
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        os.environ["POWERTOOLS_LOG_LEVEL"] = "ERROR"
        self.stack = LocalStack(write_workspace(Path(self._folder.name)), port=0, aws_port=0, delivery_workers=1)
        self.stack.start()
        assert self.stack.resources is not None
        self.resources = self.stack.resources
        self.token = FunctionSecrets(self.stack.client("ssm"), self.stack.region).token(FUNCTION_ID)
        address = urlsplit(self.stack.api_url)
        self._connection = http.client.HTTPConnection(address.hostname or "127.0.0.1", address.port, timeout=60)
        self._reader = StreamReader(self.stack.client("kinesis"), self.resources.events_stream)
        self._reader.read_new()
        self.errors.__enter__()
        return self

    def __exit__(self, *_: object) -> None:
        self.errors.__exit__()
        self._connection.close()
        self.stack.stop()
        self._folder.cleanup()
        os.environ.clear()
        os.environ.update(self._environ)

    def send(self, request: Request) -> Answer:
        target = request.path + (f"?{request.query}" if request.query else "")
        for attempt in (1, 2):
            started = time.monotonic()
            try:
                self._connection.putrequest(request.method, target, skip_accept_encoding=True)
                for name, value in request.headers:
                    self._connection.putheader(name, value)
                if request.body or request.method in ("POST", "PUT", "PATCH"):
                    self._connection.putheader("Content-Length", str(len(request.body)))
                self._connection.endheaders(request.body or None)
                response = self._connection.getresponse()
                body = response.read()
                if response.getheader("Connection", "").lower() == "close" or response.version == 10:
                    self._connection.close()
                return answer_of(response.status, dict(response.getheaders()), body, started)
            except (ConnectionError, http.client.HTTPException):
                self._connection.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def read_stream(self) -> list[dict[str, Any]]:
        return self._reader.read_new()

    def resource_names(self) -> list[str]:
        return [self.resources.events_stream, self.resources.config_table, self.resources.delivery_table]
