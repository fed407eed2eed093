"""Access log: one line per HTTP request with its method, path, status and duration."""

from __future__ import annotations

import logging
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("desk.server.access")


class AccessLogMiddleware:
    """Log every HTTP request once its response is sent, or once it fails.

    Only the path is logged, without its query string or any header, so no session token or
    password reaches the log. The path is logged as the client sent it, percent-encoded, so
    that an encoded line break cannot forge a log line.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        started = time.perf_counter()
        status = 500  # reported if the application fails before it starts a response

        async def send_and_record(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            elapsed_ms = (time.perf_counter() - started) * 1000
            raw_path = scope.get("raw_path")
            path = raw_path.decode("latin-1") if raw_path else scope["path"]
            client = scope.get("client")
            address = client[0] if client else "-"
            log.info("%s %s %s %d %.1f ms", address, scope["method"], path, status, elapsed_ms)
