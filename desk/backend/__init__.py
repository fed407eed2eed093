"""The marketplace: domain rules, storage, the backend interface and its implementations.

Nothing in this package imports Textual; the desk depends on it, never the other way round.

The names below are imported on first use (PEP 562), so that importing a light submodule such
as ``desk.backend.errors`` or ``desk.backend.money`` does not also load SQLAlchemy: the desk
shows its login screen before the market is opened.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
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

_HOMES = {
    "Backend": "desk.backend.interface",
    "Conflict": "desk.backend.errors",
    "DeskError": "desk.backend.errors",
    "Forbidden": "desk.backend.errors",
    "InsufficientFunds": "desk.backend.errors",
    "InvalidInput": "desk.backend.errors",
    "LimitExceeded": "desk.backend.errors",
    "LocalBackend": "desk.backend.local",
    "Market": "desk.backend.market",
    "MarketConfig": "desk.backend.market",
    "NotFound": "desk.backend.errors",
    "RateLimited": "desk.backend.errors",
    "Unauthenticated": "desk.backend.errors",
    "Unavailable": "desk.backend.errors",
}

__all__ = sorted(_HOMES)


def __getattr__(name: str) -> Any:
    try:
        home = _HOMES[name]
    except KeyError:
        raise AttributeError(f"module 'desk.backend' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(home), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_HOMES])
