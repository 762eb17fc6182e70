"""Shared fixtures: no real AWS credentials or endpoints ever reach a test."""

from __future__ import annotations

import os

# Tests must never find a developer's real credentials or talk to real AWS.
for _name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL"):
    os.environ.pop(_name, None)
os.environ.update(
    AWS_ACCESS_KEY_ID="testing",
    AWS_SECRET_ACCESS_KEY="testing",
    AWS_DEFAULT_REGION="us-west-2",
    AWS_REGION="us-west-2",
    POWERTOOLS_METRICS_DISABLED="true",
    POWERTOOLS_DEV="false",
)
