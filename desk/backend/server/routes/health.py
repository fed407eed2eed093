"""The health check for load balancers and start-up scripts."""

from __future__ import annotations

import logging
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict
from sqlalchemy.exc import SQLAlchemyError

from desk.backend.errors import Unavailable
from desk.backend.server.dependencies import MarketDep
from desk.backend.server.errors import error_responses

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api", tags=["operations"])


class Health(BaseModel):
    """The server is up and its database responds."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok"}]})

    status: Literal["ok"] = "ok"


@router.get("/health", responses=error_responses(503))
def health(market: MarketDep) -> Health:
    """Return 200 when the market database responds to a query, else 503."""
    try:
        market.health()
    except SQLAlchemyError as error:
        log.error("health check failed: %s: %s", type(error).__name__, error)
        raise Unavailable("the market database does not respond") from None
    return Health()
