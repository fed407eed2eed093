"""The ``desk`` command: open the desk, run the server, or prepare a database."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import sys
from collections.abc import Callable, Sequence

from typing import TYPE_CHECKING

from desk import __version__
from desk.backend.errors import DeskError

if TYPE_CHECKING:
    from desk.backend.interface import Backend
    from desk.settings import Settings

log = logging.getLogger("desk")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="desk",
        description="Tokenomics Desk: trade AI-provider credits from the terminal. Without a "
        "command, opens the desk on the embedded database (created and seeded on first start).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--db", metavar="URL",
                        help="SQLAlchemy URL of the market database, e.g. sqlite:///market.db "
                        "(default: the embedded database in the user data folder; "
                        "env DESK_DATABASE_URL)")
    target.add_argument("--server", metavar="URL",
                        help="URL of a desk server to trade on over HTTP, e.g. "
                        "http://127.0.0.1:8000 (env DESK_SERVER_URL)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    init_db = commands.add_parser(
        "init-db", help="create the schema and seed the demo data; safe to run again",
        description="Create the database schema and add whatever demo data is missing. "
        "Running it again changes nothing.")
    init_db.add_argument("--db", metavar="URL", dest="init_db_url",
                         help="SQLAlchemy URL of the database (default: the embedded database)")
    init_db.add_argument("--no-demo", action="store_true",
                         help="seed the assets, prices and house account but not the demo user")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.command is None:
        # The desk reads its settings in a worker, after its first screen is drawn.
        return open_desk(args)

    from pydantic import ValidationError

    from desk.settings import Settings

    try:
        settings = Settings()
    except ValidationError as error:
        print(f"desk: invalid settings:\n{error}", file=sys.stderr)
        return 2

    try:
        return init_db(settings, args.init_db_url or args.db, demo=not args.no_demo)
    except DeskError as error:
        print(f"desk: {error.message}", file=sys.stderr)
        return 1
    except Exception as error:
        # SQLAlchemy is imported only once a command opens a database.
        from sqlalchemy.exc import SQLAlchemyError

        if not isinstance(error, SQLAlchemyError):
            raise
        print(f"desk: database error: {error.__class__.__name__}: {error}", file=sys.stderr)
        return 1


def init_db(settings: Settings, url: str | None, *, demo: bool) -> int:
    from desk.backend.market import Market

    database_url = url or settings.database()
    market = Market.open(database_url, settings.market_config(), create=False)
    try:
        added = market.initialise(demo=demo)
    finally:
        market.close()
    where = market.location
    if added:
        print(f"Initialised {where}: added {', '.join(added)}.")
    else:
        print(f"{where} is up to date; nothing to add.")
    return 0


def describe_database(url: str) -> str:
    """Name a database for people without loading SQLAlchemy: a SQLite file's path, or the URL.

    Passwords in URLs are masked; the backend replaces this text with its own once open.
    """
    for prefix in ("sqlite:///", "sqlite+pysqlite:///"):
        if url.startswith(prefix):
            return url[len(prefix):].split("?", 1)[0] or ":memory:"
    scheme, separator, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if separator and at and ":" in credentials:
        user = credentials.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}"
    return url


class SettingsError(DeskError):
    """The ``DESK_*`` settings or the ``.env`` file hold an invalid value."""


def load_settings() -> Settings:
    """Read the settings; raise ``SettingsError`` with pydantic's report when one is invalid."""
    from pydantic import ValidationError

    from desk.settings import Settings

    try:
        return Settings()
    except ValidationError as error:
        raise SettingsError(f"invalid settings: {error}") from None


def open_desk(args: argparse.Namespace) -> int:
    """Run the desk on the embedded database, ``--db URL`` or ``--server URL``.

    Only Textual and the login screen load before the first frame. The settings and the
    market, with SQLAlchemy or the HTTP client, load afterwards in a worker thread. Errors
    from that step show on the login screen.
    """
    if args.server and importlib.util.find_spec("desk.backend.remote") is None:
        # The HTTP backend ships with the REST server; a build without it cannot go remote.
        print("desk: --server needs the HTTP backend (desk.backend.remote), which this "
              "installation lacks", file=sys.stderr)
        return 1

    from desk.app import DeskApp

    closers: list[Callable[[], None]] = []

    def open_backend() -> Backend:
        settings = load_settings()
        server_url = args.server or (None if args.db else settings.server_url)
        if server_url:
            from desk.backend.remote import HttpBackend

            return HttpBackend(server_url)

        from desk.backend.local import LocalBackend
        from desk.backend.market import Market

        market = Market.open(args.db or settings.database(), settings.market_config())
        closers.append(market.close)
        return LocalBackend(market)

    if args.server:
        location = f"server {args.server}"
    elif args.db:
        location = f"database {describe_database(args.db)}"
    else:
        location = ""  # known once the settings are read
    app = DeskApp(open_backend, location=location)
    # Textual draws on the terminal; log records go to its devtools log instead of stderr.
    from textual.logging import TextualHandler

    root = logging.getLogger()
    saved_handlers = root.handlers[:]
    root.handlers = [TextualHandler()]
    try:
        app.run()
    finally:
        root.handlers = saved_handlers
        app.close_backend()
        for close in closers:
            close()
    return app.return_code or 0
