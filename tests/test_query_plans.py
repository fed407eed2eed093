"""Query plans on SQLite: every page and every step of an execution reads through an index.

The statements are the ones the market really sends: each case calls a ``Market`` method and
records the SQL and parameters that reach the sqlite3 cursor, then reads SQLite's plan with
``EXPLAIN QUERY PLAN``. A page must come out of an index already in its order, so that
its cost does not grow with the table: no temporary B-tree for ORDER BY and no full SCAN of
trades or ledger_entries. Plans do not depend on the rows here, since nothing runs ANALYZE.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import pytest
from sqlalchemy import event

from desk.backend import Market
from desk.backend.pagination import encode_cursor
from tests.support import PASSWORD, START, unique_name


@pytest.fixture
def database_kind() -> str:
    """These tests read SQLite's own query plans and compare with plain sqlite3."""
    return "sqlite"


BUSY_TABLES = ("trades", "ledger_entries", "balances")


@contextmanager
def recorded_statements(market: Market) -> Iterator[list[tuple[str, Any]]]:
    """Record (SQL, parameters) of every SELECT, UPDATE and INSERT the market sends."""
    statements: list[tuple[str, Any]] = []

    def record(_connection: Any, _cursor: Any, statement: str, parameters: Any,
               _context: Any, executemany: bool) -> None:
        if statement.lstrip().split(None, 1)[0].upper() in ("SELECT", "UPDATE", "INSERT"):
            statements.append((statement, parameters[0] if executemany else parameters))

    event.listen(market.database.engine, "before_cursor_execute", record)
    try:
        yield statements
    finally:
        event.remove(market.database.engine, "before_cursor_execute", record)


def query_plan(market: Market, statement: str, parameters: Any) -> list[str]:
    """Return the detail lines of SQLite's plan for ``statement``."""
    connection = sqlite3.connect(market.database.location)
    try:
        rows = connection.execute("EXPLAIN QUERY PLAN " + statement, parameters).fetchall()
    finally:
        connection.close()
    return [row[3] for row in rows]


def plans_of(market: Market, call: Callable[[], object]) -> list[tuple[str, list[str]]]:
    with recorded_statements(market) as statements:
        call()
    return [(statement, query_plan(market, statement, parameters))
            for statement, parameters in statements]


def full_scans(plan: list[str]) -> list[str]:
    """Return the lines of ``plan`` that read a whole market table, with or without an index."""
    return [line for line in plan
            if any(line.startswith(f"SCAN {table}") for table in BUSY_TABLES)]


CURSOR_TIME = datetime(2026, 1, 15, 12, 0, tzinfo=START.tzinfo)

# (case, call on a market for user 2, the index each statement must use, in order)
PAGES: list[tuple[str, Callable[[Market], object], list[str]]] = [
    ("book", lambda m: m.list_offers(2), ["ix_trades_book"]),
    ("book after cursor", lambda m: m.list_offers(2, cursor=encode_cursor(10)),
     ["ix_trades_book"]),
    ("book by pair", lambda m: m.list_offers(2, "OpenAI", "Anthropic"),
     ["ix_trades_book_pair"]),
    ("book by pair after cursor",
     lambda m: m.list_offers(2, "OpenAI", "Anthropic", cursor=encode_cursor(10)),
     ["ix_trades_book_pair"]),
    ("book by from_token", lambda m: m.list_offers(2, "Google"), ["ix_trades_book_from"]),
    ("book by to_token", lambda m: m.list_offers(2, None, "Cohere"), ["ix_trades_book_to"]),
    ("book of mine", lambda m: m.list_offers(2, mine=True), ["ix_trades_creator_book"]),
    ("book of mine after cursor", lambda m: m.list_offers(2, mine=True, cursor=encode_cursor(10)),
     ["ix_trades_creator_book"]),
    ("history", lambda m: m.history(2),
     ["ix_trades_creator_closed", "ix_trades_executor_closed"]),
    ("history after cursor", lambda m: m.history(2, cursor=encode_cursor(CURSOR_TIME, 10)),
     ["ix_trades_creator_closed", "ix_trades_executor_closed"]),
    ("ledger", lambda m: m.ledger(2), ["ix_ledger_entries_account"]),
    ("ledger after cursor", lambda m: m.ledger(2, cursor=encode_cursor(10)),
     ["ix_ledger_entries_account"]),
]


@pytest.mark.parametrize(("case", "call", "indexes"), PAGES, ids=[case for case, *_ in PAGES])
def test_page_uses_index_in_order(market: Market, case: str, call: Callable[[Market], object],
                                  indexes: list[str]) -> None:
    plans = plans_of(market, lambda: call(market))
    assert len(plans) == len(indexes), f"{case}: expected {len(indexes)} statements: {plans}"
    for (statement, plan), index in zip(plans, indexes, strict=True):
        text = "\n".join(plan)
        used = f"USING INDEX {index} " in text + " "
        assert used, f"{case}: {index} unused\n{statement}\n{text}"
        assert "TEMP B-TREE" not in text, f"{case}: sorts in a temporary B-tree\n{text}"
        assert not full_scans(plan), f"{case}: full scan\n{text}"


def test_execution_reads_through_indexes(market: Market) -> None:
    creator, taker = (market.register(name, f"{name}@example.com", PASSWORD).id
                      for name in (unique_name("maker"), unique_name("taker")))
    offer = market.create_offer(creator, "OpenAI", "Anthropic", "10", "0.8")

    plans = plans_of(market, lambda: market.execute_offer(taker, offer.id))

    for table in BUSY_TABLES:
        assert any(table in statement for statement, _plan in plans), f"no {table}: {plans}"
    for statement, plan in plans:
        text = "\n".join(plan)
        assert not full_scans(plan), f"full scan\n{statement}\n{text}"
        # Sorting the few balance rows of one execution in a temporary B-tree costs little.
        if "balances" not in statement:
            assert "TEMP B-TREE" not in text, f"sorts\n{statement}\n{text}"
