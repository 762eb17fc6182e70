"""Destination HTTP against real loopback servers that misbehave: every attempt ends by its
deadline, and an answer's size cannot grow the function's memory."""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc
from collections.abc import Callable, Iterator

import pytest

from switchyard.config.compiled import Destination, RetryPolicy
from switchyard.delivery.attempts import AttemptStatus
from switchyard.delivery.http import BoundedHttp, DeadlineExceeded
from switchyard.destinations.driver import ToolAdapter
from switchyard.destinations.webhook import WEBHOOK

Behaviour = Callable[[socket.socket], None]


class RawServer:
    """A loopback TCP server whose every connection is answered by `behaviour`."""

    def __init__(self, behaviour: Behaviour) -> None:
        self._behaviour = behaviour
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.connections = 0
        self._stop = threading.Event()
        threading.Thread(target=self._serve, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def _serve(self) -> None:
        self._listener.settimeout(0.2)
        while not self._stop.is_set():
            try:
                connection, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:  # closed by close()
                return
            self.connections += 1
            threading.Thread(target=self._handle, args=(connection,), daemon=True).start()

    def _handle(self, connection: socket.socket) -> None:
        with connection:
            try:
                while not self._stop.is_set() and _read_request(connection):
                    self._behaviour(connection)
            except OSError:
                pass

    def close(self) -> None:
        self._stop.set()
        self._listener.close()


def _read_request(connection: socket.socket) -> bool:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(
        (int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")), 0
    )
    while len(body) < length:
        body += connection.recv(65536)
    return True


def ok(connection: socket.socket) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")


def drip_body(connection: socket.socket) -> None:
    connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n")
    for _ in range(100):
        connection.sendall(b"x")
        time.sleep(0.5)


def drip_headers(connection: socket.socket) -> None:
    for byte in b"HTTP/1.1 503 Service Unavailable\r\nX-Slow: " + b"y" * 100:
        connection.sendall(bytes([byte]))
        time.sleep(0.5)


def huge(connection: socket.socket) -> None:
    size = 300 * 1024 * 1024
    connection.sendall(f"HTTP/1.1 500 Internal Server Error\r\nContent-Length: {size}\r\n\r\n".encode())
    block = b"z" * (1024 * 1024)
    for _ in range(size // len(block)):
        connection.sendall(block)


@pytest.fixture
def server(request: pytest.FixtureRequest) -> Iterator[RawServer]:
    running = RawServer(request.param)
    yield running
    running.close()


def webhook(url: str, timeout: float = 1.0) -> Destination:
    return Destination(
        id="hook",
        name="hook",
        type="webhook",
        enabled=True,
        sources=("web",),
        settings={"url": url, "timeout_seconds": timeout, "batch_size": 1},
        rate_limit_per_second=10,
        concurrency=1,
        retry=RetryPolicy(max_hours=1, initial_delay_seconds=1, max_delay_seconds=2),
    )


@pytest.mark.parametrize("server", [drip_body], indirect=True)
def test_a_dripping_body_ends_the_attempt_at_its_time_out_and_the_status_counts(server: RawServer):
    started = time.monotonic()
    [attempt] = ToolAdapter(WEBHOOK, "us-west-2").send(
        webhook(server.url), [{"messageId": "m1"}], deadline=time.monotonic() + 30
    )
    elapsed = time.monotonic() - started
    assert elapsed < 1.6, f"the attempt took {elapsed:.1f} s with a 1 s time-out"
    assert attempt.status is AttemptStatus.DELIVERED  # the destination said 200 in time; only its body was cut


@pytest.mark.parametrize("server", [drip_headers], indirect=True)
def test_dripping_headers_end_the_attempt_at_the_batch_deadline(server: RawServer):
    started = time.monotonic()
    [attempt] = ToolAdapter(WEBHOOK, "us-west-2").send(
        webhook(server.url, timeout=10), [{"messageId": "m1"}], deadline=started + 1.2
    )
    elapsed = time.monotonic() - started
    assert elapsed < 1.8, f"the attempt took {elapsed:.1f} s with 1.2 s left in the batch"
    assert (attempt.status, attempt.code) == (AttemptStatus.RETRY, "ETIMEDOUT")


@pytest.mark.parametrize("server", [huge], indirect=True)
def test_a_huge_answer_is_read_only_up_to_the_cap(server: RawServer):
    http = BoundedHttp(max_answer_bytes=64 * 1024)
    tracemalloc.start()
    try:
        answer = http.request("POST", server.url, body=b"{}", headers={}, deadline=time.monotonic() + 10)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert answer.status == 500
    assert len(answer.body) == 64 * 1024 and not answer.complete
    assert peak < 8 * 1024 * 1024, f"peak {peak / 1e6:.1f} MB while reading a 300 MB answer"


@pytest.mark.parametrize("server", [ok], indirect=True)
def test_complete_answers_keep_the_connection_alive(server: RawServer):
    http = BoundedHttp()
    for _ in range(3):
        answer = http.request("POST", server.url, body=b"{}", headers={}, deadline=time.monotonic() + 5)
        assert (answer.status, answer.body, answer.complete) == (200, b"ok", True)
    assert server.connections == 1


@pytest.mark.parametrize("server", [drip_body], indirect=True)
def test_a_connection_whose_answer_was_cut_is_not_reused(server: RawServer):
    http = BoundedHttp()
    for _ in range(2):
        answer = http.request("POST", server.url, body=b"{}", headers={}, deadline=time.monotonic() + 0.6)
        assert not answer.complete
    assert server.connections == 2


def test_no_time_left_means_no_attempt():
    with pytest.raises(DeadlineExceeded):
        BoundedHttp().request("POST", "http://127.0.0.1:9/", body=b"", headers={}, deadline=time.monotonic() - 1)
