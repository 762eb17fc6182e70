"""A user function's Lambda: runs the workspace's module (bundled next to this file as
user_function.py) for the pipeline, with its settings from the invocation and its secrets from
its own SSM parameter. Its role can reach nothing of the pipeline."""

from __future__ import annotations

import os
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from switchyard import aws
from switchyard.functions.runtime import SOURCE, FunctionRunner, load_module
from switchyard.functions.secrets import read_secrets

USER_CODE = Path(__file__).with_name("user_function.py")
SECRETS_CACHE_SECONDS = 60.0

_code_path = USER_CODE
_module: ModuleType | None = None
_secrets: dict[str, tuple[float, dict[str, str]]] = {}
_ssm: Any = None


def use_code(path: Path) -> None:
    """Run this module instead of the bundled one (the local stack reads the workspace folder)."""
    global _code_path, _module
    _code_path, _module = path, None


def module() -> ModuleType:
    global _module
    if _module is None:
        _module = load_module(_code_path, f"user_function_{os.environ.get('SWITCHYARD_FUNCTION_ID', 'local')}")
    return _module


def secrets(parameter: str | None) -> dict[str, str]:
    global _ssm
    if not parameter:
        return {}
    cached = _secrets.get(parameter)
    if cached is None or time.monotonic() - cached[0] > SECRETS_CACHE_SECONDS:
        _ssm = _ssm or aws.client("ssm")
        cached = _secrets[parameter] = (time.monotonic(), read_secrets(_ssm, parameter))
    return cached[1]


def redact(text: str, secret_values: list[str]) -> str:
    """The text without the function's secrets: error messages reach the pipeline's logs and reports."""
    for value in secret_values:
        text = text.replace(value, "***")
    return text


def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    function_secrets = secrets(event.get("secrets_parameter"))
    settings = {**(event.get("settings") or {}), **function_secrets}
    hidden = sorted((value for value in function_secrets.values() if value), key=len, reverse=True)
    runner = FunctionRunner(module(), event["kind"], float(event["timeout_seconds"]))
    if event["kind"] == SOURCE:
        result = runner.run_request(event["request"], settings)
        result.message = redact(result.message, hidden)
        return result.to_dict()
    results = runner.run_events(event["events"], settings)
    for result in results:
        result.message = redact(result.message, hidden)
    return {"results": [result.to_dict() for result in results]}
