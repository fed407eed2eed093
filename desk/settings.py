"""Settings from the environment (``DESK_*``), a ``.env`` file and command-line options."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import platformdirs
from pydantic import Field, SecretStr, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from desk.backend.money import AI_TOKENS, BTC, PLACES, round_down

if TYPE_CHECKING:
    # The market pulls in SQLAlchemy; the desk imports settings before its first screen.
    from desk.backend.market import MarketConfig

APP_NAME = "tokenomics-desk"
DATABASE_FILE = "desk.db"


def default_data_dir() -> Path:
    return platformdirs.user_data_path(APP_NAME, appauthor=False)


class Settings(BaseSettings):
    """Every setting of the desk and the server, each overridable by a ``DESK_`` variable."""

    model_config = SettingsConfigDict(env_prefix="DESK_", env_file=".env",
                                      env_file_encoding="utf-8", extra="ignore")

    data_dir: Path = Field(default_factory=default_data_dir,
                           description="folder of the embedded database and its signing key")
    database_url: str | None = Field(None, description="SQLAlchemy URL of the market database")
    server_url: str | None = Field(None, description="URL of a remote desk server")
    secret_key: SecretStr | None = Field(None, description="JWT signing key of the server")
    token_lifetime_minutes: int = Field(480, ge=1, le=60 * 24 * 30,
                                        description="how long a login session lasts, in minutes")
    bcrypt_rounds: int = Field(12, ge=4, le=16, description="bcrypt cost factor (log2 rounds)")
    grant_ai_tokens: Decimal = Field(Decimal(1000), ge=0,
                                     description="starting grant of each AI token per new account")
    grant_btc: Decimal = Field(Decimal("0.01"), ge=0,
                               description="starting grant of BTC per new account")

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

    def market_config(self) -> MarketConfig:
        from desk.backend.market import MarketConfig

        grant = {token: self.grant_ai_tokens for token in AI_TOKENS}
        grant[BTC] = self.grant_btc
        return MarketConfig(
            secret_key=self.signing_key(),
            token_lifetime=timedelta(minutes=self.token_lifetime_minutes),
            bcrypt_rounds=self.bcrypt_rounds,
            grant=grant,
        )
