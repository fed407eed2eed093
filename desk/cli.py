"""The ``desk`` command: open the desk, run the server, or prepare a database."""

from __future__ import annotations

import argparse
import gc
import importlib.util
import ipaddress
import logging
import signal
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from desk import __version__
from desk.backend.errors import DeskError

if TYPE_CHECKING:
    import uvicorn
    from pydantic import ValidationError
    from starlette.types import ASGIApp

    from desk.backend.interface import Backend
    from desk.settings import Settings

log = logging.getLogger("desk")

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8000
# Maximum bytes of a request's line and headers that the server buffers before they are
# complete. Past it, h11 responds with a 400 and closes the connection. uvicorn's default
# parser, httptools, buffers any number of headers: with uvicorn 0.55 and httptools 0.9 on a
# 2-core machine, one request with a million short headers took 24 s of server CPU and 115 MB.
MAX_HEAD_BYTES = 16 * 1024


def database_argument(value: str) -> str:
    """Read a ``--db`` value: a SQLAlchemy URL, or the path of a SQLite file."""
    if "://" in value:
        return value
    return f"sqlite:///{Path(value).expanduser().absolute()}"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="desk",
        description="Tokenomics Desk: trade AI-provider credits from the terminal. Without a "
        "command, opens the desk on the embedded database (created and seeded on first start).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--db", metavar="URL", type=database_argument,
                        help="SQLAlchemy URL of the market database, e.g. sqlite:///market.db, "
                        "or the path of a SQLite file (default: the embedded database in the "
                        "user data folder; env DESK_DATABASE_URL)")
    target.add_argument("--server", metavar="URL",
                        help="URL of a desk server to trade on over HTTP, e.g. "
                        "http://127.0.0.1:8000 (env DESK_SERVER_URL)")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")

    init_db = commands.add_parser(
        "init-db", help="create the schema and seed the demo data; safe to run again",
        description="Create the database schema and add whatever demo data is missing. "
        "Running it again changes nothing.")
    init_db.add_argument("--db", metavar="URL", dest="init_db_url", type=database_argument,
                         help="SQLAlchemy URL of the database, or the path of a SQLite file "
                         "(default: the embedded database)")
    init_db.add_argument("--no-demo", action="store_true",
                         help="seed the assets, prices and house account but not the demo user")

    audit = commands.add_parser(
        "audit", help="check every invariant of a market database and print the results",
        description="Check the invariants of a market database in one consistent read: no "
        "negative balance, per-asset totals equal to issuance, every balance equal to the sum "
        "of its ledger entries, every hold equal to the account's active offers, and every "
        "completed trade matching its ledger entries. Prints PASS or FAIL for each check, "
        "with the first offending rows. Exit status: 0 if every check passed, 1 if any "
        "failed, 2 if the database could not be audited. Safe to run while servers trade on "
        "the database; it only reads.")
    audit.add_argument("--db", metavar="URL", dest="audit_db_url", type=database_argument,
                       help="SQLAlchemy URL of the database, or the path of a SQLite file "
                       "(default: the embedded database; env DESK_DATABASE_URL)")

    serve = commands.add_parser(
        "serve", help="run the REST server that remote desks, scripts and browsers share",
        description="Run the REST API with uvicorn on one market database, which is created "
        "and seeded if it is empty. Interactive documentation is served at /docs. Logs every "
        "request to standard error. Stop it with Ctrl+C or SIGTERM.")
    serve.add_argument("--host", default=DEFAULT_HOST,
                       help="IP address or host name to listen on (default: %(default)s, "
                       "loopback only). Any other address requires DESK_SECRET_KEY.")
    serve.add_argument("--port", type=port_number, default=DEFAULT_PORT,
                       help="TCP port to listen on, 1 to 65535 (default: %(default)s)")
    serve.add_argument("--db", metavar="URL", dest="serve_db_url", type=database_argument,
                       help="SQLAlchemy URL of the market database, or the path of a SQLite "
                       "file (default: the embedded database in the user data folder; "
                       "env DESK_DATABASE_URL)")
    serve.add_argument("--no-demo", action="store_true", dest="serve_no_demo",
                       help="do not add the demo user (demo/demo123), which a production "
                       "market should not have; the assets, prices and house account are "
                       "still added")
    return parser


