"""The live desk on a real market in process: ticks, other traders' offers, bursts, resyncs.

Events are published on the market's bus from the test, as the price feed and other desks'
backends publish them, and reach the desk through its backend's event stream.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from textual.widgets import Sparkline, Static

from desk.backend import LocalBackend, Market
from desk.backend.events import PriceEvent, ResyncEvent
from desk.backend.schemas import Portfolio, Price
from desk.backend.stream import StreamState
from desk.formatting import usd_text
from desk.screens.chart import PriceChartScreen
from desk.screens.login import LoginScreen
from desk.screens.market import MarketScreen
from desk.screens.portfolio import PortfolioScreen
from desk.widgets.balances import BalanceTable
from desk.widgets.banner import ConnectionBanner
from desk.widgets.header import DeskHeader
from desk.widgets.price_chart import PriceChart
from desk.widgets.price_panel import PricePanel
from desk.widgets.table import KeyedTable
from tests.desk.conftest import ALICE, FixedFeed
from tests.desk.harness import (
    DEMO,
    DroppingBackend,
    RecordingDeskApp,
    SteeredBackend,
    desk_on,
    log_in,
    make_app,
    settle,
)
from tests.support import PASSWORD


class CountingBackend(LocalBackend):
    """A real backend that counts how often the desk requests balances."""

    balance_calls = 0

    def balances(self) -> Portfolio:
        self.balance_calls += 1
        return super().balances()


class CountingDeskApp(RecordingDeskApp):
    """A desk that records every batch of prices it receives."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.received: list[tuple[Price, ...]] = []

    def receive_prices(self, prices: Any, earlier: Any = ()) -> None:
        self.received.append(tuple(prices))
        super().receive_prices(prices, earlier)


def move_price(market: Market, asset: str, usd: str) -> None:
    """Set ``asset``'s USD price (and its BTC price from BTC's) and publish the tick."""
    prices = {price.token_type: price for price in market.prices()}
    btc_usd = prices["BTC"].price_usd
    update = {name: (price.price_btc, price.price_usd) for name, price in prices.items()}
    update[asset] = ((Decimal(usd) / btc_usd).quantize(Decimal("1e-12")), Decimal(usd))
    market.update_prices(update)


async def test_tick_revalues_portfolio_without_refetch(desk_market: Market) -> None:
    backend = CountingBackend(desk_market)
    app = make_app(lambda: backend)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        assert isinstance(app.screen, PortfolioScreen)
        table = app.screen.query_one(BalanceTable)
        calls = backend.balance_calls
        openai = backend.balances().balances[0]
        assert openai.token_type == "OpenAI"
        backend.balance_calls = calls

        move_price(desk_market, "OpenAI", "2.50")
        await settle(pilot)

        expected = f"${openai.balance * Decimal('2.50'):,.2f}"
        assert table.cell_text("OpenAI", "value_usd") == expected
        assert backend.balance_calls == calls
        assert "Total value" in str(app.screen.query_one("#total").render())
        assert app.errors_shown() == []


async def test_offer_of_another_trader_appears(book: Market) -> None:
    app = desk_on(book)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("2")
        await settle(pilot)
        table = app.screen.query_one(KeyedTable)
        [first, second, third] = table.keys
        await pilot.press("down", "down")
        assert table.selected_key == third

        alice = LocalBackend(book)
        alice.login(ALICE, PASSWORD)
        newest = alice.create_offer("Cohere", "OpenAI", "5", "2").id
        await settle(pilot)
        assert table.keys == [first, second, third, newest]
        assert table.selected_key == third

        alice.cancel_offer(first)
        await settle(pilot)
        assert table.keys == [second, third, newest]
        assert table.selected_key == third
        assert table.cursor_row == 1
        assert app.errors_shown() == []


async def test_maker_told_offer_taken(book: Market) -> None:
    app = desk_on(book)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        demo = LocalBackend(book)
        demo.login(*DEMO)
        offer = demo.create_offer("OpenAI", "Anthropic", "10", "1.5")
        alice = LocalBackend(book)
        alice.login(ALICE, PASSWORD)

        alice.execute_offer(offer.id)
        await settle(pilot)

        taker = alice.user_id
        expected = (f"Trader #{taker} took your offer {offer.id}: you received "
                    "15.000000 Anthropic for 10.000000 OpenAI.")
        assert ("information", "Your offer was taken", expected) in app.notices
        assert app.errors_shown() == []


async def test_taker_not_told_own_take(book: Market) -> None:
    app = desk_on(book)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        alice = LocalBackend(book)
        alice.login(ALICE, PASSWORD)
        [offer, *_] = alice.list_offers().trades
        demo = LocalBackend(book)
        demo.login(*DEMO)

        demo.execute_offer(offer.id)
        await settle(pilot)

        assert [notice for notice in app.notices if notice[1] == "Your offer was taken"] == []


async def test_burst_of_ticks_applied_once(desk_market: Market) -> None:
    app = CountingDeskApp(lambda: LocalBackend(desk_market), event_batch_seconds=0.0,
                          price_interval=3600.0, retry_delays=(3600.0,), cursor_blink=False)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await settle(pilot)
        before = len(app.received)
        prices = desk_market.prices()
        burst = [[price.model_copy(update={"price_usd": price.price_usd + step})
                  for price in prices] for step in range(1, 31)]
        for tick in burst:
            desk_market.events.publish(PriceEvent(prices=tick))
        await settle(pilot)
        assert len(app.received) == before + 1
        assert app.prices == tuple(burst[-1])
        assert app.price_ticks == tuple(tuple(tick) for tick in burst)


