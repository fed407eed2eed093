"""Offers through the backend interface: escrow, the book, execution, cancellation, history."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import pytest

from desk.backend import Backend, Conflict, Forbidden, Unauthenticated
from desk.backend.schemas import Balance


def holding(backend: Backend, asset: str) -> Balance:
    return next(b for b in backend.balances().balances if b.token_type == asset)


def test_create_offer_holds_amount(trader: Callable[[], Backend]) -> None:
    alice = trader()
    trade = alice.create_offer("Mistral", "BTC", "120.25", "0.0000055")

    assert trade.creator_id == alice.user_id
    assert (trade.from_token, trade.to_token) == ("Mistral", "BTC")
    assert trade.amount == Decimal("120.25")
    assert trade.exchange_rate == Decimal("0.0000055")
    assert trade.status == "active"
    assert trade.completed_at is None
    assert trade.executor_id is None
    mistral = holding(alice, "Mistral")
    assert mistral.balance == Decimal(1000)
    assert mistral.held == Decimal("120.25")
    assert mistral.available == Decimal("879.75")


def test_create_offer_accepts_exact_numbers(trader: Callable[[], Backend]) -> None:
    alice = trader()
    trade = alice.create_offer("OpenAI", "Google", Decimal("0.000001"), 3)
    assert trade.amount == Decimal("0.000001")
    assert trade.exchange_rate == Decimal(3)


def test_offer_of_btc(trader: Callable[[], Backend]) -> None:
    alice, bob = trader(), trader()
    trade = alice.create_offer("BTC", "Cohere", "0.00012345", "2500")
    bob.execute_offer(trade.id)
    # 0.00012345 x 2500 = 0.308625 Cohere.
    assert holding(alice, "Cohere").balance == Decimal("1000.308625")
    assert holding(bob, "BTC").balance == Decimal("0.01012345")
    assert holding(alice, "BTC").balance == Decimal("0.00987655")


def test_payment_rounds_down(trader: Callable[[], Backend]) -> None:
    alice, bob = trader(), trader()
    # 1.000001 x 0.3333333333 = 0.3333336666... Anthropic, rounded down to 0.333333.
    trade = alice.create_offer("OpenAI", "Anthropic", "1.000001", "0.3333333333")
    bob.execute_offer(trade.id)
    assert holding(bob, "Anthropic").balance == Decimal("999.666667")
    assert holding(alice, "Anthropic").balance == Decimal("1000.333333")


def test_execute_moves_both_sides(trader: Callable[[], Backend],
                                  assert_audit: Callable[[], None]) -> None:
    alice, bob = trader(), trader()
    trade = alice.create_offer("Google", "Cohere", "300", "2.5")
    done = bob.execute_offer(trade.id)

    assert done.status == "completed"
    assert done.executor_id == bob.user_id
    assert done.completed_at is not None
    assert done.completed_at >= done.created_at
    google = holding(alice, "Google")
    assert (google.balance, google.held, google.available) == (
        Decimal(700), Decimal(0), Decimal(700))
    assert holding(alice, "Cohere").balance == Decimal(1750)
    assert holding(bob, "Google").balance == Decimal(1300)
    assert holding(bob, "Cohere").balance == Decimal(250)
    assert_audit()


def test_executed_offer_leaves_book(trader: Callable[[], Backend]) -> None:
    alice, bob, carol = trader(), trader(), trader()
    trade = alice.create_offer("OpenAI", "Mistral", "5", "1")
    bob.execute_offer(trade.id)

    with pytest.raises(Conflict, match=f"trade {trade.id} is completed"):
        carol.execute_offer(trade.id)
    with pytest.raises(Conflict):
        alice.cancel_offer(trade.id)
    assert alice.list_offers(mine=True).trades == []


def test_cancel_releases_hold(trader: Callable[[], Backend],
                              assert_audit: Callable[[], None]) -> None:
    alice, bob = trader(), trader()
    trade = alice.create_offer("Anthropic", "OpenAI", "400", "1.1")
    cancelled = alice.cancel_offer(trade.id)

    assert cancelled.status == "cancelled"
    assert cancelled.completed_at is not None
    assert cancelled.executor_id is None
    anthropic = holding(alice, "Anthropic")
    assert (anthropic.balance, anthropic.held) == (Decimal(1000), Decimal(0))
    with pytest.raises(Conflict, match="cancelled"):
        bob.execute_offer(trade.id)
    with pytest.raises(Conflict):
        alice.cancel_offer(trade.id)
    assert_audit()


def test_cancel_by_other_is_forbidden(trader: Callable[[], Backend]) -> None:
    alice, bob = trader(), trader()
    trade = alice.create_offer("Cohere", "Google", "1", "1")
    with pytest.raises(Forbidden, match="only its creator"):
        bob.cancel_offer(trade.id)
    assert alice.list_offers(mine=True).trades[0].status == "active"


def test_execute_own_offer_is_forbidden(trader: Callable[[], Backend]) -> None:
    alice = trader()
    trade = alice.create_offer("Cohere", "Google", "1", "1")
    with pytest.raises(Forbidden, match="your own offer"):
        alice.execute_offer(trade.id)


def test_book_lists_oldest_first_and_filters(trader: Callable[[], Backend]) -> None:
    alice, bob = trader(), trader()
    first = alice.create_offer("OpenAI", "Google", "1", "1")
    second = bob.create_offer("Google", "OpenAI", "2", "1")
    third = alice.create_offer("OpenAI", "Cohere", "3", "1")
    fourth = alice.create_offer("OpenAI", "Google", "4", "1")
    ours = {first.id, second.id, third.id, fourth.id}

    def ids(**filters: object) -> list[int]:
        page = bob.list_offers(limit=200, **filters)  # type: ignore[arg-type]
        return [trade.id for trade in page.trades if trade.id in ours]

    assert alice.list_offers(mine=True).trades == [first, third, fourth]
    assert ids(from_token="OpenAI", to_token="Google") == [first.id, fourth.id]
    assert ids(from_token="Google") == [second.id]
    assert ids(to_token="Cohere") == [third.id]
    assert [t.id for t in bob.list_offers(mine=True).trades] == [second.id]


def test_book_pages_with_cursor(trader: Callable[[], Backend]) -> None:
    alice = trader()
    posted = [alice.create_offer("Mistral", "OpenAI", str(n), "1").id for n in range(1, 8)]

    seen: list[int] = []
    cursor = None
    pages = 0
    while True:
        page = alice.list_offers(mine=True, limit=3, cursor=cursor)
        pages += 1
        seen += [trade.id for trade in page.trades]
        if pages == 1:
            # An offer posted while paging appears once, at the end.
            posted.append(alice.create_offer("Mistral", "OpenAI", "99", "1").id)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == posted
    assert pages == 3


def test_cancel_while_paging_skips_nothing(trader: Callable[[], Backend]) -> None:
    alice = trader()
    posted = [alice.create_offer("Cohere", "OpenAI", str(n), "1").id for n in range(1, 6)]
    first = alice.list_offers(mine=True, limit=2)
    alice.cancel_offer(posted[0])
    rest = alice.list_offers(mine=True, limit=10, cursor=first.next_cursor)
    assert [t.id for t in first.trades] + [t.id for t in rest.trades] == posted
    assert rest.next_cursor is None


def test_history_newest_first(trader: Callable[[], Backend]) -> None:
    alice, bob, carol = trader(), trader(), trader()
    sold = alice.create_offer("OpenAI", "Google", "10", "1")
    withdrawn = alice.create_offer("OpenAI", "Google", "20", "1")
    bought = bob.create_offer("Google", "OpenAI", "30", "1")
    still_open = alice.create_offer("OpenAI", "Google", "40", "1")
    others = carol.create_offer("OpenAI", "Google", "50", "1")
    bob.execute_offer(sold.id)
    alice.cancel_offer(withdrawn.id)
    alice.execute_offer(bought.id)
    bob.execute_offer(others.id)

    history = alice.history()
    assert [t.id for t in history.trades] == [bought.id, withdrawn.id, sold.id]
    assert [t.status for t in history.trades] == ["completed", "cancelled", "completed"]
    assert history.next_cursor is None
    assert still_open.id not in {t.id for t in history.trades}
    assert [t.id for t in bob.history().trades] == [others.id, bought.id, sold.id]
    assert [t.id for t in carol.history().trades] == [others.id]


def test_history_pages_with_cursor(trader: Callable[[], Backend]) -> None:
    alice, bob = trader(), trader()
    trades = []
    for n in range(5):
        trade = alice.create_offer("Google", "Mistral", str(n + 1), "1")
        (bob.execute_offer if n % 2 else alice.cancel_offer)(trade.id)
        trades.append(trade.id)

    first = alice.history(limit=2)
    second = alice.history(limit=2, cursor=first.next_cursor)
    third = alice.history(limit=2, cursor=second.next_cursor)
    pages = [first, second, third]
    assert [t.id for page in pages for t in page.trades] == trades[::-1]
    assert third.next_cursor is None


def test_ledger_records_each_change(trader: Callable[[], Backend]) -> None:
    alice, bob = trader(), trader()
    trade = alice.create_offer("Cohere", "Mistral", "8", "0.5")
    assert alice.ledger(limit=1).entries[0].reason == "grant"  # a hold is no balance change
    bob.execute_offer(trade.id)

    entries = alice.ledger().entries
    latest = {(e.token_type, e.amount, e.reason) for e in entries[:2]}
    assert latest == {("Cohere", Decimal(-8), "trade_sold"),
                      ("Mistral", Decimal(4), "trade_received")}
    assert {e.reference for e in entries[:2]} == {f"trade:{trade.id}"}
    grants = {e.token_type: e.amount for e in entries if e.reason == "grant"}
    assert grants == {"OpenAI": 1000, "Anthropic": 1000, "Google": 1000, "Cohere": 1000,
                      "Mistral": 1000, "BTC": Decimal("0.01")}
    ids = [e.id for e in entries]
    assert ids == sorted(ids, reverse=True)


def test_ledger_pages_with_cursor(trader: Callable[[], Backend]) -> None:
    alice = trader()
    everything = alice.ledger(limit=200).entries
    first = alice.ledger(limit=4)
    second = alice.ledger(limit=4, cursor=first.next_cursor)
    assert first.entries + second.entries == everything
    assert second.next_cursor is None


def test_calls_need_login(connect: Callable[[], Backend],
                          trader: Callable[[], Backend]) -> None:
    stranger = connect()
    with pytest.raises(Unauthenticated):
        stranger.balances()
    with pytest.raises(Unauthenticated):
        stranger.create_offer("OpenAI", "Google", "1", "1")
    alice = trader()
    alice.logout()
    with pytest.raises(Unauthenticated):
        alice.list_offers()
    assert alice.user_id is None


def test_public_market_data(connect: Callable[[], Backend]) -> None:
    guest = connect()
    tokens = guest.token_types()
    assert [t.token_type for t in tokens] == [
        "OpenAI", "Anthropic", "Google", "Cohere", "Mistral", "BTC"]
    assert all(t.description for t in tokens)
    prices = guest.prices()
    assert [p.token_type for p in prices] == [t.token_type for t in tokens]
    btc = prices[-1]
    assert btc.price_btc == Decimal(1)
    assert all(p.price_btc > 0 and p.price_usd > 0 for p in prices)
    history = guest.price_history("OpenAI", limit=5)
    assert 1 <= len(history) <= 5
    assert history[-1].price_usd == prices[0].price_usd
