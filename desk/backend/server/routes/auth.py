"""Accounts and sessions: register and log in."""

from __future__ import annotations

import json
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, Request, status
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError

from desk.backend import schemas
from desk.backend.server.dependencies import LOGIN_PATH, MarketDep
from desk.backend.server.errors import error_responses
from desk.backend.server.exact_json import ExactJSONRoute, loads_exact
from desk.backend.server.request_models import LoginForm, LoginRequest, RegisterRequest

router = APIRouter(prefix="/api/auth", tags=["accounts"], route_class=ExactJSONRoute)

FORM_MEDIA_TYPE = "application/x-www-form-urlencoded"
JSON_MEDIA_TYPE = "application/json"
# An OAuth2 password form has at most six fields; a few more are reported, not parsed.
MAX_FORM_FIELDS = 20

ModelT = TypeVar("ModelT", bound=BaseModel)


@router.post("/register", status_code=status.HTTP_201_CREATED,
             responses=error_responses(409, 413, 422))
def register(body: RegisterRequest, market: MarketDep) -> schemas.User:
    """Create a trader account, funded with the market's starting grant."""
    return market.register(body.username, body.email, body.password)


async def read_credentials(request: Request) -> LoginRequest:
    """Read login credentials from a JSON body or an OAuth2 password form.

    FastAPI declares one body type per route, so this dependency reads the body itself; the
    route documents both types with ``openapi_extra``.
    """
    body = await request.body()
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type == FORM_MEDIA_TYPE:
        form = _validate(LoginForm, _parse_form(body))
        return LoginRequest(username=form.username, password=form.password)
    if media_type == JSON_MEDIA_TYPE or media_type.endswith("+json"):
        try:
            data = loads_exact(body)
        except json.JSONDecodeError as error:
            raise RequestValidationError([{
                "type": "json_invalid", "loc": ("body", error.pos), "msg": "JSON decode error",
                "input": {}, "ctx": {"error": error.msg},
            }]) from None
        return _validate(LoginRequest, data)
    raise RequestValidationError([{
        "type": "content_type", "loc": ("body",), "input": None,
        "msg": f"send the credentials as {JSON_MEDIA_TYPE} or {FORM_MEDIA_TYPE}",
    }])


def _parse_form(body: bytes) -> dict[str, str]:
    try:
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True,
                          max_num_fields=MAX_FORM_FIELDS, errors="strict")
    except (UnicodeDecodeError, ValueError):
        raise RequestValidationError([{
            "type": "form_invalid", "loc": ("body",), "input": None,
            "msg": f"invalid form: expected at most {MAX_FORM_FIELDS} UTF-8 fields",
        }]) from None
    return dict(pairs)


def _validate(model: type[ModelT], data: Any) -> ModelT:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        problems = [{**problem, "loc": ("body", *problem["loc"])}
                    for problem in error.errors(include_url=False)]
        raise RequestValidationError(problems) from None


_LOGIN_BODY = {
    "required": True,
    "content": {
        JSON_MEDIA_TYPE: {"schema": LoginRequest.model_json_schema()},
        FORM_MEDIA_TYPE: {"schema": LoginForm.model_json_schema()},
    },
}


@router.post(LOGIN_PATH.removeprefix("/api/auth"),
             responses=error_responses(401, 413, 422, 429),
             openapi_extra={"requestBody": _LOGIN_BODY})
def login(credentials: Annotated[LoginRequest, Depends(read_credentials)],
          market: MarketDep, request: Request) -> schemas.Session:
    """Log in and receive a bearer token.

    Accepts JSON `{username, password}` or the OAuth2 password form that the Authorize button
    of these docs sends. Every bad login gets the same 401 message.

    Too many failed logins for one username (5 by default) or from one client address (30)
    within a window (15 minutes) throttle it. Until the oldest failure leaves the window,
    every login for it gets 429 with `Retry-After`, even with the right password. A
    successful login clears the username's failures.
    """
    address = request.client.host if request.client else None
    return market.login(credentials.username, credentials.password, address)
