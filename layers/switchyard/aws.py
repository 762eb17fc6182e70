"""AWS clients for the functions, straight from botocore.

boto3 adds resources and the S3 transfer manager, neither of which the functions use, and its
import pulls in s3transfer: about 80 ms of every cold start (`python -X importtime`). A botocore
client is what boto3.client returns anyway: same credentials, region and AWS_ENDPOINT_URL
resolution, same API. One session per execution environment; creating clients from it is not
thread-safe, hence the lock.
"""

from __future__ import annotations

import threading
from typing import Any

import botocore.session
from botocore.config import Config

_lock = threading.Lock()
_session: botocore.session.Session | None = None


def client(service: str, config: Config | None = None, region: str | None = None) -> Any:
    global _session
    with _lock:
        if _session is None:
            _session = botocore.session.get_session()
        return _session.create_client(service, region_name=region, config=config)
