"""The market audit: its checks on a market that keeps trading, and the ``desk audit`` command."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import Connection, insert, text, update

from desk.backend import Market
from desk.backend.audit import audit
from desk.backend.models import Balance, LedgerEntry, Trade
from desk.cli import main
from tests.serving import free_port, server_environment
from tests.support import PASSWORD, START, unique_name

# Offers created and taken by the trading thread while the audits run.
TRADING_ROUNDS = 60


def register(market: Market) -> int:
    name = unique_name()
    return market.register(name, f"{name}@example.com", PASSWORD).id


@pytest.mark.slow
def test_audit_passes_while_trading(market: Market) -> None:
    """Each audit reads one snapshot, so trades committed between its queries never show up
    as a mismatch (PostgreSQL's READ COMMITTED would give each query a new snapshot)."""
    alice, bob = register(market), register(market)
    finished = threading.Event()

    def trade() -> None:
        try:
            for _ in range(TRADING_ROUNDS):
                offer = market.create_offer(alice, "OpenAI", "Anthropic", "1", "1")
                market.execute_offer(bob, offer.id)
                offer = market.create_offer(bob, "OpenAI", "Anthropic", "1", "1")
                market.execute_offer(alice, offer.id)
        finally:
            finished.set()

    trader = threading.Thread(target=trade)
    trader.start()
    failures = []
    audits = 0
    while not finished.is_set() or audits < 5:
        failures += [check for check in audit(market.database) if not check.passed]
        audits += 1
    trader.join()

    assert failures == []
    assert all(check.passed for check in audit(market.database))


# The desk audit command.

NEGATIVE = "no balance is negative and no hold exceeds its balance"
TOTALS = "per-asset totals equal issuance (transfers net to zero)"
LEDGER = "every balance equals the sum of its ledger entries"
HOLDS = "every hold equals the sum of the account's active offers"
TRADES = "every completed trade matches its ledger entries"


def run_audit(url: str, capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    status = main(["audit", "--db", url])
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def test_healthy_market_passes(market: Market, capsys: pytest.CaptureFixture[str]) -> None:
    alice, bob = register(market), register(market)
    market.create_offer(alice, "OpenAI", "Anthropic", "10", "0.8")
    taken = market.create_offer(alice, "Cohere", "BTC", "5", "0.0001")
    market.execute_offer(bob, taken.id)
    market.convert(bob, "Mistral", "BTC", "50")

    status, out, err = run_audit(market.database.url.render_as_string(hide_password=False), capsys)

    assert status == 0, out + err
    for name in (NEGATIVE, TOTALS, LEDGER, HOLDS, TRADES):
        assert f"PASS  {name}\n" in out
    assert out.rstrip().endswith("5 checks: 5 passed, 0 failed")
    assert err == ""


def make_negative(connection: Connection, user_id: int, trade_id: int) -> None:
    if connection.dialect.name == "sqlite":
        connection.exec_driver_sql("PRAGMA ignore_check_constraints = ON")
    else:
        connection.execute(text("ALTER TABLE balances DROP CONSTRAINT "
                                "ck_balances_balance_covers_held"))
    connection.execute(update(Balance).where(Balance.user_id == user_id,
                                             Balance.token_type == "Google")
                       .values(balance=-1, held=0))


def gift_outside_issuance(connection: Connection, user_id: int, trade_id: int) -> None:
    # The balance matches its ledger, but the entry moves money in from nowhere.
    connection.execute(insert(LedgerEntry).values(
        user_id=user_id, token_type="Cohere", amount=5, reason="gift", reference="test",
        created_at=START))
    connection.execute(update(Balance).where(Balance.user_id == user_id,
                                             Balance.token_type == "Cohere")
                       .values(balance=Balance.balance + 5))


def add_without_ledger(connection: Connection, user_id: int, trade_id: int) -> None:
    connection.execute(update(Balance).where(Balance.user_id == user_id,
                                             Balance.token_type == "Mistral")
                       .values(balance=Balance.balance + 1))


def hold_without_offer(connection: Connection, user_id: int, trade_id: int) -> None:
    connection.execute(update(Balance).where(Balance.user_id == user_id,
                                             Balance.token_type == "OpenAI")
                       .values(held=Balance.held + 1))


def reprice_completed_trade(connection: Connection, user_id: int, trade_id: int) -> None:
    connection.execute(update(Trade).where(Trade.id == trade_id)
                       .values(exchange_rate=Decimal("0.5")))


CORRUPTIONS: dict[str, tuple[Callable[[Connection, int, int], None], str]] = {
    "negative-balance": (make_negative, NEGATIVE),
    "money-from-nowhere": (gift_outside_issuance, TOTALS),
    "balance-without-ledger": (add_without_ledger, LEDGER),
    "hold-without-offer": (hold_without_offer, HOLDS),
    "repriced-trade": (reprice_completed_trade, TRADES),
}


@pytest.mark.parametrize("corruption", list(CORRUPTIONS))
def test_corruption_fails_its_check(corruption: str, market: Market,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    alice, bob = register(market), register(market)
    market.create_offer(alice, "OpenAI", "Anthropic", "10", "0.8")
    taken = market.create_offer(alice, "Cohere", "Anthropic", "5", "0.8")
    market.execute_offer(bob, taken.id)
    corrupt, check_name = CORRUPTIONS[corruption]
    with market.database.write() as connection:
        corrupt(connection, alice, taken.id)

    status, out, err = run_audit(market.database.url.render_as_string(hide_password=False), capsys)

    lines = out.splitlines()
    assert status == 1
    assert f"FAIL  {check_name}" in lines
    problem = lines[lines.index(f"FAIL  {check_name}") + 1]
    assert problem.startswith("        ")
    assert not lines[-1].endswith(" 0 failed")
    assert err == ""


def test_missing_file_not_created(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "absent.db"
    status, out, err = run_audit(f"sqlite:///{path}", capsys)
    assert status == 2
    assert f"no database file at {path}" in err
    assert not path.exists()


def test_empty_database_reported(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "empty.db"
    path.touch()
    status, out, err = run_audit(f"sqlite:///{path}", capsys)
    assert status == 2
    assert "has no market schema" in err
    assert "desk init-db" in err


def test_unreachable_server_reported(capsys: pytest.CaptureFixture[str]) -> None:
    url = f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/market"
    status, out, err = run_audit(url, capsys)
    assert status == 2
    assert f"desk: cannot audit {url}: OperationalError:" in err
    assert out == ""


def test_audit_command_runs(db_url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "desk", "audit", "--db", db_url], cwd=tmp_path,
        capture_output=True, text=True, env=server_environment(tmp_path / "data"),
        timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("PASS  ") == 5
