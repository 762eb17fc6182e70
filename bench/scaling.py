"""Scaling curves: how the cost per item moves as the batch (or the archive) grows.

Three curves, each measured over the same real code and in-memory fakes as the benchmark it comes
from (bench/ingest.py, bench/router.py, bench/replay.py):

- ingest: CPU time of the handler per event, for batches of 1 to 500 events;
- router: CPU time of the whole process (worker threads included) per stream record, 10 to 1,000;
- replay planning: CPU time per archive object, for 1,000 to 100,000 objects over one day.

Each curve is printed as a small table (size, time per item, ratio to the smallest size's time per
item) and drawn as a PNG under bench/out/ (matplotlib's Agg backend; the folder is not committed).
The sizes of a curve are timed in alternating rounds, best of each kept, so a burst of load on a
shared machine does not land on one size only. A Figure per curve gives the largest size's cost
per item against the smallest's: a fixed cost per request or per batch should make it fall, and a
cost that grows faster than the work shows as a ratio above 1.
"""

from __future__ import annotations

import io
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.common import Figure, print_figures, time_each  # noqa: E402
from bench.ingest import api_event, batch_body, handling, load_handler  # noqa: E402
from bench.replay import FakeListing, replay_request  # noqa: E402
from bench.router import build_router, lambda_event  # noqa: E402

TITLE = "scaling curves (bench/scaling.py): largest size against smallest, per item"
TABLES = "scaling curves (bench/scaling.py): tables, plots in bench/out/"
OUT = ROOT / "bench" / "out"

INGEST_SIZES = (1, 10, 100, 500)
ROUTER_SIZES = (10, 50, 100, 500, 1000)
REPLAY_SIZES = (1_000, 10_000, 100_000)
# The largest size's cost per item at most 1.5 times the smallest's: flat or better.
FLAT_OR_BETTER = 1.5


@dataclass(frozen=True)
class Curve:
    name: str  # file name of the plot, without .png
    title: str
    item: str  # what one item is: "event", "record", "object"
    size_label: str  # what the size counts, for the table and the x axis
    sizes: tuple[int, ...]
    seconds: tuple[float, ...]  # per item, one for each size
    note: str = ""

    def rows(self) -> list[tuple[int, float, float]]:
        """(size, microseconds per item, ratio to the smallest size's time per item)."""
        smallest = self.seconds[0]
        return [(size, s * 1e6, s / smallest) for size, s in zip(self.sizes, self.seconds, strict=True)]

    def table(self) -> str:
        lines = [
            self.title,
            f"  {self.size_label:>12} {'us/' + self.item:>12} {'vs ' + format(self.sizes[0], ','):>10}",
        ]
        lines += [f"  {size:>12,} {micro:>12.2f} {ratio:>9.2f}x" for size, micro, ratio in self.rows()]
        if self.note:
            lines.append(f"  ({self.note})")
        return "\n".join(lines)

    def figure(self, target: float | None = FLAT_OR_BETTER) -> Figure:
        """The largest size's time per item as a multiple of the smallest size's."""
        largest, smallest = self.sizes[-1], self.sizes[0]
        return Figure(
            f"{self.name}: us/{self.item} at {largest:,} vs at {smallest:,}",
            self.rows()[-1][2],
            "x",
            target=target,
        )


def largest_batch_within_limit(limit: int, up_to: int) -> int:
    """The most browser-like events (bench.ingest.batch_body) one request may carry under `limit` bytes."""
    low, high = 1, up_to
    while low < high:
        middle = (low + high + 1) // 2
        if len(batch_body(middle)) <= limit:
            low = middle
        else:
            high = middle - 1
    return low


def ingest_curve(sizes: Sequence[int] = INGEST_SIZES, *, rounds: int = 15, min_seconds: float = 0.05) -> Curve:
    """The real ingest handler (bench.ingest.load_handler), uncompressed bodies, CPU time per event."""
    from switchyard.constants import MAX_BATCH_BYTES
    from switchyard.devstack.lambda_runtime import LocalLambdaContext

    note = ""
    fitting = largest_batch_within_limit(MAX_BATCH_BYTES, max(sizes))
    if max(sizes) > fitting:
        over = [size for size in sizes if size > fitting]
        note = (
            f"{', '.join(map(str, over))} of these events is over the {MAX_BATCH_BYTES // 1024} KiB request limit "
            f"({len(batch_body(over[0])) // 1024} KiB for {over[0]}): measured at {fitting}, the most that fit"
        )
        sizes = sorted({min(size, fitting) for size in sizes})
    handler = load_handler()
    context = LocalLambdaContext("ingest")
    sink = io.StringIO()

    def handle_for(size: int) -> Callable[[], None]:
        return handling(handler, context, api_event(batch_body(size), gzipped=False), sink)

    seconds = time_each(
        [handle_for(size) for size in sizes], rounds=rounds, min_seconds=min_seconds, timer=time.process_time
    )
    return Curve(
        "ingest",
        "ingest handler: CPU per event by batch size (browser-like events, uncompressed)",
        "event",
        "events/batch",
        tuple(sizes),
        tuple(total / size for total, size in zip(seconds, sizes, strict=True)),
        note,
    )


