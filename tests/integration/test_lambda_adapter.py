"""The pinned adapter that makes moto's Lambda run our handlers (see devstack/stepfunctions.py)."""

from __future__ import annotations

import json
import threading

import boto3
import moto
import pytest
from moto import mock_aws

from switchyard.devstack.stepfunctions import LambdaInvokeAdapter, function_name_of, placeholder_zip


class EchoFunction:
    name = "echo"

    def invoke(self, event: dict) -> dict:
        if event.get("fail"):
            raise ValueError("asked to fail")
        return {"echo": event}


def test_moto_is_the_version_the_adapter_was_written_for():
    assert moto.__version__ == "5.2.5", "re-check LambdaSimpleBackend.invoke's signature before upgrading moto"


@pytest.mark.parametrize(
    ("given", "name"),
    [
        ("fn", "fn"),
        ("fn:live", "fn"),
        ("arn:aws:lambda:us-west-2:1:function:fn", "fn"),
        ("arn:aws:lambda:us-west-2:1:function:fn:3", "fn"),
    ],
)
def test_function_names(given: str, name: str):
    assert function_name_of(given) == name


def test_invoke_runs_the_handler_and_maps_exceptions_to_function_errors():
    adapter = LambdaInvokeAdapter()
    adapter.functions["echo"] = EchoFunction()  # type: ignore[assignment]
    adapter.install()
    try:
        with mock_aws(config={"lambda": {"use_docker": False}}):
            iam = boto3.client("iam")
            role = iam.create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
            client = boto3.client("lambda")
            client.create_function(
                FunctionName="echo",
                Runtime="python3.12",
                Role=role,
                Handler="handler.lambda_handler",
                Code={"ZipFile": placeholder_zip()},
            )
            ok = client.invoke(FunctionName="echo", Payload=json.dumps({"a": 1}))
            assert json.loads(ok["Payload"].read()) == {"echo": {"a": 1}}
            assert "FunctionError" not in ok
            failed = client.invoke(FunctionName="echo", Payload=json.dumps({"fail": True}))
            assert failed["FunctionError"] == "Unhandled"
            error = json.loads(failed["Payload"].read())
            assert (error["errorType"], error["errorMessage"]) == ("ValueError", "asked to fail")
    finally:
        adapter.uninstall()


class SlowFunction:
    def __init__(self) -> None:
        self.release = threading.Event()
        self.ran = threading.Event()

    def invoke(self, event: dict) -> dict:
        self.release.wait(5)
        self.ran.set()
        return event


def test_an_asynchronous_invocation_is_answered_202_at_once_and_runs_after():
    adapter, slow = LambdaInvokeAdapter(), SlowFunction()
    adapter.functions["slow"] = slow  # type: ignore[assignment]
    adapter.install()
    try:
        with mock_aws(config={"lambda": {"use_docker": False}}):
            role = boto3.client("iam").create_role(RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
            client = boto3.client("lambda")
            client.create_function(
                FunctionName="slow",
                Runtime="python3.12",
                Role=role,
                Handler="handler.lambda_handler",
                Code={"ZipFile": placeholder_zip()},
            )
            answer = client.invoke(FunctionName="slow", InvocationType="Event", Payload=b"{}")
            assert answer["StatusCode"] == 202 and not slow.ran.is_set(), "the caller does not wait"
            slow.release.set()
            assert slow.ran.wait(5)
    finally:
        adapter.uninstall()
