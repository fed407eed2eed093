"""The live stream: market events pushed to each connected desk over a WebSocket.

``desk.backend.stream_protocol`` describes the messages and close codes. Each connection
subscribes to the market's event bus with its user's id, so balance events reach their owner
only. The bus calls listeners on the publishing thread: a request's worker thread, the price
feed or the PostgreSQL relay. The listener encodes the event and hands the text to the
connection's event loop with ``call_soon_threadsafe``. There it waits in a bounded queue, which
one task sends from. A client that falls so far behind that its queue fills is disconnected,
so a slow reader costs at most ``queue_limit`` messages of memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial

import jwt
from fastapi import APIRouter, WebSocket
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect

from desk.backend.errors import Unauthenticated
from desk.backend.events import Event, event_adapter
from desk.backend.market import Market
from desk.backend.stream_protocol import (
    CLOSE_TOO_SLOW,
    CLOSE_UNAUTHENTICATED,
    CLOSE_UNAVAILABLE,
    STREAM_PATH,
    AuthMessage,
    Hello,
    close_reason,
)

log = logging.getLogger(__name__)

router = APIRouter()

# Seconds to wait for a close frame to go out to a client that reads too slowly. After that,
# the handler returns and uvicorn closes the transport without sending the frame.
CLOSE_TIMEOUT_SECONDS = 5.0
UNAVAILABLE_REASON = "the market database is unavailable; try again later"


@dataclass(frozen=True)
class StreamOptions:
    """How the server runs the live stream.

    ``queue_limit`` is the number of messages queued for one client before it is disconnected
    as too slow. ``auth_timeout`` is the time in seconds a new client has to send its auth
    message. ``feed_interval`` is the price feed's interval in seconds, which the ``hello``
    message passes on to clients.
    """

    queue_limit: int = 256
    auth_timeout: float = 10.0
    feed_interval: float = 2.0

    def __post_init__(self) -> None:
        if self.queue_limit < 1:
            raise ValueError(f"queue_limit must be at least 1, got {self.queue_limit}")
        if self.auth_timeout <= 0:
            raise ValueError(f"auth_timeout must be positive, got {self.auth_timeout}")


@router.websocket(STREAM_PATH)
async def stream(websocket: WebSocket) -> None:
    market: Market = websocket.app.state.market
    options: StreamOptions = websocket.app.state.stream_options
    await StreamConnection(websocket, market, options).run()


_encoded = threading.local()


def encode_event(event: Event) -> str:
    """Return the JSON text of ``event``.

    The bus hands one event object to every subscriber in turn on one thread, so the text of
    the last event is kept per thread and the event is encoded once, not once per connection.
    """
    if getattr(_encoded, "event", None) is not event:
        _encoded.text = event_adapter.dump_json(event).decode("utf-8")
        _encoded.event = event
    text: str = _encoded.text
    return text


class StreamConnection:
    """One client of the live stream, from the auth message to the close."""

    def __init__(self, websocket: WebSocket, market: Market, options: StreamOptions) -> None:
        self.websocket = websocket
        self.market = market
        self.options = options
        client = websocket.client
        self.address = f"{client.host}:{client.port}" if client else "-"
        self.user_id: int | None = None
        self._queue: asyncio.Queue[str] = asyncio.Queue(maxsize=options.queue_limit)
        self._overflowed = asyncio.Event()

    async def run(self) -> None:
        await self.websocket.accept()
        session = await self._authenticate()
        if session is None:
            return
        self.user_id, expires_at = session

        # Subscribe before reading the snapshot, so that no event between the two is lost. An
        # event may then arrive twice, once in the snapshot and once as a message.
        loop = asyncio.get_running_loop()
        subscription = self.market.events.subscribe(partial(self._from_bus, loop),
                                                    user_id=self.user_id)
        log.info("stream opened for user %s from %s", self.user_id, self.address)
        outcome = "failed"
        try:
            hello = await run_in_threadpool(self._hello, self.user_id)
            await self.websocket.send_text(hello)
            outcome = await self._pump(expires_at)
        except (WebSocketDisconnect, OSError) as error:
            outcome = f"connection lost ({type(error).__name__})"
        except SQLAlchemyError as error:
            log.error("stream for user %s failed: database unavailable: %s: %s", self.user_id,
                      type(error).__name__, error)
            outcome = "database unavailable"
            await self._close_unavailable()
        finally:
            subscription.close()
            log.info("stream closed for user %s from %s: %s", self.user_id, self.address,
                     outcome)

    async def _authenticate(self) -> tuple[int, float] | None:
        """Read the auth message and verify its token; return (user id, expiry) or None.

        The expiry is a POSIX timestamp. On failure the connection is closed with
        ``CLOSE_UNAUTHENTICATED`` and a reason, and None is returned.
        """
        try:
            message = await asyncio.wait_for(self.websocket.receive(),
                                             timeout=self.options.auth_timeout)
        except TimeoutError:
            await self._reject(f"no auth message within {self.options.auth_timeout:g} s")
            return None
        if message["type"] == "websocket.disconnect":
            log.info("stream client %s left before authenticating", self.address)
            return None
        try:
            token = AuthMessage.model_validate_json(message.get("text") or b"").token
        except ValidationError:
            await self._reject('expected {"type": "auth", "token": "<session token>"} first')
            return None
        try:
            user_id = await run_in_threadpool(self.market.authenticate, token)
        except Unauthenticated as error:
            await self._reject(error.message)
            return None
        except SQLAlchemyError as error:
            log.error("stream client %s not authenticated: database unavailable: %s: %s",
                      self.address, type(error).__name__, error)
            await self._close_unavailable()
            return None
        return user_id, _expiry_of(token)

    async def _reject(self, reason: str) -> None:
        log.info("stream client %s rejected: %s", self.address, reason)
        with contextlib.suppress(WebSocketDisconnect, OSError):
            await self.websocket.close(CLOSE_UNAUTHENTICATED, close_reason(reason))

    async def _close_unavailable(self) -> None:
        with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
            await self.websocket.close(CLOSE_UNAVAILABLE, close_reason(UNAVAILABLE_REASON))

    def _hello(self, user_id: int) -> str:
        hello = Hello(user_id=user_id, prices=self.market.prices(),
                      balances=self.market.portfolio(user_id).balances,
                      feed_interval_seconds=self.options.feed_interval,
                      server_time=datetime.now(UTC))
        return hello.model_dump_json()

    def _from_bus(self, loop: asyncio.AbstractEventLoop, event: Event) -> None:
        """Pass an event to the connection's loop; called on the publishing thread."""
        text = encode_event(event)
        # The loop is closed once the server has stopped; nothing is listening then.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(self._offer, text)

    def _offer(self, text: str) -> None:
        if self._overflowed.is_set():
            return
        try:
            self._queue.put_nowait(text)
        except asyncio.QueueFull:
            self._overflowed.set()

    async def _pump(self, expires_at: float) -> str:
        """Send queued events until the client leaves, falls behind or its session expires.

        Return what ended the connection, for the log.
        """
        remaining = expires_at - self.market.clock().timestamp()
        sender = asyncio.create_task(self._send_queued())
        receiver = asyncio.create_task(self._receive_until_closed())
        overflow = asyncio.create_task(self._overflowed.wait())
        expiry = asyncio.create_task(asyncio.sleep(max(remaining, 0)))
        tasks = {sender, receiver, overflow, expiry}
        try:
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in tasks - {receiver}:
                task.cancel()

        if receiver.done():
            return str(receiver.result())
        receiver.cancel()
        if sender.done() and not sender.cancelled() and sender.exception() is not None:
            error = sender.exception()
            return f"connection lost ({type(error).__name__})"
        if overflow.done() and not overflow.cancelled():
            reason = f"too slow: more than {self.options.queue_limit} events were waiting"
            log.warning("stream client %s of user %s is %s; disconnecting", self.address,
                        self.user_id, reason)
            await self._close(CLOSE_TOO_SLOW, reason)
            return f"closed with {CLOSE_TOO_SLOW}, {reason}"
        reason = "session expired; log in again"
        await self._close(CLOSE_UNAUTHENTICATED, reason)
        return f"closed with {CLOSE_UNAUTHENTICATED}, {reason}"

    async def _send_queued(self) -> None:
        while True:
            text = await self._queue.get()
            await self.websocket.send_text(text)

    async def _receive_until_closed(self) -> str:
        """Read and ignore client messages until the client closes; return how it closed."""
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                code = message.get("code", 1005)
                reason = message.get("reason") or ""
                return f"client closed with {code}" + (f", {reason}" if reason else "")

    async def _close(self, code: int, reason: str) -> None:
        # A client that reads nothing never frees room for the close frame. Give up on it after
        # a while, so that the handler and its buffers do not stay alive.
        with contextlib.suppress(WebSocketDisconnect, OSError, TimeoutError):
            await asyncio.wait_for(self.websocket.close(code, close_reason(reason)),
                                   timeout=CLOSE_TIMEOUT_SECONDS)


def _expiry_of(token: str) -> float:
    """Return the ``exp`` claim of a token that ``Market.authenticate`` has just verified."""
    claims = jwt.decode(token, options={"verify_signature": False})
    return float(claims["exp"])
