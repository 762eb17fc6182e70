"""One local stack for the end-to-end package, started inside the test process on free ports."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from switchyard.devstack.stack import LocalStack
from tests.support.streams import StreamReader

WORKSPACE = """\
workspace: e2e
sources:
  - id: web
    name: Website
    write_key: wk_e2e_web_123
  - id: server
    name: Server SDKs
    write_key: wk_e2e_server_456
  - id: retired
    name: Retired app
    write_key: wk_e2e_retired_789
    enabled: false
"""


@pytest.fixture(scope="package")
def local_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    config = tmp_path_factory.mktemp("workspace") / "workspace.yaml"
    config.write_text(WORKSPACE)
    saved = dict(os.environ)
    stack = LocalStack(config, port=0, aws_port=0)
    try:
        yield stack.start()
    finally:
        stack.stop()
        os.environ.clear()
        os.environ.update(saved)


@pytest.fixture
def stream(local_stack: LocalStack) -> StreamReader:
    """A reader positioned after everything earlier tests wrote."""
    assert local_stack.resources is not None
    reader = StreamReader(local_stack.client("kinesis"), local_stack.resources.events_stream)
    reader.read_new()
    return reader


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parents[2]