def port_number(text: str) -> int:
    """Parse a TCP port for argparse."""
    try:
        port = int(text)
    except ValueError:
        message = f"invalid port {text!r}: expected a whole number"
        raise argparse.ArgumentTypeError(message) from None
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"invalid port {port}: expected 1 to 65535")
    return port


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the process exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    level = logging.INFO if args.command == "serve" else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    # Alembic (1.20) logs a "setup plugin" line for each of its plugins whenever it loads.
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if args.command is None:
        # The desk reads its settings in a worker, after its first screen is drawn.
        return open_desk(args)

    # Imported here, not at the top: the desk's start-up should not pay for them.
    from pydantic import ValidationError
    from sqlalchemy.exc import SQLAlchemyError

    from desk.settings import Settings

    try:
        settings = Settings()
    except ValidationError as error:
        print(f"desk: invalid settings:\n{describe_settings_error(error)}", file=sys.stderr)
        return 2
    except UnicodeDecodeError as error:
        print(f"desk: invalid settings: {describe_env_file_error(error)}", file=sys.stderr)
        return 2

    try:
        if args.command == "init-db":
            return init_db(settings, args.init_db_url or args.db, demo=not args.no_demo)
        if args.command == "audit":
            return audit_database(args.audit_db_url or args.db or settings.database())
        return serve(settings, args.host, args.port, args.serve_db_url or args.db,
                     demo=not args.serve_no_demo)
    except DeskError as error:
        print(f"desk: {error.message}", file=sys.stderr)
        return 1
    except SQLAlchemyError as error:
        print(f"desk: database error: {error.__class__.__name__}: {error}", file=sys.stderr)
        return 1
    except ModuleNotFoundError as error:
        # SQLAlchemy imports a database driver only when it connects to such a database.
        print(f"desk: the Python module {error.name!r} is not installed; install it with pip "
              "(PostgreSQL URLs need psycopg: pip install 'psycopg[binary]')", file=sys.stderr)
        return 1
    except OSError as error:
        # The data folder or the database file's folder: missing rights, or a file in its place.
        print(f"desk: {describe_os_error(error)}", file=sys.stderr)
        return 1


def describe_os_error(error: OSError) -> str:
    """Describe a failed file operation: the path, the reason and where the path comes from."""
    path = error.filename if error.filename is not None else "a file"
    reason = error.strerror or type(error).__name__
    return (f"cannot use {path}: {reason}; check that the data folder (DESK_DATA_DIR) or the "
            "database path of --db is a folder you can write to")


def describe_env_file_error(error: UnicodeDecodeError) -> str:
    """Describe a .env file that is not UTF-8 text, without quoting its contents."""
    return (f"the .env file in {Path.cwd()} is not UTF-8 text ({error.reason} at byte "
            f"{error.start}); save it as UTF-8")


def describe_settings_error(error: ValidationError) -> str:
    """List the invalid settings without their values, which may include the signing key."""
    lines = []
    for problem in error.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in problem["loc"])
        lines.append(f"  DESK_{name.upper()}: {problem['msg']}")
    return "\n".join(lines)


def init_db(settings: Settings, url: str | None, *, demo: bool) -> int:
    from desk.backend.market import Market

    database_url = url or settings.database()
    market = Market.open(database_url, settings.market_config(), create=False,
                         pool=settings.pool_options())
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


# Exit status of ``desk audit`` when a check failed, and when no audit could run.
AUDIT_FAILED = 1
AUDIT_IMPOSSIBLE = 2


