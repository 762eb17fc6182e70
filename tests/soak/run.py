"""`make soak`: the soak with 10,000 events (or `--events N`); exits 1 if the goal is missed.

.venv/bin/python -m tests.soak.run [--events 10000] [--seed 15] [--log soak.log]
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import os
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=15)
    parser.add_argument("--short", action="store_true", help="the settings of the short soak in `make test`")
    parser.add_argument("--log", type=Path, default=Path(tempfile.gettempdir()) / "switchyard-soak.log")
    args = parser.parse_args(argv)
    log_to(args.log)

    from tests.soak.soak import SHORT, Soak, SoakSettings  # after the logs are redirected

    settings = SHORT if args.short else SoakSettings()
    settings = dataclasses.replace(settings, events=args.events if not args.short else settings.events, seed=args.seed)
    started = time.monotonic()

    def progress(line: str) -> None:
        print(f"[{time.monotonic() - started:6.1f} s] {line}", flush=True)

    print(f"soak: {settings.events} events; pipeline logs in {args.log}", flush=True)
    with Soak(settings, log=progress) as soak:
        report = soak.run()
    print("\n".join(report.lines()), flush=True)
    return 0 if report.goal_met else 1


def log_to(path: Path) -> None:
    """The pipeline's logs (thousands of lines about the injected faults) go to a file."""
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
    from switchyard.observability import logger  # creates the handler we redirect

    stream = path.open("w")
    for handler in logging.getLogger(logger.name).handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(stream)
    logging.basicConfig(stream=stream, level=logging.WARNING, force=True)


if __name__ == "__main__":
    sys.exit(main())
