"""Rejected input over HTTP: the status, the error body, and no change to the market.

Each request body is written out as the JSON text that goes over the wire, so that numbers
such as ``1e400`` or ``0.1`` reach the server exactly as a client would send them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import httpx
import pytest

from desk.backend import InvalidInput
from desk.backend.remote import HttpBackend
from tests.server.conftest import Account, create_offer, register_and_login
from tests.serving import ServerProcess
from tests.support import snapshot, unique_name

OFFER = "<offer>"
"""Replaced by the id of the scene's open offer in a request body."""


@dataclass(frozen=True)
class Scene:
    """A maker with an open offer that costs more Anthropic than the taker has."""

    maker: Account
    taker: Account
    offer_id: int


@dataclass(frozen=True)
class Rejection:
    name: str
    path: str
    body: str
    status: int
    code: str
    field: str | None = None
    actor: str = "taker"
    content_type: str = "application/json"


def offer(amount: str = '"10"', rate: str = '"0.8"', from_token: str = '"OpenAI"',
          to_token: str = '"Anthropic"') -> str:
    """Write the JSON text of an offer, each value as given (so numbers stay unquoted)."""
    return (f'{{"from_token": {from_token}, "to_token": {to_token}, "amount": {amount}, '
            f'"exchange_rate": {rate}}}')


def conversion(amount: str, from_token: str = '"OpenAI"', to_token: str = '"BTC"') -> str:
    return f'{{"from_token": {from_token}, "to_token": {to_token}, "amount": {amount}}}'


def register(password: str) -> str:
    name = unique_name("reject")
    return (f'{{"username": "{name}", "email": "{name}@example.com", '
            f'"password": "{password}"}}')


CREATE = "/api/trades/create"
EXECUTE = "/api/trades/execute"
CANCEL = "/api/trades/cancel"
CONVERT = "/api/market/convert"
REGISTER = "/api/auth/register"
LOGIN = "/api/auth/login"

