"""`make fuzz`: the deep campaign, in-process then over HTTP; exits 1 on any violation.

python -m tests.fuzz [--requests N] [--http N] [--short]      (FUZZ_SEED=<n> replays a run)
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import sys
import time

# The same environment as the test suite (no real AWS credentials, metrics off), before imports.
import tests.conftest  # noqa: F401
from tests.fuzz import config
from tests.fuzz.run import Report, campaign, in_process_worker, merge, progress
from tests.fuzz.targets import HttpTarget


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz", description=__doc__)
    parser.add_argument("--short", action="store_true", help="the profile `make test` runs")
    parser.add_argument("--requests", type=int, help="in-process requests (default: the profile's)")
    parser.add_argument("--http", type=int, help="requests over HTTP to the local stack (default: the profile's)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="in-process worker processes")
    args = parser.parse_args()
    profile = config.SHORT if args.short else config.DEEP
    in_process = profile.in_process if args.requests is None else args.requests
    over_http = profile.http if args.http is None else args.http
    base_seed = config.run_seed(profile)
    workers = max(1, args.workers)
    # Two parts at least: half the requests reach the handler as the HTTP API sends them, half as
    # the REST API behind the firewall (the `waf` option, the default) does.
    parts_count = max(2, workers) if in_process >= 2 else 1
    print(
        f"fuzzing the tracking API: {in_process} requests in-process ({parts_count} parts on {workers} "
        f"worker(s)), {over_http} over HTTP; seed {base_seed} (replay: FUZZ_SEED={base_seed} --workers {workers})",
        flush=True,
    )
    started = time.monotonic()
    reports: list[Report] = []
    if in_process:
        shares = [in_process // parts_count + (1 if k < in_process % parts_count else 0) for k in range(parts_count)]
        layouts = ("http", "rest")
        jobs = [(k, share, base_seed + 10_000 * k, profile, layouts[k % 2]) for k, share in enumerate(shares)]
        if workers == 1:
            parts = [in_process_worker(job) for job in jobs]
        else:
            with multiprocessing.get_context("spawn").Pool(workers) as pool:
                parts = pool.map(in_process_worker, jobs)
        for layout in layouts:
            mine = [part for part, job in zip(parts, jobs, strict=True) if job[4] == layout]
            if mine:
                seconds = sum(part.seconds for part in mine) if workers == 1 else max(part.seconds for part in mine)
                reports.append(merge(mine[0].target, base_seed, mine, seconds))
    if over_http:
        with HttpTarget() as target:
            reports.append(campaign(target, over_http, base_seed + 1_000_000, profile, progress=progress))
    for report in reports:
        print(report.summary())
    total = sum(report.requests for report in reports)
    errors = sum(report.server_errors for report in reports)
    violations = sum(len(report.violations) for report in reports)
    print(
        f"total: {total} requests, {errors} × 5xx, {violations} violation(s), "
        f"{time.monotonic() - started:.0f} s wall, seed {base_seed}"
    )
    return 1 if violations or errors else 0


if __name__ == "__main__":
    sys.exit(main())
