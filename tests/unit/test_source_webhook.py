"""A source function's webhook: the body parsed once and strictly, what the function emits checked,
and answers that never leak what the caller should not learn."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import orjson
import pytest

from switchyard.config.compiled import CompiledWorkspace, FunctionConfig, Source, write_key_hash
from switchyard.errors import ApiError, BadRequest
from switchyard.functions import InvalidEventPayload
from switchyard.functions.invoker import FunctionInvoker
from switchyard.functions.runtime import REJECTED, FunctionRunner, Request, load_module
from switchyard.functions.secrets import token_hash
from switchyard.ingest.service import HttpRequest, IngestOutcome, IngestService
from switchyard.ingest.webhook import function_request

INVALID_OUTPUT = "invalid_function_output"
TOKEN = "tok_right_0123456789"
HOOK = FunctionConfig("hook", "source", "billing", "hook.py", {}, (), 5, token_hash(TOKEN))
WORKSPACE = CompiledWorkspace(
    "test",
    sources=(Source("billing", "Billing", True, write_key_hash("wk_billing_000")),),
    functions=(HOOK,),
)


class Stream:
    def __init__(self) -> None:
        self.records: list[Any] = []

    def put(self, records: list[Any]) -> None:
        self.records.extend(records)


class RunInProcess:
    """What the pipeline's invoker does, minus Lambda: run the module on the request."""

    def __init__(self, runner: FunctionRunner) -> None:
        self.runner = runner
        self.requests: list[dict[str, Any]] = []

    def run_request(self, function: FunctionConfig, request: dict[str, Any]):  # noqa: ANN201
        self.requests.append(request)
        return self.runner.run_request(orjson.loads(orjson.dumps(request)), {})


def runner_for(tmp_path: Path, code: str) -> FunctionRunner:
    path = tmp_path / "hook.py"
    path.write_text(code)
    return FunctionRunner(load_module(path), "source", 2)


def post(service: IngestService, body: bytes, content_type: str = "application/json") -> IngestOutcome:
    outcome = IngestOutcome()
    request = HttpRequest(headers={"content-type": content_type}, body=body, query={"token": TOKEN})
    service.receive_from_function("hook", request, outcome)
    return outcome


def service_with(functions: Any) -> IngestService:
    return IngestService(lambda: WORKSPACE, Stream(), "us-west-2", functions=functions)


ECHO = """
from switchyard.functions import track
def on_request(request, settings):
    body = request.json()
    track(user_id="u", event="Paid", properties={"amount": body["amount"]})
"""


@pytest.mark.parametrize("depth", [256, 300, 1000])
def test_a_json_body_nested_deeper_than_the_pipeline_writes_is_a_400_not_a_500(tmp_path: Path, depth: int):
    """Found by fuzzing: orjson reads 1,024 levels but writes 254; the integer check and the
    function's invocation payload write the parsed body, and raised TypeError (a 500)."""
    functions = RunInProcess(runner_for(tmp_path, ECHO))
    with pytest.raises(BadRequest) as refused:
        post(service_with(functions), b'{"amount":' + b"[" * depth + b"1" + b"]" * depth + b"}")
    assert refused.value.code == "body_too_deep"
    assert functions.requests == []


def test_the_body_is_parsed_once_and_the_function_gets_that_value(tmp_path: Path):
    functions = RunInProcess(runner_for(tmp_path, ECHO))
    outcome = post(service_with(functions), b'{"amount": 42}')
    assert outcome.accepted == 1
    assert functions.requests[0]["json"] == {"amount": 42}


@pytest.mark.parametrize("content_type", ["text/plain", ""])
def test_nan_in_a_body_the_function_reads_as_json_is_a_rejection_not_a_500(tmp_path: Path, content_type: str):
    service = service_with(RunInProcess(runner_for(tmp_path, ECHO)))
    with pytest.raises(BadRequest) as caught:
        post(service, b'{"amount": NaN}', content_type)
    assert caught.value.code in (REJECTED, "invalid_json")


def test_request_json_is_strict_when_it_parses_the_body_itself():
    with pytest.raises(InvalidEventPayload, match="not JSON"):
        Request({"body": '{"a": Infinity}'}).json()
    assert Request({"body": "ignored", "json": {"a": 1}}).json() == {"a": 1}


