"""Route dependencies: the market of the application and the trader a request acts for."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from desk.backend.market import Market
from desk.backend.server.price_cache import PriceCache

LOGIN_PATH = "/api/auth/login"

# auto_error=False leaves a missing token to Market.authenticate, so that it gets the same
# 401 body as any other bad token.
bearer_token = OAuth2PasswordBearer(
    tokenUrl=LOGIN_PATH,
    auto_error=False,
    description="Log in with a username and password; the server returns a bearer token "
    "(a JWT) to send as `Authorization: Bearer <token>`.",
)


# The dependencies that do no I/O are coroutines, so that FastAPI calls them on the event
# loop instead of handing each one to a worker thread.
async def get_market(request: Request) -> Market:
    market: Market = request.app.state.market
    return market


MarketDep = Annotated[Market, Depends(get_market)]


async def get_price_cache(request: Request) -> PriceCache:
    cache: PriceCache = request.app.state.price_cache
    return cache


PriceCacheDep = Annotated[PriceCache, Depends(get_price_cache)]


def current_user_id(token: Annotated[str | None, Depends(bearer_token)],
                    market: MarketDep) -> int:
    """Return the id of the trader whose session token the request carries.

    Raises ``Unauthenticated`` (401) for a missing, forged, tampered or expired token.
    """
    return market.authenticate(token)


UserIdDep = Annotated[int, Depends(current_user_id)]
