"""Login throttling over HTTP: 429 with Retry-After, the log, and two servers on one database.

The servers here allow 3 failed logins per username and 6 per client address in 10 minutes.
Requests choose their client address with ``X-Forwarded-For``, which uvicorn takes from a
client on 127.0.0.1 (its default ``forwarded_allow_ips``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from desk.backend import RateLimited
from desk.backend.remote import HttpBackend
from tests.server.conftest import register_and_login
from tests.serving import ServerProcess
from tests.support import PASSWORD, unique_name

THROTTLE_SETTINGS = {
    "DESK_LOGIN_WINDOW_SECONDS": "600",
    "DESK_LOGIN_MAX_FAILURES_PER_USERNAME": "3",
    "DESK_LOGIN_MAX_FAILURES_PER_ADDRESS": "6",
}


@pytest.fixture(scope="module")
def throttling_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(tmp_path_factory.mktemp("throttle"), environment=THROTTLE_SETTINGS)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def client(throttling_server: ServerProcess) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=throttling_server.url, timeout=30.0) as http:
        yield http


def login(client: httpx.Client, username: str, password: str, address: str) -> httpx.Response:
    return client.post("/api/auth/login", json={"username": username, "password": password},
                       headers={"X-Forwarded-For": address})


def test_failed_logins_get_429(client: httpx.Client,
                               throttling_server: ServerProcess) -> None:
    alice = register_and_login(client).username
    start = throttling_server.log_size()
    statuses = [login(client, alice, "wrong-password", "198.51.100.1").status_code
                for _ in range(3)]
    throttled = login(client, alice, PASSWORD, "198.51.100.2")

    assert statuses == [401, 401, 401]
    assert throttled.status_code == 429
    assert throttled.json() == {"detail": "too many failed logins; try again in 600 seconds",
                                "code": "rate_limited"}
    assert 1 <= int(throttled.headers["Retry-After"]) <= 600
    log = throttling_server.log_text(start)
    assert f"failed login for username {alice!r} from 198.51.100.1" in log
    assert f"rejected a login for username {alice!r} from 198.51.100.2" in log
    assert "POST /api/auth/login failed: rate_limited" in log
    assert "wrong-password" not in log
    assert PASSWORD not in log


def test_successful_logins_pass(client: httpx.Client) -> None:
    alice = register_and_login(client).username
    login(client, alice, "wrong-password", "198.51.100.3")
    login(client, alice, "wrong-password", "198.51.100.3")
    statuses = {login(client, alice, PASSWORD, "198.51.100.3").status_code for _ in range(20)}
    assert statuses == {200}
    # The success cleared the two failures: three more are allowed before a 429.
    again = [login(client, alice, "wrong-password", "198.51.100.4").status_code
             for _ in range(4)]
    assert again == [401, 401, 401, 429]


def test_address_limit_spans_usernames(client: httpx.Client) -> None:
    names = [register_and_login(client).username for _ in range(7)]
    statuses = [login(client, name, "wrong-password", "203.0.113.5").status_code
                for name in names[:6]]
    assert statuses == [401] * 6
    assert login(client, names[6], PASSWORD, "203.0.113.5").status_code == 429
    assert login(client, names[6], PASSWORD, "203.0.113.6").status_code == 200


def test_oauth_form_throttled_too(client: httpx.Client) -> None:
    alice = register_and_login(client).username
    for _ in range(3):
        login(client, alice, "wrong-password", "198.51.100.7")
    form = client.post("/api/auth/login", data={"username": alice, "password": PASSWORD},
                       headers={"X-Forwarded-For": "198.51.100.7"})
    assert form.status_code == 429


def test_http_backend_raises_rate_limited(throttling_server: ServerProcess) -> None:
    backend = HttpBackend(throttling_server.url)
    name = unique_name()
    backend.register(name, f"{name}@example.com", PASSWORD)
    for _ in range(3):
        with pytest.raises(Exception, match="invalid username or password"):
            backend.login(name, "wrong-password")
    with pytest.raises(RateLimited) as caught:
        backend.login(name, PASSWORD)
    assert caught.value.retry_after is not None
    assert 1 <= caught.value.retry_after <= 600
    backend.close()


@pytest.mark.slow
def test_servers_share_counts(tmp_path: Path) -> None:
    """Failures counted by one server process throttle the same username on another."""
    database = f"sqlite:///{tmp_path / 'shared.db'}"
    first = ServerProcess(tmp_path / "first", database_url=database, environment=THROTTLE_SETTINGS)
    second = ServerProcess(tmp_path / "second", database_url=database,
                           environment=THROTTLE_SETTINGS)
    for folder in (first.folder, second.folder):
        folder.mkdir()
    first.start()
    second.start()
    try:
        with httpx.Client(base_url=first.url) as one, httpx.Client(base_url=second.url) as two:
            alice = register_and_login(one).username
            for _ in range(3):
                assert login(one, alice, "wrong-password", "192.0.2.1").status_code == 401
            assert login(two, alice, PASSWORD, "192.0.2.2").status_code == 429
    finally:
        first.stop()
        second.stop()
