"""Function secrets and source-function webhook tokens, kept in SSM as SecureStrings.

The workspace file is where an operator writes them; `switchyard apply` moves them here, and the
config table keeps only secret *names* and token *hashes*. Each function's Lambda may read only
its own secrets parameter.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets as random_tokens
from typing import Any

from switchyard.constants import function_parameter


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class FunctionSecrets:
    def __init__(self, ssm: Any, region: str) -> None:
        self._ssm = ssm
        self._region = region

    def store(self, function_id: str, values: dict[str, str]) -> None:
        name = function_parameter(self._region, function_id, "secrets")
        if values:
            self._ssm.put_parameter(Name=name, Value=json.dumps(values), Type="SecureString", Overwrite=True)
        else:
            with contextlib.suppress(self._ssm.exceptions.ParameterNotFound):
                self._ssm.delete_parameter(Name=name)

    def token(self, function_id: str) -> str:
        """The source function's webhook token, created on first use."""
        name = function_parameter(self._region, function_id, "token")
        try:
            return self._ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
        except self._ssm.exceptions.ParameterNotFound:
            token = random_tokens.token_urlsafe(24)
            self._ssm.put_parameter(Name=name, Value=token, Type="SecureString", Overwrite=False)
            return token


def read_secrets(ssm: Any, parameter: str | None) -> dict[str, str]:
    """Inside a function's Lambda: its secrets (none when the parameter does not exist)."""
    if not parameter:
        return {}
    try:
        value = ssm.get_parameter(Name=parameter, WithDecryption=True)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return {}
    return json.loads(value)
