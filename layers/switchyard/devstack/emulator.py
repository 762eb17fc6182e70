"""moto's AWS emulation as a local server, with one request served at a time.

Real DynamoDB conditional writes and SQS receives are atomic; moto's backends take no locks, so
two concurrent requests can both win one conditional write, or both receive one message. Serving
requests one at a time restores the guarantees the pipeline relies on (dedupe, exactly-once
receipt) at little cost: moto is pure Python and runs under the GIL anyway. Clients must not
long-poll (a held request would block the others); the local pollers use short polls.
"""

from __future__ import annotations

import threading
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import BaseWSGIServer, make_server

from switchyard.devstack import moto_speedups
from switchyard.devstack.faults import AwsFaultPlan, FaultyAws
from switchyard.devstack.meter import AwsMeter


class SerializedApp:
    def __init__(self, app: Callable[..., Iterable[bytes]]) -> None:
        self._app = app
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        if _is_lambda_invoke(environ):
            # Runs a handler in-process (see stepfunctions.py): it touches no emulator state itself,
            # and its own AWS calls need the emulator while it runs.
            return list(self._app(environ, start_response))
        with self._lock:
            return list(self._app(environ, start_response))


def _is_lambda_invoke(environ: dict[str, Any]) -> bool:
    path = environ.get("PATH_INFO", "")
    return path.startswith("/2015-03-31/functions/") and path.endswith("/invocations")


class Emulator:
    """`faults` (the soak) puts AWS's failure answers in front of moto; without it, moto answers.
    `meter` (`make cost`) counts the requests and their billed units."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 4566,
        *,
        faults: AwsFaultPlan | None = None,
        meter: AwsMeter | None = None,
    ) -> None:
        moto_speedups.install()
        moto: Callable[..., Iterable[bytes]] = DomainDispatcherApplication(create_backend_app)
        app: Callable[..., Iterable[bytes]] = FaultyAws(moto, faults) if faults is not None else moto
        if meter is not None:  # `make cost`: counts what reaches AWS, faults included
            meter.wrap(app)
            app = meter
        app = SerializedApp(app)
        self._server: BaseWSGIServer = make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="aws-emulator", daemon=True)

    def start(self) -> Emulator:
        self._thread.start()
        # moto keeps its backends per process, not per server: a local stack started after another
        # one in the same process (tests, the soak) would find its stream and tables already there.
        # Each emulator starts from an empty account, as `make run` does in a process of its own.
        host, port = self.get_host_and_port()
        request = urllib.request.Request(f"http://{host}:{port}/moto-api/reset", method="POST")
        with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310 - our own loopback server
            answer.read()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=10)

    def get_host_and_port(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)
