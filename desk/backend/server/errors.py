"""Error responses: every failure is a JSON object with ``detail`` and ``code``.

``detail`` is a message for people that states what failed and on which value. ``code`` names
the error class, so that a client can tell apart errors that share a status code (both
``conflict`` and ``insufficient_funds`` are 409). A 422 also has ``field``, the request field
that failed, whether the request schema or the market rejected it. A request that does not
match its schema also gets FastAPI's list of problems in ``errors``, without the rejected
values, which may include a password.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from desk.backend.errors import DeskError, InvalidInput, RateLimited

log = logging.getLogger(__name__)

# The value of a field whose name contains one of these is never repeated in a message.
SECRET_FIELD_PARTS = ("password", "secret", "token")
MAX_SHOWN_VALUE = 40
_PARAMETER_SOURCES = ("body", "query", "path", "header", "cookie")

_CODES_BY_STATUS = {
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
}

STATUS_DESCRIPTIONS = {
    401: "Missing, invalid or expired session token (code `unauthenticated`), or bad "
         "login credentials. Comes with `WWW-Authenticate: Bearer`.",
    403: "The trade belongs to someone else, or is the caller's own offer (code `forbidden`).",
    404: "No such trade (code `not_found`).",
    409: "The trade is no longer active (code `conflict`), a name or email is taken "
         "(`conflict`), an account lacks the funds (`insufficient_funds`), or the caller has "
         "the maximum number of open offers (`limit_exceeded`).",
    413: "The request body is larger than the server accepts (code `too_large`).",
    422: "A request field is missing, has the wrong type or an invalid value (code "
         "`invalid_input`); `field` names it.",
    429: "Too many failed logins for this username or client address (code "
         "`rate_limited`); `Retry-After` gives the seconds to wait.",
    503: "The market database is unavailable (code `unavailable`).",
}


class FieldError(BaseModel):
    """One problem with a request that does not match its schema (FastAPI's form)."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"loc": ["body", "exchange_rate"], "msg": "Field required", "type": "missing"},
    ]})

    loc: list[str | int] = Field(description="where the problem is: body, query, then the field")
    msg: str
    type: str = Field(description="pydantic's error type, such as missing or string_type")


class ErrorBody(BaseModel):
    """The body of every error response."""

    model_config = ConfigDict(json_schema_extra={"examples": [
        {"detail": "trade 42 is completed, no longer active", "code": "conflict"},
        {"detail": "amount: OpenAI allows at most 6 decimal places, got 1.1234567",
         "code": "invalid_input", "field": "amount"},
        {"detail": "exchange_rate: Field required", "code": "invalid_input",
         "field": "exchange_rate",
         "errors": [{"loc": ["body", "exchange_rate"], "msg": "Field required",
                     "type": "missing"}]},
    ]})

    detail: str = Field(description="what failed, on which value")
    code: str = Field(description="the error class: invalid_input, unauthenticated, "
                      "forbidden, not_found, conflict, insufficient_funds, unavailable, ...")
    field: str | None = Field(None, description="the request field that failed (422 only)")
    errors: list[FieldError] | None = Field(
        None, description="every problem found by the request schema (422 only)")


