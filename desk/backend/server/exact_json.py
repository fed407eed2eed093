"""Exact JSON request bodies: every JSON number is read as written, never through a float.

FastAPI reads a JSON body with ``Request.json()``, which parses fractional numbers into binary
floats, so ``0.1`` would reach the market as 0.1000000000000000055... and a long number such as
``12345678901234567890.123456`` would lose digits. Routes of this server use ``ExactJSONRoute``,
whose requests parse fractions and exponents into ``Decimal`` instead. Whole numbers stay
``int``. The same requests also limit the size of the body.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from contextlib import aclosing
from decimal import Decimal
from typing import Any, NoReturn

from fastapi import HTTPException, Request, Response, status
from fastapi.routing import APIRoute

# Maximum request body size in bytes; every request of the API fits in far less.
MAX_BODY_BYTES = 64 * 1024


class _NonStandardConstant(ValueError):
    pass


def _reject_constant(name: str) -> NoReturn:
    raise _NonStandardConstant(f"{name} is not a JSON number; send amounts as decimal strings")


def loads_exact(body: bytes) -> Any:
    """Parse a JSON document, with fractional numbers as ``Decimal``.

    Raises ``json.JSONDecodeError`` for every malformed body, so that FastAPI reports it as a
    422 validation error on ``body``: invalid UTF-8, the non-standard constants ``NaN`` and
    ``Infinity``, integers longer than Python's digit limit, and nesting deeper than the
    parser's recursion limit.
    """
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as error:
        raise json.JSONDecodeError("the body is not UTF-8 text", "", error.start) from None
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_reject_constant)
    except json.JSONDecodeError:
        raise
    except _NonStandardConstant as error:
        raise json.JSONDecodeError(str(error), text, 0) from None
    except ValueError:
        # int() refuses integers longer than sys.get_int_max_str_digits() (4300 by default).
        raise json.JSONDecodeError("a number has too many digits", text, 0) from None
    except RecursionError:
        raise json.JSONDecodeError("the body is nested too deeply", text, 0) from None


def _too_large() -> HTTPException:
    return HTTPException(status.HTTP_413_CONTENT_TOO_LARGE,
                         f"the request body is larger than {MAX_BODY_BYTES} bytes")


class ExactJSONRequest(Request):
    """A request whose ``json()`` keeps numbers exact (see ``loads_exact``) and whose body
    may be at most ``MAX_BODY_BYTES`` long.

    The limit is checked here rather than with FastAPI's ``max_body_size``, whose 413
    response is plain text instead of the JSON error body of every other error.
    """

    async def body(self) -> bytes:
        if not hasattr(self, "_body"):
            declared = self.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
                raise _too_large()
            chunks: list[bytes] = []
            size = 0
            async with aclosing(self.stream()) as stream:
                async for chunk in stream:
                    size += len(chunk)
                    if size > MAX_BODY_BYTES:
                        raise _too_large()
                    chunks.append(chunk)
            self._body = b"".join(chunks)
        return self._body

    async def json(self) -> Any:
        if not hasattr(self, "_exact_json"):
            self._exact_json = loads_exact(await self.body())
        return self._exact_json


class ExactJSONRoute(APIRoute):
    """A route that hands its endpoint an ``ExactJSONRequest``."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def exact_json_handler(request: Request) -> Response:
            return await handler(ExactJSONRequest(request.scope, request.receive))

        return exact_json_handler
