"""Ports for destinations that must refuse connections (nothing listens there, or not yet).

A port found free by binding port 0 comes from the system's ephemeral range, and is released before
anyone uses it: the next server of the test that binds port 0 (the emulator, the tracking API, a
receiver) may be given the very same one. A `closed` destination would then reach that server, and
get answers instead of refused connections (the soak once saw a 404 from the tracking API for every
event of `late`). A port below the ephemeral range is never handed out for port 0.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path

EPHEMERAL_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")
LOWEST = 20_000


def closed_port() -> int:
    """A port nothing listens on, that no port-0 bind of this process can be given."""
    first_ephemeral = int(EPHEMERAL_RANGE.read_text().split()[0]) if EPHEMERAL_RANGE.exists() else 32_768
    candidates = list(range(LOWEST, max(LOWEST + 1, first_ephemeral)))
    for port in random.sample(candidates, min(200, len(candidates))):  # noqa: S311 - not for security
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError(f"no free port between {LOWEST} and {first_ephemeral}")