def audit_database(url: str) -> int:
    """Run every audit check on the database at ``url``, print the results, return the status.

    Never creates a database: a missing SQLite file or a database without the market's
    tables is reported, not audited.
    """
    from sqlalchemy import inspect
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError, SQLAlchemyError

    from desk.backend.audit import audit
    from desk.backend.store import Database

    try:
        parsed = make_url(url)
    except ArgumentError:
        print(f"desk: invalid database URL {url!r}; expected a SQLAlchemy URL such as "
              "sqlite:///market.db or postgresql+psycopg://user@host/market", file=sys.stderr)
        return AUDIT_IMPOSSIBLE
    shown = parsed.render_as_string(hide_password=True)
    if parsed.get_backend_name() == "sqlite":
        path = parsed.database or ""
        if path in ("", ":memory:") or not Path(path).expanduser().is_file():
            print(f"desk: no database file at {path or ':memory:'}; give the path of an "
                  "existing market database with --db sqlite:///PATH", file=sys.stderr)
            return AUDIT_IMPOSSIBLE

    database: Database | None = None
    try:
        database = Database(url)
        with database.read() as connection:
            tables = set(inspect(connection).get_table_names())
        if "users" not in tables:
            print(f"desk: {shown} has no market schema; create it with "
                  "'desk init-db --db URL'", file=sys.stderr)
            return AUDIT_IMPOSSIBLE
        checks = audit(database)
    except (SQLAlchemyError, ModuleNotFoundError) as error:
        reason = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
        print(f"desk: cannot audit {shown}: {type(error).__name__}: {reason}", file=sys.stderr)
        return AUDIT_IMPOSSIBLE
    finally:
        if database is not None:
            database.dispose()

    print(f"Audit of {database.location}")
    for check in checks:
        print(f"{'PASS' if check.passed else 'FAIL'}  {check.name}")
        for problem in check.problems:
            print(f"        {problem}")
    failed = sum(not check.passed for check in checks)
    print(f"{len(checks)} checks: {len(checks) - failed} passed, {failed} failed")
    return AUDIT_FAILED if failed else 0


def is_loopback(host: str) -> bool:
    """Return whether ``host`` names a loopback address, reachable from this machine only."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def uvicorn_config(app: ASGIApp, settings: Settings, host: str,
                   port: int) -> uvicorn.Config:
    """Return the uvicorn configuration that ``desk serve`` runs ``app`` with."""
    import uvicorn

    from desk.backend.stream_protocol import MAX_CLIENT_MESSAGE_BYTES

    # Compression is off because each connection would compress the same small event again.
    # Clients send only their auth message, so incoming messages stay small.
    # NOTE: uvicorn (0.55) sets no time limit on reading a request before its first byte
    # or between its header lines, so slow clients can hold connections open. On anything but
    # loopback, serve behind a reverse proxy that limits them.
    return uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                          server_header=False, http="h11",
                          h11_max_incomplete_event_size=MAX_HEAD_BYTES,
                          limit_concurrency=settings.max_connections,
                          ws_ping_interval=settings.ws_ping_interval_seconds,
                          ws_ping_timeout=settings.ws_ping_timeout_seconds,
                          ws_max_size=MAX_CLIENT_MESSAGE_BYTES,
                          ws_per_message_deflate=False)


def serve(settings: Settings, host: str, port: int, url: str | None, *,
          demo: bool = True) -> int:
    """Run the REST server until it is stopped; return the exit status."""
    import uvicorn

    from desk.backend.market import Market
    from desk.backend.server import create_app

    if not is_loopback(host) and settings.secret_key is None:
        print(f"desk: listening on {host}, a non-loopback address, requires a signing key. "
              "Set DESK_SECRET_KEY to a random string of at least 32 characters, for example "
              "the output of python3 -c 'import secrets; print(secrets.token_urlsafe(48))', "
              f"or listen on {DEFAULT_HOST}.", file=sys.stderr)
        return 2

    shown_host = f"[{host}]" if ":" in host else host
    # Bound before the database is opened, so that a busy port leaves no new database behind.
    try:
        listener = bind_listener(host, port)
    except OSError as error:
        reason = (error.strerror or str(error)).lower()
        print(f"desk: could not start the server on {shown_host}:{port}: {reason}",
              file=sys.stderr)
        return 1
    try:
        market = Market.open(url or settings.database(), settings.market_config(), demo=demo,
                             pool=settings.pool_options())
    except BaseException:
        listener.close()
        raise
    if market.database.dialect == "postgresql" and settings.secret_key is None:
        # Each server would sign with its own data folder's key, and reject the others' tokens.
        log.warning("DESK_SECRET_KEY is not set, so this server signs sessions with the key in "
                    "%s. Give every server of one database the same DESK_SECRET_KEY.",
                    settings.data_dir)
    runtime = settings.runtime(market)
    app = create_app(market, cors_origins=settings.cors_origins,
                     stream_options=settings.stream_options())
    server = uvicorn.Server(uvicorn_config(app, settings, host, port))
    log.info("starting server on http://%s:%d with database %s", shown_host, port,
             market.location)
    if settings.cors_origins:
        log.info("allowing browser requests from %s", ", ".join(settings.cors_origins))

    # uvicorn (0.55, Server.capture_signals) shuts down gracefully on SIGINT and SIGTERM, then
    # raises the signal again under the handler that was installed before it started.
    # Turning SIGTERM into KeyboardInterrupt, as SIGINT already is, lets the finally clause
    # below run.
    previous_handler = signal.signal(signal.SIGTERM, signal.default_int_handler)
    runtime.start()
    # The objects made at start-up (modules, the app, SQLAlchemy's and pydantic's caches) live
    # until the process ends. Freezing them keeps the garbage collector from scanning them
    # again in every full collection while the server handles requests.
    gc.freeze()
    try:
        server.run(sockets=[listener])
    except KeyboardInterrupt:
        pass
    except SystemExit:
        # uvicorn exits when it cannot bind the address; it has logged why.
        if not server.started:
            print(f"desk: could not start the server on {shown_host}:{port}", file=sys.stderr)
            return 1
        raise
    finally:
        signal.signal(signal.SIGTERM, previous_handler)
        runtime.stop()
        market.close()
        listener.close()
        log.info("server stopped")
    return 0


def bind_listener(host: str, port: int) -> socket.socket:
    """Bind the server's TCP socket as uvicorn (0.55, ``Config.bind_socket``) would.

    Raises ``OSError`` when the address cannot be bound, such as a port already in use.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listener = socket.socket(family=family, type=socket.SOCK_STREAM, proto=socket.IPPROTO_TCP)
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((host, port))
    except OSError:
        listener.close()
        raise
    listener.set_inheritable(True)
    return listener


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


