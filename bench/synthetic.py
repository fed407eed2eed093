"""Synthetic markets of any size, written straight into the tables with ``executemany``.

Registering traders and trading through ``Market`` would take hours for a million trades, so
this module writes the rows that those calls would have written, with the market's own schema
and seed data. The result audits clean (``desk.backend.audit``): every trader's starting
balance is an issuance entry, every completed trade has its four ledger entries, every hold
equals the creator's active offers, and every balance equals the sum of its ledger entries.
tests/test_bench_support.py runs the audit on a small one.

Amounts, rates and payments are exact integers: a rate is ``numerator / 10**places``, so the
payment in smallest units is one integer division that rounds down, as the market rounds.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

from desk.backend import Market, MarketConfig
from desk.backend.money import AI_TOKENS, BTC, PLACES, RATE_PLACES
from desk.backend.security import UNUSABLE_PASSWORD

SECRET = "bench-signing-key-" + "x" * 32
START = datetime(2026, 1, 1, tzinfo=UTC)
# Rows generated and inserted at a time, to bound the memory that building takes.
CHUNK = 50_000

# Each trader's starting balance: a billion of each AI token and ten thousand BTC. A trade moves
# under 101 tokens and pays under 202 tokens or 0.000202 BTC, so even a trader in every one
# of a few million trades can go negative in no balance or hold.
GRANT = {**{token: 10**9 * 10 ** PLACES[token] for token in AI_TOKENS}, BTC: 10**4 * 10**8}

# Relative weights of the pairs of an offer. One pair is popular, as on a real market, so
# that even the smallest synthetic market fills a page filtered by it. No offer sells BTC, so
# a book filtered by from_token=BTC is always empty, the costliest case for a filter.
BUSY_PAIR = ("OpenAI", "Anthropic")
BUSY_PAIR_WEIGHT = 5.0
AI_PAIR_WEIGHT = 1.0
BUYING_BTC_WEIGHT = 0.1


@dataclass(frozen=True)
class Shape:
    """The size and make-up of a synthetic market."""

    trades: int
    traders: int = 1000
    # Shares of the trades that are active and completed. The rest are cancelled.
    active: float = 0.5
    completed: float = 0.4
    # Share of the trades that the focus trader created, and of the others that it took.
    focus_share: float = 0.1
    seed: int = 8


@dataclass
class SyntheticMarket:
    """A built market and the facts about it that benchmarks need."""

    path: Path
    traders: list[int]
    # The trader that takes part in ``focus_share`` of all trades, so its history grows with size.
    focus: int
    # (trade id, creator id) of every active offer, in id order, if ``build`` was asked for it.
    active_offers: list[tuple[int, int]] = field(default_factory=list)
    # The focus trader's closed trades as (completed_at text, trade id), and its ledger ids.
    focus_closed: list[tuple[str, int]] = field(default_factory=list)
    focus_ledger: list[int] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"sqlite:///{self.path}"

    def history_key_at(self, depth: int) -> tuple[datetime, int]:
        """Return the (completed_at, id) of the focus trader's trade ``depth`` rows deep.

        History is newest first, so this key makes a cursor for the page after that row.
        """
        ordered = sorted(self.focus_closed, reverse=True)
        text, trade_id = ordered[min(depth, len(ordered) - 1)]
        return datetime.fromisoformat(text).replace(tzinfo=UTC), trade_id

    def ledger_id_at(self, depth: int) -> int:
        """Return the id of the focus trader's ledger entry ``depth`` rows deep, newest first."""
        ordered = sorted(self.focus_ledger, reverse=True)
        return ordered[min(depth, len(ordered) - 1)]


def market_config() -> MarketConfig:
    """Return the settings of a market opened on a synthetic database: the real clock."""
    return MarketConfig(secret_key=SECRET, bcrypt_rounds=4)


