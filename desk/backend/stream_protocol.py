"""The wire protocol of the live stream, a WebSocket at ``/api/ws``.

A client connects and sends one text message, ``{"type": "auth", "token": "<session token>"}``,
within the server's auth timeout. The token travels in a message rather than in the URL, so it
never appears in the access logs of the server or of a proxy in front of it. The server then
sends JSON text messages, each with a ``type``:

- ``hello`` first: the user's id, current prices and balances, and the price feed's interval,
  so that a client can catch up and can tell when ticks are overdue;
- ``price`` for each tick, ``trade`` when an offer is created, executed or cancelled, and
  ``balance`` when the connected user's balances change (never another user's);
- ``resync`` when the server may have missed events of other servers (its PostgreSQL relay
  reconnected): fetch balances and the offer book again.

The server ignores any later message from the client. It closes the connection with one of
the codes below; a client reconnects after any code except ``CLOSE_UNAUTHENTICATED``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import Field, TypeAdapter

from desk.backend import schemas
from desk.backend.events import BalanceEvent, PriceEvent, ResyncEvent, TradeEvent

STREAM_PATH = "/api/ws"

CLOSE_UNAUTHENTICATED = 4401
"""The auth message was missing, malformed or late, or the session token was invalid or expired.
The close reason names the problem. Log in again before reconnecting."""

CLOSE_TOO_SLOW = 4408
"""The client read too slowly: more events were waiting for it than the server queues."""

CLOSE_UNAVAILABLE = 1013
"""The market database did not respond ("Try Again Later" in the IANA WebSocket close code
registry); reconnect later."""

CLOSE_SERVICE_RESTART = 1012
"""The server is shutting down (uvicorn sends this code, RFC 6455 registry "Service Restart")."""

# A close reason must fit in a control frame: 123 bytes of UTF-8 (RFC 6455, section 5.5).
MAX_CLOSE_REASON_BYTES = 123
# The only message a client sends is the auth message; a session token is well under 2 KiB.
MAX_CLIENT_MESSAGE_BYTES = 16 * 1024


class AuthMessage(schemas.Model):
    """The first message of a client: its session token."""

    type: Literal["auth"] = "auth"
    token: str


class Hello(schemas.Model):
    """The first message of the server: what a client needs to catch up."""

    type: Literal["hello"] = "hello"
    user_id: int
    prices: list[schemas.Price]
    balances: list[schemas.Balance]
    feed_interval_seconds: float = Field(
        description="seconds between two price ticks; a client may call the stream stale "
        "when several intervals pass without a message")
    server_time: datetime


ServerMessage = Annotated[Hello | PriceEvent | TradeEvent | BalanceEvent | ResyncEvent,
                          Field(discriminator="type")]
"""Any message that the server sends, distinguished by its ``type``."""

server_message_adapter: TypeAdapter[
    Hello | PriceEvent | TradeEvent | BalanceEvent | ResyncEvent] = TypeAdapter(ServerMessage)


def close_reason(text: str) -> str:
    """Shorten ``text`` to fit a close frame, at a character boundary."""
    data = text.encode("utf-8")
    if len(data) <= MAX_CLOSE_REASON_BYTES:
        return text
    return data[:MAX_CLOSE_REASON_BYTES].decode("utf-8", errors="ignore")
