"""The CLI against the local stack, through the same stack-outputs lookup it uses for AWS."""

from __future__ import annotations

import io
import time
from pathlib import Path

import pytest
import requests

from switchyard import constants
from switchyard.cli.main import main
from switchyard.cli.tail import tail_stream
from switchyard.cli.targets import TargetError, resolve_target
from switchyard.config.store import ConfigStore
from switchyard.devstack.stack import LocalStack

pytestmark = pytest.mark.e2e


def test_outputs_name_the_local_resources(local_stack: LocalStack, capsys: pytest.CaptureFixture[str]):
    assert main(["outputs", "--endpoint-url", local_stack.aws_endpoint]) == 0
    printed = dict(line.split("\t") for line in capsys.readouterr().out.splitlines())
    assert local_stack.resources is not None
    assert printed == local_stack.resources.outputs()
    assert printed[constants.OUTPUT_API_ENDPOINT] == local_stack.api_url


def test_an_unknown_region_is_a_clear_error(local_stack: LocalStack):
    with pytest.raises(TargetError, match="no stack Switchyard-Dublin in eu-west-1"):
        resolve_target("eu-west-1", local_stack.aws_endpoint)


def test_apply_of_a_malformed_file_changes_nothing(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    target = resolve_target(None, local_stack.aws_endpoint)
    store = ConfigStore(target.output(constants.OUTPUT_CONFIG_TABLE), target.client("dynamodb"))
    before = store.load()
    broken = local_stack.config_path.parent / "broken.yaml"
    base = local_stack.config_path.read_text()
    broken.write_text(base.replace("    name: Server SDKs\n", "    name: Server SDKs\n    colour: red\n"))
    assert main(["apply", str(broken), "--endpoint-url", local_stack.aws_endpoint]) == 2
    assert "line 8, sources.1.colour: Extra inputs are not permitted" in capsys.readouterr().err
    assert store.load() == before


def test_apply_adds_a_source_that_ingest_then_accepts(
    local_stack: LocalStack, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    base = local_stack.config_path.read_text()
    extended = local_stack.config_path.parent / "extended.yaml"
    mobile = "  - id: mobile\n    name: Mobile\n    write_key: wk_e2e_mobile_000\n"
    extended.write_text(base.replace("destinations:\n", mobile + "destinations:\n"))
    assert main(["apply", str(extended), "--endpoint-url", local_stack.aws_endpoint]) == 0
    assert "sources added: mobile" in capsys.readouterr().out
    assert main(["apply", str(extended), "--endpoint-url", local_stack.aws_endpoint]) == 0
    assert "unchanged" in capsys.readouterr().out
    response = None
    for _ in range(30):  # ingest re-reads config within its cache time (1 s locally)
        response = requests.post(
            f"{local_stack.api_url}/v1/track",
            auth=("wk_e2e_mobile_000", ""),
            json={"userId": "m", "event": "Opened"},
            timeout=5,
        )
        if response.status_code == 200:
            break
        time.sleep(0.2)
    assert response is not None and response.status_code == 200
    assert main(["apply", str(local_stack.config_path), "--endpoint-url", local_stack.aws_endpoint]) == 0
    assert "sources removed: mobile" in capsys.readouterr().out


def test_tail_prints_stream_events(local_stack: LocalStack):
    requests.post(
        f"{local_stack.api_url}/v1/track",
        auth=("wk_e2e_web_123", ""),
        json={"userId": "tail", "event": "Tailed"},
        timeout=5,
    )
    target = resolve_target(None, local_stack.aws_endpoint)
    out = io.StringIO()
    tail_stream(
        target.client("kinesis"),
        target.output(constants.OUTPUT_EVENTS_STREAM),
        from_start=True,
        out=out,
        limit=10_000,
        idle_seconds=0.05,
        stop_when_idle=True,
    )
    assert '"event":"Tailed"' in out.getvalue()
