"""Session tokens that the server must reject with 401."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import jwt
import pytest
from sqlalchemy import create_engine, select

from desk.backend.models import User
from tests.server.conftest import Account
from tests.serving import SERVER_SECRET

OTHER_SECRET = "another-signing-key-" + "o" * 32


def signed(claims: dict[str, Any], key: str = SERVER_SECRET, algorithm: str = "HS256") -> str:
    return jwt.encode(claims, key, algorithm=algorithm)


def encode_part(value: dict[str, Any]) -> str:
    raw = json.dumps(value, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_part(part: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))
    return decoded


def in_one_hour() -> datetime:
    return datetime.now(UTC) + timedelta(hours=1)


def expired(user: Account) -> str:
    return signed({"sub": str(user.id), "exp": datetime.now(UTC) - timedelta(minutes=1)})


def forged(user: Account) -> str:
    return signed({"sub": str(user.id), "exp": in_one_hour()}, key=OTHER_SECRET)


def tampered(user: Account) -> str:
    """Change the subject of a valid token and keep its signature."""
    header, payload, signature = user.token.split(".")
    claims = decode_part(payload)
    claims["sub"] = str(user.id + 1)
    return f"{header}.{encode_part(claims)}.{signature}"


def unsigned(user: Account) -> str:
    header = encode_part({"alg": "none", "typ": "JWT"})
    claims = encode_part({"sub": str(user.id), "exp": int(in_one_hour().timestamp())})
    return f"{header}.{claims}."


def without_subject(user: Account) -> str:
    return signed({"exp": in_one_hour()})


def without_expiry(user: Account) -> str:
    return signed({"sub": str(user.id)})


def numeric_subject(user: Account) -> str:
    # Tokens carry sub as a string; PyJWT rejects a number there.
    return signed({"sub": user.id, "exp": in_one_hour()})


def unknown_user(user: Account) -> str:
    return signed({"sub": "999999999", "exp": in_one_hour()})


def other_algorithm(user: Account) -> str:
    return signed({"sub": str(user.id), "exp": in_one_hour()}, algorithm="HS512")


def garbage(user: Account) -> str:
    return "not-a-token"


ATTACKS: list[Callable[[Account], str]] = [
    expired, forged, tampered, unsigned, without_subject, without_expiry, numeric_subject,
    unknown_user, other_algorithm, garbage,
]


# The HS512 attack signs with the server's key, which PyJWT finds short for HS512.
@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")
@pytest.mark.parametrize("make_token", ATTACKS, ids=[attack.__name__ for attack in ATTACKS])
def test_bad_token_is_401(make_token: Callable[[Account], str], http: httpx.Client,
                          account: Callable[[], Account]) -> None:
    user = account()
    headers = {"Authorization": f"Bearer {make_token(user)}"}
    for method, path in (("GET", "/api/user/balance"), ("GET", "/api/trades/list"),
                         ("POST", "/api/trades/cancel")):
        response = http.request(method, path, headers=headers,
                                json={"trade_id": 1} if method == "POST" else None)
        assert response.status_code == 401, response.text
        assert response.json()["code"] == "unauthenticated"
        assert response.headers["www-authenticate"] == "Bearer"


def test_valid_token_is_accepted(http: httpx.Client, account: Callable[[], Account]) -> None:
    user = account()
    # The same claims as a real session, signed with the server's key.
    token = signed({"sub": str(user.id), "exp": in_one_hour()})
    response = http.get("/api/user/balance", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200


def test_expired_token_message(http: httpx.Client, account: Callable[[], Account]) -> None:
    user = account()
    response = http.get("/api/user/balance",
                        headers={"Authorization": f"Bearer {expired(user)}"})
    assert response.json()["detail"] == "session expired; log in again"


def test_house_account_cannot_act(http: httpx.Client, market_url: str) -> None:
    # The house account is a real user, but it is the market's counterparty, not a trader.
    engine = create_engine(market_url)
    try:
        with engine.connect() as connection:
            house_id = connection.execute(
                select(User.id).where(User.kind == "house")).scalar_one()
    finally:
        engine.dispose()
    token = signed({"sub": str(house_id), "exp": in_one_hour()})
    response = http.get("/api/user/balance", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
