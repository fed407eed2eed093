"""Market data and conversion: token types, prices, price history, convert at market."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Response
from starlette.concurrency import run_in_threadpool

from desk.backend import schemas
from desk.backend.money import ASSETS
from desk.backend.pricing import DEFAULT_HISTORY_LIMIT, MAX_HISTORY_LIMIT
from desk.backend.server.dependencies import MarketDep, PriceCacheDep, UserIdDep
from desk.backend.server.errors import error_responses
from desk.backend.server.exact_json import ExactJSONRoute
from desk.backend.server.idempotency import IdempotencyDep
from desk.backend.server.request_models import ConvertRequest

router = APIRouter(prefix="/api", route_class=ExactJSONRoute)


@router.get("/tokens/types", tags=["market"])
def token_types(market: MarketDep) -> list[schemas.TokenInfo]:
    """Return the assets of the market: the AI token types, then BTC."""
    return market.token_types()


@router.get("/market/prices", tags=["market"], response_model=list[schemas.Price])
async def prices(cache: PriceCacheDep) -> Response:
    """Return the current price of every asset in BTC and USD."""
    # The body is encoded once per price tick (see PriceCache). The database is read only
    # when the cache is empty or older than two feed intervals.
    body = cache.cached()
    if body is None:
        body = await run_in_threadpool(cache.load)
    return Response(body, media_type="application/json")


@router.get("/market/history", tags=["market"], responses=error_responses(422))
def price_history(
    market: MarketDep,
    token_type: Annotated[str, Query(description="the asset whose prices to return",
                                     json_schema_extra={"enum": list(ASSETS)},
                                     examples=["OpenAI"])],
    limit: Annotated[int, Query(
        description=f"how many of the latest price points, 1 to {MAX_HISTORY_LIMIT}",
        json_schema_extra={"minimum": 1, "maximum": MAX_HISTORY_LIMIT},
        examples=[DEFAULT_HISTORY_LIMIT])] = DEFAULT_HISTORY_LIMIT,
) -> list[schemas.PricePoint]:
    """Return an asset's recent price points, oldest first."""
    return market.price_history(token_type, limit)


@router.post("/market/convert", tags=["market"],
             responses=error_responses(401, 409, 413, 422))
def convert(body: ConvertRequest, user_id: UserIdDep, market: MarketDep,
            idempotency: IdempotencyDep) -> schemas.Conversion:
    """Convert at the current market price, with the house account as the counterparty.

    One side is BTC, or both are AI tokens and the value passes through BTC. The amount
    received is rounded down to the precision of `to_token`.
    """
    return market.convert(user_id, body.from_token, body.to_token, body.amount,
                          idempotency=idempotency)
