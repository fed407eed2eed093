"""Peer-to-peer offers: create, list, execute, cancel, and the caller's history."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from desk.backend import schemas
from desk.backend.pagination import DEFAULT_LIMIT
from desk.backend.server.dependencies import MarketDep, UserIdDep
from desk.backend.server.errors import error_responses
from desk.backend.server.exact_json import ExactJSONRoute
from desk.backend.server.idempotency import IdempotencyDep
from desk.backend.server.params import Cursor, Limit, TokenFilter
from desk.backend.server.request_models import CreateTradeRequest, TradeIdRequest

router = APIRouter(prefix="/api/trades", tags=["trades"], route_class=ExactJSONRoute)


@router.post("/create", status_code=status.HTTP_201_CREATED,
             responses=error_responses(401, 409, 413, 422))
def create_trade(body: CreateTradeRequest, user_id: UserIdDep, market: MarketDep,
                 idempotency: IdempotencyDep) -> schemas.Trade:
    """Post an offer; its amount is held out of the caller's available balance.

    A trader may have a limited number of active offers (200 by default); one more is 409
    with code `limit_exceeded`.
    """
    return market.create_offer(user_id, body.from_token, body.to_token, body.amount,
                               body.exchange_rate, idempotency=idempotency)


@router.get("/list", responses=error_responses(401, 422))
def list_trades(
    user_id: UserIdDep,
    market: MarketDep,
    from_token: TokenFilter = None,
    to_token: TokenFilter = None,
    mine: Annotated[bool, Query(description="only the caller's own offers")] = False,
    limit: Limit = DEFAULT_LIMIT,
    cursor: Cursor = None,
) -> schemas.TradePage:
    """Return a page of active offers, oldest first."""
    return market.list_offers(user_id, from_token, to_token, mine, limit, cursor)


@router.post("/execute", responses=error_responses(401, 403, 404, 409, 413, 422))
def execute_trade(body: TradeIdRequest, user_id: UserIdDep, market: MarketDep,
                  idempotency: IdempotencyDep) -> schemas.Trade:
    """Take another trader's active offer, in one atomic step.

    The caller pays `amount × exchange_rate` of `to_token`, rounded down to its precision,
    and receives the held `amount` of `from_token`. Of concurrent executions of one offer,
    exactly one succeeds and the others get 409.
    """
    return market.execute_offer(user_id, body.trade_id, idempotency=idempotency)


@router.post("/cancel", responses=error_responses(401, 403, 404, 409, 413, 422))
def cancel_trade(body: TradeIdRequest, user_id: UserIdDep, market: MarketDep,
                 idempotency: IdempotencyDep) -> schemas.Trade:
    """Withdraw one of the caller's own active offers and release its hold."""
    return market.cancel_offer(user_id, body.trade_id, idempotency=idempotency)


@router.get("/history", responses=error_responses(401, 422))
def trade_history(user_id: UserIdDep, market: MarketDep, limit: Limit = DEFAULT_LIMIT,
                  cursor: Cursor = None) -> schemas.TradePage:
    """Return a page of completed and cancelled trades the caller created or took, newest
    first."""
    return market.history(user_id, limit, cursor)
