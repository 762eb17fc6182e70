"""`switchyard fql 'QUERY' --event ev.json`: true/false on stdout, errors with their position on stderr."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from switchyard.cli.main import main

EVENT = {
    "type": "track",
    "event": "Order Completed",
    "context": {"traits": {"email": "ana@example.com"}},
    "properties": {"revenue": 120, "plan": "pro"},
}


@pytest.fixture
def event_file(tmp_path: Path) -> Path:
    path = tmp_path / "event.json"
    path.write_text(json.dumps(EVENT))
    return path


def test_matching_query_prints_true(event_file: Path, capsys: pytest.CaptureFixture[str]):
    code = main(["fql", "type = 'track' and match(context.traits.email, '*@example.com')", "--event", str(event_file)])

    assert (code, capsys.readouterr().out) == (0, "true\n")


def test_query_that_does_not_match_prints_false(event_file: Path, capsys: pytest.CaptureFixture[str]):
    code = main(["fql", "properties.revenue > 500", "--event", str(event_file)])

    assert (code, capsys.readouterr().out) == (0, "false\n")


def test_malformed_query_prints_the_position_and_exits_2(event_file: Path, capsys: pytest.CaptureFixture[str]):
    code = main(["fql", "type = 'track' AND properties.revenue > 100", "--event", str(event_file)])

    captured = capsys.readouterr()
    assert code == 2
    assert captured.out == ""
    assert captured.err.startswith("switchyard: invalid FQL: expected 'and', 'or' or the end of the query")
    assert "(at column 16)" in captured.err
    assert captured.err.endswith("  type = 'track' AND properties.revenue > 100\n                 ^\n")


def test_evaluation_error_names_the_function_and_exits_2(event_file: Path, capsys: pytest.CaptureFixture[str]):
    code = main(["fql", "length(properties.revenue) > 1", "--event", str(event_file)])

    captured = capsys.readouterr()
    assert code == 2
    assert "length() at column 1: argument 1 must be a string, a list or null, got number" in captured.err
    assert "drops such an event" in captured.err


def test_event_that_is_not_json_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "event.json"
    path.write_text("{not json")

    assert main(["fql", "true", "--event", str(path)]) == 2
    assert "not a JSON event" in capsys.readouterr().err


def test_event_that_is_not_an_object_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    path = tmp_path / "event.json"
    path.write_text("[1, 2]")

    assert main(["fql", "true", "--event", str(path)]) == 2
    assert "an event is a JSON object, not list" in capsys.readouterr().err


def test_event_can_come_from_standard_input(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
    monkeypatch.setattr(sys, "stdin", io.StringIO(json.dumps(EVENT)))

    assert main(["fql", "properties.plan in ['pro', 'team']", "--event", "-"]) == 0
    assert capsys.readouterr().out == "true\n"


def test_the_shell_sees_the_exit_code_and_plain_text_on_stderr(event_file: Path):
    command = [sys.executable, "-m", "switchyard.cli.main", "fql", "type = ", "--event", str(event_file)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)

    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines()[0] == (
        "switchyard: invalid FQL: expected a value, a field path or '(', got the end of the query (at column 8)"
    )
