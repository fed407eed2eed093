"""The Idempotency-Key header over HTTP, and the HTTP backend's retries with it.

Lost responses come from ``tests.proxy.LossyProxy``, a loopback proxy in front of a real
``desk serve``, which passes a request on and then drops the server's response or keeps it back.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from desk.backend import InvalidInput, Unavailable
from desk.backend.idempotency import MAX_KEY_LENGTH
from desk.backend.models import IdempotencyKey
from desk.backend.remote import HttpBackend
from desk.backend.store import Database
from tests.conftest import DATABASE_KINDS
from tests.proxy import LossyProxy, lossy_proxy
from tests.server.conftest import Account, create_offer
from tests.serving import ALLOWED_ORIGIN, ServerProcess
from tests.support import PASSWORD, snapshot, unique_name

KEY = "Idempotency-Key"
REPLAYED = "Idempotent-Replayed"
OFFER = {"from_token": "OpenAI", "to_token": "Anthropic", "amount": "10",
         "exchange_rate": "0.8"}


def keyed(account: Account, key: str | bytes) -> dict[str, Any]:
    return {**account.headers, KEY: key}


def ledger_entries(server: ServerProcess, trade_id: int) -> int:
    rows = snapshot(server.database_url)["ledger"]
    # Ledger rows are (id, user_id, token_type, amount, reason, reference, created_at).
    return sum(1 for row in rows if row[5] == f"trade:{trade_id}")


def test_repeat_returns_first_response(http: httpx.Client,
                                       account: Callable[[], Account]) -> None:
    alice = account()
    first = http.post("/api/trades/create", json=OFFER, headers=keyed(alice, "create-a"))
    second = http.post("/api/trades/create", json=OFFER, headers=keyed(alice, "create-a"))

    assert first.status_code == 201
    assert second.status_code == 201
    assert second.content == first.content
    assert REPLAYED not in first.headers
    assert second.headers[REPLAYED] == "true"
    mine = http.get("/api/trades/list", params={"mine": "true"}, headers=alice.headers)
    assert [trade["id"] for trade in mine.json()["trades"]] == [first.json()["id"]]


def test_repeat_with_other_body_is_422(http: httpx.Client,
                                       account: Callable[[], Account]) -> None:
    alice = account()
    http.post("/api/trades/create", json=OFFER, headers=keyed(alice, "reused"))
    other = http.post("/api/trades/create", json={**OFFER, "amount": "11"},
                      headers=keyed(alice, "reused"))

    assert other.status_code == 422
    body = other.json()
    assert body["code"] == "invalid_input"
    assert body["field"] == KEY
    assert "already used for a different request" in body["detail"]
    assert REPLAYED not in other.headers


def test_stored_error_replayed(http: httpx.Client, account: Callable[[], Account]) -> None:
    alice = account()
    own = create_offer(http, alice)
    first = http.post("/api/trades/execute", json={"trade_id": own["id"]},
                      headers=keyed(alice, "own-offer"))
    second = http.post("/api/trades/execute", json={"trade_id": own["id"]},
                       headers=keyed(alice, "own-offer"))

    assert first.status_code == 403
    assert second.status_code == 403
    assert second.json() == first.json()
    assert second.headers[REPLAYED] == "true"


def test_each_path_takes_a_key(http: httpx.Client, account: Callable[[], Account]) -> None:
    alice, bob = account(), account()
    taken, withdrawn = create_offer(http, alice), create_offer(http, alice)
    requests = [
        (bob, "/api/trades/execute", {"trade_id": taken["id"]}),
        (alice, "/api/trades/cancel", {"trade_id": withdrawn["id"]}),
        (alice, "/api/market/convert", {"from_token": "OpenAI", "to_token": "BTC",
                                        "amount": "5"}),
    ]
    for trader, path, body in requests:
        first = http.post(path, json=body, headers=keyed(trader, f"key-{path}"))
        second = http.post(path, json=body, headers=keyed(trader, f"key-{path}"))
        assert first.status_code == 200, first.text
        assert second.content == first.content
        assert second.headers[REPLAYED] == "true"


@pytest.mark.parametrize("key", ["", "x" * (MAX_KEY_LENGTH + 1), b"caf\xc3\xa9", "a b"],
                         ids=["empty", "too-long", "non-ascii", "space"])
def test_malformed_key_is_422(key: str | bytes, http: httpx.Client,
                              account: Callable[[], Account]) -> None:
    alice = account()
    response = http.post("/api/trades/create", json=OFFER, headers=keyed(alice, key))
    assert response.status_code == 422
    assert response.json()["field"] == KEY
    assert "visible ASCII characters" in response.json()["detail"]
    mine = http.get("/api/trades/list", params={"mine": "true"}, headers=alice.headers)
    assert mine.json()["trades"] == []


def test_key_without_session_is_401(http: httpx.Client) -> None:
    response = http.post("/api/trades/create", json=OFFER, headers={KEY: "no-session"})
    assert response.status_code == 401


@pytest.mark.slow
@pytest.mark.parametrize("database_kind", DATABASE_KINDS)
def test_concurrent_requests_with_one_key(database_kind: str, http: httpx.Client,
                                          account: Callable[[], Account]) -> None:
    """Two requests with one key reach the server at once: one acts, the other replays."""
    alice, bob = account(), account()
    for round_number in range(5):
        trade = create_offer(http, alice)
        start = threading.Barrier(2)
        request = {"url": "/api/trades/execute", "json": {"trade_id": trade["id"]},
                   "headers": keyed(bob, f"together-{round_number}")}

        def execute(barrier: threading.Barrier, request: dict[str, Any]) -> httpx.Response:
            barrier.wait(timeout=30)
            return http.post(**request)

        with ThreadPoolExecutor(max_workers=2) as pool:
            responses = list(pool.map(execute, [start] * 2, [request] * 2))

        assert [response.status_code for response in responses] == [200, 200]
        assert responses[0].content == responses[1].content
        replayed = [response.headers.get(REPLAYED) for response in responses]
        assert sorted(replayed, key=str) == [None, "true"]


def test_keys_stored_with_outcome(server: ServerProcess, http: httpx.Client,
                                  account: Callable[[], Account]) -> None:
    alice = account()
    http.post("/api/trades/create", json=OFFER, headers=keyed(alice, "stored"))
    database = Database(server.database_url)
    try:
        with database.read() as connection:
            row = connection.execute(
                select(IdempotencyKey.operation, IdempotencyKey.outcome)
                .where(IdempotencyKey.user_id == alice.id, IdempotencyKey.key == "stored")
            ).one()
    finally:
        database.dispose()
    assert row.operation == "trades/create"
    assert row.outcome.startswith('{"result":')


def test_cors_allows_the_key(http: httpx.Client) -> None:
    preflight = http.options("/api/trades/execute", headers={
        "Origin": ALLOWED_ORIGIN, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization,content-type,idempotency-key"})
    assert preflight.status_code == 200
    assert "idempotency-key" in preflight.headers["access-control-allow-headers"].lower()
    simple = http.get("/api/market/prices", headers={"Origin": ALLOWED_ORIGIN})
    assert "idempotent-replayed" in simple.headers["access-control-expose-headers"].lower()


# The HTTP backend's retries, through a proxy that loses responses.


@pytest.fixture
def proxy(server: ServerProcess) -> Iterator[LossyProxy]:
    with lossy_proxy(server.port) as running:
        yield running


def backend_through(proxy: LossyProxy, timeout: float = 30.0, retries: int = 3,
                    ) -> HttpBackend:
    """Return a backend that reaches the server through ``proxy``, registered and logged in."""
    backend = HttpBackend(proxy.url, timeout=timeout, retries=retries, backoff=0.05)
    name = unique_name("retrier")
    backend.register(name, f"{name}@example.com", PASSWORD)
    backend.login(name, PASSWORD)
    return backend


def test_dropped_execute_retried_once(proxy: LossyProxy, server: ServerProcess,
                                      http: httpx.Client,
                                      account: Callable[[], Account]) -> None:
    alice = account()
    trade = create_offer(http, alice)
    taker = backend_through(proxy)
    start = server.log_size()

    proxy.lose("POST /api/trades/execute")
    executed = taker.execute_offer(trade["id"])

    assert proxy.lost == [b"POST /api/trades/execute HTTP/1.1"]
    assert executed.status == "completed"
    assert executed.executor_id == taker.user_id
    # The access log line follows the response, so wait for the second one to be written.
    executed_lines = server.wait_for_log(r"POST /api/trades/execute 200", count=2, start=start)
    assert len(executed_lines) == 2
    assert ledger_entries(server, trade["id"]) == 4
    taker.close()


def test_dropped_create_and_cancel(proxy: LossyProxy, server: ServerProcess) -> None:
    trader = backend_through(proxy)
    proxy.lose("POST /api/trades/create")
    created = trader.create_offer("OpenAI", "Anthropic", "10", "0.8")
    assert [trade.id for trade in trader.list_offers(mine=True).trades] == [created.id]

    proxy.lose("POST /api/trades/cancel")
    cancelled = trader.cancel_offer(created.id)
    assert cancelled.status == "cancelled"
    assert trader.list_offers(mine=True).trades == []
    assert len(proxy.lost) == 2
    openai = trader.balances().balances[0]
    assert openai.held == 0
    assert openai.balance == 1000
    trader.close()


def test_timed_out_convert_retried_once(proxy: LossyProxy, server: ServerProcess) -> None:
    trader = backend_through(proxy, timeout=2.0)
    proxy.lose("POST /api/market/convert", mode="hold")
    result = trader.convert("OpenAI", "BTC", "100")

    assert len(proxy.lost) == 1
    assert result.amount == 100
    openai = trader.balances().balances[0]
    assert openai.balance == 900
    trader.close()


def test_lost_response_without_key_acts(proxy: LossyProxy, server: ServerProcess,
                                        http: httpx.Client,
                                        account: Callable[[], Account]) -> None:
    """The danger the keys remove: a plain POST whose response is lost still acted."""
    alice = account()
    proxy.lose("POST /api/trades/create")
    with httpx.Client(base_url=proxy.url) as client, pytest.raises(httpx.RemoteProtocolError):
        client.post("/api/trades/create", json=OFFER, headers=alice.headers)
    mine = http.get("/api/trades/list", params={"mine": "true"}, headers=alice.headers)
    assert len(mine.json()["trades"]) == 1


def test_exhausted_retries_name_the_key(proxy: LossyProxy, server: ServerProcess) -> None:
    trader = backend_through(proxy, retries=2)
    proxy.lose("POST /api/market/convert", count=3)
    with pytest.raises(Unavailable) as caught:
        trader.convert("OpenAI", "BTC", "100", idempotency_key="lost-three-times")
    message = str(caught.value)
    assert "after 3 attempts" in message
    assert "may have been carried out" in message
    assert "idempotency_key='lost-three-times'" in message

    # The first attempt converted; repeating with the key returns that outcome.
    result = trader.convert("OpenAI", "BTC", "100", idempotency_key="lost-three-times")
    assert result.amount == 100
    openai = trader.balances().balances[0]
    assert openai.balance == 900
    trader.close()


def test_login_not_retried_once_sent(proxy: LossyProxy) -> None:
    backend = HttpBackend(proxy.url, backoff=0.05)
    proxy.lose("POST /api/auth/login")
    with pytest.raises(Unavailable):
        backend.login("demo", "demo123")
    assert len(proxy.lost) == 1
    backend.close()


def test_backend_key_reuse_is_invalid_input(server: ServerProcess) -> None:
    backend = HttpBackend(server.url)
    name = unique_name()
    backend.register(name, f"{name}@example.com", PASSWORD)
    backend.login(name, PASSWORD)
    backend.convert("OpenAI", "BTC", "1", idempotency_key="once")
    with pytest.raises(InvalidInput) as caught:
        backend.convert("OpenAI", "BTC", "2", idempotency_key="once")
    assert caught.value.field == KEY
    backend.close()
