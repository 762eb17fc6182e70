"""User functions: in-process overhead of an identity insert function, per event.

The pipeline runs a function through its generic handler (functions/user_function/handler.py):
decode the invocation payload, dispatch through the runtime (time-out watchdog, one outcome per
event), encode the answer. The floor calls the same user function directly with the same payload
decoding and answer encoding, which any invocation needs. A third figure shows the runtime's
absolute cost per event without the invocation boundary, where the floor (an identity function
called directly) costs nanoseconds and a ratio would say nothing.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import Figure, time_pair  # noqa: E402
from bench.router import stored_event  # noqa: E402

TITLE = "functions (bench/functions.py)"
EVENTS = 200

IDENTITY = {
    "on_batch": "def on_batch(events, settings):\n    return list(events)\n",
    "on_track": "def on_track(event, settings):\n    return event\n",
}


def handler_for(code: str) -> Any:
    from switchyard.devstack.lambda_runtime import load_handler_module

    folder = Path(tempfile.mkdtemp())
    (folder / "identity.py").write_text(code)
    handler = load_handler_module("user_function")
    handler.use_code(folder / "identity.py")
    return handler


def events() -> list[dict[str, Any]]:
    return [{**stored_event(i), "type": "track"} for i in range(EVENTS)]


def invocation_figure(entry: str, target: float | None) -> Figure:
    from switchyard.devstack.lambda_runtime import LocalLambdaContext

    handler = handler_for(IDENTITY[entry])
    function = getattr(handler.module(), entry)
    payload = orjson.dumps(
        {"kind": "insert", "timeout_seconds": 5, "settings": {}, "secrets_parameter": None, "events": events()}
    )
    context = LocalLambdaContext("identity")

    def through_handler() -> None:
        orjson.dumps(handler.lambda_handler(orjson.loads(payload), context))

    def direct() -> None:
        invocation = orjson.loads(payload)
        if entry == "on_batch":
            orjson.dumps(function(invocation["events"], invocation["settings"]))
        else:
            orjson.dumps([function(event, invocation["settings"]) for event in invocation["events"]])

    runtime_seconds, direct_seconds = time_pair(through_handler, direct, rounds=9)
    return Figure(
        f"identity insert function, {entry}, {EVENTS} events per invocation",
        runtime_seconds / EVENTS * 1e6,
        "us",
        floor=direct_seconds / EVENTS * 1e6,
        target=target,
    )


def runtime_only_figure() -> Figure:
    from switchyard.functions.runtime import FunctionRunner

    module = handler_for(IDENTITY["on_batch"]).module()
    runner = FunctionRunner(module, "insert", 5)
    batch = events()
    runtime_seconds, _ = time_pair(lambda: runner.run_events(batch, {}), lambda: module.on_batch(batch, {}), rounds=9)
    return Figure("  runtime alone (dispatch, watchdog, outcomes), on_batch", runtime_seconds / EVENTS * 1e6, "us")


def run() -> list[Figure]:
    return [invocation_figure("on_batch", 1.5), invocation_figure("on_track", None), runtime_only_figure()]


if __name__ == "__main__":
    from bench.common import print_figures

    print_figures(TITLE, run())
