"""The in-process backend: the market on a database that this process opens itself."""

from __future__ import annotations

from desk.backend import schemas
from desk.backend.idempotency import Idempotency
from desk.backend.interface import Backend, Number
from desk.backend.market import Market
from desk.backend.stream import EventStream, LocalEventStream


class LocalBackend(Backend):
    """A trader's session on a ``Market`` in this process.

    Several backends may share one market (one desk each); every call verifies the session
    token, just as the server does.
    """

    def __init__(self, market: Market) -> None:
        super().__init__()
        self.market = market

    @property
    def location(self) -> str:
        return f"database {self.market.location}"

    def _user(self) -> int:
        token = self._session.access_token if self._session else None
        return self.market.authenticate(token)

    def _login(self, username: str, password: str) -> schemas.Session:
        return self.market.login(username, password)

    def _open_stream(self, session: schemas.Session) -> EventStream:
        user_id = self.market.authenticate(session.access_token)
        return LocalEventStream(self.market.events, user_id)

    def register(self, username: str, email: str, password: str) -> schemas.User:
        return self.market.register(username, email, password)

    def balances(self) -> schemas.Portfolio:
        return self.market.portfolio(self._user())

    def ledger(self, limit: int = 50, cursor: str | None = None) -> schemas.LedgerPage:
        return self.market.ledger(self._user(), limit, cursor)

    def token_types(self) -> list[schemas.TokenInfo]:
        return self.market.token_types()

    def create_offer(self, from_token: str, to_token: str, amount: Number,
                     exchange_rate: Number, *,
                     idempotency_key: str | None = None) -> schemas.Trade:
        return self.market.create_offer(self._user(), from_token, to_token, amount,
                                        exchange_rate, idempotency=_idempotency(idempotency_key))

    def list_offers(self, from_token: str | None = None, to_token: str | None = None,
                    mine: bool = False, limit: int = 50,
                    cursor: str | None = None) -> schemas.TradePage:
        return self.market.list_offers(self._user(), from_token, to_token, mine, limit, cursor)

    def execute_offer(self, trade_id: int, *,
                      idempotency_key: str | None = None) -> schemas.Trade:
        return self.market.execute_offer(self._user(), trade_id,
                                         idempotency=_idempotency(idempotency_key))

    def cancel_offer(self, trade_id: int, *,
                     idempotency_key: str | None = None) -> schemas.Trade:
        return self.market.cancel_offer(self._user(), trade_id,
                                        idempotency=_idempotency(idempotency_key))

    def history(self, limit: int = 50, cursor: str | None = None) -> schemas.TradePage:
        return self.market.history(self._user(), limit, cursor)

    def prices(self) -> list[schemas.Price]:
        return self.market.prices()

    def price_history(self, token_type: str, limit: int = 100) -> list[schemas.PricePoint]:
        return self.market.price_history(token_type, limit)

    def convert(self, from_token: str, to_token: str, amount: Number, *,
                idempotency_key: str | None = None) -> schemas.Conversion:
        return self.market.convert(self._user(), from_token, to_token, amount,
                                   idempotency=_idempotency(idempotency_key))


def _idempotency(key: str | None) -> Idempotency | None:
    return None if key is None else Idempotency(key)
