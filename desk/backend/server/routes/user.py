"""The caller's holdings: balances and ledger."""

from __future__ import annotations

from fastapi import APIRouter

from desk.backend import schemas
from desk.backend.pagination import DEFAULT_LIMIT
from desk.backend.server.dependencies import MarketDep, UserIdDep
from desk.backend.server.errors import error_responses
from desk.backend.server.exact_json import ExactJSONRoute
from desk.backend.server.params import Cursor, Limit

router = APIRouter(prefix="/api/user", tags=["holdings"], route_class=ExactJSONRoute)


@router.get("/balance", responses=error_responses(401))
def balance(user_id: UserIdDep, market: MarketDep) -> schemas.Portfolio:
    """Return the caller's balance of every asset, BTC included, and its total value."""
    return market.portfolio(user_id)


@router.get("/ledger", responses=error_responses(401, 422))
def ledger(user_id: UserIdDep, market: MarketDep, limit: Limit = DEFAULT_LIMIT,
           cursor: Cursor = None) -> schemas.LedgerPage:
    """Return a page of the caller's balance changes, newest first."""
    return market.ledger(user_id, limit, cursor)
