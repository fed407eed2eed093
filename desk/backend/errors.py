"""Domain errors raised by every backend, in-process or remote.

Each error carries a message written for the trader. The server maps each class to one HTTP
status code, and the HTTP backend maps the status code (and the ``code`` field of the error
body) back to the same class, so callers catch the same exceptions on either backend.
"""

from __future__ import annotations


class DeskError(Exception):
    """Base class of every error the marketplace reports to a caller."""

    code = "error"
    status_code = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(DeskError):
    """A request value is malformed or outside its allowed range."""

    code = "invalid_input"
    status_code = 422

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.reason = message


class NotFound(DeskError):
    """The requested trade, user or token does not exist."""

    code = "not_found"
    status_code = 404


class Conflict(DeskError):
    """The request clashes with the current state: a taken name, an offer no longer active."""

    code = "conflict"
    status_code = 409


class LimitExceeded(Conflict):
    """The request would take the caller past a limit of the market, such as open offers."""

    code = "limit_exceeded"


class InsufficientFunds(DeskError):
    """An account lacks the available balance that an operation needs."""

    code = "insufficient_funds"
    status_code = 409


class Forbidden(DeskError):
    """The caller is authenticated but may not act on this object."""

    code = "forbidden"
    status_code = 403


class Unauthenticated(DeskError):
    """The caller is not logged in, or the session token is invalid or expired."""

    code = "unauthenticated"
    status_code = 401


class RateLimited(DeskError):
    """Too many failed attempts in a short time; the caller may try again later.

    ``retry_after`` is the number of seconds to wait, when known.
    """

    code = "rate_limited"
    status_code = 429

    def __init__(self, message: str, retry_after: int | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class Unavailable(DeskError):
    """The market cannot be reached: the server is down, or the connection failed."""

    code = "unavailable"
    status_code = 503


ERRORS_BY_CODE: dict[str, type[DeskError]] = {
    cls.code: cls
    for cls in (
        InvalidInput,
        NotFound,
        Conflict,
        LimitExceeded,
        InsufficientFunds,
        Forbidden,
        Unauthenticated,
        RateLimited,
        Unavailable,
    )
}
