"""The backend interface: what a trader's desk can do, on either backend.

A backend object is one trader's connection to a market. ``login`` starts a session that the
object keeps; every other call except ``register``, ``token_types``, ``prices`` and
``price_history`` needs it. Calls block until the market answers (run them off the UI thread)
and raise the errors of ``desk.backend.errors``. ``events()`` is the session's live stream of
market events (``desk.backend.stream``).

The four calls that move funds (``create_offer``, ``execute_offer``, ``cancel_offer`` and
``convert``) take an optional ``idempotency_key``: repeating a call with the key of an earlier
one returns that call's outcome instead of acting twice. The HTTP backend sends a new key with
every such call when none is given, and uses it for its own retries.
"""

from __future__ import annotations

import abc
import base64
import json
from decimal import Decimal

from desk.backend import schemas
from desk.backend.errors import Unauthenticated
from desk.backend.stream import EventStream

Number = Decimal | str | int
"""An exact amount: a ``Decimal``, a decimal string or an integer; never a float."""


class Backend(abc.ABC):
    """One trader's connection to a market, in-process or over HTTP."""

    def __init__(self) -> None:
        self._session: schemas.Session | None = None
        self._username: str | None = None
        self._stream: EventStream | None = None

    @property
    @abc.abstractmethod
    def location(self) -> str:
        """Where the market lives, for people: a database file or a server URL."""

    @property
    def session(self) -> schemas.Session | None:
        return self._session

    @property
    def username(self) -> str | None:
        """The name the current session logged in with, or None when logged out."""
        return self._username if self._session else None

    @property
    def user_id(self) -> int | None:
        """The id of the logged-in trader, read from the session token, or None."""
        if self._session is None:
            return None
        return user_id_of(self._session.access_token)

    def login(self, username: str, password: str) -> schemas.Session:
        """Log in and keep the session for the calls that follow."""
        session = self._login(username, password)
        self._close_stream()
        self._session = session
        self._username = username
        return session

    def logout(self) -> None:
        """Forget the session and close its event stream; the backend stays usable for
        another login."""
        self._close_stream()
        self._session = None
        self._username = None

    def events(self) -> EventStream:
        """Return the live event stream of the logged-in trader.

        The first call opens the stream; later calls return the same one until ``login``,
        ``logout`` or ``close`` closes it. Raises ``Unauthenticated`` when nobody is logged in.
        """
        if self._session is None:
            raise Unauthenticated("not logged in")
        if self._stream is None:
            self._stream = self._open_stream(self._session)
        return self._stream

    @property
    def current_stream(self) -> EventStream | None:
        """The event stream ``events`` opened for this session, or None; opens nothing."""
        return self._stream

    def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            stream.close()

    def close(self) -> None:
        """Release connections; the object is not used afterwards."""
        self.logout()

    @abc.abstractmethod
    def _login(self, username: str, password: str) -> schemas.Session: ...

    @abc.abstractmethod
    def _open_stream(self, session: schemas.Session) -> EventStream: ...

    @abc.abstractmethod
    def register(self, username: str, email: str, password: str) -> schemas.User:
        """Create a trader account; it starts with the market's grant."""

    @abc.abstractmethod
    def balances(self) -> schemas.Portfolio:
        """Return the trader's balances of every asset and their total value."""

    @abc.abstractmethod
    def ledger(self, limit: int = 50, cursor: str | None = None) -> schemas.LedgerPage:
        """Return a page of the trader's balance changes, newest first."""

    @abc.abstractmethod
    def token_types(self) -> list[schemas.TokenInfo]:
        """Return the assets of the market, AI tokens first, then BTC."""

    @abc.abstractmethod
    def create_offer(self, from_token: str, to_token: str, amount: Number,
                     exchange_rate: Number, *,
                     idempotency_key: str | None = None) -> schemas.Trade:
        """Post an offer of ``amount`` of ``from_token`` at ``exchange_rate`` ``to_token`` each."""

    @abc.abstractmethod
    def list_offers(self, from_token: str | None = None, to_token: str | None = None,
                    mine: bool = False, limit: int = 50,
                    cursor: str | None = None) -> schemas.TradePage:
        """Return a page of active offers, oldest first."""

    @abc.abstractmethod
    def execute_offer(self, trade_id: int, *,
                      idempotency_key: str | None = None) -> schemas.Trade:
        """Take another trader's active offer."""

    @abc.abstractmethod
    def cancel_offer(self, trade_id: int, *,
                     idempotency_key: str | None = None) -> schemas.Trade:
        """Withdraw one of the trader's own active offers."""

    @abc.abstractmethod
    def history(self, limit: int = 50, cursor: str | None = None) -> schemas.TradePage:
        """Return a page of completed and cancelled trades the trader was part of."""

    @abc.abstractmethod
    def prices(self) -> list[schemas.Price]:
        """Return the current market price of every asset."""

    @abc.abstractmethod
    def price_history(self, token_type: str, limit: int = 100) -> list[schemas.PricePoint]:
        """Return an asset's recent prices, oldest first."""

    @abc.abstractmethod
    def convert(self, from_token: str, to_token: str, amount: Number, *,
                idempotency_key: str | None = None) -> schemas.Conversion:
        """Convert at the market price against the house account."""


def user_id_of(token: str) -> int | None:
    """Read the user id from a JWT's payload without verifying it (for display only)."""
    try:
        payload = token.split(".")[1]
        claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return int(claims["sub"])
    except (IndexError, ValueError, KeyError, TypeError):
        return None
