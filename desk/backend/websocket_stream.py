"""The event stream of a remote market: the server's WebSocket, kept open on a thread.

The stream runs an asyncio loop on its own thread, so it works beside any caller, threaded or
async. It connects, sends the session token, and turns the server's messages into events
(``desk.backend.stream_protocol`` describes them). When the connection drops it reports
RECONNECTING and tries again after an exponential backoff with jitter. After each connection
it emits a ``CatchUp``, then the current prices and balances of the server's ``hello``. When
no message arrives for ``stale_factor`` feed intervals it reports STALE, and CONNECTED again at
the next message. A close with code 4401 (a missing, invalid or expired token) stops it for
good, because the same token would be rejected again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

from pydantic import ValidationError
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException

from desk import __version__
from desk.backend.events import BalanceEvent, Event, PriceEvent, ResyncEvent
from desk.backend.stream import CatchUp, EventStream, StreamState
from desk.backend.stream_protocol import (
    CLOSE_UNAUTHENTICATED,
    STREAM_PATH,
    AuthMessage,
    Hello,
    server_message_adapter,
)

log = logging.getLogger(__name__)

USER_AGENT = f"tokenomics-desk/{__version__}"

# A stream is stale after this many feed intervals without a message, but never sooner than
# MIN_STALE_SECONDS, so that a fast feed does not flap between stale and connected.
DEFAULT_STALE_FACTOR = 3.0
MIN_STALE_SECONDS = 1.0
# Backoff between connection attempts: the first waits about INITIAL_DELAY seconds, each
# next one twice as long, up to MAX_DELAY. Each delay is drawn between half and all of that,
# so that many desks cut off at once do not reconnect in step.
INITIAL_DELAY_SECONDS = 0.5
MAX_DELAY_SECONDS = 10.0
# A connection that stayed up this many seconds starts the backoff again from the beginning.
STABLE_SECONDS = 10.0
# Seconds allowed for the TCP connection, the WebSocket handshake and the hello message, and
# for the closing handshake.
OPEN_TIMEOUT_SECONDS = 10.0
CLOSE_TIMEOUT_SECONDS = 5.0
# A price tick of five tokens is under 1 KiB; anything near this limit is not a desk server.
MAX_MESSAGE_BYTES = 1024 * 1024


class ProtocolError(Exception):
    """The server sent something that the stream protocol does not allow."""


def stream_url(base_url: str) -> str:
    """Return the WebSocket URL of the stream of the server at ``base_url`` (http or https)."""
    parts = urlsplit(base_url.rstrip("/"))
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise ValueError(f"{base_url!r} is not an http:// or https:// URL")
    return urlunsplit((scheme, parts.netloc, parts.path + STREAM_PATH, "", ""))


def backoff_delay(attempt: int, initial: float = INITIAL_DELAY_SECONDS,
                  maximum: float = MAX_DELAY_SECONDS) -> float:
    """Return the seconds to wait before connection attempt ``attempt`` + 1 (from 0)."""
    ceiling = min(maximum, initial * 2 ** min(attempt, 32))
    return random.uniform(ceiling / 2, ceiling)


class WebSocketEventStream(EventStream):
    """The live events of one session on a desk server, over its WebSocket.

    ``base_url`` is the server's http(s) address and ``token`` the session token. The stream
    connects when the first listener subscribes, so that listener receives the first
    ``CatchUp``. ``ping_interval`` and ``ping_timeout`` (seconds) set the client's keepalive
    pings, which notice a dead connection when nothing else would.
    """

    def __init__(self, base_url: str, token: str, *,
                 stale_factor: float = DEFAULT_STALE_FACTOR,
                 initial_delay: float = INITIAL_DELAY_SECONDS,
                 max_delay: float = MAX_DELAY_SECONDS,
                 open_timeout: float = OPEN_TIMEOUT_SECONDS,
                 ping_interval: float = 20.0, ping_timeout: float = 20.0) -> None:
        super().__init__(StreamState.CONNECTING)
        self.url = stream_url(base_url)
        self._token = token
        self.stale_factor = stale_factor
        self.initial_delay = initial_delay
        self.max_delay = max_delay
        self.open_timeout = open_timeout
        self.ping_interval = ping_interval
        self.ping_timeout = ping_timeout
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._started = threading.Event()
        self._closing = False
        # Set by ``retry_now`` to end the backoff wait early. It is created on the stream's own
        # event loop, in ``_run``.
        self._retry: asyncio.Event | None = None

    def close(self) -> None:
        with self._lock:
            self._closing = True
            thread = self._thread
        if thread is not None:
            self._started.wait()
            loop, task = self._loop, self._task
            if loop is not None and task is not None:
                # The loop is closed already if the server rejected the token.
                with contextlib.suppress(RuntimeError):
                    loop.call_soon_threadsafe(task.cancel)
            if thread is not threading.current_thread():
                thread.join(timeout=OPEN_TIMEOUT_SECONDS + 5)
        if self._state is not StreamState.CLOSED:
            self._set_state(StreamState.CLOSED, "closed")

    def retry_now(self) -> None:
        loop, retry = self._loop, self._retry
        if loop is not None and retry is not None:
            # The loop is closed already if the stream ended.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(retry.set)

    def _listener_added(self) -> None:
        with self._lock:
            if self._thread is not None or self._closing:
                return
            self._thread = threading.Thread(target=self._run_thread, name="event-stream",
                                            daemon=True)
        self._thread.start()

    def _run_thread(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._task = loop.create_task(self._run())
            self._started.set()
            loop.run_until_complete(self._task)
        except asyncio.CancelledError:
            pass
        finally:
            self._started.set()
            loop.close()

    async def _run(self) -> None:
        """Connect, deliver and reconnect until closed or rejected."""
        loop = asyncio.get_running_loop()
        self._retry = asyncio.Event()
        attempt = 0
        connections = 0
        while not self._closing:
            connected_at: float | None = None
            try:
                async with connect(self.url, open_timeout=self.open_timeout,
                                   ping_interval=self.ping_interval,
                                   ping_timeout=self.ping_timeout,
                                   close_timeout=CLOSE_TIMEOUT_SECONDS,
                                   max_size=MAX_MESSAGE_BYTES, compression=None,
                                   user_agent_header=USER_AGENT) as websocket:
                    hello = await self._open(websocket)
                    connected_at = loop.time()
                    connections += 1
                    self._connected(hello, reconnected=connections > 1)
                    await self._receive(websocket, hello)
            except ConnectionClosed as closed:
                if closed.rcvd is not None and closed.rcvd.code == CLOSE_UNAUTHENTICATED:
                    reason = closed.rcvd.reason or "session token rejected"
                    log.warning("event stream of %s rejected: %s", self.url, reason)
                    self._set_state(StreamState.CLOSED, reason)
                    return
                problem = _describe_close(closed)
            except InvalidStatus as error:
                problem = f"HTTP {error.response.status_code} instead of a WebSocket"
            except (OSError, TimeoutError, WebSocketException, ProtocolError) as error:
                problem = str(error) or type(error).__name__

            if self._closing:
                break
            # Start the backoff again only after a connection that lasted, so that a server
            # that accepts and then drops every connection at once is not retried in a loop.
            if connected_at is not None and loop.time() - connected_at >= STABLE_SECONDS:
                attempt = 0
            delay = backoff_delay(attempt, self.initial_delay, self.max_delay)
            attempt += 1
            log.info("event stream of %s: %s; reconnecting in %.1f s", self.url, problem, delay)
            # Cleared before the state changes, so a retry_now prompted by it is not lost.
            self._retry.clear()
            self._set_state(StreamState.RECONNECTING,
                            f"{problem}; reconnecting in {delay:.1f} s")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._retry.wait(), timeout=delay)

    async def _open(self, websocket: ClientConnection) -> Hello:
        """Authenticate and return the server's hello."""
        await websocket.send(AuthMessage(token=self._token).model_dump_json())
        text = await asyncio.wait_for(websocket.recv(), timeout=self.open_timeout)
        message = _parse(text)
        if not isinstance(message, Hello):
            raise ProtocolError(f"expected a hello message first, got {message.type!r}")
        return message

    def _connected(self, hello: Hello, *, reconnected: bool) -> None:
        self._set_state(StreamState.CONNECTED)
        self._emit(CatchUp(reconnected=reconnected))
        self._emit(PriceEvent(prices=hello.prices))
        self._emit(BalanceEvent(user_id=hello.user_id, balances=hello.balances))

    async def _receive(self, websocket: ClientConnection, hello: Hello) -> NoReturn:
        """Deliver messages until the connection closes, which raises ``ConnectionClosed``."""
        stale_after = max(self.stale_factor * hello.feed_interval_seconds, MIN_STALE_SECONDS)
        while True:
            # Once stale, wait without a limit: the keepalive pings notice a dead connection.
            limit = stale_after if self._state is StreamState.CONNECTED else None
            try:
                # Cancelling recv() loses no message (websockets' asyncio API documents this).
                text = await asyncio.wait_for(websocket.recv(), timeout=limit)
            except TimeoutError:
                self._set_state(StreamState.STALE, f"no message for {stale_after:g} s")
                continue
            message = _parse(text)
            if isinstance(message, Hello):
                raise ProtocolError("unexpected second hello message")
            if self._state is not StreamState.CONNECTED:
                self._set_state(StreamState.CONNECTED)
            if isinstance(message, ResyncEvent):
                self._emit(CatchUp(reconnected=True))
            else:
                self._emit(message)


def _parse(text: str | bytes) -> Hello | Event:
    try:
        return server_message_adapter.validate_json(text)
    except ValidationError as error:
        raise ProtocolError(f"invalid message from the server: {error}") from None


def _describe_close(closed: ConnectionClosed) -> str:
    if closed.rcvd is None:
        return "the connection was lost"
    reason = f" ({closed.rcvd.reason})" if closed.rcvd.reason else ""
    return f"the server closed the stream with code {closed.rcvd.code}{reason}"
