"""Settings from the environment (``DESK_*``), a ``.env`` file and command-line options."""

from __future__ import annotations

import json
from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import platformdirs
from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from desk.backend.money import AI_TOKENS, BTC, PLACES, round_down

if TYPE_CHECKING:
    # The market pulls in SQLAlchemy; the desk imports settings before its first screen.
    from desk.backend.market import Market, MarketConfig
    from desk.backend.runtime import MarketRuntime

if TYPE_CHECKING:
    from desk.backend.server.routes.stream import StreamOptions
    from desk.backend.store import PoolOptions

APP_NAME = "tokenomics-desk"
DATABASE_FILE = "desk.db"
# The token issuer rejects shorter keys: RFC 7518 asks for HS256 keys of at least 256 bits.
MIN_SECRET_LENGTH = 32
# The largest starting grants. Balances are 64-bit counts of the smallest unit, at most about
# 9.2 * 10^12 AI tokens or 9.2 * 10^10 BTC, so that the grants of thousands of accounts still
# fit in one balance.
# 21 million is every bitcoin there will ever be.
MAX_GRANT_AI_TOKENS = Decimal(10) ** 9
MAX_GRANT_BTC = Decimal(21_000_000)


def default_data_dir() -> Path:
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


class Settings(BaseSettings):
    """Every setting of the desk and the server, each overridable by a ``DESK_`` variable."""

    model_config = SettingsConfigDict(env_prefix="DESK_", env_file=".env",
                                      env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir,
                           description="folder of the embedded database and its signing key",
                           json_schema_extra={"default_text": "the platform's user data folder, "
                                              "e.g. ~/.local/share/tokenomics-desk on Linux"})
    database_url: str | None = Field(default=None,
                                     description="SQLAlchemy URL of the market database")
    server_url: str | None = Field(default=None, description="URL of a remote desk server")
    secret_key: SecretStr | None = Field(default=None,
                                         description="JWT signing key of the server, "
                                         f"at least {MIN_SECRET_LENGTH} characters")
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="origins that browsers may call the server from, e.g. "
        "http://localhost:5173; comma-separated or a JSON list in DESK_CORS_ORIGINS")
    token_lifetime_minutes: int = Field(default=480, ge=1, le=60 * 24 * 30,
                                        description="how long a login session lasts, in minutes")
    bcrypt_rounds: int = Field(default=12, ge=4, le=16,
                               description="bcrypt cost factor (log2 of the rounds)",
                               json_schema_extra={"unit": "log2 rounds"})
    grant_ai_tokens: Decimal = Field(default=Decimal(1000), ge=0, le=MAX_GRANT_AI_TOKENS,
                                     description="starting grant of each AI token per new account",
                                     json_schema_extra={"unit": "tokens"})
    grant_btc: Decimal = Field(default=Decimal("0.01"), ge=0, le=MAX_GRANT_BTC,
                               description="starting grant of BTC per new account",
                               json_schema_extra={"unit": "BTC"})

    feed_interval_seconds: float = Field(default=2.0, gt=0, le=3600,
                                         description="seconds between two price feed ticks")
    feed_volatility: float = Field(default=0.002, ge=0, le=1,
                                   description="standard deviation of a tick's log-price step")
    feed_seed: int | None = Field(default=None,
                                  description="seed of the simulated price feed (random if unset)")
    price_history_limit: int = Field(default=1000, ge=10, le=1_000_000,
                                     description="price points kept per asset for charts",
                                     json_schema_extra={"unit": "points"})

    db_pool_size: int = Field(default=8, ge=1, le=1000,
                              description="database connections that each process keeps open",
                              json_schema_extra={"unit": "connections"})
    db_max_overflow: int = Field(default=16, ge=0, le=1000,
                                 description="further database connections a process may open "
                                 "under load; they close when returned",
                                 json_schema_extra={"unit": "connections"})
    db_pool_timeout_seconds: float = Field(default=30.0, gt=0, le=600,
                                           description="seconds a request waits for a free "
                                           "database connection before failing with 503")
    db_pool_recycle_seconds: int = Field(default=1800, ge=-1,
                                         description="age in seconds after which a PostgreSQL "
                                         "connection is replaced; -1 keeps connections")
    db_pool_pre_ping: bool = Field(default=True,
                                   description="test each PostgreSQL connection before use, so "
                                   "that one closed by a database restart is replaced")

    ws_queue_limit: int = Field(default=256, ge=8, le=100_000,
                                description="events queued for one WebSocket client before the "
                                "server disconnects it as too slow",
                                json_schema_extra={"unit": "messages"})
    ws_auth_timeout_seconds: float = Field(default=10.0, gt=0, le=600,
                                           description="seconds a new WebSocket client has to "
                                           "send its auth message")
    ws_ping_interval_seconds: float = Field(default=20.0, gt=0, le=3600,
                                            description="seconds between the server's "
                                            "WebSocket keepalive pings")
    ws_ping_timeout_seconds: float = Field(default=20.0, gt=0, le=3600,
                                           description="seconds the server waits for a pong "
                                           "before it closes the WebSocket")

    idempotency_key_hours: float = Field(
        default=24, gt=0, le=24 * 30,
        description="hours for which a request's Idempotency-Key replays its first outcome",
        json_schema_extra={"unit": "hours"})
    # The market's own default, desk.backend.trading.DEFAULT_MAX_OPEN_OFFERS, written out so
    # that reading settings imports no SQLAlchemy.
    max_open_offers: int = Field(default=200, ge=1, le=100_000,
                                 description="active offers one trader may have at a time",
                                 json_schema_extra={"unit": "offers"})
    max_connections: int = Field(
        default=1000, ge=1, le=1_000_000,
        description="connections and requests the server handles at once; past this, new "
        "requests get 503 at once (uvicorn's limit_concurrency)",
        json_schema_extra={"unit": "connections"})
    login_window_seconds: int = Field(
        default=900, ge=1, le=7 * 24 * 3600,
        description="seconds over which failed logins are counted for throttling")
    login_max_failures_per_username: int = Field(
        default=5, ge=1, le=1_000_000,
        description="failed logins of one username within the window before 429",
        json_schema_extra={"unit": "logins"})
    login_max_failures_per_address: int = Field(
        default=30, ge=1, le=1_000_000,
        description="failed logins from one client address within the window before 429",
        json_schema_extra={"unit": "logins"})

    @field_validator("secret_key")
    @classmethod
    def _long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and len(value.get_secret_value()) < MIN_SECRET_LENGTH:
            raise ValueError(
                f"must be at least {MIN_SECRET_LENGTH} characters; generate one with "
                "python3 -c 'import secrets; print(secrets.token_urlsafe(48))'")
        return value

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [origin.strip() for origin in text.split(",") if origin.strip()]
        return value

    @field_validator("grant_ai_tokens", "grant_btc")
    @classmethod
    def _fits_precision(cls, value: Decimal, info: ValidationInfo) -> Decimal:
        asset = BTC if info.field_name == "grant_btc" else AI_TOKENS[0]
        if value != round_down(value, asset):
            raise ValueError(f"{asset} amounts allow at most {PLACES[asset]} decimal places")
        return value

    def database(self) -> str:
        """Return the market database URL: the setting, else the embedded SQLite file."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{self.data_dir / DATABASE_FILE}"

    def signing_key(self) -> str:
        """Return the configured signing key, else the one kept in the data folder."""
        from desk.backend.security import load_or_create_secret

        if self.secret_key is not None:
            return self.secret_key.get_secret_value()
        return load_or_create_secret(self.data_dir)

    def runtime(self, market: Market) -> MarketRuntime:
        """Return the background services of ``market`` (price feed, relay), not yet started."""
        from desk.backend.feed import RandomWalk
        from desk.backend.runtime import MarketRuntime

        feed = RandomWalk(seed=self.feed_seed, volatility=self.feed_volatility)
        return MarketRuntime(market, feed, self.feed_interval_seconds, self.price_history_limit)

    def pool_options(self) -> PoolOptions:
        """Return the connection pool options of the market database."""
        # Imported here because the store loads SQLAlchemy, which the settings do not need.
        from desk.backend.store import PoolOptions

        return PoolOptions(size=self.db_pool_size, max_overflow=self.db_max_overflow,
                           timeout=self.db_pool_timeout_seconds,
                           recycle=self.db_pool_recycle_seconds,
                           pre_ping=self.db_pool_pre_ping)

    def stream_options(self) -> StreamOptions:
        """Return the options of the server's live stream."""
        # Imported here so that the embedded desk does not load the server's modules.
        from desk.backend.server.routes.stream import StreamOptions

        return StreamOptions(queue_limit=self.ws_queue_limit,
                             auth_timeout=self.ws_auth_timeout_seconds,
                             feed_interval=self.feed_interval_seconds)

    def market_config(self) -> MarketConfig:
        from desk.backend.market import MarketConfig
        from desk.backend.throttle import LoginLimits

        grant = {token: self.grant_ai_tokens for token in AI_TOKENS}
        grant[BTC] = self.grant_btc
        return MarketConfig(
            secret_key=self.signing_key(),
            token_lifetime=timedelta(minutes=self.token_lifetime_minutes),
            bcrypt_rounds=self.bcrypt_rounds,
            grant=grant,
            idempotency_lifetime=timedelta(hours=self.idempotency_key_hours),
            max_open_offers=self.max_open_offers,
            login_limits=LoginLimits(
                window=timedelta(seconds=self.login_window_seconds),
                per_username=self.login_max_failures_per_username,
                per_address=self.login_max_failures_per_address,
            ),
        )
