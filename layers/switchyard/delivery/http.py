"""HTTP for destination adapters: every attempt ends by its deadline and reads a bounded answer.

urllib3's read time-out applies to each socket read, so a server that drips a byte a second holds
an attempt for as long as it likes, and `preload_content` buffers an answer of any size. Here a
watchdog shuts the attempt's socket down at the deadline (whatever phase it is in: connecting,
sending, waiting for headers, reading the body) and only the first `max_answer_bytes` of the body
are read; a connection whose answer was cut is closed rather than reused.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import urllib3
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import HTTPError

# Enough for every sample Event Delivery keeps and for the error bodies tools answer with.
DEFAULT_MAX_ANSWER_BYTES = 256 * 1024
_READ_CHUNK_BYTES = 64 * 1024
# The longest a connection may take to open, within the attempt's deadline.
MAX_CONNECT_SECONDS = 5.0


class DeadlineExceeded(TimeoutError):
    """The attempt's deadline passed before the destination finished answering."""


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: Mapping[str, str]
    body: bytes  # at most max_answer_bytes
    complete: bool  # False when the body was cut by the size cap or the deadline


class _Watchdog:
    """Shuts down the socket of one attempt when its deadline passes."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._socket: socket.socket | None = None
        self.fired = False

    def watch(self, sock: socket.socket | None) -> None:
        with self._lock:
            self._socket = sock
            if self.fired:
                _shut(sock)

    def fire(self) -> None:
        with self._lock:
            self.fired = True
            _shut(self._socket)


def _shut(sock: socket.socket | None) -> None:
    """Wake any thread blocked on the socket. socket.socket's own shutdown, also for TLS sockets:
    SSLSocket.shutdown would tear down TLS state under the reading thread's feet."""
    if sock is None:
        return
    with contextlib.suppress(OSError):  # already closed
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


_current = threading.local()


def _watch_current(sock: socket.socket | None) -> None:
    watchdog: _Watchdog | None = getattr(_current, "watchdog", None)
    if watchdog is not None:
        watchdog.watch(sock)


class _Watched:
    """Connection mix-in: tells this thread's watchdog which socket the attempt is using."""

    sock: socket.socket | None

    def connect(self) -> None:
        super().connect()  # type: ignore[misc]
        _watch_current(self.sock)

    def request(self, *args: Any, **kwargs: Any) -> None:
        if self.sock is not None:  # a kept-alive connection: no connect() this time
            _watch_current(self.sock)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_Watched, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_Watched, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


def pool_manager(num_pools: int = 50, maxsize: int = 20) -> urllib3.PoolManager:
    manager = urllib3.PoolManager(num_pools=num_pools, maxsize=maxsize, retries=False)
    manager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}
    return manager


class BoundedHttp:
    def __init__(
        self,
        manager: urllib3.PoolManager | None = None,
        *,
        max_answer_bytes: int = DEFAULT_MAX_ANSWER_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._manager = manager or pool_manager()
        self._max_answer_bytes = max_answer_bytes
        self._clock = clock

    def request(
        self, method: str, url: str, *, body: bytes | None, headers: Mapping[str, str], deadline: float
    ) -> Answer:
        """The destination's answer, or an exception: DeadlineExceeded, or urllib3's HTTPError /
        OSError for a failed connection. `deadline` is on the `clock` (time.monotonic)."""
        remaining = deadline - self._clock()
        if remaining <= 0:
            raise DeadlineExceeded("no time left for the attempt")
        watchdog = _Watchdog()
        timer = threading.Timer(remaining, watchdog.fire)
        timer.daemon = True
        _current.watchdog = watchdog
        timer.start()
        try:
            return self._exchange(method, url, body, headers, remaining, watchdog)
        except (HTTPError, OSError) as error:
            if watchdog.fired:
                raise DeadlineExceeded(f"no complete answer within {remaining:.1f} s") from error
            raise
        finally:
            timer.cancel()
            _current.watchdog = None

    def _exchange(
        self,
        method: str,
        url: str,
        body: bytes | None,
        headers: Mapping[str, str],
        remaining: float,
        watchdog: _Watchdog,
    ) -> Answer:
        response = self._manager.request(
            method,
            url,
            body=body,
            headers=dict(headers),
            timeout=urllib3.Timeout(connect=min(remaining, MAX_CONNECT_SECONDS), read=remaining),
            retries=False,
            preload_content=False,
        )
        parts: list[bytes] = []
        size = 0
        complete = False
        try:
            while size <= self._max_answer_bytes:
                chunk = response.read(min(_READ_CHUNK_BYTES, self._max_answer_bytes + 1 - size))
                if not chunk:
                    complete = True
                    break
                parts.append(chunk)
                size += len(chunk)
        except (HTTPError, OSError):
            if not watchdog.fired:
                raise
            # The status line and headers arrived in time: the destination answered; only the
            # rest of its body is lost.
        data = b"".join(parts)
        if complete and not watchdog.fired:
            response.release_conn()
        else:
            response.close()  # unread bytes would poison a kept-alive connection
        return Answer(response.status, response.headers, data[: self._max_answer_bytes], complete)
