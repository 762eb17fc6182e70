"""The user function's Lambda handler: what it answers the pipeline."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from switchyard.devstack.lambda_runtime import LocalLambdaContext, load_handler_module


@pytest.fixture
def handler(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    module = load_handler_module("user_function")
    code = tmp_path / "fn.py"
    code.write_text(
        "def on_request(request, settings):\n"
        "    raise ValueError(f\"signing with {settings['signing_key']} failed\")\n"
        "def on_track(event, settings):\n"
        "    raise ValueError(f\"key {settings['signing_key']} refused\")\n"
    )
    module.use_code(code)
    monkeypatch.setattr(module, "secrets", lambda parameter: {"signing_key": "whsec_live_4242"} if parameter else {})
    return module


def invoke(module: ModuleType, **event: object) -> dict:
    base = {"timeout_seconds": 2, "settings": {}, "secrets_parameter": "/switchyard/fn/secrets"}
    return module.lambda_handler({**base, **event}, LocalLambdaContext("fn"))


def test_secret_values_are_redacted_from_what_the_function_reports(handler: ModuleType):
    answer = invoke(handler, kind="source", request={"body": "{}"})
    assert answer["code"] == "bad_request"
    assert "whsec_live_4242" not in answer["message"] and "signing with" in answer["message"]
    [result] = invoke(handler, kind="insert", events=[{"type": "track", "event": "E"}])["results"]
    assert "whsec_live_4242" not in result["message"]
