"""Shared pieces of the benchmarks: timing, figures, and printing them as ratios to their floors."""

from __future__ import annotations

import gc
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class Figure:
    name: str
    value: float
    unit: str
    floor: float | None = None  # the same work done the cheapest possible way
    target: float | None = None  # for a ratio (when there is a floor) or for the value itself

    @property
    def ratio(self) -> float | None:
        return self.value / self.floor if self.floor else None

    @property
    def meets_target(self) -> bool | None:
        if self.target is None:
            return None
        measured = self.ratio if self.ratio is not None else self.value
        return measured <= self.target

    def line(self) -> str:
        text = f"{self.name:<52} {self.value:>10.2f} {self.unit:<8}"
        if self.floor is not None:
            text += f" floor {self.floor:>8.2f}  ratio {self.ratio:>5.2f}"
        else:
            text += " " * 29
        if self.target is not None:
            verdict = "ok" if self.meets_target else "OVER TARGET"
            text += f"  (target <= {self.target:g}{'' if self.floor else ' ' + self.unit}: {verdict})"
        return text


def time_pair(
    first: Callable[[], object],
    second: Callable[[], object],
    *,
    rounds: int = 15,
    min_seconds: float = 0.05,
    timer: Callable[[], float] = time.perf_counter,
) -> tuple[float, float]:
    """Best seconds per call of two functions, measured in alternating rounds.

    Alternating keeps a burst of load on a shared machine from landing on one side only, so the
    ratio of the two stays meaningful even when absolute times wobble.
    """
    first_seconds, second_seconds = time_each([first, second], rounds=rounds, min_seconds=min_seconds, timer=timer)
    return first_seconds, second_seconds


def time_each(
    functions: Sequence[Callable[[], object]],
    *,
    rounds: int = 15,
    min_seconds: float = 0.05,
    timer: Callable[[], float] = time.perf_counter,
) -> list[float]:
    """Best seconds per call of each function, in alternating rounds (see time_pair)."""
    calls = []
    for function in functions:
        function()
        count = 1
        while True:
            started = timer()
            for _ in range(count):
                function()
            if timer() - started >= min_seconds:
                break
            count *= 2
        calls.append(count)
    best = [float("inf")] * len(functions)
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        for _ in range(rounds):
            for index, function in enumerate(functions):
                started = timer()
                for _ in range(calls[index]):
                    function()
                best[index] = min(best[index], (timer() - started) / calls[index])
    finally:
        if gc_was_enabled:
            gc.enable()
    return best


def median(values: list[float]) -> float:
    return statistics.median(values)


def print_figures(title: str, figures: list[Figure]) -> None:
    print(f"\n== {title}")
    for figure in figures:
        print("  " + figure.line())
    sys.stdout.flush()
