"""The marketplace: domain rules, storage, the backend interface and its implementations.

Nothing in this package imports Textual; the desk depends on it, never the other way round.
"""

from desk.backend.errors import (
    Conflict,
    DeskError,
    Forbidden,
    InsufficientFunds,
    InvalidInput,
    LimitExceeded,
    NotFound,
    RateLimited,
    Unauthenticated,
    Unavailable,
)
from desk.backend.interface import Backend
from desk.backend.local import LocalBackend
from desk.backend.market import Market, MarketConfig

__all__ = [
    "Backend",
    "Conflict",
    "DeskError",
    "Forbidden",
    "InsufficientFunds",
    "InvalidInput",
    "LimitExceeded",
    "LocalBackend",
    "Market",
    "MarketConfig",
    "NotFound",
    "RateLimited",
    "Unauthenticated",
    "Unavailable",
]
