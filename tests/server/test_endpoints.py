"""Status codes and response shapes of every endpoint, through a real ``desk serve``."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest

from tests.server.conftest import Account, create_offer
from tests.serving import ALLOWED_ORIGIN
from tests.support import PASSWORD, unique_name

DECIMAL_TEXT = re.compile(r"-?\d+\.\d+")
ASSETS = ["OpenAI", "Anthropic", "Google", "Cohere", "Mistral", "BTC"]
TRADE_FIELDS = {"id", "creator_id", "from_token", "to_token", "amount", "exchange_rate",
                "status", "created_at", "completed_at", "executor_id"}

# Every protected endpoint, with a request body where it takes one.
PROTECTED = [
    ("GET", "/api/user/balance", None),
    ("GET", "/api/user/ledger", None),
    ("POST", "/api/trades/create",
     {"from_token": "OpenAI", "to_token": "Anthropic", "amount": "1", "exchange_rate": "1"}),
    ("GET", "/api/trades/list", None),
    ("POST", "/api/trades/execute", {"trade_id": 1}),
    ("POST", "/api/trades/cancel", {"trade_id": 1}),
    ("GET", "/api/trades/history", None),
    ("POST", "/api/market/convert", {"from_token": "OpenAI", "to_token": "BTC", "amount": "1"}),
]

# The REST contract: every path and method the server must serve.
CONTRACT = {
    ("POST", "/api/auth/register"), ("POST", "/api/auth/login"),
    ("GET", "/api/user/balance"), ("GET", "/api/user/ledger"),
    ("GET", "/api/tokens/types"),
    ("POST", "/api/trades/create"), ("GET", "/api/trades/list"),
    ("POST", "/api/trades/execute"), ("POST", "/api/trades/cancel"),
    ("GET", "/api/trades/history"),
    ("GET", "/api/market/prices"), ("GET", "/api/market/history"),
    ("POST", "/api/market/convert"),
    ("GET", "/api/health"),
}


def assert_amount(value: Any) -> Decimal:
    """Check that an amount is sent as a decimal string, and return its value."""
    assert isinstance(value, str), f"amount {value!r} is not a string"
    assert DECIMAL_TEXT.fullmatch(value), f"amount {value!r} is not a plain decimal"
    return Decimal(value)


def assert_time(value: Any) -> datetime:
    """Check that a time is ISO 8601 with a UTC offset, and return it."""
    assert isinstance(value, str)
    moment = datetime.fromisoformat(value)
    assert moment.utcoffset() == timedelta(0), f"{value} is not in UTC"
    return moment


def assert_trade(trade: dict[str, Any], status: str) -> None:
    assert set(trade) == TRADE_FIELDS
    assert trade["status"] == status
    assert_amount(trade["amount"])
    assert_amount(trade["exchange_rate"])
    assert_time(trade["created_at"])
    if status == "active":
        assert trade["completed_at"] is None
        assert trade["executor_id"] is None
    else:
        assert_time(trade["completed_at"])


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body: dict[str, Any] = response.json()
    assert body["code"] == code
    assert isinstance(body["detail"], str)
    assert body["detail"]
    return body


def test_register_returns_user(http: httpx.Client) -> None:
    name = unique_name("reg")
    response = http.post("/api/auth/register",
                         json={"username": name, "email": f"{name}@example.com",
                               "password": PASSWORD})
    assert response.status_code == 201
    user = response.json()
    assert set(user) == {"id", "username", "email", "created_at"}
    assert user["username"] == name
    assert user["email"] == f"{name}@example.com"
    assert isinstance(user["id"], int)
    assert_time(user["created_at"])


def test_register_taken_name_and_email(http: httpx.Client, account: Callable[[], Account]) -> None:
    taken = account()
    same_name = http.post("/api/auth/register",
                          json={"username": taken.username.upper(),
                                "email": f"other-{taken.username}@example.com",
                                "password": PASSWORD})
    assert_error(same_name, 409, "conflict")
    same_email = http.post("/api/auth/register",
                           json={"username": unique_name("other"),
                                 "email": f"{taken.username}@example.com",
                                 "password": PASSWORD})
    assert_error(same_email, 409, "conflict")


def test_login_returns_bearer_session(http: httpx.Client, account: Callable[[], Account]) -> None:
    trader = account()
    response = http.post("/api/auth/login",
                         json={"username": trader.username, "password": PASSWORD})
    assert response.status_code == 200
    session = response.json()
    assert set(session) == {"access_token", "token_type", "expires_in"}
    assert session["token_type"] == "bearer"
    assert isinstance(session["expires_in"], int)
    assert session["expires_in"] > 0


def test_login_oauth2_form(http: httpx.Client, account: Callable[[], Account]) -> None:
    trader = account()
    # The form that the Authorize button of /docs sends.
    response = http.post("/api/auth/login", data={
        "grant_type": "password", "username": trader.username, "password": PASSWORD,
        "scope": "", "client_id": "", "client_secret": ""})
    assert response.status_code == 200, response.text
    token = response.json()["access_token"]
    balance = http.get("/api/user/balance", headers={"Authorization": f"Bearer {token}"})
    assert balance.status_code == 200


def test_login_form_rejects_other_grant(http: httpx.Client,
                                        account: Callable[[], Account]) -> None:
    trader = account()
    response = http.post("/api/auth/login", data={
        "grant_type": "client_credentials", "username": trader.username,
        "password": PASSWORD})
    body = assert_error(response, 422, "invalid_input")
    assert body["field"] == "grant_type"


def test_bad_logins_share_one_message(http: httpx.Client,
                                      account: Callable[[], Account]) -> None:
    trader = account()
    attempts = [
        {"username": trader.username, "password": "wrong-password"},
        {"username": unique_name("nobody"), "password": PASSWORD},
    ]
    details = set()
    for credentials in attempts:
        for response in (http.post("/api/auth/login", json=credentials),
                         http.post("/api/auth/login", data=credentials)):
            body = assert_error(response, 401, "unauthenticated")
            assert response.headers["www-authenticate"] == "Bearer"
            details.add(body["detail"])
    assert details == {"invalid username or password"}


def test_login_rejects_other_media_type(http: httpx.Client) -> None:
    response = http.post("/api/auth/login", content=b"username=demo",
                         headers={"Content-Type": "text/plain"})
    body = assert_error(response, 422, "invalid_input")
    assert body["field"] == "body"


def test_balance_shape(http: httpx.Client, account: Callable[[], Account]) -> None:
    trader = account()
    response = http.get("/api/user/balance", headers=trader.headers)
    assert response.status_code == 200
    portfolio = response.json()
    assert set(portfolio) == {"balances", "total_btc", "total_usd"}
    assert [row["token_type"] for row in portfolio["balances"]] == ASSETS
    for row in portfolio["balances"]:
        assert set(row) == {"token_type", "balance", "held", "available"}
        assert assert_amount(row["balance"]) == assert_amount(row["held"]) + assert_amount(
            row["available"])
    assert portfolio["balances"][0]["balance"] == "1000.000000"
    assert portfolio["balances"][-1]["balance"] == "0.01000000"
    assert assert_amount(portfolio["total_btc"]) > 0
    assert assert_amount(portfolio["total_usd"]) > 0


def test_ledger_pages_newest_first(http: httpx.Client, account: Callable[[], Account]) -> None:
    trader = account()
    # The starting grant wrote one ledger entry per asset.
    first = http.get("/api/user/ledger", params={"limit": 4}, headers=trader.headers)
    assert first.status_code == 200
    page = first.json()
    assert set(page) == {"entries", "next_cursor"}
    assert len(page["entries"]) == 4
    assert isinstance(page["next_cursor"], str)
    for entry in page["entries"]:
        assert set(entry) == {"id", "token_type", "amount", "reason", "reference", "created_at"}
        assert entry["reason"] == "grant"
        assert assert_amount(entry["amount"]) > 0
        assert_time(entry["created_at"])

    second = http.get("/api/user/ledger", params={"limit": 4, "cursor": page["next_cursor"]},
                      headers=trader.headers).json()
    assert len(second["entries"]) == 2
    assert second["next_cursor"] is None
    ids = [entry["id"] for entry in page["entries"] + second["entries"]]
    assert ids == sorted(ids, reverse=True)
    assert {entry["token_type"] for entry in page["entries"] + second["entries"]} == set(ASSETS)


def test_token_types(http: httpx.Client) -> None:
    response = http.get("/api/tokens/types")
    assert response.status_code == 200
    types = response.json()
    assert [entry["token_type"] for entry in types] == ASSETS
    for entry in types:
        assert set(entry) == {"token_type", "description"}
        assert entry["description"]


def test_create_list_execute_history(http: httpx.Client,
                                     account: Callable[[], Account]) -> None:
    maker, taker = account(), account()
    offer = create_offer(http, maker, amount="250.5", exchange_rate="0.8")
    assert_trade(offer, "active")
    assert offer["amount"] == "250.500000"
    assert offer["exchange_rate"] == "0.8000000000"
    assert offer["creator_id"] == maker.id

    listed = http.get("/api/trades/list",
                      params={"from_token": "OpenAI", "to_token": "Anthropic", "mine": "true"},
                      headers=maker.headers)
    assert listed.status_code == 200
    page = listed.json()
    assert set(page) == {"trades", "next_cursor"}
    assert [trade["id"] for trade in page["trades"]] == [offer["id"]]
    assert page["next_cursor"] is None

    executed = http.post("/api/trades/execute", json={"trade_id": offer["id"]},
                         headers=taker.headers)
    assert executed.status_code == 200
    trade = executed.json()
    assert_trade(trade, "completed")
    assert trade["executor_id"] == taker.id

    for trader in (maker, taker):
        history = http.get("/api/trades/history", headers=trader.headers)
        assert history.status_code == 200
        assert [row["id"] for row in history.json()["trades"]] == [offer["id"]]
        assert history.json()["next_cursor"] is None
    balances = http.get("/api/user/balance", headers=taker.headers).json()["balances"]
    assert balances[0]["balance"] == "1250.500000"
    assert balances[1]["balance"] == "799.600000"


def test_list_pages_oldest_first(http: httpx.Client, account: Callable[[], Account]) -> None:
    maker = account()
    ids = [create_offer(http, maker, amount="1")["id"] for _ in range(3)]
    seen: list[int] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"mine": "true", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = http.get("/api/trades/list", params=params, headers=maker.headers).json()
        seen.extend(trade["id"] for trade in page["trades"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids


def test_execute_errors(http: httpx.Client, account: Callable[[], Account]) -> None:
    maker, taker = account(), account()
    offer = create_offer(http, maker)
    own = http.post("/api/trades/execute", json={"trade_id": offer["id"]},
                    headers=maker.headers)
    assert_error(own, 403, "forbidden")
    unknown = http.post("/api/trades/execute", json={"trade_id": 2**62},
                        headers=taker.headers)
    assert_error(unknown, 404, "not_found")
    first = http.post("/api/trades/execute", json={"trade_id": offer["id"]},
                      headers=taker.headers)
    assert first.status_code == 200
    again = http.post("/api/trades/execute", json={"trade_id": offer["id"]},
                      headers=taker.headers)
    assert_error(again, 409, "conflict")


def test_cancel_and_its_errors(http: httpx.Client, account: Callable[[], Account]) -> None:
    maker, other = account(), account()
    offer = create_offer(http, maker)
    foreign = http.post("/api/trades/cancel", json={"trade_id": offer["id"]},
                        headers=other.headers)
    assert_error(foreign, 403, "forbidden")
    cancelled = http.post("/api/trades/cancel", json={"trade_id": offer["id"]},
                          headers=maker.headers)
    assert cancelled.status_code == 200
    assert_trade(cancelled.json(), "cancelled")
    again = http.post("/api/trades/cancel", json={"trade_id": offer["id"]},
                      headers=maker.headers)
    assert_error(again, 409, "conflict")
    unknown = http.post("/api/trades/cancel", json={"trade_id": 2**62}, headers=maker.headers)
    assert_error(unknown, 404, "not_found")


def test_prices_shape(http: httpx.Client) -> None:
    response = http.get("/api/market/prices")
    assert response.status_code == 200
    prices = response.json()
    assert [price["token_type"] for price in prices] == ASSETS
    for price in prices:
        assert set(price) == {"token_type", "price_btc", "price_usd", "last_updated"}
        assert assert_amount(price["price_btc"]) > 0
        assert assert_amount(price["price_usd"]) > 0
        assert_time(price["last_updated"])


def test_price_history_shape(http: httpx.Client) -> None:
    response = http.get("/api/market/history", params={"token_type": "OpenAI", "limit": 5})
    assert response.status_code == 200
    points = response.json()
    assert 1 <= len(points) <= 5
    for point in points:
        assert set(point) == {"price_btc", "price_usd", "at"}
        assert_amount(point["price_btc"])
        assert_time(point["at"])
    missing = http.get("/api/market/history")
    assert assert_error(missing, 422, "invalid_input")["field"] == "token_type"


def test_convert_shape(http: httpx.Client, account: Callable[[], Account]) -> None:
    trader = account()
    response = http.post("/api/market/convert",
                         json={"from_token": "OpenAI", "to_token": "BTC", "amount": "100"},
                         headers=trader.headers)
    assert response.status_code == 200
    result = response.json()
    assert set(result) == {"from_token", "to_token", "amount", "received", "price_btc"}
    assert result["amount"] == "100.000000"
    assert assert_amount(result["received"]) > 0
    assert assert_amount(result["price_btc"]) > 0


def test_health(http: httpx.Client) -> None:
    response = http.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.parametrize(("method", "path", "body"), PROTECTED,
                         ids=[f"{method} {path}" for method, path, _ in PROTECTED])
def test_protected_without_token_is_401(http: httpx.Client, method: str, path: str,
                                        body: dict[str, Any] | None) -> None:
    response = http.request(method, path, json=body)
    assert_error(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"] == "Bearer"
    basic = http.request(method, path, json=body, headers={"Authorization": "Basic ZGVtbw=="})
    assert_error(basic, 401, "unauthenticated")


def test_unknown_path_is_json_404(http: httpx.Client) -> None:
    body = assert_error(http.get("/api/no-such-thing"), 404, "not_found")
    assert "/api/no-such-thing" in body["detail"]


def test_wrong_method_is_json_405(http: httpx.Client) -> None:
    response = http.get("/api/trades/create")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


def test_openapi_covers_the_contract(http: httpx.Client) -> None:
    response = http.get("/openapi.json")
    assert response.status_code == 200
    document = response.json()
    served = {(method.upper(), path) for path, operations in document["paths"].items()
              for method in operations}
    assert served == CONTRACT

    scheme = document["components"]["securitySchemes"]["OAuth2PasswordBearer"]
    assert scheme["flows"]["password"]["tokenUrl"] == "/api/auth/login"
    login_body = document["paths"]["/api/auth/login"]["post"]["requestBody"]["content"]
    assert set(login_body) == {"application/json", "application/x-www-form-urlencoded"}


def test_openapi_has_examples(http: httpx.Client) -> None:
    document = http.get("/openapi.json").json()
    schemas = document["components"]["schemas"]
    without = [name for name, schema in schemas.items() if not schema.get("examples")]
    assert without == []
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation.get("description"), f"{method} {path} has no description"
            for parameter in operation.get("parameters", []):
                schema = parameter["schema"]
                documented = (parameter.get("example") is not None or parameter.get("examples")
                              or schema.get("examples") or "default" in schema)
                assert documented, f"{method} {path} ?{parameter['name']} has no example"


def test_docs_pages(http: httpx.Client) -> None:
    docs = http.get("/docs")
    assert docs.status_code == 200
    assert "swagger-ui" in docs.text
    redoc = http.get("/redoc")
    assert redoc.status_code == 200
    assert "redoc" in redoc.text.lower()


def test_cors_preflight(http: httpx.Client) -> None:
    preflight = {"Access-Control-Request-Method": "POST",
                 "Access-Control-Request-Headers": "authorization,content-type"}
    allowed = http.options("/api/trades/create",
                           headers={"Origin": ALLOWED_ORIGIN, **preflight})
    assert allowed.status_code == 200
    assert allowed.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
    assert "POST" in allowed.headers["access-control-allow-methods"]
    assert "authorization" in allowed.headers["access-control-allow-headers"].lower()

    other = http.options("/api/trades/create",
                         headers={"Origin": "http://elsewhere.example.com", **preflight})
    assert "access-control-allow-origin" not in other.headers

    simple = http.get("/api/market/prices", headers={"Origin": ALLOWED_ORIGIN})
    assert simple.headers["access-control-allow-origin"] == ALLOWED_ORIGIN