def router_curve(sizes: Sequence[int] = ROUTER_SIZES, *, rounds: int = 7, min_seconds: float = 0.1) -> Curve:
    """The real router (bench.router.build_router: dedupe, archive, fan-out to one destination)."""
    from switchyard.router.service import KinesisRecord

    router, _, _, _ = build_router()

    def route_for(size: int) -> Callable[[], None]:
        records = [KinesisRecord.from_lambda(record) for record in lambda_event(size)["Records"]]

        def route() -> None:
            # A retried batch claims again as its own records: the same path as first delivery.
            report = router.process(records)
            if report.first_failure is not None or report.duplicates:
                raise RuntimeError(f"the benchmark's batch was not routed cleanly: {report}")

        return route

    # CPU time of the whole process: the router's worker threads do part of the work.
    seconds = time_each(
        [route_for(size) for size in sizes], rounds=rounds, min_seconds=min_seconds, timer=time.process_time
    )
    return Curve(
        "router",
        "router: CPU per stream record by batch size (dedupe, archive, fan-out to 1 destination)",
        "record",
        "records/batch",
        tuple(sizes),
        tuple(total / size for total, size in zip(seconds, sizes, strict=True)),
    )


class IndexedListing(FakeListing):
    """bench.replay.FakeListing with its keys grouped by prefix once, as S3 keeps them.

    FakeListing scans every key for each of the 24 hourly prefixes, which is most of the time a
    plan takes over it; this one pages through only the keys under the prefix, so the curve is the
    planner's own cost.
    """

    def __init__(self, keys: list[str]) -> None:
        super().__init__(keys)
        self.by_prefix: dict[str, list[str]] = {}
        for key in keys:
            self.by_prefix.setdefault(key[: key.rindex("/") + 1], []).append(key)

    def paginate(self, Bucket: str, Prefix: str) -> Iterator[dict[str, Any]]:  # noqa: N803
        matching = self.by_prefix.get(Prefix, [])
        for start in range(0, len(matching), 1000):
            yield {"Contents": [{"Key": key} for key in matching[start : start + 1000]]}


def archive_keys(count: int) -> list[str]:
    """Archive object keys spread over the 24 hours of the replayed day (as bench/replay.py lays them)."""
    return [
        f"source_id=web/date=2026-11-30/hour={i % 24:02d}/shardId-000000000000-{10**20 + i}.jsonl.gz"
        for i in range(count)
    ]


def replay_plan_curve(sizes: Sequence[int] = REPLAY_SIZES, *, rounds: int = 5, min_seconds: float = 0.05) -> Curve:
    """The real planner (list the day's hours, cut batches, write the manifest), CPU time per object."""
    from switchyard.replay.plan import Planner

    request = replay_request()

    def plan_for(size: int) -> Callable[[], None]:
        planner = Planner("archive", IndexedListing(archive_keys(size)))

        def plan() -> None:
            objects = planner.plan(request).objects
            if objects != size:
                raise RuntimeError(f"the plan holds {objects} objects, not {size}")

        return plan

    seconds = time_each(
        [plan_for(size) for size in sizes], rounds=rounds, min_seconds=min_seconds, timer=time.process_time
    )
    return Curve(
        "replay-plan",
        "replay planning: CPU per archive object by objects in range (one day, 24 hourly prefixes)",
        "object",
        "objects",
        tuple(sizes),
        tuple(total / size for total, size in zip(seconds, sizes, strict=True)),
    )


def plot(curve: Curve, out_dir: Path) -> Path:
    """The curve as a PNG: time per item against size (log scale), each point labelled."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure as PlotFigure

    rows = curve.rows()
    figure = PlotFigure(figsize=(6.4, 4.0), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)  # the non-interactive Agg backend, without pyplot's global state
    axes = figure.add_subplot()
    sizes = [size for size, _, _ in rows]
    micros = [micro for _, micro, _ in rows]
    axes.plot(sizes, micros, marker="o")
    for size, micro, ratio in rows:
        axes.annotate(
            f"{micro:.2f} us\n{ratio:.2f}x",
            (size, micro),
            textcoords="offset points",
            xytext=(0, 6),
            ha="center",
            fontsize=8,
        )
    if len(set(sizes)) > 1:
        axes.set_xscale("log")
    axes.set_xticks(sizes, [f"{size:,}" for size in sizes])
    axes.minorticks_off()
    axes.margins(x=0.08)
    axes.set_ylim(0, max(micros) * 1.3)
    axes.set_xlabel(curve.size_label)
    axes.set_ylabel(f"us per {curve.item}")
    axes.set_title(curve.title, fontsize=9)
    axes.grid(True, alpha=0.3)
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / f"scaling-{curve.name}.png"
    figure.savefig(path)
    return path


def curves(
    *,
    ingest_sizes: Sequence[int] = INGEST_SIZES,
    router_sizes: Sequence[int] = ROUTER_SIZES,
    replay_sizes: Sequence[int] = REPLAY_SIZES,
    out_dir: Path = OUT,
    quick: bool = False,
) -> list[tuple[Curve, Path]]:
    """Measure, print and plot the three curves; `quick` times each size once (for tests)."""
    timing: dict[str, Any] = {"rounds": 1, "min_seconds": 0.0} if quick else {}
    measured = [
        ingest_curve(ingest_sizes, **timing),
        router_curve(router_sizes, **timing),
        replay_plan_curve(replay_sizes, **timing),
    ]
    done = []
    for curve in measured:
        path = plot(curve, out_dir)
        print(f"\n{curve.table()}\n  plot: {path.relative_to(ROOT) if path.is_relative_to(ROOT) else path}")
        done.append((curve, path))
    sys.stdout.flush()
    return done


def run() -> list[Figure]:
    print(f"\n== {TABLES}")
    return [curve.figure() for curve, _ in curves()]


if __name__ == "__main__":
    print_figures(TITLE, run())
