"""`switchyard filters test <destination> --config FILE --event ev.json`: each filter's verdict and
the event as the destination would receive it, from the workspace file alone."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from switchyard.cli.main import main

WORKSPACE = """\
workspace: acme
sources: [{id: web, name: Web, write_key: wk_web_123}]
destinations:
  - id: amp
    type: webhook
    sources: [web]
    settings: {url: "http://h/1"}
    filters:
      - title: No internal traffic
        if: 'match(context.traits.email, "*@example.com")'
        actions: [{type: drop}]
      - title: No PII to analytics
        if: all
        actions: [{type: drop_properties, fields: {properties: [email], context.traits: [email]}}]
      - title: Plan as a number
        if: 'lowercase(properties.plan) = "pro"'
        actions: [{type: drop}]
      - title: Switched off
        if: all
        enabled: false
        actions: [{type: drop}]
"""


def run(tmp_path: Path, event: dict[str, object], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    config, event_file = tmp_path / "workspace.yaml", tmp_path / "event.json"
    config.write_text(WORKSPACE)
    event_file.write_text(json.dumps(event))
    code = main(["filters", "test", "amp", "--config", str(config), "--event", str(event_file)])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_each_filters_verdict_and_the_event_the_destination_gets(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    event = {"type": "track", "properties": {"email": "a@b.io", "plan": "pro"}, "context": {"traits": {}}}
    code, out, _ = run(tmp_path, event, capsys)
    assert code == 0
    lines = out.splitlines()
    verdicts = lines[1 : lines.index("the destination receives nothing: dropped by 'Plan as a number'")]
    assert verdicts == [
        "  No internal traffic",
        "    not matched",
        "  No PII to analytics",
        "    matched",
        "  Plan as a number",
        "    matched",
        "    drop: dropped the event",
        "  Switched off",
        "    disabled",
    ]


def test_the_changed_event_is_printed_when_it_is_kept(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    event = {"type": "track", "properties": {"email": "a@b.io", "plan": "team"}, "context": {"traits": {"email": "x"}}}
    code, out, _ = run(tmp_path, event, capsys)
    assert code == 0
    assert "    drop_properties: removed properties.email, context.traits.email" in out
    printed = json.loads(out.split("the destination receives:\n", 1)[1])
    assert printed == {"type": "track", "properties": {"plan": "team"}, "context": {"traits": {}}}


def test_an_evaluation_error_is_shown_and_drops_the_event(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code, out, _ = run(tmp_path, {"type": "track", "properties": {"plan": 3}}, capsys)
    assert code == 0
    assert "cannot be evaluated" in out
    assert out.rstrip().endswith("dropped by 'Plan as a number.evaluation_failed'")
    assert "  Switched off\n    disabled" in out


def test_an_unknown_destination_and_a_bad_event_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    config, event_file = tmp_path / "workspace.yaml", tmp_path / "event.json"
    config.write_text(WORKSPACE)
    event_file.write_text("[1, 2]")
    assert main(["filters", "test", "nope", "--config", str(config), "--event", str(event_file)]) == 2
    assert "no destination 'nope'" in capsys.readouterr().err
    assert main(["filters", "test", "amp", "--config", str(config), "--event", str(event_file)]) == 2
    assert "an event is a JSON object, not list" in capsys.readouterr().err
