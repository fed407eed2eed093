"""A TCP proxy on loopback that loses chosen HTTP responses, as a bad network would.

The proxy passes bytes both ways between a client and a server. For a request whose first line
starts with a chosen prefix, such as ``POST /api/trades/execute``, it can lose the response
after the server has sent it, so the server has acted but the client never hears of it:

- ``drop``: close the client's connection instead of passing the response on, which the client
  sees as a connection closed without a response;
- ``hold``: keep the response and send nothing until the proxy stops, so the client's read
  times out.

It reads HTTP/1.1 as a client such as httpx sends it: one request at a time on a connection,
each request starting a new write. It is not a general HTTP proxy.
"""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass

HOST = "127.0.0.1"
_METHODS = (b"GET ", b"POST ", b"PUT ", b"PATCH ", b"DELETE ", b"HEAD ", b"OPTIONS ")


@dataclass
class Rule:
    """Lose the responses to the next ``count`` requests whose first line starts with
    ``prefix``, in the given ``mode`` (``drop`` or ``hold``)."""

    prefix: bytes
    count: int
    mode: str


class LossyProxy:
    """A loopback proxy to ``(host, port)`` that loses the responses its rules select."""

    def __init__(self, target_port: int, target_host: str = HOST) -> None:
        self.target = (target_host, target_port)
        self._listener = socket.create_server((HOST, 0))
        # accept() wakes up this often to notice stop(): closing a socket from another
        # thread does not interrupt an accept() that is waiting on it.
        self._listener.settimeout(0.1)
        self.port = self._listener.getsockname()[1]
        self.url = f"http://{HOST}:{self.port}"
        self._rules: list[Rule] = []
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self.lost: list[bytes] = []
        self._accepter = threading.Thread(target=self._accept, name="proxy-accept", daemon=True)

    def start(self) -> LossyProxy:
        self._accepter.start()
        return self

    def lose(self, prefix: str, count: int = 1, mode: str = "drop") -> None:
        """Lose the responses to the next ``count`` requests whose first line starts with
        ``prefix``."""
        if mode not in ("drop", "hold"):
            raise ValueError(f"mode must be 'drop' or 'hold', got {mode!r}")
        with self._lock:
            self._rules.append(Rule(prefix.encode("ascii"), count, mode))

    def stop(self) -> None:
        """Close every connection, release held responses and wait for the threads."""
        self._stopped.set()
        self._accepter.join(timeout=10)
        self._listener.close()
        with self._lock:
            sockets = list(self._sockets)
        for connection in sockets:
            _close(connection)
        for thread in list(self._threads):
            thread.join(timeout=10)

    def _accept(self) -> None:
        while not self._stopped.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            try:
                upstream = socket.create_connection(self.target, timeout=10)
            except OSError:
                _close(client)
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            link = _Link(self, client, upstream)
            for target in (link.forward_requests, link.forward_responses):
                thread = threading.Thread(target=target, name="proxy-pump", daemon=True)
                self._threads.append(thread)
                thread.start()

    def _take_rule(self, request_line: bytes) -> str | None:
        """Return the mode in which to lose the response to this request, or None."""
        with self._lock:
            for rule in self._rules:
                if rule.count > 0 and request_line.startswith(rule.prefix):
                    rule.count -= 1
                    self.lost.append(request_line)
                    return rule.mode
        return None


class _Link:
    """One client connection and its connection to the server."""

    def __init__(self, proxy: LossyProxy, client: socket.socket,
                 upstream: socket.socket) -> None:
        self.proxy = proxy
        self.client = client
        self.upstream = upstream
        self.request_line = b""
        self.awaiting_response = False

    def forward_requests(self) -> None:
        try:
            while data := self.client.recv(65536):
                if data.startswith(_METHODS):
                    self.request_line = data.split(b"\r\n", 1)[0]
                    self.awaiting_response = True
                self.upstream.sendall(data)
        except OSError:
            pass
        finally:
            _close(self.upstream)

    def forward_responses(self) -> None:
        try:
            while data := self.upstream.recv(65536):
                if self.awaiting_response:
                    self.awaiting_response = False
                    mode = self.proxy._take_rule(self.request_line)
                    if mode == "hold":
                        self.proxy._stopped.wait()
                    if mode is not None:
                        return
                self.client.sendall(data)
        except OSError:
            pass
        finally:
            _close(self.client)
            _close(self.upstream)


def _close(connection: socket.socket) -> None:
    with suppress(OSError):
        connection.shutdown(socket.SHUT_RDWR)
    connection.close()


@contextmanager
def lossy_proxy(target_port: int) -> Iterator[LossyProxy]:
    """Run a ``LossyProxy`` to ``target_port`` on loopback for the ``with`` block."""
    proxy = LossyProxy(target_port).start()
    try:
        yield proxy
    finally:
        proxy.stop()