def build(path: Path, shape: Shape, *, record_offers: bool = False) -> SyntheticMarket:
    """Create a market database at ``path`` (which must not exist) with ``shape``'s rows.

    With ``record_offers``, the result lists every active offer.
    """
    if path.exists():
        raise FileExistsError(f"{path} exists; synthetic markets are built in a new file")
    # The schema, the assets, their prices and the house account come from the market itself.
    seeding = MarketConfig(secret_key=SECRET, bcrypt_rounds=4, clock=lambda: START)
    Market.open(f"sqlite:///{path}", seeding, demo=False).close()

    connection = sqlite3.connect(path, isolation_level=None)
    try:
        # Nothing but this process uses the file while it is built, and a crash loses only it.
        connection.execute("PRAGMA synchronous=OFF")
        connection.execute("PRAGMA cache_size=-262144")  # 256 MiB
        connection.execute("BEGIN")
        indexes = _drop_indexes(connection, ("trades", "ledger_entries"))
        market = _fill(connection, path, shape, record_offers)
        for sql in indexes:
            connection.execute(sql)
        connection.execute("COMMIT")
        connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        connection.close()
    return market


def _drop_indexes(connection: sqlite3.Connection, tables: tuple[str, ...]) -> list[str]:
    """Drop the secondary indexes of ``tables`` and return the SQL that recreates them.

    Creating an index after the rows are in is faster than updating it for every insert.
    """
    marks = ", ".join("?" for _ in tables)
    rows = connection.execute(
        f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
        f"AND tbl_name IN ({marks})",
        tables,
    ).fetchall()
    for name, _sql in rows:
        connection.execute(f'DROP INDEX "{name}"')
    return [sql for _name, sql in rows]


def _time_text(moment: datetime) -> str:
    """Write a UTC time the way the UTCDateTime column stores it on SQLite."""
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")


def _rate_text(numerator: int, places: int) -> str:
    """Write ``numerator / 10**places`` the way the ExactDecimal column stores a rate."""
    exact = Decimal(numerator).scaleb(-places).quantize(Decimal(1).scaleb(-RATE_PLACES))
    return f"{exact:f}"


def _fill(connection: sqlite3.Connection, path: Path, shape: Shape,
          record_offers: bool) -> SyntheticMarket:
    rng = random.Random(shape.seed)
    traders = _insert_traders(connection, shape.traders)
    market = SyntheticMarket(path=path, traders=traders, focus=traders[0])
    offers = market.active_offers if record_offers else None
    balances: dict[tuple[int, str], list[int]] = {}
    issuance = []
    for trader in traders:
        for asset in (*AI_TOKENS, BTC):
            balances[(trader, asset)] = [GRANT[asset], 0]
            issuance.append((trader, asset, GRANT[asset], "issuance", f"user:{trader}",
                             _time_text(START)))
    _insert_ledger(connection, issuance, market)

    next_id = 1
    while next_id <= shape.trades:
        count = min(CHUNK, shape.trades - next_id + 1)
        trades, entries = [], []
        for row in _generate(rng, shape, traders, next_id, count):
            trades.append(row.values)
            entries.extend(row.apply(balances, market, offers))
        connection.executemany(
            "INSERT INTO trades (id, creator_id, from_token, to_token, amount, exchange_rate, "
            "status, created_at, completed_at, executor_id) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            trades,
        )
        _insert_ledger(connection, entries, market)
        next_id += count

    connection.executemany(
        "UPDATE balances SET balance = ?, held = ? WHERE user_id = ? AND token_type = ?",
        [(balance, held, user, asset) for (user, asset), (balance, held) in balances.items()],
    )
    return market


def _insert_traders(connection: sqlite3.Connection, count: int) -> list[int]:
    first = connection.execute("SELECT coalesce(max(id), 0) + 1 FROM users").fetchone()[0]
    ids = list(range(first, first + count))
    created = _time_text(START)
    connection.executemany(
        "INSERT INTO users (id, username, email, password_hash, kind, created_at) "
        "VALUES (?, ?, ?, ?, 'trader', ?)",
        [(i, f"trader{i:07d}", f"trader{i:07d}@example.com", UNUSABLE_PASSWORD, created)
         for i in ids],
    )
    connection.executemany(
        "INSERT INTO balances (user_id, token_type, balance, held) VALUES (?, ?, 0, 0)",
        [(i, asset) for i in ids for asset in (*AI_TOKENS, BTC)],
    )
    return ids


