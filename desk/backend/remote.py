"""The HTTP backend: a trader's connection to a market served by ``desk serve``.

Every call is one request over a single shared ``httpx.Client``. Errors come back as the same
domain errors that the in-process backend raises, restored from the ``code`` of the server's
error body, with the server's message. A server that cannot be reached raises
``Unavailable``; no httpx exception leaves this module.

Retries: a request that fails in transit (a refused or dropped connection, a timeout) or gets
a 503 is sent again, a few times with growing pauses, when that is safe. A request that never
reached the server is always safe to send again, and so are reads (GET). The calls that move
funds send an ``Idempotency-Key`` header, a new UUID for each call unless the caller gives a
key, and repeat it on every retry, so that the server acts on the request at most once even
when a response is lost. Registering and logging in are not repeated once sent.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Mapping
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

import httpx
from pydantic import TypeAdapter, ValidationError

from desk import __version__
from desk.backend import schemas
from desk.backend.errors import (
    ERRORS_BY_CODE,
    Conflict,
    DeskError,
    Forbidden,
    InvalidInput,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from desk.backend.interface import Backend, Number
from desk.backend.money import parse_number
from desk.backend.stream import EventStream
from desk.backend.trading import check_trade_id

log = logging.getLogger(__name__)

# Seconds to wait for a connection, and for each read, write or pooled connection. Reads
# wait longer because a request may queue behind other writers of the server's database.
CONNECT_TIMEOUT = 5.0
DEFAULT_TIMEOUT = 30.0
# Retries after the first attempt, and the pause before the first retry in seconds. Each
# pause doubles, up to MAX_BACKOFF, and is shortened by a random part of up to a half, so
# that many clients that failed together do not retry together.
DEFAULT_RETRIES = 3
DEFAULT_BACKOFF = 0.25
MAX_BACKOFF = 5.0
IDEMPOTENCY_HEADER = "Idempotency-Key"
# Transport errors raised before any byte of the request was sent.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)

# The class of an error body without a known ``code``, such as one from a proxy.
_ERRORS_BY_STATUS: dict[int, type[DeskError]] = {
    401: Unauthenticated,
    403: Forbidden,
    404: NotFound,
    409: Conflict,
    429: RateLimited,
    503: Unavailable,
}

ResultT = TypeVar("ResultT")


class HttpBackend(Backend):
    """A trader's session on a remote market, over HTTP.

    ``base_url`` is the server's address, such as ``http://127.0.0.1:8000``. ``timeout`` is
    the time in seconds that one read, write or wait for a pooled connection may take.
    ``retries`` is how many times a failed request is sent again when that is safe, and
    ``backoff`` the pause in seconds before the first retry (see the module docstring).
    """

    def __init__(self, base_url: str, *, timeout: float = DEFAULT_TIMEOUT,
                 retries: int = DEFAULT_RETRIES, backoff: float = DEFAULT_BACKOFF) -> None:
        super().__init__()
        if retries < 0 or backoff < 0:
            raise ValueError(f"retries and backoff must not be negative, got {retries} and "
                             f"{backoff}")
        self.base_url = _check_base_url(base_url)
        self.retries = retries
        self.backoff = backoff
        self._client = httpx.Client(
            base_url=self.base_url,
            timeout=httpx.Timeout(timeout, connect=min(CONNECT_TIMEOUT, timeout)),
            headers={"Accept": "application/json",
                     "User-Agent": f"tokenomics-desk/{__version__}"},
            follow_redirects=False,
        )

    @property
    def location(self) -> str:
        return f"server {self.base_url}"

    def close(self) -> None:
        super().close()
        self._client.close()

    def _login(self, username: str, password: str) -> schemas.Session:
        body = {"username": username, "password": password}
        return self._call("POST", "/api/auth/login", schemas.Session, body=body, auth=False)

    def _open_stream(self, session: schemas.Session) -> EventStream:
        # Imported on first use: the WebSocket client is not needed for plain requests.
        from desk.backend.websocket_stream import WebSocketEventStream

        return WebSocketEventStream(self.base_url, session.access_token)

    def register(self, username: str, email: str, password: str) -> schemas.User:
        body = {"username": username, "email": email, "password": password}
        return self._call("POST", "/api/auth/register", schemas.User, body=body, auth=False)

    def balances(self) -> schemas.Portfolio:
        return self._call("GET", "/api/user/balance", schemas.Portfolio)

    def ledger(self, limit: int = 50, cursor: str | None = None) -> schemas.LedgerPage:
        params = _query(limit=limit, cursor=cursor)
        return self._call("GET", "/api/user/ledger", schemas.LedgerPage, params=params)

    def token_types(self) -> list[schemas.TokenInfo]:
        return self._call("GET", "/api/tokens/types", list[schemas.TokenInfo], auth=False)

    def create_offer(self, from_token: str, to_token: str, amount: Number,
                     exchange_rate: Number, *,
                     idempotency_key: str | None = None) -> schemas.Trade:
        body = {
            "from_token": from_token,
            "to_token": to_token,
            "amount": _number_text(amount, "amount"),
            "exchange_rate": _number_text(exchange_rate, "exchange_rate"),
        }
        return self._call("POST", "/api/trades/create", schemas.Trade, body=body,
                          idempotency_key=idempotency_key or new_idempotency_key())

    def list_offers(self, from_token: str | None = None, to_token: str | None = None,
                    mine: bool = False, limit: int = 50,
                    cursor: str | None = None) -> schemas.TradePage:
        params = _query(from_token=from_token, to_token=to_token, mine=mine, limit=limit,
                        cursor=cursor)
        return self._call("GET", "/api/trades/list", schemas.TradePage, params=params)

    def execute_offer(self, trade_id: int, *,
                      idempotency_key: str | None = None) -> schemas.Trade:
        return self._call("POST", "/api/trades/execute", schemas.Trade,
                          body={"trade_id": check_trade_id(trade_id)},
                          idempotency_key=idempotency_key or new_idempotency_key())

    def cancel_offer(self, trade_id: int, *,
                     idempotency_key: str | None = None) -> schemas.Trade:
        return self._call("POST", "/api/trades/cancel", schemas.Trade,
                          body={"trade_id": check_trade_id(trade_id)},
                          idempotency_key=idempotency_key or new_idempotency_key())

    def history(self, limit: int = 50, cursor: str | None = None) -> schemas.TradePage:
        params = _query(limit=limit, cursor=cursor)
        return self._call("GET", "/api/trades/history", schemas.TradePage, params=params)

    def prices(self) -> list[schemas.Price]:
        return self._call("GET", "/api/market/prices", list[schemas.Price], auth=False)

    def price_history(self, token_type: str, limit: int = 100) -> list[schemas.PricePoint]:
        params = _query(token_type=token_type, limit=limit)
        return self._call("GET", "/api/market/history", list[schemas.PricePoint],
                          params=params, auth=False)

    def convert(self, from_token: str, to_token: str, amount: Number, *,
                idempotency_key: str | None = None) -> schemas.Conversion:
        body = {
            "from_token": from_token,
            "to_token": to_token,
            "amount": _number_text(amount, "amount"),
        }
        return self._call("POST", "/api/market/convert", schemas.Conversion, body=body,
                          idempotency_key=idempotency_key or new_idempotency_key())

    def _call(self, method: str, path: str, result: type[ResultT], *,
              body: Mapping[str, Any] | None = None,
              params: Mapping[str, str] | None = None, auth: bool = True,
              idempotency_key: str | None = None) -> ResultT:
        """Send one request and return its body parsed as ``result``, or raise a DeskError.

        Retries it as the module docstring describes; ``idempotency_key`` makes a POST safe to
        repeat.
        """
        headers = {}
        if auth and self._session is not None:
            headers["Authorization"] = f"Bearer {self._session.access_token}"
        content = None
        if body is not None:
            headers["Content-Type"] = "application/json"
            content = _encode(body, method, path)
        if idempotency_key is not None:
            headers[IDEMPOTENCY_HEADER] = idempotency_key
        repeatable = method == "GET" or idempotency_key is not None

        attempt = 0
        while True:
            try:
                response = self._client.request(method, path, content=content, params=params,
                                                 headers=headers)
            except httpx.TransportError as error:
                if attempt < self.retries and (repeatable or isinstance(error, _NOT_SENT)):
                    attempt += 1
                    self._pause(method, path, attempt, type(error).__name__)
                    continue
                raise self._unreachable(method, path, error, attempt,
                                        idempotency_key) from None
            if response.status_code == 503 and repeatable and attempt < self.retries:
                attempt += 1
                self._pause(method, path, attempt, "HTTP 503")
                continue
            if response.is_success:
                return self._parse(response, result)
            raise self._error(response)

    def _pause(self, method: str, path: str, attempt: int, reason: str) -> None:
        """Log a retry and wait before it: the backoff doubled per attempt, with jitter."""
        delay = min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF) * random.uniform(0.5, 1.0)
        log.warning("%s %s%s failed (%s); retry %d of %d in %.2f s", method, self.base_url,
                    path, reason, attempt, self.retries, delay)
        time.sleep(delay)

    def _unreachable(self, method: str, path: str, error: httpx.TransportError, retries: int,
                     idempotency_key: str | None) -> Unavailable:
        reason = str(error) or type(error).__name__
        if isinstance(error, httpx.TimeoutException):
            reason = f"{method} {path} timed out ({type(error).__name__})"
        tries = f" after {retries + 1} attempts" if retries else ""
        message = f"cannot reach server at {self.base_url}{tries}: {reason}"
        if method == "POST" and not isinstance(error, _NOT_SENT):
            message += "; the request may have been carried out"
            if idempotency_key is not None:
                message += (f": repeat it with idempotency_key={idempotency_key!r} to get its "
                            "outcome without acting twice")
            else:
                message += ", so check before repeating it"
        return Unavailable(message)

    def _parse(self, response: httpx.Response, result: type[ResultT]) -> ResultT:
        try:
            return cast(ResultT, _adapter(result).validate_json(response.content))
        except ValidationError as error:
            request = response.request
            log.warning("invalid response to %s %s: %s", request.method, request.url.path,
                        error)
            raise DeskError(f"server at {self.base_url} sent an invalid response to "
                            f"{request.method} {request.url.path}; is it a desk server "
                            f"of version {__version__}?") from None

    def _error(self, response: httpx.Response) -> DeskError:
        """Rebuild the domain error that the server reported in an error response."""
        status = response.status_code
        request = response.request
        body = _error_body(response)
        detail = body.get("detail") if isinstance(body.get("detail"), str) else None
        code = body.get("code")
        # Without a detail from a desk server (a proxy's page, say), name the request instead.
        fallback = (f"HTTP {status} {response.reason_phrase} from {request.method} "
                    f"{self.base_url}{request.url.path}")

        error_class = ERRORS_BY_CODE.get(code) if isinstance(code, str) else None
        if error_class is None and status == 422:
            error_class = InvalidInput
        if error_class is InvalidInput:
            field = body.get("field")
            if not isinstance(field, str) or not field:
                field = "request"
            return InvalidInput(field, (detail or fallback).removeprefix(f"{field}: "))
        if error_class is None:
            error_class = _ERRORS_BY_STATUS.get(status)
        if error_class is RateLimited:
            wait = response.headers.get("Retry-After", "")
            return RateLimited(detail or fallback, int(wait) if wait.isdigit() else None)
        if error_class is not None:
            return error_class(detail or fallback)
        if status >= 500:
            reason = f": {detail}" if detail else ""
            return DeskError(f"server at {self.base_url} failed on {request.method} "
                             f"{request.url.path} with HTTP {status} "
                             f"{response.reason_phrase}{reason}")
        return DeskError(f"{detail} ({fallback})" if detail else fallback)


def new_idempotency_key() -> str:
    """Return a fresh idempotency key: a random UUID."""
    return str(uuid.uuid4())


# Validators of the result types, built once each; building one is slow.
_ADAPTERS: dict[object, TypeAdapter[Any]] = {}


def _adapter(result: Any) -> TypeAdapter[Any]:
    adapter = _ADAPTERS.get(result)
    if adapter is None:
        adapter = _ADAPTERS[result] = TypeAdapter(result)
    return adapter


def _check_base_url(base_url: str) -> str:
    text = base_url.strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidInput("server_url", f"{base_url!r} is not an http:// or https:// URL, "
                           "such as http://127.0.0.1:8000")
    return text


def _query(**values: object) -> dict[str, str]:
    """Build query parameters, leaving out the ones that are None or False."""
    params = {}
    for name, value in values.items():
        if value is None or value is False:
            continue
        params[name] = "true" if value is True else str(value)
    return params


def _number_text(value: Number, field: str) -> str:
    """Write an amount as the decimal string that the server parses exactly.

    A float or any other type is rejected here with the in-process backend's error, because
    JSON could not carry it as the caller meant it.
    """
    if isinstance(value, str):
        return value
    number = parse_number(value, field)
    return str(number)


def _encode(body: Mapping[str, Any], method: str, path: str) -> bytes:
    try:
        return json.dumps(body, allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as error:
        raise InvalidInput("request", f"cannot send {method} {path} as JSON: {error}") from None


def _error_body(response: httpx.Response) -> dict[str, Any]:
    """Return the JSON object of an error response, or {} for any other body."""
    try:
        body = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}

