"""The ``desk`` command: open the desk, run the server, or prepare a database."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence

from typing import TYPE_CHECKING

from pydantic import ValidationError

from desk import __version__
from desk.backend.errors import DeskError
from desk.settings import Settings

if TYPE_CHECKING:
    from desk.backend.interface import Backend

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
    try:
        settings = Settings()
    except ValidationError as error:
        print(f"desk: invalid settings:\n{error}", file=sys.stderr)
        return 2

    try:
        if args.command == "init-db":
            return init_db(settings, args.init_db_url or args.db, demo=not args.no_demo)
        return open_desk(settings, args)
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


def open_desk(settings: Settings, args: argparse.Namespace) -> int:
    """Run the desk on the embedded database, ``--db URL`` or ``--server URL``.

    Only the settings and Textual are loaded before the login screen appears; the market (and
    with it SQLAlchemy) is opened in a worker thread by the function given to the app.
    """
    from desk.app import DeskApp

    server_url = args.server or (None if args.db else settings.server_url)
    closers: list[Callable[[], None]] = []
    if server_url:
        try:
            # The HTTP backend ships with the REST server; a build without it cannot go remote.
            from desk.backend.remote import HttpBackend
        except ImportError as error:
            print(f"desk: --server needs the HTTP backend (desk.backend.remote), which this "
                  f"installation lacks: {error}", file=sys.stderr)
            return 1

        def open_backend() -> Backend:
            return HttpBackend(server_url)

        location = f"server {server_url}"
    else:
        database_url = args.db or settings.database()

        def open_backend() -> Backend:
            from desk.backend.local import LocalBackend
            from desk.backend.market import Market

            market = Market.open(database_url, settings.market_config())
            closers.append(market.close)
            return LocalBackend(market)

        location = f"database {describe_database(database_url)}"

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
