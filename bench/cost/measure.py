"""What one event costs in requests and units, counted on a real run of the local stack.

The stack runs with a meter in front of the emulator (devstack/meter.py): every AWS request the
real handlers make is counted with its billed units, every Lambda invocation is counted, and every
byte a function writes to its log (Powertools logs at INFO and its metrics, as deployed) is counted
per function. Two mixes are sent through the tracking API to one webhook destination: browser
traffic (3 events per request) and server SDK traffic (100 per request). Each count is divided by
the events of its mix and written to `measured.json`, which the model (model.py) prices.

Lambda CPU per event comes from `make bench`'s own measurements (bench/ingest.py, bench/router.py),
taken here again on this machine.
"""

from __future__ import annotations

import io
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import requests

from bench.ingest import browser_event
from switchyard.devstack.meter import AwsMeter
from switchyard.devstack.receiver import WebhookReceiver
from switchyard.devstack.stack import LocalStack, quiet_library_logs

MEASURED = Path(__file__).with_name("measured.json")
WRITE_KEY = "wk_cost_web_000001"
WORKSPACE = """\
workspace: cost
sources:
  - {{id: web, name: Web, write_key: {write_key}}}
destinations:
  - {{id: hook, type: webhook, sources: [web], settings: {{url: "{url}/hook"}}}}
"""
MIXES = {"browser": 3, "server": 100}  # events per request
EVENTS_PER_MIX = 600
FUNCTIONS = ("ingest", "router", "delivery")


@dataclass
class MixCounts:
    """Per event of one mix (floats), as measured."""

    events: int
    events_per_request: int
    requests: dict[str, float] = field(default_factory=dict)  # "<service>.<operation>" per event
    units: dict[str, float] = field(default_factory=dict)  # billed units per event
    invocations: dict[str, float] = field(default_factory=dict)  # per function, per event
    log_bytes: dict[str, float] = field(default_factory=dict)  # per function, per invocation


class CountingLog(io.TextIOBase):
    """Stands in for stdout: counts the bytes each local Lambda (thread `lambda-<name>`) writes."""

    def __init__(self, passthrough: Any) -> None:
        self._passthrough = passthrough
        self._lock = threading.Lock()
        self.bytes: Counter[str] = Counter()

    def write(self, text: str) -> int:
        name = threading.current_thread().name
        if name.startswith("lambda-"):
            with self._lock:
                self.bytes[name.removeprefix("lambda-")] += len(text.encode())
            return len(text)
        return self._passthrough.write(text)

    def flush(self) -> None:
        self._passthrough.flush()


def send_mix(stack: LocalStack, mix: str, per_request: int, run: str) -> list[str]:
    ids = []
    for start in range(0, EVENTS_PER_MIX, per_request):
        batch = []
        for index in range(start, min(start + per_request, EVENTS_PER_MIX)):
            event = browser_event(index) | {"messageId": f"{run}-{mix}-{index}"}
            batch.append(event)
            ids.append(event["messageId"])
        answer = requests.post(f"{stack.api_url}/v1/batch", auth=(WRITE_KEY, ""), json={"batch": batch}, timeout=30)
        answer.raise_for_status()
    return ids


def wait_delivered(receiver: WebhookReceiver, ids: list[str], timeout: float = 120) -> None:
    wanted = set(ids)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        got = {event.get("messageId") for received in list(receiver.requests) for event in received.events}
        if wanted <= got:
            return
        time.sleep(0.2)
    raise TimeoutError(f"{len(wanted - got)} of {len(wanted)} events not delivered in {timeout:.0f} s")


def per_event(counts: dict[str, float], events: int) -> dict[str, float]:
    return {name: value / events for name, value in sorted(counts.items()) if value}


def measure_mixes() -> dict[str, MixCounts]:
    quiet_library_logs()
    receiver = WebhookReceiver(0).start()
    meter = AwsMeter()
    log = CountingLog(sys.stdout)
    results: dict[str, MixCounts] = {}
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "workspace.yaml"
        config.write_text(WORKSPACE.format(write_key=WRITE_KEY, url=receiver.url))
        saved, sys.stdout = sys.stdout, log
        stack = LocalStack(config, port=0, aws_port=0, verbose=True, delivery_workers=2, meter=meter)
        try:
            stack.start()
            run = f"{time.time():.0f}"
            for mix, per_request in MIXES.items():
                time.sleep(2)  # the previous mix's stragglers (stats flushes, empty polls) settle
                meter.reset()
                log.bytes.clear()
                before = {name: stack.functions[name].invocations for name in FUNCTIONS}
                ids = send_mix(stack, mix, per_request, run)
                wait_delivered(receiver, ids)
                time.sleep(2)
                snapshot = meter.snapshot()
                invocations = {name: stack.functions[name].invocations - before[name] for name in FUNCTIONS}
                results[mix] = MixCounts(
                    events=len(ids),
                    events_per_request=per_request,
                    requests=per_event(snapshot["requests"], len(ids)),
                    units=per_event(snapshot["units"], len(ids)),
                    invocations=per_event(invocations, len(ids)),
                    log_bytes={name: log.bytes[name] / invocations[name] for name in FUNCTIONS if invocations[name]},
                )
        finally:
            sys.stdout = saved
            stack.stop()
            receiver.stop()
    return results


def measure_cpu() -> dict[str, float]:
    """Lambda CPU per event (microseconds), from the benchmarks' own figures; with `stream_compression`,
    what deflating adds to ingest and inflating to the router."""
    from bench import ingest, router

    ingest_figure = next(figure for figure in ingest.handler_figures() if figure.unit == "us")
    router_figure = next(figure for figure in router.run() if figure.unit == "us")
    compression = next(figure for figure in ingest.compression_figures() if figure.unit == "us")
    return {
        "ingest_us_per_event": ingest_figure.value,
        "router_us_per_event": router_figure.value,
        "ingest_compression_us_per_event": compression.value - compression.floor,
        "router_decompression_us_per_event": inflate_us(),
    }


def inflate_us(rounds: int = 20_000) -> float:
    """What the router's decode adds per deflated record (the bench's browser event)."""
    from switchyard import stream_codec

    record = stream_codec.encode(orjson.dumps(browser_event(0)))
    start = time.process_time()
    for _ in range(rounds):
        stream_codec.decode(record)
    return (time.process_time() - start) / rounds * 1e6


def measure() -> dict[str, Any]:
    mixes = measure_mixes()
    return {
        "measured_on": time.strftime("%Y-%m-%d"),
        "mixes": {name: asdict(counts) for name, counts in mixes.items()},
        "cpu": measure_cpu(),
    }


def write(measured: dict[str, Any], path: Path = MEASURED) -> None:
    path.write_bytes(orjson.dumps(measured, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS) + b"\n")
