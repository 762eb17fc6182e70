"""How the pipeline calls a user function: a synchronous Lambda invocation of that function's own
Lambda, which runs with its own role (it can reach nothing of the pipeline)."""

from __future__ import annotations

from typing import Any

import orjson
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from switchyard import aws
from switchyard.config.compiled import FunctionConfig
from switchyard.constants import function_parameter, user_function_name
from switchyard.functions.runtime import ERROR, INVALID_OUTPUT, RETRY, TIMEOUT, EventResult, SourceResult


class FunctionInvoker:
    def __init__(self, region: str, lambda_client: Any = None) -> None:
        self._region = region
        self._lambda = lambda_client

    @property
    def _client(self) -> Any:
        if self._lambda is None:
            # Long enough for the slowest function; retries are the pipeline's business.
            config = Config(read_timeout=60, connect_timeout=5, retries={"max_attempts": 1})
            self._lambda = aws.client("lambda", config=config)
        return self._lambda

    def payload(self, function: FunctionConfig, **body: Any) -> bytes:
        return orjson.dumps(
            {
                "kind": function.kind,
                "timeout_seconds": function.timeout_seconds,
                "settings": function.settings,
                "secrets_parameter": function_parameter(self._region, function.id, "secrets")
                if function.secret_names
                else None,
                **body,
            }
        )

    def run_events(self, function: FunctionConfig, events: list[dict[str, Any]]) -> list[EventResult]:
        answer, failure = self._invoke(function, self.payload(function, events=events))
        if failure is not None:
            return [EventResult(ERROR, code=failure[0], message=failure[1])] * len(events)
        return [EventResult.from_dict(item) for item in orjson.loads(answer)["results"]]

    def run_request(self, function: FunctionConfig, request: dict[str, Any]) -> SourceResult:
        answer, failure = self._invoke(function, self.payload(function, request=request))
        if failure is not None:
            return SourceResult(code=failure[0], message=failure[1])
        try:
            return SourceResult.from_dict(orjson.loads(answer))
        except orjson.JSONDecodeError as error:  # e.g. NaN, which Lambda's runtime writes and orjson refuses
            return SourceResult(code=INVALID_OUTPUT, message=f"the function's answer is not strict JSON: {error}")

    def _invoke(self, function: FunctionConfig, payload: bytes) -> tuple[bytes, tuple[str, str] | None]:
        """(answer bytes, None), or (b"", (outcome code, message)) when the invocation itself failed."""
        try:
            response = self._client.invoke(FunctionName=user_function_name(function.id, self._region), Payload=payload)
        except (ClientError, BotoCoreError) as error:
            return b"", (RETRY, f"invoking the function failed: {error}")
        body = response["Payload"].read()
        if response.get("FunctionError"):
            message = body.decode("utf-8", "replace")[:1000]
            # Lambda's own time-out (ours plus a margin) means our watchdog could not stop the code.
            return b"", (TIMEOUT if "timed out" in message.lower() else RETRY, message)
        return body, None
