"""Domain errors that carry their HTTP answer, mapped to `{"code", "message"}` in one place."""

from __future__ import annotations


class ApiError(Exception):
    """A request the API refuses; `code` is stable and machine-readable."""

    status = 400

    def __init__(self, code: str, message: str, *, status: int | None = None, log_detail: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.log_detail = log_detail  # for the operator's log only, never in the answer
        if status is not None:
            self.status = status

    def body(self) -> dict[str, str]:
        return {"code": self.code, "message": self.message}


class BadRequest(ApiError):
    status = 400


class PayloadTooLarge(ApiError):
    status = 413


class Unauthorized(ApiError):
    status = 401


class Forbidden(ApiError):
    status = 403


class NotFound(ApiError):
    status = 404


class ServiceUnavailable(ApiError):
    """Something accepted could not be made durable: the client must retry."""

    status = 503