REJECTIONS = [
    # Amounts that are not finite, positive numbers.
    Rejection("amount NaN string", CREATE, offer(amount='"NaN"'), 422, "invalid_input", "amount"),
    Rejection("amount NaN literal", CREATE, offer(amount="NaN"), 422, "invalid_input", "body"),
    Rejection("amount Infinity string", CREATE, offer(amount='"Infinity"'), 422,
              "invalid_input", "amount"),
    Rejection("amount -Infinity literal", CREATE, offer(amount="-Infinity"), 422,
              "invalid_input", "body"),
    Rejection("amount 1e400", CREATE, offer(amount="1e400"), 422, "invalid_input", "amount"),
    Rejection("amount 1e-400", CREATE, offer(amount="1e-400"), 422, "invalid_input", "amount"),
    Rejection("amount tiny exponent", CREATE, offer(amount="1E-999999999999"), 422,
              "invalid_input", "amount"),
    Rejection("amount zero", CREATE, offer(amount="0"), 422, "invalid_input", "amount"),
    Rejection("amount zero string", CREATE, offer(amount='"0.000"'), 422, "invalid_input",
              "amount"),
    Rejection("amount negative", CREATE, offer(amount="-5"), 422, "invalid_input", "amount"),
    Rejection("amount too many decimals", CREATE, offer(amount='"1.1234567"'), 422,
              "invalid_input", "amount"),
    Rejection("btc amount below satoshi", CREATE,
              offer(amount='"0.000000001"', from_token='"BTC"', to_token='"OpenAI"'), 422,
              "invalid_input", "amount"),
    Rejection("amount above 10^12", CREATE, offer(amount="1000000000001"), 422,
              "invalid_input", "amount"),
    Rejection("amount long number", CREATE, offer(amount="12345678901234567890.123456"), 422,
              "invalid_input", "amount"),
    Rejection("amount not a number", CREATE, offer(amount='"ten"'), 422, "invalid_input",
              "amount"),
    Rejection("amount boolean", CREATE, offer(amount="true"), 422, "invalid_input", "amount"),
    Rejection("amount null", CREATE, offer(amount="null"), 422, "invalid_input", "amount"),
    Rejection("amount list", CREATE, offer(amount="[1]"), 422, "invalid_input", "amount"),
    Rejection("amount 5000 digits", CREATE, offer(amount="9" * 5000), 422, "invalid_input",
              "body"),
    # Rates and token types.
    Rejection("rate zero", CREATE, offer(rate="0"), 422, "invalid_input", "exchange_rate"),
    Rejection("rate too many decimals", CREATE, offer(rate='"0.12345678901"'), 422,
              "invalid_input", "exchange_rate"),
    Rejection("rate pays nothing", CREATE, offer(amount='"0.000001"', rate='"0.1"'), 422,
              "invalid_input", "exchange_rate"),
    Rejection("unknown token", CREATE, offer(from_token='"Foo"'), 422, "invalid_input",
              "from_token"),
    Rejection("token wrong case", CREATE, offer(to_token='"openai"'), 422, "invalid_input",
              "to_token"),
    Rejection("same token both sides", CREATE, offer(to_token='"OpenAI"'), 422,
              "invalid_input", "to_token"),
    # Malformed bodies.
    Rejection("malformed JSON", CREATE, '{"from_token": "OpenAI", ', 422, "invalid_input",
              "body"),
    Rejection("empty body", CREATE, "", 422, "invalid_input", "body"),
    Rejection("body is a list", CREATE, "[]", 422, "invalid_input", "body"),
    Rejection("unknown field", CREATE, offer()[:-1] + ', "price": "1"}', 422, "invalid_input",
              "price"),
    Rejection("missing field", CREATE, '{"from_token": "OpenAI", "to_token": "Anthropic", '
              '"amount": "1"}', 422, "invalid_input", "exchange_rate"),
    Rejection("not JSON content type", CREATE, offer(), 422, "invalid_input", "body",
              content_type="text/plain"),
    Rejection("deeply nested", CREATE, "[" * 30000 + "]" * 30000, 422, "invalid_input",
              "body"),
    Rejection("body over 64 KiB", CREATE, offer(amount='"' + "1" * 70000 + '"'), 413,
              "too_large"),
    # Trades that the caller may not take or cancel, or cannot pay for.
    Rejection("execute own offer", EXECUTE, f'{{"trade_id": {OFFER}}}', 403, "forbidden",
              actor="maker"),
    Rejection("cancel another's offer", CANCEL, f'{{"trade_id": {OFFER}}}', 403, "forbidden"),
    Rejection("taker without funds", EXECUTE, f'{{"trade_id": {OFFER}}}', 409,
              "insufficient_funds"),
    Rejection("offer without funds", CREATE, offer(amount='"5000"'), 409, "insufficient_funds"),
    Rejection("execute unknown trade", EXECUTE, '{"trade_id": 999999999}', 404, "not_found"),
    Rejection("trade id string", EXECUTE, '{"trade_id": "1"}', 422, "invalid_input",
              "trade_id"),
    Rejection("trade id fraction", EXECUTE, '{"trade_id": 1.5}', 422, "invalid_input",
              "trade_id"),
    Rejection("trade id negative", EXECUTE, '{"trade_id": -1}', 422, "invalid_input",
              "trade_id"),
    Rejection("trade id huge", CANCEL, '{"trade_id": 100000000000000000000000}', 422,
              "invalid_input", "trade_id"),
    # Conversions.
    Rejection("convert NaN", CONVERT, conversion('"NaN"'), 422, "invalid_input", "amount"),
    Rejection("convert same token", CONVERT, conversion('"1"', to_token='"OpenAI"'), 422,
              "invalid_input", "to_token"),
    Rejection("convert without funds", CONVERT, conversion('"5000"'), 409,
              "insufficient_funds"),
    Rejection("convert worth nothing", CONVERT, conversion('"0.000001"'), 422,
              "invalid_input", "amount"),
    # Accounts.
    Rejection("password 73 bytes", REGISTER, register("p" * 73), 422, "invalid_input",
              "password"),
    Rejection("password 74 bytes in 37 characters", REGISTER, register("\u00e4" * 37), 422,
              "invalid_input", "password"),
    Rejection("password too short", REGISTER, register("abc"), 422, "invalid_input",
              "password"),
    Rejection("username invalid", REGISTER,
              '{"username": "a b", "email": "ab@example.com", "password": "secret123"}', 422,
              "invalid_input", "username"),
    Rejection("email invalid", REGISTER,
              '{"username": "mail1", "email": "not-an-address", "password": "secret123"}', 422,
              "invalid_input", "email"),
    Rejection("login password 73 bytes", LOGIN,
              '{"username": "demo", "password": "' + "p" * 73 + '"}', 422, "invalid_input",
              "password"),
]


@pytest.fixture
def scene(http: httpx.Client) -> Scene:
    maker = register_and_login(http, "maker")
    taker = register_and_login(http, "taker")
    # 10 OpenAI at 200 Anthropic each costs 2,000 Anthropic; a new account has 1,000.
    open_offer = create_offer(http, maker, amount="10", exchange_rate="200")
    return Scene(maker=maker, taker=taker, offer_id=open_offer["id"])


