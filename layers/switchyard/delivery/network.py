"""Failed connections in the vocabulary Segment's Event Delivery shows (`ECONNREFUSED`, ...)."""

from __future__ import annotations

import errno
import socket

from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, ProtocolError, ReadTimeoutError

from switchyard.delivery.http import DeadlineExceeded


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or current.__context__ or getattr(current, "reason", None)
        if not isinstance(current, BaseException):
            current = None
    return chain


def network_code(error: BaseException) -> str:
    """The errno-style code for a failed connection.

    The cause chain is read before the exception's class: urllib3's NewConnectionError (a refused
    connection) is a subclass of ConnectTimeoutError. A passed deadline comes first: its cause is
    the reset the watchdog caused.
    """
    if isinstance(error, DeadlineExceeded):
        return "ETIMEDOUT"
    for cause in _causes(error):
        if isinstance(cause, NameResolutionError | socket.gaierror):
            return "ENOTFOUND"
        if isinstance(cause, ConnectionRefusedError):
            return "ECONNREFUSED"
        if isinstance(cause, ConnectionResetError | BrokenPipeError):
            return "ECONNRESET"
        if isinstance(cause, OSError) and cause.errno in (errno.ECONNREFUSED, errno.ECONNRESET):
            return errno.errorcode[cause.errno]
    if isinstance(error, ConnectTimeoutError | ReadTimeoutError | TimeoutError | socket.timeout):
        return "ETIMEDOUT"
    if isinstance(error, ProtocolError):
        return "ECONNRESET"
    return "ECONNERROR"
