import threading
from desk.backend import Market, LocalBackend
from tests.desk.harness import make_app, settle


class SlowLogin(LocalBackend):
    def __init__(self, market):
        super().__init__(market)
        self.gate = threading.Event()
        self.calls = 0
    def login(self, *a, **k):
        self.calls += 1
        self.gate.wait()
        return super().login(*a, **k)


async def test_double_enter_login(desk_market: Market) -> None:
    backend = SlowLogin(desk_market)
    app = make_app(lambda: backend)
    async with app.run_test(notifications=True) as pilot:
        await settle(pilot)
        app.screen.query_one("#login-username").value = "demo"
        f = app.screen.query_one("#login-password")
        f.value = "demo123"
        f.focus()
        await pilot.press("enter", "enter")
        await pilot.pause()
        print("calls", backend.calls)
        backend.gate.set()
        await settle(pilot)
        print(app.notices, app.screen_stack, app._session_number)
