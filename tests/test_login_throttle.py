"""Login throttling in the market, on SQLite and PostgreSQL.

tests/server/test_login_throttle.py covers the 429 response, ``Retry-After`` and several
server processes on one database.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from desk.backend import InvalidInput, Market, MarketConfig, RateLimited, Unauthenticated
from desk.backend.models import LoginAttempt
from desk.backend.throttle import LoginLimits
from tests.conftest import SECRET
from tests.support import PASSWORD, Clock, unique_name

LIMITS = LoginLimits(window=timedelta(minutes=10), per_username=3, per_address=5)
WINDOW_SECONDS = 600


@pytest.fixture
def throttled(db_url: str, clock: Clock) -> Iterator[Market]:
    """A market that allows 3 failed logins per username and 5 per address in 10 minutes."""
    config = MarketConfig(secret_key=SECRET, bcrypt_rounds=4, clock=clock, login_limits=LIMITS)
    market = Market.open(db_url, config)
    yield market
    market.close()


def register(market: Market) -> str:
    name = unique_name()
    market.register(name, f"{name}@example.com", PASSWORD)
    return name


def fail(market: Market, username: str, address: str | None = None) -> None:
    with pytest.raises(Unauthenticated):
        market.login(username, "wrong-password", address)


def attempts(market: Market) -> int:
    with market.database.read() as connection:
        return connection.execute(select(func.count()).select_from(LoginAttempt)).scalar_one()


def test_username_longer_in_lower_case(throttled: Market) -> None:
    # 32 characters, which lower() turns into 64: "İ" becomes "i" and a combining dot.
    username = "İ" * 32

    for _ in range(3):
        fail(throttled, username)

    with pytest.raises(RateLimited):
        throttled.login(username, "wrong-password")


def test_username_throttled_after_failures(throttled: Market) -> None:
    alice = register(throttled)
    for _ in range(3):
        fail(throttled, alice)

    with pytest.raises(RateLimited) as wrong:
        throttled.login(alice, "wrong-password")
    with pytest.raises(RateLimited) as right:
        throttled.login(alice, PASSWORD)

    assert wrong.value.status_code == 429
    assert wrong.value.retry_after == WINDOW_SECONDS
    assert right.value.retry_after == WINDOW_SECONDS
    assert str(wrong.value) == f"too many failed logins; try again in {WINDOW_SECONDS} seconds"
    assert attempts(throttled) == 3


def test_username_case_counts_once(throttled: Market) -> None:
    alice = register(throttled)
    for name in (alice.upper(), alice.lower(), alice.title()):
        fail(throttled, name)
    with pytest.raises(RateLimited):
        throttled.login(alice, PASSWORD)


def test_unknown_username_throttled_alike(throttled: Market) -> None:
    for _ in range(3):
        fail(throttled, "nobody-here")
    with pytest.raises(RateLimited):
        throttled.login("nobody-here", "wrong-password")


def test_successful_logins_not_counted(throttled: Market) -> None:
    alice = register(throttled)
    for _ in range(10):
        assert throttled.login(alice, PASSWORD).access_token
    assert attempts(throttled) == 0


def test_success_clears_username_failures(throttled: Market) -> None:
    alice = register(throttled)
    fail(throttled, alice)
    fail(throttled, alice)
    throttled.login(alice, PASSWORD)
    assert attempts(throttled) == 0
    for _ in range(3):
        fail(throttled, alice)
    with pytest.raises(RateLimited):
        throttled.login(alice, PASSWORD)


def test_retry_after_counts_down(throttled: Market, clock: Clock) -> None:
    alice = register(throttled)
    fail(throttled, alice)
    clock.advance(timedelta(seconds=100))
    fail(throttled, alice)
    fail(throttled, alice)
    clock.advance(timedelta(seconds=150))

    with pytest.raises(RateLimited) as caught:
        throttled.login(alice, PASSWORD)
    # The first failure, 250 s ago, leaves the 600 s window in 350 s.
    assert caught.value.retry_after == 350

    clock.advance(timedelta(seconds=350))
    assert throttled.login(alice, PASSWORD).access_token


def test_address_throttled_across_usernames(throttled: Market) -> None:
    names = [register(throttled) for _ in range(6)]
    for name in names[:5]:
        fail(throttled, name, "192.0.2.7")

    with pytest.raises(RateLimited):
        throttled.login(names[5], PASSWORD, "192.0.2.7")
    assert throttled.login(names[5], PASSWORD, "192.0.2.8").access_token
    assert throttled.login(names[5], PASSWORD).access_token


def test_overlong_username_is_invalid(throttled: Market) -> None:
    with pytest.raises(InvalidInput) as caught:
        throttled.login("u" * 33, PASSWORD, "192.0.2.7")
    assert caught.value.field == "username"
    assert attempts(throttled) == 0


def test_purge_drops_old_attempts(throttled: Market, clock: Clock) -> None:
    alice = register(throttled)
    fail(throttled, alice)
    fail(throttled, alice)
    clock.advance(LIMITS.window)
    fail(throttled, alice)

    assert throttled.purge_login_attempts() == 2
    assert attempts(throttled) == 1


def test_failures_logged_without_password(throttled: Market,
                                          caplog: pytest.LogCaptureFixture) -> None:
    alice = register(throttled)
    caplog.set_level(logging.INFO, logger="desk")
    for _ in range(3):
        fail(throttled, alice, "192.0.2.9")
    for _ in range(4):
        with pytest.raises(RateLimited):
            throttled.login(alice, "wrong-password", "192.0.2.9")

    failed = [r.getMessage() for r in caplog.records if "failed login" in r.getMessage()]
    rejected = [r for r in caplog.records if "rejected a login" in r.getMessage()]
    assert failed == [f"failed login for username {alice!r} from 192.0.2.9"] * 3
    assert len(rejected) == 1
    assert rejected[0].levelno == logging.WARNING
    assert f"username {alice!r} from 192.0.2.9" in rejected[0].getMessage()
    assert all("wrong-password" not in record.getMessage() for record in caplog.records)


@pytest.mark.slow
def test_concurrent_failures_respect_limit(throttled: Market) -> None:
    alice = register(throttled)
    start = threading.Barrier(8)

    def attempt(_: int) -> str:
        start.wait(timeout=30)
        try:
            throttled.login(alice, "wrong-password")
        except Unauthenticated:
            return "401"
        except RateLimited:
            return "429"
        return "200"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = sorted(pool.map(attempt, range(8)))
    assert outcomes == ["401"] * 3 + ["429"] * 5
