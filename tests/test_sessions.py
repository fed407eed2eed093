"""Session tokens: expiry, forgery and tampering, checked on the in-process market."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest
from sqlalchemy import event

from desk.backend import LocalBackend, Market, Unauthenticated
from desk.backend.security import load_or_create_secret
from tests.conftest import SECRET
from tests.support import Clock


def demo_token(market: Market) -> str:
    return market.login("demo", "demo123").access_token


def test_token_verifies(market: Market) -> None:
    user_id = market.authenticate(demo_token(market))
    assert market.user(user_id).username == "demo"


def test_expired_token(market: Market, clock: Clock) -> None:
    token = demo_token(market)
    clock.advance(market.config.token_lifetime)
    with pytest.raises(Unauthenticated, match="session expired"):
        market.authenticate(token)


def test_backend_reports_expiry(market: Market, clock: Clock) -> None:
    backend = LocalBackend(market)
    backend.login("demo", "demo123")
    clock.advance(market.config.token_lifetime + timedelta(seconds=1))
    with pytest.raises(Unauthenticated, match="log in again"):
        backend.balances()


def _claims(token: str) -> dict[str, object]:
    return jwt.decode(token, SECRET, algorithms=["HS256"],
                      options={"verify_exp": False, "verify_iat": False})


@pytest.mark.parametrize("attack", ["other key", "alg none", "tampered", "no exp", "no sub",
                                    "numeric sub", "house", "garbage", "empty"])
def test_bad_tokens_rejected(market: Market, attack: str) -> None:
    good = demo_token(market)
    claims = _claims(good)
    if attack == "other key":
        token = jwt.encode(claims, "another-key-" + "y" * 32, algorithm="HS256")
    elif attack == "alg none":
        token = jwt.encode(claims, None, algorithm="none")
    elif attack == "tampered":
        header, payload, signature = good.split(".")
        forged = dict(claims, sub="1")
        raw = base64.urlsafe_b64encode(json.dumps(forged).encode()).decode().rstrip("=")
        token = ".".join((header, raw, signature))
    elif attack == "no exp":
        token = jwt.encode({"sub": claims["sub"]}, SECRET, algorithm="HS256")
    elif attack == "no sub":
        token = jwt.encode({"exp": claims["exp"]}, SECRET, algorithm="HS256")
    elif attack == "numeric sub":
        token = jwt.encode(dict(claims, sub=int(str(claims["sub"]))), SECRET, algorithm="HS256")
    elif attack == "house":
        token = jwt.encode(dict(claims, sub="1"), SECRET, algorithm="HS256")
    elif attack == "garbage":
        token = "not.a.token"
    else:
        token = ""
    with pytest.raises(Unauthenticated):
        market.authenticate(token)


# Subjects that are not a user id in ASCII digits, or name no row that an INTEGER id can hold.
STRANGE_SUBJECTS = ["²", "١", "０", "007", "1.0", "-1", str(2**31), str(2**63), "9" * 30,
                    "9" * 5000]


@pytest.mark.parametrize("subject", STRANGE_SUBJECTS, ids=lambda subject: subject[:12])
def test_strange_subject_rejected(market: Market, subject: str) -> None:
    claims = dict(_claims(demo_token(market)), sub=subject)
    token = jwt.encode(claims, SECRET, algorithm="HS256")

    with pytest.raises(Unauthenticated, match="invalid session token"):
        market.authenticate(token)


@pytest.mark.parametrize("expiry", [float("nan"), float("inf")])
def test_endless_expiry_rejected(market: Market, expiry: float) -> None:
    # A NaN expiry is never before any time, so a plain comparison would accept it forever.
    claims = dict(_claims(demo_token(market)), exp=expiry)
    token = jwt.encode(claims, SECRET, algorithm="HS256")

    with pytest.raises(Unauthenticated, match="invalid session token"):
        market.authenticate(token)


def test_secret_key_created_once(tmp_path) -> None:  # type: ignore[no-untyped-def]
    first = load_or_create_secret(tmp_path / "data")
    second = load_or_create_secret(tmp_path / "data")
    assert first == second
    assert len(first) >= 32
    assert (tmp_path / "data" / "secret.key").stat().st_mode & 0o077 == 0
    assert list((tmp_path / "data").iterdir()) == [tmp_path / "data" / "secret.key"]


def count_statements(market: Market) -> list[str]:
    """Return a list that collects every SQL statement the market runs from now on."""
    statements: list[str] = []
    event.listen(market.database.engine, "before_cursor_execute",
                 lambda _conn, _cursor, statement, *_: statements.append(statement))
    return statements


def test_known_trader_skips_lookup(market: Market) -> None:
    token = demo_token(market)
    first = market.authenticate(token)
    statements = count_statements(market)

    assert market.authenticate(token) == first
    assert statements == []


def test_known_trader_token_still_expires(market: Market, clock: Clock) -> None:
    token = demo_token(market)
    market.authenticate(token)
    clock.advance(market.config.token_lifetime)
    with pytest.raises(Unauthenticated, match="session expired"):
        market.authenticate(token)


def test_house_rejected_after_trader_known(market: Market) -> None:
    good = demo_token(market)
    market.authenticate(good)
    house = jwt.encode(dict(_claims(good), sub="1"), SECRET, algorithm="HS256")
    with pytest.raises(Unauthenticated):
        market.authenticate(house)
