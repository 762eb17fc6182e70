"""Destination credentials (API keys, tokens, signing secrets, auth headers), kept in SSM.

`switchyard apply` stores the settings a destination type marks secret as one SecureString per
destination; the config item records only which ones exist. Delivery reads them through a cache,
so a rotated credential reaches every worker within `ttl_seconds` at one SSM read per worker and
destination per period, never one per event.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from switchyard.constants import CREDENTIALS_CACHE_SECONDS, destination_parameter
from switchyard.secure_parameters import get_json, put_json


class DestinationCredentialStore:
    """The writing side, used by `switchyard apply`."""

    def __init__(self, ssm: Any, region: str) -> None:
        self._ssm = ssm
        self._region = region

    def store(self, destination_id: str, values: dict[str, Any]) -> None:
        put_json(self._ssm, destination_parameter(self._region, destination_id), values)


class CachedCredentials:
    """The reading side, in the delivery function: credentials per destination id, cached."""

    def __init__(
        self,
        ssm: Any,
        region: str,
        ttl_seconds: float = CREDENTIALS_CACHE_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ssm = ssm
        self._region = region
        self._ttl = ttl_seconds
        self._clock = clock
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}
        self._lock = threading.Lock()

    def get(self, destination_id: str) -> dict[str, Any]:
        """The destination's credentials ({} if it has none); raises if SSM cannot be read, so the
        events wait for a later attempt instead of going out unauthenticated."""
        now = self._clock()
        with self._lock:
            cached = self._cache.get(destination_id)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        value = get_json(self._ssm, destination_parameter(self._region, destination_id))
        with self._lock:
            self._cache[destination_id] = (now, value)
        return value
