"""A JSON object kept as one SSM SecureString: function secrets and destination credentials."""

from __future__ import annotations

import contextlib
import json
from typing import Any


def put_json(ssm: Any, name: str, values: dict[str, Any]) -> None:
    """Store `values` under `name`; an empty object deletes the parameter instead."""
    if values:
        ssm.put_parameter(Name=name, Value=json.dumps(values), Type="SecureString", Overwrite=True)
    else:
        with contextlib.suppress(ssm.exceptions.ParameterNotFound):
            ssm.delete_parameter(Name=name)


def get_json(ssm: Any, name: str) -> dict[str, Any]:
    """The object stored under `name` ({} when there is no such parameter)."""
    try:
        value = ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    except ssm.exceptions.ParameterNotFound:
        return {}
    return json.loads(value)
