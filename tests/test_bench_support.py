"""The benchmarks' own parts: synthetic markets, the sqlite3 floor and the results page.

No test here times anything; these check that what the benchmarks compare is sound.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import event
from sqlalchemy.dialects import sqlite

from bench import __main__ as command
from bench import raw_sqlite, synthetic
from bench.report import Result, as_result, update_page
from desk.backend import Market
from desk.backend.audit import audit
from desk.backend.store import Database
from tests.support import PASSWORD, unique_name


@pytest.fixture
def database_kind() -> str:
    """These tests read SQLite's own query plans and compare with plain sqlite3."""
    return "sqlite"


def test_synthetic_market_audits_clean(tmp_path: Path) -> None:
    built = synthetic.build(tmp_path / "market.db", synthetic.Shape(trades=3000, traders=50))
    database = Database(built.url)
    try:
        checks = audit(database)
    finally:
        database.dispose()
    for check in checks:
        assert check.passed, f"{check.name}: {check.problems}"


def test_synthetic_market_has_every_status(tmp_path: Path) -> None:
    built = synthetic.build(tmp_path / "market.db", synthetic.Shape(trades=3000, traders=50),
                            record_offers=True)
    market = Market(Database(built.url), synthetic.market_config())
    try:
        history = market.history(built.focus, limit=200).trades
        book = market.list_offers(built.focus, limit=200).trades
    finally:
        market.close()
    assert {trade.status for trade in history} == {"completed", "cancelled"}
    assert len(book) == 200
    assert [trade.id for trade in book] == [trade_id for trade_id, _ in built.active_offers[:200]]


def test_synthetic_times_match_column_storage() -> None:
    moment = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    store = sqlite.DATETIME().bind_processor(sqlite.dialect())
    assert store is not None
    assert synthetic._time_text(moment) == store(moment.replace(tzinfo=None))


def test_synthetic_history_cursor_key(tmp_path: Path) -> None:
    built = synthetic.build(tmp_path / "market.db", synthetic.Shape(trades=2000, traders=20))
    market = Market(Database(built.url), synthetic.market_config())
    try:
        history = market.history(built.focus, limit=10).trades
    finally:
        market.close()
    key = built.history_key_at(3)
    assert (history[3].completed_at, history[3].id) == key


def test_floor_sends_market_statements(market: Market) -> None:
    creator, taker = (market.register(name, f"{name}@example.com", PASSWORD).id
                      for name in (unique_name("maker"), unique_name("taker")))
    offer = market.create_offer(creator, "OpenAI", "Anthropic", "10", "0.8")
    sent: list[str] = []

    def record(*arguments: object) -> None:
        statement = arguments[2]
        assert isinstance(statement, str)
        sent.append(statement)

    event.listen(market.database.engine, "before_cursor_execute", record)
    try:
        market.execute_offer(taker, offer.id)
    finally:
        event.remove(market.database.engine, "before_cursor_execute", record)

    floor = ["BEGIN IMMEDIATE", raw_sqlite.TAKE_TRADE, raw_sqlite.READ_BALANCES,
             raw_sqlite.UPDATE_BALANCE, raw_sqlite.INSERT_ENTRY]
    assert sent == floor


def test_floor_payment_rounds_down() -> None:
    assert raw_sqlite.payment(10_000_000, "0.8000000000", "OpenAI", "Anthropic") == 8_000_000
    assert raw_sqlite.payment(1_000_001, "0.3333333333", "OpenAI", "Anthropic") == 333_333
    assert raw_sqlite.payment(1_000_000, "0.0000012345", "OpenAI", "BTC") == 123


def test_dict_results_accepted() -> None:
    named = as_result({"name": "start", "value": 1.5, "unit": "s", "baseline": "bare app",
                       "ratio": 1.2})
    valued = as_result({"name": "start", "value": 1.5, "unit": "s", "baseline": 1.25,
                        "ratio": 1.2})
    assert named.baseline_name == "bare app"
    assert named.baseline_value is None
    assert valued.baseline_value == 1.25
    assert valued.ratio == 1.2
    with pytest.raises(ValueError, match="unit"):
        as_result({"name": "start", "value": 1.5})


def test_page_update_keeps_other_blocks(tmp_path: Path) -> None:
    page = tmp_path / "benchmarks.md"
    page.write_text(
        "# Benchmarks\n\nHand-written intro.\n\n"
        "<!-- bench:begin execute -->\nold execute\n<!-- bench:end execute -->\n\n"
        "<!-- bench:begin desk_startup -->\ndesk figures\n<!-- bench:end desk_startup -->\n\n"
        "<!-- bench:new-blocks -->\n\n## Fixes\n\nHand-written notes.\n",
        encoding="utf-8",
    )
    update_page(page, {
        "execute": "<!-- bench:begin execute -->\nnew execute\n<!-- bench:end execute -->",
        "growth": "<!-- bench:begin growth -->\ngrowth\n<!-- bench:end growth -->",
    })
    text = page.read_text(encoding="utf-8")
    assert "new execute" in text
    assert "old execute" not in text
    assert "desk figures" in text
    assert "Hand-written intro." in text
    assert "Hand-written notes." in text
    assert text.count("<!-- bench:begin growth -->") == 1
    assert text.index("<!-- bench:end growth -->") < text.index("## Fixes")


def test_command_skips_missing_module(monkeypatch: pytest.MonkeyPatch,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(command, "BENCHMARKS", ["bench.not_written_yet"])
    assert command.main(["--quick"]) == 0
    assert "bench.not_written_yet: skipped" in capsys.readouterr().out


def test_command_reports_failing_module(monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(command, "BENCHMARKS", ["bench.raw_sqlite"])  # has no run()
    assert command.main(["--quick"]) == 1
    assert "bench.raw_sqlite: failed" in capsys.readouterr().err


def test_result_fields_render() -> None:
    result = Result(name="x", value=1234.5, unit="offers/s", baseline_name="floor",
                    baseline_value=5000.0, ratio=0.25, goal="ratio ≥ 0.25", met=True)
    page_row = command.render_section("x", "X", [result], command.read_machine(), "cmd",
                                      datetime(2026, 1, 1, tzinfo=UTC))
    assert "| x | 1,234 offers/s | — | floor: 5,000 offers/s | 0.25 | ratio ≥ 0.25: met | — |" \
        in page_row