async def test_resync_reloads_screens(desk_market: Market) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        version = app.market_version
        desk_market.events.deliver(ResyncEvent())
        await settle(pilot)
        assert app.market_version == version + 1


async def test_logout_ends_subscription(desk_market: Market) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        assert app.stream_state == "connected"
        assert desk_market.events.has_listeners()
        await pilot.press("ctrl+l")
        await settle(pilot)
        assert isinstance(app.screen, LoginScreen)
        assert not desk_market.events.has_listeners()
        assert app.stream_state == ""


async def test_tick_moves_market_panel(desk_market: Market, feed: FixedFeed) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("3")
        await settle(pilot)
        panel = app.screen.query_one("#price-OpenAI", PricePanel)
        seeded = len(panel.history)
        assert seeded == 41
        feed.tick(3)
        await settle(pilot)
        assert len(panel.history) == seeded + 3
        assert panel.query_one(Sparkline).data == panel.history.usd_values()
        newest = desk_market.prices()[0]
        assert newest.token_type == "OpenAI"
        text = str(panel.query_one(".price-text", Static).render())
        assert usd_text(newest.price_usd) in text


async def test_prices_marked_stale_when_connection_lost(desk_market: Market) -> None:
    backend = DroppingBackend(desk_market)
    app = make_app(lambda: backend)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("3")
        await settle(pilot)
        panel = app.screen.query_one("#price-OpenAI", PricePanel)
        status = app.screen.query_one("#market-status", Static)
        assert "stale" not in str(panel.query_one(".price-time", Static).render())

        backend.dropped = True
        await pilot.press("1", "r")  # the portfolio's balances request fails
        await settle(pilot)
        await pilot.press("3")
        await settle(pilot)
        assert "stale" in str(panel.query_one(".price-time", Static).render())
        assert "may be out of date: connection lost" in str(status.render())

        backend.dropped = False
        await pilot.press("r")
        await settle(pilot)
        assert "stale" not in str(panel.query_one(".price-time", Static).render())
        assert "may be out of date" not in str(status.render())


async def test_chart_opens_and_moves(desk_market: Market, feed: FixedFeed) -> None:
    app = desk_on(desk_market)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        await pilot.press("3")
        await settle(pilot)
        await pilot.press("right", "enter")
        await settle(pilot)
        chart = app.screen
        assert isinstance(chart, PriceChartScreen)
        assert chart.asset == "Anthropic"
        assert len(chart.history) == 41
        plot = chart.query_one(PriceChart)
        assert [point.at for point in plot.points] == [point.at for point in chart.history.points]

        feed.tick(2)
        await settle(pilot)
        assert len(chart.history) == 43
        assert plot.points[-1].price_usd == desk_market.prices()[1].price_usd

        await pilot.press("escape")
        await settle(pilot)
        assert isinstance(app.screen, MarketScreen)
        assert app.errors_shown() == []


async def test_stream_states_shown(desk_market: Market) -> None:
    backend = SteeredBackend(desk_market)
    app = make_app(lambda: backend)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        assert backend.stream is not None
        header = app.screen.query_one(DeskHeader)
        banner = app.screen.query_one(ConnectionBanner)
        assert not banner.has_class("-shown")

        backend.stream.steer(StreamState.STALE, "no message for 6 s")
        await settle(pilot)
        assert app.stream_state == "stale"
        assert "stale" in str(header.render())
        assert banner.has_class("-shown")
        assert "Live updates stale: no message for 6 s" in str(banner.render())

        backend.stream.steer(StreamState.RECONNECTING, "the connection was lost")
        await settle(pilot)
        assert "reconnecting…" in str(header.render())
        assert "Live updates reconnecting… (the connection was lost)" in str(banner.render())

        version = app.market_version
        backend.stream.steer(StreamState.CONNECTED)
        backend.stream.catch_up()
        await settle(pilot)
        assert app.market_version == version + 1
        assert not banner.has_class("-shown")
        assert "reconnecting" not in str(header.render())
        assert app.errors_shown() == []


async def test_poll_only_while_not_live(desk_market: Market) -> None:
    backend = SteeredBackend(desk_market)
    app = make_app(lambda: backend)
    async with app.run_test(notifications=True) as pilot:
        await log_in(pilot)
        assert backend.stream is not None
        calls = backend.price_calls
        app.refresh_prices()
        await settle(pilot)
        assert backend.price_calls == calls

        backend.stream.steer(StreamState.RECONNECTING, "the connection was lost")
        await settle(pilot)
        app.refresh_prices()
        await settle(pilot)
        assert backend.price_calls == calls + 1


async def test_tick_reloads_book_of_shared_file(book: Market) -> None:
    # A second Market on the same SQLite file stands for another desk process: its trade
    # events reach only its own bus.
    from desk.backend import MarketConfig
    from tests.conftest import SECRET

    other_process = Market.open("sqlite:///market.db", MarketConfig(secret_key=SECRET,
                                                                     bcrypt_rounds=4))
    try:
        app = desk_on(book)
        async with app.run_test(notifications=True) as pilot:
            await log_in(pilot)
            await pilot.press("2")
            await settle(pilot)
            table = app.screen.query_one(KeyedTable)
            keys = table.keys
            alice = LocalBackend(other_process)
            alice.login(ALICE, PASSWORD)
            newest = alice.create_offer("Cohere", "OpenAI", "5", "2").id
            await settle(pilot)
            assert table.keys == keys

            move_price(book, "OpenAI", "1.05")
            await settle(pilot)
            assert table.keys == [*keys, newest]
    finally:
        other_process.close()
