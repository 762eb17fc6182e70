"""`switchyard plan check <source> --config FILE --event ev.json`: the violations, what the
controls would do, and an exit code a script can use (0 conforms, 1 does not)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from switchyard.cli.main import main

WORKSPACE = """\
workspace: acme
sources:
  - {id: web, name: Web, write_key: wk_web_123}
  - {id: qa, name: QA, write_key: wk_qa_12345}
tracking_plans:
  - id: web-plan
    sources: [web]
    events:
      - name: Order Completed
        properties: {type: object, required: [order_id], properties: {order_id: {type: string}}}
    controls: {violations: VIOLATIONS, unplanned_events: block, forward_violations_to: qa}
"""


def run(tmp_path: Path, capsys: pytest.CaptureFixture[str], event: object, violations: str = "omit") -> tuple[int, str]:
    config, event_file = tmp_path / "workspace.yaml", tmp_path / "event.json"
    config.write_text(WORKSPACE.replace("VIOLATIONS", violations))
    event_file.write_text(json.dumps(event))
    code = main(["plan", "check", "web", "--config", str(config), "--event", str(event_file)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_conforming_event_exits_0_and_goes_on_unchanged(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    event = {"type": "track", "event": "Order Completed", "properties": {"order_id": "o1"}}
    code, out = run(tmp_path, capsys, event)
    assert code == 0
    assert "conforms, no violations" in out
    assert json.loads(out.split("the event goes on as:\n", 1)[1]) == {**event, "projectId": "web"}


def test_violations_are_listed_with_what_omit_removes_and_what_is_forwarded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    code, out = run(tmp_path, capsys, {"type": "track", "event": "Order Completed", "properties": {"order_id": 5}})
    assert code == 1
    assert "Type" in out and "properties.order_id must be string" in out
    assert "omitted: properties.order_id" in out
    assert "forwarded to source qa: 1 'Violation Generated' event(s)" in out


def test_blocked_events_say_why_and_where_they_go(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code, out = run(tmp_path, capsys, {"type": "track", "event": "Unknown", "properties": {}})
    assert code == 1
    assert "blocked (unplanned_event): archived nowhere, delivered nowhere" in out
    code, out = run(tmp_path, capsys, {"type": "track", "event": "Order Completed", "properties": {}}, "block")
    assert code == 1 and "blocked (violations)" in out and "properties.order_id is required" in out


def test_a_source_without_a_plan_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    config, event_file = tmp_path / "workspace.yaml", tmp_path / "event.json"
    config.write_text(WORKSPACE.replace("VIOLATIONS", "allow"))
    event_file.write_text("{}")
    assert main(["plan", "check", "qa", "--config", str(config), "--event", str(event_file)]) == 2
    assert "source 'qa' is in no tracking plan" in capsys.readouterr().err
