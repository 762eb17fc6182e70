"""Step Functions locally: moto's engine runs the real definition; its Lambda tasks call our handlers.

moto never runs Lambda code without Docker: with `use_docker: False` its backend only echoes the
payload. `LambdaInvokeAdapter` replaces that one method (moto is pinned in pyproject.toml; a test
covers this) so that invoking a function runs the project's own handler in-process, with Lambda's
error contract: an exception becomes `{"errorMessage", "errorType"}` with `x-amz-function-error`.
"""

from __future__ import annotations

import io
import json
import threading
import traceback
import zipfile
from typing import Any

from moto.awslambda_simple.models import LambdaSimpleBackend
from moto.core.config import default_user_config

from switchyard.devstack.lambda_runtime import LocalFunction

_ORIGINAL_INVOKE = LambdaSimpleBackend.invoke


def function_name_of(name_or_arn: str) -> str:
    """`my-fn`, `my-fn:alias` or `arn:aws:lambda:<region>:<account>:function:my-fn[:qualifier]`."""
    if name_or_arn.startswith("arn:"):
        return name_or_arn.split(":")[6]
    return name_or_arn.split(":")[0]


class LambdaInvokeAdapter:
    def __init__(self) -> None:
        self.functions: dict[str, LocalFunction] = {}
        self._saved_config: dict[str, Any] = {}

    def install(self) -> None:
        self._saved_config = {key: default_user_config.get(key) for key in ("stepfunctions", "lambda")}
        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        default_user_config["lambda"] = {"use_docker": False}
        adapter = self

        def invoke(
            backend: Any,
            function_name: str,
            qualifier: str | None,
            body: Any,
            headers: Any,
            response_headers: dict[str, str],
        ) -> bytes | None:
            local = adapter.functions.get(function_name_of(function_name))
            if local is None:
                return _ORIGINAL_INVOKE(backend, function_name, qualifier, body, headers, response_headers)
            if headers.get("X-Amz-Invocation-Type") == "Event":  # Lambda answers 202 and runs it later
                threading.Thread(target=adapter.invoke, args=(local, body, {}), daemon=True).start()
                return b""
            return adapter.invoke(local, body, response_headers)

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]

    @staticmethod
    def invoke(local: LocalFunction, body: Any, response_headers: dict[str, str]) -> bytes:
        event = json.loads(body) if body else {}
        try:
            result = local.invoke(event)
        except Exception as error:  # noqa: BLE001 - Lambda's contract for a function error
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps(
                {
                    "errorMessage": str(error),
                    "errorType": getattr(error, "error_type", type(error).__name__),
                    "stackTrace": traceback.format_exception(error)[-5:],
                }
            ).encode()
        return json.dumps(result).encode()

    def uninstall(self) -> None:
        LambdaSimpleBackend.invoke = _ORIGINAL_INVOKE  # type: ignore[method-assign]
        for key, value in self._saved_config.items():
            if value is None:
                default_user_config.pop(key, None)
            else:
                default_user_config[key] = value


def placeholder_zip() -> bytes:
    """Lambda wants code to create a function; locally the real handler runs, not this."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
    return buffer.getvalue()
