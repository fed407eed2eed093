"""The login screen: log in or register, with errors inline and the market's location."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, ContentSwitcher, Footer, Label, Static

from desk.backend.errors import DeskError, InvalidInput
from desk.widgets.field import Field
from desk.widgets.form import FormRow
from desk.widgets.header import DeskHeader
from desk.widgets.too_small import TooSmall

if TYPE_CHECKING:
    from desk.app import DeskApp


class LoginScreen(Screen[None]):
    """Log in with username and password, or register an account and log in with it.

    | key | action |
    | --- | --- |
    | enter | log in (or register) with the form's values |
    | ctrl+r | switch between the login and the register form |
    """

    DEFAULT_CSS = """
    LoginScreen { align-horizontal: center; }
    LoginScreen #login-box { width: 64; max-width: 100%; height: auto; margin: 1 0 0 0; }
    LoginScreen #login-location { width: 100%; color: $text-muted; padding: 0 1; }
    LoginScreen #forms { height: auto; }
    LoginScreen .form { height: auto; border: round $primary; padding: 0 1; }
    LoginScreen .form > FormRow { margin: 1 0 0 0; }
    LoginScreen .form > Button { margin: 1 0 0 14; }
    LoginScreen .form-title { text-style: bold; color: $text-primary; }
    LoginScreen .hint { color: $text-muted; }
    LoginScreen #login-message {
        height: auto;
        padding: 0 1;
        color: $text-warning;
        text-style: bold;
    }
    """
    AUTO_FOCUS = "#login-username"
    BINDINGS: ClassVar[list[Any]] = [
        Binding("ctrl+r", "switch_form", "Register / log in", id="login.switch",
                tooltip="Switch between the login form and the register form"),
    ]

    app: DeskApp  # type: ignore[assignment]

    pending = False
    """Whether a login or registration is waiting for the market. A second one sent
    meanwhile would log in twice and open the desk twice over this screen."""

    class LoggedIn(Message):
        """The backend accepted the credentials; the session is kept by the backend."""

        def __init__(self, username: str, user_id: int | None, registered: bool) -> None:
            super().__init__()
            self.username = username
            self.user_id = user_id
            self.registered = registered

    class Failed(Message):
        """Login or registration was rejected; ``field`` names the input at fault, if any."""

        def __init__(self, form: str, message: str, field: str | None) -> None:
            super().__init__()
            self.form = form
            self.message = message
            self.field = field

    def compose(self) -> ComposeResult:
        yield DeskHeader()
        with Vertical(id="login-box"):
            yield Static("", id="login-location")
            with ContentSwitcher(initial="login-form", id="forms"):
                with Vertical(id="login-form", classes="form"):
                    yield Label("Log in", classes="form-title")
                    yield FormRow("Username", Field(placeholder="username", compact=True,
                                                    id="login-username"), errors=False)
                    yield FormRow("Password", Field(placeholder="password", password=True,
                                                    compact=True, id="login-password"),
                                  errors=False)
                    yield Button("Log in", id="login-submit", variant="primary", compact=True)
                    yield Static("", id="login-error", classes="form-error")
                    yield Label("New here? ctrl+r registers an account.", classes="hint")
            yield Static("", id="login-message")
        yield Footer()
        yield TooSmall()

    def on_mount(self) -> None:
        self.watch(self.app, "location", self._show_location)

    def _show_location(self, location: str) -> None:
        text = f"Market: {location}" if location else "Opening the market…"
        self.query_one("#login-location", Static).update(text)

    @staticmethod
    def _register_form() -> Vertical:
        return Vertical(
            Label("Register", classes="form-title"),
            FormRow("Username", Field(placeholder="3 to 32 letters, digits, . _ -",
                                      compact=True, id="register-username")),
            FormRow("Email", Field(placeholder="you@example.com", compact=True,
                                   id="register-email")),
            FormRow("Password", Field(placeholder="at least 6 characters", password=True,
                                      compact=True, id="register-password")),
            Button("Register and log in", id="register-submit", variant="primary",
                   compact=True),
            Static("", id="register-error", classes="form-error"),
            Label("Have an account? ctrl+r returns to log in.", classes="hint"),
            id="register-form",
            classes="form",
        )

    def show_message(self, message: str) -> None:
        """Show a notice above the form, such as why the session ended.

        The focus goes to Password when Username is filled in, so that a password typed
        next cannot replace the username and show in clear text.
        """
        self.query_one("#login-message", Static).update(message)
        for password in self.query("#login-password, #register-password").results(Field):
            password.value = ""
        self.query_one("#forms", ContentSwitcher).current = "login-form"
        username = self.query_one("#login-username", Field)
        if username.value.strip():
            self.query_one("#login-password", Field).focus()
        else:
            username.focus()

    async def action_switch_form(self) -> None:
        forms = self.query_one("#forms", ContentSwitcher)
        if forms.current == "login-form":
            if not self.query("#register-form"):
                # Built on first use: fewer widgets to draw before the first frame.
                await forms.mount(self._register_form())
            forms.current = "register-form"
            self.query_one("#register-username", Field).focus()
        else:
            forms.current = "login-form"
            self.query_one("#login-username", Field).focus()

    # Submitting

    @on(Field.Submitted)
    def _next_or_submit(self, event: Field.Submitted) -> None:
        order = {
            "login-username": "#login-password",
            "register-username": "#register-email",
            "register-email": "#register-password",
        }
        following = order.get(event.input.id or "")
        if following:
            self.query_one(following, Field).focus()
        elif event.input.id == "login-password":
            self._submit_login()
        elif event.input.id == "register-password":
            self._submit_register()

    @on(Button.Pressed, "#login-submit")
    def _submit_login(self) -> None:
        if self.pending:
            return
        username = self.query_one("#login-username", Field).value.strip()
        password = self.query_one("#login-password", Field).value
        if not username:
            self._show_error("login", "Enter your username.", "username")
            return
        if not password:
            self._show_error("login", "Enter your password.", "password")
            return
        self._busy("login", "Logging in…")
        self._log_in(username, password)

    @on(Button.Pressed, "#register-submit")
    def _submit_register(self) -> None:
        if self.pending:
            return
        username = self.query_one("#register-username", Field).value.strip()
        email = self.query_one("#register-email", Field).value.strip()
        password = self.query_one("#register-password", Field).value
        self._busy("register", "Creating your account…")
        self._register(username, email, password)

    def _busy(self, form: str, text: str) -> None:
        self.pending = True
        self.query_one(f"#{form}-submit", Button).disabled = True
        error = self.query_one(f"#{form}-error", Static)
        error.remove_class("-error")
        error.update(text)

    @work(thread=True, group="login", exclusive=True, exit_on_error=False)
    def _log_in(self, username: str, password: str) -> None:
        backend = self.app.backend()
        try:
            backend.login(username, password)
        except DeskError as error:
            field = error.field if isinstance(error, InvalidInput) else None
            self.post_message(self.Failed("login", error.message, field))
            return
        self.post_message(self.LoggedIn(username, backend.user_id, registered=False))

    @work(thread=True, group="login", exclusive=True, exit_on_error=False)
    def _register(self, username: str, email: str, password: str) -> None:
        backend = self.app.backend()
        try:
            user = backend.register(username, email, password)
            backend.login(user.username, password)
        except DeskError as error:
            field = error.field if isinstance(error, InvalidInput) else None
            self.post_message(self.Failed("register", error.message, field))
            return
        self.post_message(self.LoggedIn(user.username, backend.user_id, registered=True))

    def on_worker_state_changed(self, event: Any) -> None:
        from textual.worker import WorkerState

        if event.state is WorkerState.ERROR:
            # Anything that is not a DeskError (a broken connection setting, say) still
            # belongs inline: the trader is not logged in, so there is nothing else to show.
            error = event.worker.error
            form = self.query_one("#forms", ContentSwitcher).current or "login-form"
            message = getattr(error, "message", None) or f"{type(error).__name__}: {error}"
            self.app.log.error("login failed", error=repr(error))
            self.post_message(self.Failed(form.removesuffix("-form"), message, None))

    # Results

    def on_login_screen_failed(self, event: Failed) -> None:
        self.pending = False
        self._show_error(event.form, event.message, event.field)

    def _show_error(self, form: str, message: str, field: str | None) -> None:
        self.query_one(f"#{form}-submit", Button).disabled = False
        error = self.query_one(f"#{form}-error", Static)
        error.add_class("-error")
        error.update(f"✗ {message}")
        target = f"#{form}-{field}" if field in ("username", "email", "password") else None
        if target and self.query(target):
            self.query_one(target, Field).focus()

    def on_login_screen_logged_in(self, event: LoggedIn) -> None:
        self.pending = False
        for button in self.query("#login-submit, #register-submit").results(Button):
            button.disabled = False
        for error in self.query("#login-error, #register-error").results(Static):
            error.update("")
        for password in self.query("#login-password, #register-password").results(Field):
            password.value = ""
        self.query_one("#login-message", Static).update("")
        # The next login is most likely the same trader's, also after registering.
        self.query_one("#login-username", Field).value = event.username
        if event.registered:
            self.app.notify(f"Account {event.username} created with the starting grant.",
                            title="Welcome")
        self.app.logged_in(event.username, event.user_id)
