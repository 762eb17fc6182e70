"""Function secrets and source-function webhook tokens, kept in SSM as SecureStrings.

The workspace file is where an operator writes them; `switchyard apply` moves them here, and the
config table keeps only secret *names* and token *hashes*. Each function's Lambda may read only
its own secrets parameter.
"""

from __future__ import annotations

import hashlib
import secrets as random_tokens
from typing import Any

from switchyard.constants import function_parameter
from switchyard.secure_parameters import get_json, put_json


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


class FunctionSecrets:
    def __init__(self, ssm: Any, region: str) -> None:
        self._ssm = ssm
        self._region = region

    def store(self, function_id: str, values: dict[str, str]) -> None:
        put_json(self._ssm, function_parameter(self._region, function_id, "secrets"), values)

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
    return get_json(ssm, parameter) if parameter else {}
