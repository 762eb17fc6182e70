"""`make bench`: run every benchmark in bench/ and print each figure as a ratio to its floor."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import print_figures  # noqa: E402

BENCHMARKS = [
    "bench.ingest",
    "bench.router",
    "bench.replay",
    "bench.functions",
    "bench.destinations",
    "bench.fql",
    "bench.controls",
    "bench.privacy",
    "bench.deletion",
    "bench.lake",
    "bench.scaling",
]


def main() -> int:
    over = []
    for name in BENCHMARKS:
        module = importlib.import_module(name)
        figures = module.run()
        print_figures(module.TITLE, figures)
        over += [figure.name for figure in figures if figure.meets_target is False]
    print("\nall figures within target" if not over else f"\nover target: {', '.join(over)}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