# Response headers that come with an error status, for the OpenAPI document.
STATUS_HEADERS = {
    429: {"Retry-After": {"description": "seconds to wait before trying again",
                          "schema": {"type": "integer", "minimum": 1}}},
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return the OpenAPI ``responses`` entries of the given error statuses."""
    responses: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        responses[status] = {"model": ErrorBody, "description": STATUS_DESCRIPTIONS[status]}
        if status in STATUS_HEADERS:
            responses[status]["headers"] = STATUS_HEADERS[status]
    return responses


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DeskError, _handle_desk_error)
    app.add_exception_handler(RequestValidationError, _handle_validation_error)
    app.add_exception_handler(StarletteHTTPException, _handle_http_error)
    app.add_exception_handler(OperationalError, _handle_database_error)
    app.add_exception_handler(PoolTimeoutError, _handle_database_error)
    app.add_exception_handler(Exception, _handle_unexpected_error)


def error_response(status: int, detail: str, code: str, *, field: str | None = None,
                   errors: Sequence[FieldError] = (),
                   headers: dict[str, str] | None = None) -> JSONResponse:
    body: dict[str, Any] = {"detail": detail, "code": code}
    if field is not None:
        body["field"] = field
    if errors:
        body["errors"] = [error.model_dump() for error in errors]
    if status == 401:
        headers = {**(headers or {}), "WWW-Authenticate": "Bearer"}
    return JSONResponse(body, status_code=status, headers=headers)


async def _handle_desk_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, DeskError)
    log.info("%s %s failed: %s: %s", request.method, request.url.path, error.code, error.message)
    field = error.field if isinstance(error, InvalidInput) else None
    headers = None
    if isinstance(error, RateLimited) and error.retry_after is not None:
        headers = {"Retry-After": str(error.retry_after)}
    return error_response(error.status_code, error.message, error.code, field=field,
                          headers=headers)


async def _handle_validation_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    problems = [_field_error(problem) for problem in error.errors()]
    messages = [_describe(problem) for problem in error.errors()]
    detail = "; ".join(messages) or "invalid request"
    field = _field_name(problems[0].loc) if problems else "body"
    log.info("%s %s failed: invalid_input: %s", request.method, request.url.path, detail)
    return error_response(422, detail, InvalidInput.code, field=field, errors=problems)


async def _handle_http_error(request: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    code = _CODES_BY_STATUS.get(error.status_code, "http_error")
    detail = str(error.detail)
    if error.status_code in (404, 405) and detail in ("Not Found", "Method Not Allowed"):
        # Starlette's own routing errors: name the request that failed and where the API is.
        detail = f"{detail}: {request.method} {request.url.path}; the API is described at /docs"
    log.info("%s %s failed: %s: %s", request.method, request.url.path, code, detail)
    return error_response(error.status_code, detail, code, headers=dict(error.headers or {}))


async def _handle_database_error(request: Request, error: Exception) -> JSONResponse:
    log.error("%s %s failed: database unavailable", request.method, request.url.path,
              exc_info=error)
    return error_response(503, "the market database is unavailable; try again later",
                          "unavailable")


async def _handle_unexpected_error(request: Request, error: Exception) -> JSONResponse:
    # Starlette raises the error again after this response is sent, and uvicorn logs it
    # with its traceback.
    return error_response(500, "internal server error; the server log has the details",
                          "internal_error")


def _field_error(problem: dict[str, Any]) -> FieldError:
    loc = [part if isinstance(part, int) else str(part) for part in problem.get("loc", ())]
    return FieldError(loc=loc, msg=_message(problem), type=str(problem.get("type", "")))


def _field_name(loc: Sequence[str | int]) -> str:
    """Name the field of an error location: ``("body", "amount")`` becomes ``amount``."""
    parts = list(loc[1:]) if loc and loc[0] in _PARAMETER_SOURCES else list(loc)
    names = [str(part) for part in parts if not isinstance(part, int)]
    return ".".join(names) or "body"


def _message(problem: dict[str, Any]) -> str:
    if problem.get("type") == "json_invalid":
        reason = (problem.get("ctx") or {}).get("error", "")
        return f"invalid JSON: {reason}" if reason else "invalid JSON"
    return str(problem.get("msg", "invalid value"))


def _describe(problem: dict[str, Any]) -> str:
    loc = problem.get("loc", ())
    field = _field_name(loc)
    message = f"{field}: {_message(problem)}"
    shown = (
        field != "body"
        and problem.get("type") not in ("missing", "extra_forbidden", "json_invalid")
        and "input" in problem
        and not any(part in field.lower() for part in SECRET_FIELD_PARTS)
    )
    if shown:
        rejected = problem["input"]
        # A list or object is named by its type: it may hold a password under another key.
        if isinstance(rejected, dict):
            return f"{message}, got an object"
        if isinstance(rejected, (list, tuple)):
            return f"{message}, got an array"
        value = str(rejected) if isinstance(rejected, Decimal) else repr(rejected)
        if len(value) > MAX_SHOWN_VALUE:
            value = value[:MAX_SHOWN_VALUE] + "..."
        message += f", got {value}"
    return message
