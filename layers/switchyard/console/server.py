"""Serving the console on 127.0.0.1 only (never another interface: it acts with the operator's
credentials), in a thread of its own, for `switchyard console` and beside `switchyard dev`."""

from __future__ import annotations

import threading

from flask import Flask
from werkzeug.serving import BaseWSGIServer, make_server

HOST = "127.0.0.1"


class ConsoleServer:
    def __init__(self, app: Flask, port: int) -> None:
        self._server: BaseWSGIServer = make_server(HOST, port, app, threaded=True)
        self._thread = threading.Thread(target=self._server.serve_forever, name="console", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self._server.server_port}"

    def start(self) -> ConsoleServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