def open_backend(args: argparse.Namespace, closers: list[Callable[[], None]]) -> Backend:
    """Open the market named by the desk's arguments and settings, in the desk's worker thread.

    Appends to ``closers`` what must be closed when the desk quits. An unusable data folder or
    database path raises ``SettingsError`` naming the path instead of the bare ``OSError``.
    """
    settings = load_settings()
    server_url = args.server or (None if args.db else settings.server_url)
    if server_url:
        from desk.backend.remote import HttpBackend

        return HttpBackend(server_url)

    from desk.backend.local import LocalBackend
    from desk.backend.market import Market

    try:
        # The market config reads, or first writes, the signing key kept in the data folder.
        market = Market.open(args.db or settings.database(), settings.market_config())
    except OSError as error:
        raise SettingsError(describe_os_error(error)) from None
    closers.append(market.close)
    runtime = settings.runtime(market)
    runtime.start()
    closers.append(runtime.stop)
    return LocalBackend(market)


class SettingsError(DeskError):
    """The ``DESK_*`` settings or the ``.env`` file hold an invalid value."""


def load_settings() -> Settings:
    """Read the settings; raise ``SettingsError`` with pydantic's report when one is invalid."""
    from pydantic import ValidationError

    from desk.settings import Settings

    try:
        return Settings()
    except ValidationError as error:
        # Not str(error): pydantic's text repeats the rejected values, the signing key among them.
        raise SettingsError(f"invalid settings:\n{describe_settings_error(error)}") from None
    except UnicodeDecodeError as error:
        raise SettingsError(f"invalid settings: {describe_env_file_error(error)}") from None


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

    if args.server:
        location = f"server {args.server}"
    elif args.db:
        location = f"database {describe_database(args.db)}"
    else:
        location = ""  # known once the settings are read
    app = DeskApp(lambda: open_backend(args, closers), location=location)
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
        for close in reversed(closers):  # the price feed stops before its market closes
            close()
    return app.return_code or 0