def _insert_ledger(connection: sqlite3.Connection, entries: list[tuple[object, ...]],
                   market: SyntheticMarket) -> None:
    first = connection.execute(
        "SELECT coalesce(max(id), 0) + 1 FROM ledger_entries"
    ).fetchone()[0]
    rows = [(first + offset, *entry) for offset, entry in enumerate(entries)]
    connection.executemany(
        "INSERT INTO ledger_entries (id, user_id, token_type, amount, reason, reference, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    market.focus_ledger.extend(row[0] for row in rows if row[1] == market.focus)


@dataclass
class _Trade:
    trade_id: int
    creator: int
    executor: int | None
    from_token: str
    to_token: str
    amount: int
    payment: int
    rate: str
    status: str
    created_at: str
    completed_at: str | None

    @property
    def values(self) -> tuple[object, ...]:
        return (self.trade_id, self.creator, self.from_token, self.to_token, self.amount,
                self.rate, self.status, self.created_at, self.completed_at, self.executor)

    def apply(self, balances: dict[tuple[int, str], list[int]], market: SyntheticMarket,
              offers: list[tuple[int, int]] | None) -> list[tuple[object, ...]]:
        """Apply the trade to ``balances`` and return its ledger entries, as the market would."""
        if self.status == "active":
            balances[(self.creator, self.from_token)][1] += self.amount
            if offers is not None:
                offers.append((self.trade_id, self.creator))
            return []
        if market.focus in (self.creator, self.executor):
            assert self.completed_at is not None
            market.focus_closed.append((self.completed_at, self.trade_id))
        if self.status == "cancelled":
            return []
        assert self.executor is not None
        reference = f"trade:{self.trade_id}"
        changes = [
            (self.executor, self.to_token, -self.payment, "trade_paid"),
            (self.creator, self.to_token, self.payment, "trade_received"),
            (self.creator, self.from_token, -self.amount, "trade_sold"),
            (self.executor, self.from_token, self.amount, "trade_bought"),
        ]
        for user, asset, amount, _reason in changes:
            balances[(user, asset)][0] += amount
        return [(user, asset, amount, reason, reference, self.completed_at)
                for user, asset, amount, reason in changes]


def _pairs() -> tuple[list[tuple[str, str]], list[float]]:
    """Return the ordered pairs of assets that offers trade, and their weights."""
    pairs = [(a, b) for a in AI_TOKENS for b in (*AI_TOKENS, BTC) if a != b]
    weights = [
        BUSY_PAIR_WEIGHT if pair == BUSY_PAIR
        else BUYING_BTC_WEIGHT if pair[1] == BTC
        else AI_PAIR_WEIGHT
        for pair in pairs
    ]
    return pairs, weights


def _price(rng: random.Random, to_token: str) -> tuple[int, int, int]:
    """Return a random amount of the sold token and a rate as (amount, numerator, places).

    Every offer sells an AI token (see ``_pairs``): 1 to 101 tokens, with 6 decimal places.
    """
    amount = rng.randrange(1, 101) * 10**6 + rng.randrange(10**6)
    if to_token == BTC:
        return amount, rng.randrange(5, 21), 7  # 0.0000005 to 0.000002 BTC per token
    return amount, rng.randrange(50, 201), 2  # 0.50 to 2.00 tokens per token


def _generate(rng: random.Random, shape: Shape, traders: list[int], first_id: int,
              count: int) -> Iterator[_Trade]:
    pairs, weights = _pairs()
    chosen_pairs = rng.choices(pairs, weights=weights, k=count)
    focus, others = traders[0], traders[1:]
    rates: dict[tuple[int, int], str] = {}
    for offset, (from_token, to_token) in enumerate(chosen_pairs):
        trade_id = first_id + offset
        creator = focus if rng.random() < shape.focus_share else rng.choice(others)
        draw = rng.random()
        status = ("active" if draw < shape.active
                  else "completed" if draw < shape.active + shape.completed else "cancelled")
        executor = None
        if status == "completed":
            if creator != focus and rng.random() < shape.focus_share:
                executor = focus
            else:
                executor = rng.choice(traders)
                while executor == creator:
                    executor = rng.choice(traders)
        amount, numerator, places = _price(rng, to_token)
        rate = rates.get((numerator, places)) or _rate_text(numerator, places)
        rates[(numerator, places)] = rate
        # amount × numerator / 10**places, rescaled between the two assets' smallest units.
        payment = (amount * numerator * 10 ** PLACES[to_token]
                   // (10**places * 10 ** PLACES[from_token]))
        created = START + timedelta(seconds=trade_id)
        completed = None
        if status != "active":
            completed = _time_text(created + timedelta(milliseconds=rng.randrange(1, 86_400_000)))
        yield _Trade(trade_id, creator, executor, from_token, to_token, amount, payment, rate,
                     status, _time_text(created), completed)
