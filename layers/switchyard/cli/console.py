"""`switchyard console [--port 8090]`: the console for a region (or the local stack) on 127.0.0.1."""

from __future__ import annotations

import argparse
import threading
from collections.abc import Callable

from switchyard.cli.targets import TargetError, resolve_target
from switchyard.console.app import create_app
from switchyard.console.data import ConsoleData
from switchyard.console.server import ConsoleServer


def console_command(args: argparse.Namespace, fail: Callable[[str], int]) -> int:
    try:
        data = ConsoleData.from_target(resolve_target(args.region, args.endpoint_url))
    except TargetError as error:
        return fail(str(error))
    try:
        server = ConsoleServer(create_app(data), args.port).start()
    except OSError as error:
        return fail(f"cannot listen on 127.0.0.1:{args.port}: {error} (try --port)")
    print(f"Switchyard console for {data.where}: {server.url}   (Ctrl-C stops it)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
