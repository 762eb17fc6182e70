"""User functions: in-process overhead of an identity insert function, per event, against calling
the same Python function directly (what the runtime adds: dispatch, time-out, outcome per event)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import Figure, time_pair  # noqa: E402
from bench.router import stored_event  # noqa: E402

TITLE = "functions (bench/functions.py)"
EVENTS = 200

IDENTITY_BATCH = "def on_batch(events, settings):\n    return list(events)\n"
IDENTITY_EVENT = "def on_track(event, settings):\n    return event\n"


def figure(label: str, code: str, direct_call: str, target: float | None) -> Figure:
    from switchyard.functions.runtime import FunctionRunner, load_module

    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "identity.py"
        path.write_text(code)
        module = load_module(path)
    runner = FunctionRunner(module, "insert", 5)
    events = [stored_event(i) for i in range(EVENTS)]
    for event in events:
        event["type"] = "track"
    settings: dict = {}
    handler = getattr(module, direct_call)

    def through_runtime() -> None:
        results = runner.run_events(events, settings)
        assert len(results) == EVENTS

    def direct() -> None:
        if direct_call == "on_batch":
            handler(events, settings)
        else:
            for event in events:
                handler(event, settings)

    runtime_seconds, direct_seconds = time_pair(through_runtime, direct, rounds=9)
    return Figure(label, runtime_seconds / EVENTS * 1e6, "us", floor=direct_seconds / EVENTS * 1e6, target=target)


def run() -> list[Figure]:
    return [
        figure(f"identity insert function, on_batch of {EVENTS}", IDENTITY_BATCH, "on_batch", 1.5),
        figure(f"identity insert function, on_track per event ({EVENTS})", IDENTITY_EVENT, "on_track", None),
    ]


if __name__ == "__main__":
    from bench.common import print_figures

    print_figures(TITLE, run())
