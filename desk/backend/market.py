"""The marketplace service: every rule of the market behind one object, keyed by user id.

Both the in-process backend and the REST server call this class; it owns the database, the
clock, password hashing and session tokens. Callers identify the acting user by id, after
verifying a session token with ``authenticate``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from types import MappingProxyType

from sqlalchemy import select, text
from sqlalchemy.exc import SQLAlchemyError

from desk.backend import accounts, conversion, holdings, pricing, schemas, seeding, trading
from desk.backend.errors import Unauthenticated
from desk.backend.events import BalanceEvent, EventBus, PriceEvent, ResyncEvent, TradeEvent
from desk.backend.idempotency import (
    DEFAULT_KEY_LIFETIME,
    Claim,
    Idempotency,
    ResultT,
    fingerprint,
    purge_expired,
    run_once,
)
from desk.backend.models import User
from desk.backend.money import AI_TOKENS, BTC
from desk.backend.pagination import DEFAULT_LIMIT
from desk.backend.security import PasswordHasher, TokenIssuer
from desk.backend.store import Database, PoolOptions
from desk.backend.throttle import LoginLimits, LoginThrottle
from desk.backend.trading import DEFAULT_MAX_OPEN_OFFERS

log = logging.getLogger(__name__)


def utc_now() -> datetime:
    return datetime.now(UTC)


DEFAULT_GRANT: Mapping[str, Decimal] = MappingProxyType(
    {**{token: Decimal(1000) for token in AI_TOKENS}, BTC: Decimal("0.01")}
)


# How many trader ids ``Market.authenticate`` remembers before it starts over. An int in a set
# takes under 100 bytes, so the set stays under about 10 MB (an estimate, not measured).
MAX_KNOWN_TRADERS = 100_000


@dataclass(frozen=True)
class MarketConfig:
    """The settings of a market: its signing key, session length, bcrypt cost, starting grant,
    the lifetime of idempotency keys, the number of open offers one trader may have and the
    limits on failed logins."""

    secret_key: str
    token_lifetime: timedelta = timedelta(hours=8)
    bcrypt_rounds: int = 12
    grant: Mapping[str, Decimal] = field(default_factory=lambda: DEFAULT_GRANT)
    clock: Callable[[], datetime] = utc_now
    idempotency_lifetime: timedelta = DEFAULT_KEY_LIFETIME
    max_open_offers: int = DEFAULT_MAX_OPEN_OFFERS
    login_limits: LoginLimits = field(default_factory=LoginLimits)


class Market:
    """The marketplace on one database."""

    def __init__(self, database: Database, config: MarketConfig) -> None:
        self.database = database
        self.config = config
        self.clock = config.clock
        self.hasher = PasswordHasher(config.bcrypt_rounds)
        self.tokens = TokenIssuer(config.secret_key, config.token_lifetime, config.clock)
        self.throttle = LoginThrottle(database, config.login_limits, config.clock)
        self.events = EventBus()
        # Ids of users known to be traders. Users are never deleted and never change kind, so
        # once a token's user was found to be a trader, later requests skip the lookup.
        self._trader_ids: set[int] = set()

    @classmethod
    def open(cls, url: str, config: MarketConfig, *, create: bool = True,
             demo: bool = True, pool: PoolOptions | None = None) -> Market:
        """Open the market at ``url``; with ``create``, add the schema and seed what is missing.

        ``pool`` sizes the database's connection pool (``PoolOptions()`` if None).
        """
        market = cls(Database(url, pool=pool), config)
        if create:
            market.initialise(demo=demo)
        return market

    def initialise(self, *, demo: bool = True) -> list[str]:
        """Create missing tables and seed missing demo data; return what was added."""
        seeding.create_schema(self.database)
        return seeding.seed_database(self.database, self.hasher, self.clock(), demo=demo)

    def close(self) -> None:
        self.database.dispose()

    @property
    def location(self) -> str:
        return self.database.location

    # Accounts and sessions

    def register(self, username: object, email: object, password: object) -> schemas.User:
        user = accounts.register(self.database, self.hasher, self.config.grant, self.clock(),
                                 username, email, password)
        log.info("registered user %s (%s)", user.id, user.username)
        self._announce(None, user.id)
        return user

    def login(self, username: object, password: object,
              address: str | None = None) -> schemas.Session:
        """Check a trader's credentials and start a session.

        ``address`` is the client's IP address, None in process. Raises ``RateLimited`` once
        the username or the address has too many recent failed logins (``LoginThrottle``).
        """
        name, secret = accounts.check_credentials(username, password)
        attempt = self.throttle.admit(name, address)
        try:
            user_id = accounts.find_login(self.database, self.hasher, name, secret)
        except Unauthenticated:
            log.info("failed login for username %r from %s", name, address or "this process")
            raise
        self.throttle.succeeded(attempt, name)
        token = self.tokens.issue(user_id)
        return schemas.Session(access_token=token,
                               expires_in=int(self.tokens.lifetime.total_seconds()))

    def authenticate(self, token: str | None) -> int:
        """Return the id of the trader a session token belongs to."""
        if not token:
            raise Unauthenticated("not logged in")
        user_id = self.tokens.verify(token)
        if user_id in self._trader_ids:
            return user_id
        with self.database.read() as connection:
            kind = connection.execute(
                select(User.kind).where(User.id == user_id)
            ).scalar_one_or_none()
        if kind != "trader":
            raise Unauthenticated("invalid session token; log in again")
        if len(self._trader_ids) >= MAX_KNOWN_TRADERS:
            self._trader_ids.clear()
        self._trader_ids.add(user_id)
        return user_id

    def user(self, user_id: int) -> schemas.User:
        with self.database.read() as connection:
            return accounts.load_user(connection, user_id)

    # Holdings and market data

    def portfolio(self, user_id: int) -> schemas.Portfolio:
        with self.database.read() as connection:
            return holdings.portfolio(connection, user_id)

    def ledger(self, user_id: int, limit: object = DEFAULT_LIMIT,
               cursor: str | None = None) -> schemas.LedgerPage:
        with self.database.read() as connection:
            return holdings.ledger_page(connection, user_id, limit, cursor)

    def token_types(self) -> list[schemas.TokenInfo]:
        with self.database.read() as connection:
            return holdings.token_types(connection)

    def prices(self) -> list[schemas.Price]:
        with self.database.read() as connection:
            return pricing.current_prices(connection)

    def price_history(self, token_type: object,
                      limit: object = pricing.DEFAULT_HISTORY_LIMIT) -> list[schemas.PricePoint]:
        with self.database.read() as connection:
            return pricing.recent_history(connection, token_type, limit)

    def update_prices(self, update: Mapping[str, tuple[Decimal, Decimal]],
                      keep: int | None = None) -> list[schemas.Price]:
        """Store new (BTC, USD) prices, trim the history to ``keep`` points, publish a tick."""
        with self.database.write() as connection:
            pricing.store_prices(connection, update, self.clock(), keep)
        current = self.prices()
        self.events.publish(PriceEvent(prices=current))
        return current

    def health(self) -> None:
        """Raise if the database does not answer."""
        with self.database.read() as connection:
            connection.execute(text("SELECT 1"))

    # Trading
    #
    # The four calls that change balances take an optional ``Idempotency``: a repeat of a
    # call with the same key returns the first outcome instead of acting again (see
    # ``desk.backend.idempotency``).

    def create_offer(self, user_id: int, from_token: object, to_token: object, amount: object,
                     exchange_rate: object, *,
                     idempotency: Idempotency | None = None) -> schemas.Trade:
        now = self.clock()
        arguments = {"from_token": from_token, "to_token": to_token, "amount": amount,
                     "exchange_rate": exchange_rate}
        trade = self._run_once(
            user_id, idempotency, "trades/create", arguments, schemas.Trade,
            lambda database: trading.create_offer(
                database, now, user_id, from_token, to_token, amount, exchange_rate,
                max_open_offers=self.config.max_open_offers))
        if _acted(idempotency):
            log.info("user %s created trade %s", user_id, trade.id)
            self._announce(TradeEvent(action="created", trade=trade), user_id)
        return trade

    def list_offers(self, user_id: int, from_token: object = None, to_token: object = None,
                    mine: bool = False, limit: object = DEFAULT_LIMIT,
                    cursor: str | None = None) -> schemas.TradePage:
        return trading.list_offers(self.database, user_id, from_token, to_token, mine, limit,
                                   cursor)

    def execute_offer(self, user_id: int, trade_id: object, *,
                      idempotency: Idempotency | None = None) -> schemas.Trade:
        now = self.clock()
        trade = self._run_once(
            user_id, idempotency, "trades/execute", {"trade_id": trade_id}, schemas.Trade,
            lambda database: trading.execute_offer(database, now, user_id, trade_id))
        if _acted(idempotency):
            log.info("user %s executed trade %s", user_id, trade.id)
            self._announce(TradeEvent(action="executed", trade=trade), trade.creator_id,
                           user_id)
        return trade

    def cancel_offer(self, user_id: int, trade_id: object, *,
                     idempotency: Idempotency | None = None) -> schemas.Trade:
        now = self.clock()
        trade = self._run_once(
            user_id, idempotency, "trades/cancel", {"trade_id": trade_id}, schemas.Trade,
            lambda database: trading.cancel_offer(database, now, user_id, trade_id))
        if _acted(idempotency):
            log.info("user %s cancelled trade %s", user_id, trade.id)
            self._announce(TradeEvent(action="cancelled", trade=trade), user_id)
        return trade

    def history(self, user_id: int, limit: object = DEFAULT_LIMIT,
                cursor: str | None = None) -> schemas.TradePage:
        return trading.history(self.database, user_id, limit, cursor)

    def convert(self, user_id: int, from_token: object, to_token: object,
                amount: object, *, idempotency: Idempotency | None = None) -> schemas.Conversion:
        now = self.clock()
        arguments = {"from_token": from_token, "to_token": to_token, "amount": amount}
        result = self._run_once(
            user_id, idempotency, "market/convert", arguments, schemas.Conversion,
            lambda database: conversion.convert(database, now, user_id, from_token, to_token,
                                                amount))
        if _acted(idempotency):
            log.info("user %s converted %s %s to %s %s", user_id, result.amount,
                     result.from_token, result.received, result.to_token)
            self._announce(None, user_id)
        return result

    def purge_expired_keys(self) -> int:
        """Delete the idempotency keys that have expired; return how many."""
        return purge_expired(self.database, self.clock(), self.config.idempotency_lifetime)

    def purge_login_attempts(self) -> int:
        """Delete the login attempts older than the throttle's window; return how many."""
        return self.throttle.purge()

    def _run_once(self, user_id: int, idempotency: Idempotency | None, operation: str,
                  arguments: Mapping[str, object], result_type: type[ResultT],
                  action: Callable[[Database], ResultT]) -> ResultT:
        if idempotency is None:
            return action(self.database)
        claim = Claim(user_id, idempotency, operation, fingerprint(operation, arguments),
                      self.clock(), self.config.idempotency_lifetime)
        try:
            return run_once(self.database, claim, result_type, action)
        finally:
            if idempotency.replayed:
                log.info("user %s repeated %s with idempotency key %r: replayed the first "
                         "outcome", user_id, operation, idempotency.key)

    # Events

    def _announce(self, event: TradeEvent | None, *user_ids: int) -> None:
        """Publish a committed change: the trade event, then each user's new balances."""
        if event is not None:
            self.events.publish(event)
        if not self.events.has_listeners("balance"):
            return
        for user_id in dict.fromkeys(user_ids):
            try:
                with self.database.read() as connection:
                    balances = holdings.balances(connection, user_id)
            except SQLAlchemyError as error:
                # The change is committed, so the call succeeded: failing it now would invite
                # a retry that acts twice. Subscribers in this process fetch balances again.
                # NOTE: subscribers in other processes get no resync and miss this balance.
                log.error("cannot read the balances of user %s to publish them: %s: %s",
                          user_id, type(error).__name__, error)
                self.events.deliver(ResyncEvent())
                continue
            self.events.publish(BalanceEvent(user_id=user_id, balances=balances))


def _acted(idempotency: Idempotency | None) -> bool:
    """Return whether a call acted, rather than replaying the outcome of an earlier one."""
    return idempotency is None or not idempotency.replayed