@pytest.mark.parametrize("case", REJECTIONS, ids=[case.name for case in REJECTIONS])
def test_rejected_request_changes_nothing(case: Rejection, http: httpx.Client, scene: Scene,
                                          market_url: str) -> None:
    actor = scene.maker if case.actor == "maker" else scene.taker
    body = case.body.replace(OFFER, str(scene.offer_id)).encode("utf-8")
    before = snapshot(market_url)

    response = http.post(case.path, content=body,
                         headers={**actor.headers, "Content-Type": case.content_type})

    assert response.status_code == case.status, response.text
    error = response.json()
    assert error["code"] == case.code
    assert isinstance(error["detail"], str)
    assert error["detail"]
    if case.field is not None:
        assert error["field"] == case.field
        assert error["detail"].startswith(f"{case.field}: ")
    assert snapshot(market_url) == before


def test_long_number_is_never_rounded(http: httpx.Client, scene: Scene) -> None:
    response = http.post(CREATE, content=offer(amount="12345678901234567890.123456"),
                         headers={**scene.taker.headers, "Content-Type": "application/json"})
    assert response.status_code == 422
    # The message repeats every digit: the number was read exactly, not through a float.
    assert "12345678901234567890.123456" in response.json()["detail"]


def test_invalid_utf8_body(http: httpx.Client, scene: Scene, market_url: str) -> None:
    before = snapshot(market_url)
    response = http.post(CREATE, content=b'{"amount": "\xff"}',
                         headers={**scene.taker.headers, "Content-Type": "application/json"})
    assert response.status_code == 422
    assert response.json()["field"] == "body"
    assert snapshot(market_url) == before


def test_rejections_never_echo_password(http: httpx.Client) -> None:
    password = "p" * 70 + "\u00e4\u00e4"
    response = http.post(REGISTER, json={"username": "x", "email": "x@example.com",
                                         "password": password})
    assert response.status_code == 422
    assert password not in response.text
    wrong_type = http.post(LOGIN, json={"username": 5, "password": ["hunter2-secret"]})
    assert wrong_type.status_code == 422
    assert "hunter2-secret" not in wrong_type.text


@pytest.mark.parametrize("credentials", [
    {"username": {"password": "hunter2-secret"}, "password": "correct-horse"},
    {"username": ["demo", "hunter2-secret"], "password": "correct-horse"},
], ids=["object", "array"])
def test_nested_password_never_echoed(credentials: dict[str, object],
                                      http: httpx.Client) -> None:
    response = http.post(LOGIN, json=credentials)

    assert response.status_code == 422
    assert response.json()["field"] == "username"
    assert "hunter2-secret" not in response.text


@pytest.mark.parametrize(("path", "params", "field"), [
    ("/api/trades/list", {"limit": 0}, "limit"),
    ("/api/trades/list", {"limit": 201}, "limit"),
    ("/api/trades/list", {"limit": "ten"}, "limit"),
    ("/api/trades/list", {"cursor": "not-a-cursor"}, "cursor"),
    ("/api/trades/list", {"from_token": "Foo"}, "from_token"),
    ("/api/trades/list", {"mine": "perhaps"}, "mine"),
    ("/api/trades/history", {"limit": 0}, "limit"),
    ("/api/user/ledger", {"cursor": "W10"}, "cursor"),
    ("/api/market/history", {"token_type": "Foo"}, "token_type"),
    ("/api/market/history", {"token_type": "BTC", "limit": 1001}, "limit"),
], ids=lambda value: str(value))
def test_rejected_query(path: str, params: dict[str, str | int], field: str, http: httpx.Client,
                        account: Callable[[], Account]) -> None:
    response = http.get(path, params=params, headers=account().headers)
    assert response.status_code == 422, response.text
    assert response.json()["code"] == "invalid_input"
    assert response.json()["field"] == field


def test_json_float_taken_exactly(http: httpx.Client, account: Callable[[], Account]) -> None:
    trader = account()
    # 0.1 has no exact binary float, and the rate has more digits than a float holds.
    response = http.post(CREATE, content=offer(amount="0.1", rate="12345678.1234567891"),
                         headers={**trader.headers, "Content-Type": "application/json"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["amount"] == "0.100000"
    assert created["exchange_rate"] == "12345678.1234567891"

    balances = http.get("/api/user/balance", headers=trader.headers).json()["balances"]
    assert balances[0]["held"] == "0.100000"
    assert balances[0]["available"] == "999.900000"

    converted = http.post(CONVERT, content=conversion("0.3"),
                          headers={**trader.headers, "Content-Type": "application/json"})
    assert converted.status_code == 200, converted.text
    assert converted.json()["amount"] == "0.300000"
    assert Decimal(converted.json()["received"]) > 0


def test_http_backend_restores_field(server: ServerProcess) -> None:
    backend = HttpBackend(server.url)
    with pytest.raises(InvalidInput) as caught:
        backend.register("x", "x@example.com", "secret123")
    assert caught.value.field == "username"
    assert caught.value.reason.startswith("must be 3 to 32 characters")
    assert str(caught.value) == caught.value.message
    assert caught.value.message.startswith("username: ")
    backend.close()
