"""Registration and login through the backend interface."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from desk.backend import Backend, Conflict, InvalidInput, Unauthenticated
from tests.support import PASSWORD, unique_name


def test_register_grants_starting_balance(connect: Callable[[], Backend]) -> None:
    backend = connect()
    name = unique_name()
    user = backend.register(name, f"{name}@example.com", PASSWORD)

    assert user.username == name
    assert user.email == f"{name}@example.com"
    assert user.created_at.tzinfo is not None
    assert not hasattr(user, "password_hash")
    backend.login(name, PASSWORD)
    balances = {b.token_type: b.balance for b in backend.balances().balances}
    assert balances == {"OpenAI": 1000, "Anthropic": 1000, "Google": 1000, "Cohere": 1000,
                        "Mistral": 1000, "BTC": Decimal("0.01")}


def test_demo_account_logs_in(connect: Callable[[], Backend]) -> None:
    backend = connect()
    backend.login("demo", "demo123")
    assert backend.username == "demo"
    portfolio = backend.balances()
    assert all(b.balance > 0 for b in portfolio.balances)


def test_username_taken_any_case(connect: Callable[[], Backend]) -> None:
    name = unique_name()
    connect().register(name, f"{name}@example.com", PASSWORD)
    with pytest.raises(Conflict, match="already taken"):
        connect().register(name.upper(), f"other-{name}@example.com", PASSWORD)


def test_email_taken_any_case(connect: Callable[[], Backend]) -> None:
    name = unique_name()
    connect().register(name, f"{name}@example.com", PASSWORD)
    with pytest.raises(Conflict, match="already registered"):
        connect().register(unique_name(), f"{name.upper()}@EXAMPLE.com", PASSWORD)


@pytest.mark.parametrize("variant", ["ärger{n}@example.com", "a\u0308rger{n}@EXAMPLE.com"],
                         ids=["lower case", "decomposed"])
def test_email_taken_any_unicode_case(connect: Callable[[], Backend], variant: str) -> None:
    # SQLite's lower() folds only ASCII letters, so "Ä" and "ä" once made two accounts there.
    name = unique_name()
    connect().register(name, f"ÄRGER{name}@example.com", PASSWORD)

    with pytest.raises(Conflict, match="already registered"):
        connect().register(unique_name(), variant.format(n=name), PASSWORD)


def test_email_stored_in_lower_case(connect: Callable[[], Backend]) -> None:
    name = unique_name()
    user = connect().register(name, f"Ärger.{name.upper()}@Example.COM", PASSWORD)
    assert user.email == f"ärger.{name}@example.com"


@pytest.mark.parametrize(("username", "email", "password", "field"), [
    ("ab", "ab@example.com", PASSWORD, "username"),
    ("has space", "s@example.com", PASSWORD, "username"),
    ("x" * 33, "x@example.com", PASSWORD, "username"),
    ("-leading", "l@example.com", PASSWORD, "username"),
    ("valid_name", "not-an-email", PASSWORD, "email"),
    ("valid_name", "a@b", PASSWORD, "email"),
    ("valid_name", "v@example.com", "short", "password"),
    ("valid_name", "v@example.com", "x" * 73, "password"),
    ("valid_name", "v@example.com", "pass\x00word", "password"),
    ("valid_name", "v@example.com", "pass\ud800word", "password"),
])
def test_register_rejects(connect: Callable[[], Backend], username: str, email: str,
                          password: str, field: str) -> None:
    with pytest.raises(InvalidInput) as raised:
        connect().register(username, email, password)
    assert raised.value.field == field


def test_password_of_72_bytes_works(connect: Callable[[], Backend]) -> None:
    name = unique_name()
    password = "é" * 36  # 72 bytes in UTF-8
    connect().register(name, f"{name}@example.com", password)
    backend = connect()
    backend.login(name, password)
    assert backend.user_id is not None


def test_bad_logins_share_one_message(connect: Callable[[], Backend]) -> None:
    name = unique_name()
    connect().register(name, f"{name}@example.com", PASSWORD)
    messages = set()
    for username, password in ((name, "wrong-password"), ("nobody-here", PASSWORD),
                               ("house", PASSWORD)):
        with pytest.raises(Unauthenticated) as raised:
            connect().login(username, password)
        messages.add(raised.value.message)
    assert messages == {"invalid username or password"}


def test_login_ignores_username_case(connect: Callable[[], Backend]) -> None:
    name = unique_name()
    connect().register(name, f"{name}@example.com", PASSWORD)
    backend = connect()
    backend.login(name.upper(), PASSWORD)
    assert backend.balances().balances


def test_login_rejects_overlong_password(connect: Callable[[], Backend]) -> None:
    with pytest.raises(InvalidInput) as raised:
        connect().login("demo", "x" * 73)
    assert raised.value.field == "password"


@pytest.mark.parametrize(("username", "password", "field"), [
    ("de\x00mo", "demo123", "username"),
    ("de\udc00mo", "demo123", "username"),
    ("demo", "demo\x00123", "password"),
    ("demo", "demo\ud800123", "password"),
])
def test_login_rejects_unstorable_text(connect: Callable[[], Backend], username: str,
                                       password: str, field: str) -> None:
    # PostgreSQL rejects NUL in text, bcrypt in passwords; a lone surrogate has no UTF-8.
    with pytest.raises(InvalidInput) as raised:
        connect().login(username, password)
    assert raised.value.field == field


def test_failed_login_keeps_no_session(connect: Callable[[], Backend]) -> None:
    backend = connect()
    with pytest.raises(Unauthenticated):
        backend.login("demo", "not-the-password")
    assert backend.session is None
    with pytest.raises(Unauthenticated):
        backend.balances()