def test_an_integer_beyond_64_bits_in_the_webhook_body_is_refused(tmp_path: Path):
    service = service_with(RunInProcess(runner_for(tmp_path, ECHO)))
    with pytest.raises(BadRequest) as caught:
        post(service, b'{"amount": 18446744073709551616}')
    assert caught.value.code == "integer_out_of_range"


@pytest.mark.parametrize(
    "value", ['float("nan")', 'float("inf")', "datetime.datetime(2026, 1, 1)", "{1, 2}", "2 ** 70"]
)
def test_output_that_is_not_strict_json_is_the_functions_fault(tmp_path: Path, value: str):
    code = f"""
import datetime
from switchyard.functions import track
def on_request(request, settings):
    track(user_id="u", event="Paid", properties={{"x": {value}}})
"""
    result = runner_for(tmp_path, code).run_request({"body": "{}"}, {})
    assert result.code == INVALID_OUTPUT
    assert result.messages == []


class FakeLambda:
    def __init__(self, answer: bytes) -> None:
        self.answer = answer

    def invoke(self, **_: Any) -> dict[str, Any]:
        return {"StatusCode": 200, "Payload": io.BytesIO(self.answer)}


def test_an_answer_the_invoker_cannot_parse_strictly_is_a_400_not_a_500():
    # What Lambda's runtime sends for a function that emitted NaN (Python's json writes it).
    answer = b'{"messages": [{"type": "track", "userId": "u", "event": "E", "properties": {"x": NaN}}], "code": ""}'
    service = service_with(FunctionInvoker("us-west-2", FakeLambda(answer)))
    with pytest.raises(ApiError) as caught:
        post(service, b"{}")
    assert (caught.value.status, caught.value.code) == (400, INVALID_OUTPUT)


def test_function_request_keeps_the_text_and_the_parsed_value():
    request = function_request(HttpRequest(headers={"content-type": "application/json"}, body=b'{"a": [1]}'))
    assert (request["body"], request["json"]) == ('{"a": [1]}', {"a": [1]})
    form = function_request(HttpRequest(headers={"content-type": "application/x-www-form-urlencoded"}, body=b"a=1"))
    assert "json" not in form


def test_the_functions_exception_text_never_reaches_the_caller(tmp_path: Path):
    code = "def on_request(request, settings):\n    raise KeyError('customer whsec_live_4242 unknown')\n"
    with pytest.raises(BadRequest) as caught:
        post(service_with(RunInProcess(runner_for(tmp_path, code))), b"{}")
    assert caught.value.code == "bad_request"
    assert "whsec_live_4242" not in str(caught.value.body()) and "KeyError" not in str(caught.value.body())
    assert "KeyError" in caught.value.log_detail, "the operator finds the details in the log"


def test_a_retryable_failure_does_not_leak_either(tmp_path: Path):
    code = "from switchyard.functions import RetryError\ndef on_request(request, settings):\n"
    code += "    raise RetryError('upstream at 10.0.0.7 timed out')\n"
    with pytest.raises(ApiError) as caught:
        post(service_with(RunInProcess(runner_for(tmp_path, code))), b"{}")
    assert (caught.value.status, caught.value.code) == (503, "retry")
    assert "10.0.0.7" not in str(caught.value.body())


def refusal(service: IngestService, function_id: str, token: str) -> tuple[int, dict[str, str]]:
    request = HttpRequest(headers={"content-type": "application/json"}, body=b"{}", query={"token": token})
    with pytest.raises(ApiError) as caught:
        service.receive_from_function(function_id, request, IngestOutcome())
    return caught.value.status, caught.value.body()


def test_an_unknown_function_and_a_wrong_token_get_the_same_answer(tmp_path: Path):
    service = service_with(RunInProcess(runner_for(tmp_path, ECHO)))
    wrong_token = refusal(service, "hook", "tok_wrong")
    assert wrong_token[0] == 401
    assert refusal(service, "no-such-hook", TOKEN) == wrong_token
    assert refusal(service, "no-such-hook", "") == wrong_token
    assert refusal(service, "hook", "") == wrong_token
