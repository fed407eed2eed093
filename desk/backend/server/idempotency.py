"""The ``Idempotency-Key`` request header and the ``Idempotent-Replayed`` response header.

The routes that move funds read the key with ``IdempotencyDep`` and pass it to the market,
which stores the outcome of the first request with each key and replays it for repeats (see
``desk.backend.idempotency``). A replayed response, success or error, carries
``Idempotent-Replayed: true``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from desk.backend.idempotency import KEY_FIELD, MAX_KEY_LENGTH, Idempotency

REPLAYED_HEADER = "Idempotent-Replayed"
# Where the request's Idempotency object is kept in the ASGI scope's state, so that
# ReplayedHeaderMiddleware finds it after the route or its error handler has responded.
_STATE_NAME = "idempotency"

KEY_DESCRIPTION = (
    "A key of your choice, such as a UUID, that makes the request safe to repeat: a repeat "
    "with the same key and body returns the first response instead of acting again. "
    f"1 to {MAX_KEY_LENGTH} visible ASCII characters. Use a new key for each new request."
)


def idempotency_key(
    request: Request,
    key: Annotated[str | None, Header(
        alias=KEY_FIELD, description=KEY_DESCRIPTION,
        json_schema_extra={"minLength": 1, "maxLength": MAX_KEY_LENGTH,
                           "pattern": f"^[\\x21-\\x7e]{{1,{MAX_KEY_LENGTH}}}$"},
        examples=["5f0c1e52-3a7d-4bd8-9d3c-0c2f9b6e4a11"])] = None,
) -> Idempotency | None:
    """Return the request's idempotency key, or None; raise ``InvalidInput`` for a bad one."""
    if key is None:
        return None
    idempotency = Idempotency(key)
    setattr(request.state, _STATE_NAME, idempotency)
    return idempotency


IdempotencyDep = Annotated[Idempotency | None, Depends(idempotency_key)]


class ReplayedHeaderMiddleware:
    """Add ``Idempotent-Replayed: true`` to every response that replays a stored outcome."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_header(message: Message) -> None:
            if message["type"] == "http.response.start":
                idempotency = scope.get("state", {}).get(_STATE_NAME)
                if isinstance(idempotency, Idempotency) and idempotency.replayed:
                    MutableHeaders(scope=message)[REPLAYED_HEADER] = "true"
            await send(message)

        await self.app(scope, receive, send_with_header)
