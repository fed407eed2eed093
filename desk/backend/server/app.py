"""The FastAPI application of the REST server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from desk import __version__
from desk.backend.market import Market
from desk.backend.server.access_log import AccessLogMiddleware
from desk.backend.server.errors import install_error_handlers
from desk.backend.server.idempotency import ReplayedHeaderMiddleware
from desk.backend.server.price_cache import PriceCache
from desk.backend.server.routes import auth, health, stream, trades, user
from desk.backend.server.routes import market as market_routes
from desk.backend.server.routes.stream import StreamOptions

DESCRIPTION = """\
The marketplace of Tokenomics Desk: trade credits of AI providers peer to peer and convert
them to and from Bitcoin at the market price.

**Sessions.** Log in at `POST /api/auth/login` (or with the Authorize button) and send the
token as `Authorization: Bearer <token>`. A missing, invalid or expired token is 401.

**Amounts** are exact decimals. Responses write every amount, rate and price as a string
(`"12.500000"`). Requests accept strings or JSON numbers; a JSON number is taken exactly as
written, never rounded through a binary float.

**Errors** are JSON objects: `detail` states what failed and on which value, `code` names the
error (`invalid_input`, `unauthenticated`, `forbidden`, `not_found`, `conflict`,
`insufficient_funds`, `limit_exceeded`, `rate_limited`, `unavailable`). A 422 also names the
failed request field in `field`, and when the request does not match its schema, `errors`
lists each problem.

**Lists** are paginated: pass the `next_cursor` of one page as `cursor` to get the next;
it is null on the last page.

**Live stream.** `GET /api/ws` is a WebSocket, which OpenAPI cannot list among the paths
below. Send `{{"type": "auth", "token": "<token>"}}` as the first message, within
{auth_timeout:g} s; the token goes in a message, not the URL, to keep it out of access logs.
The server replies with `hello` (`user_id`, current `prices` and `balances`,
`feed_interval_seconds`), then sends one JSON message per event, told apart by `type`:
`price` for each tick of the price feed, `trade` when any offer is created, executed or
cancelled (`action`, `trade`), `balance` when the caller's own balances change, and `resync`
when the server may have missed other servers' events, so the client should fetch balances
and the offer book again. Amounts are strings, as in responses. Close codes: `4401` missing,
invalid or expired token (log in again before reconnecting), `4408` the client read too slowly
and more than {queue_limit} events were waiting, `1012` the server is restarting, `1013` the
market database is unavailable. After any close other than `4401`, reconnect with backoff and
fetch balances and the offer book again, because events sent while the client was away are
not replayed.

**Limits.** A request body may be at most 64 KiB (413, also for a chunked body) and a
request line with its headers at most 16 KiB (the server closes the connection with a plain
400). Pages hold at most 200 rows. A trader may have at most 200 active offers (409,
`limit_exceeded`). After 5 failed logins for one username, or 30 from one client address,
within 15 minutes, logins for it get 429 with `Retry-After` until the oldest failure is 15
minutes old. The numbers are server settings; these are the defaults.

**Retries.** `POST /api/trades/create`, `/api/trades/execute`, `/api/trades/cancel` and
`/api/market/convert` accept an `Idempotency-Key` header (1 to 200 visible ASCII characters,
such as a UUID). Send a new key with each new request. When a response is lost, send the same
request with the same key again: it returns the first response, with the same status and body
and the header `Idempotent-Replayed: true`, and does not act a second time. Keys belong to the
caller and expire after 24 hours (a server setting). A repeat that arrives while the first
request is still running waits for it, then returns its response. The same key with a
different body, or on another of these paths, is 422 with `field` `Idempotency-Key`. Bodies
are compared as sent: `"10"`, `10` and `10.0` are different amounts.

The first response is stored if it succeeded or failed on the state of the market (403, 404,
409): a repeat gets that error again even if the request would succeed now, so send a new key
to try again. Nothing is stored when nothing was done: a 422 (correct the request and send it
with the same key), a 401, 413 or 429, and a 503. A repeat of those acts.
"""

TAGS = [
    {"name": "accounts", "description": "Register and log in."},
    {"name": "holdings", "description": "The caller's balances and balance changes."},
    {"name": "trades", "description": "Peer-to-peer offers between traders."},
    {"name": "market", "description": "Token types, prices and conversion at market."},
    {"name": "operations", "description": "Health of the server."},
]


@asynccontextmanager
async def _stop_price_cache(app: FastAPI) -> AsyncIterator[None]:
    yield
    app.state.price_cache.stop()


def create_app(market: Market, *, cors_origins: Sequence[str] = (),
               stream_options: StreamOptions | None = None) -> FastAPI:
    """Build the REST API and the live stream over ``market``.

    The caller opens the market and closes it, and runs its price feed.
    """
    stream_options = stream_options or StreamOptions()
    app = FastAPI(
        lifespan=_stop_price_cache,
        title="Tokenomics Desk",
        version=__version__,
        description=DESCRIPTION.format(auth_timeout=stream_options.auth_timeout,
                                       queue_limit=stream_options.queue_limit),
        openapi_tags=TAGS,
        docs_url="/docs",
        redoc_url="/redoc",
    )
    app.state.market = market
    app.state.stream_options = stream_options
    # Subscribed here rather than on start-up, so that an app that is never started (as in
    # tests that call it without a lifespan) still sees every tick. Twice the feed interval,
    # so that a cache that receives every tick never expires between two of them.
    app.state.price_cache = PriceCache(market, max_age=2 * stream_options.feed_interval)
    app.state.price_cache.start()
    install_error_handlers(app)
    # FastAPI (0.165) matches a request against the included routers one after another, at
    # about 10 µs per router passed on a 2-core machine. The market's router comes first
    # because its GET /api/market/prices is the most frequent request. The order of the
    # documentation follows TAGS, not this order.
    for module in (market_routes, auth, user, trades, health, stream):
        app.include_router(module.router)

    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type", "Idempotency-Key"],
            expose_headers=["Idempotent-Replayed", "Retry-After"],
        )
    app.add_middleware(ReplayedHeaderMiddleware)
    # Added last, so it is the outermost of these and times every request in full.
    app.add_middleware(AccessLogMiddleware)
    return app
