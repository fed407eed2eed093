"""Schema creation and the demo data set: assets, prices, the house account and the demo user.

Seeding adds only what is missing, so running it on a seeded database changes nothing.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from decimal import Decimal
from importlib import resources

from pydantic import BaseModel
from sqlalchemy import Connection, func, insert, select, text

from desk.backend import schema
from desk.backend.ledger import Change, apply_changes, create_accounts
from desk.backend.models import MarketPrice, PricePoint, TokenType, User
from desk.backend.money import BTC, PLACES, PRICE_PLACES, divide, to_minor, truncate
from desk.backend.security import UNUSABLE_PASSWORD, PasswordHasher
from desk.backend.store import Database

log = logging.getLogger(__name__)

# Any fixed number: a PostgreSQL advisory lock held by each seeding transaction. With it,
# processes that seed one empty database at once (servers starting together) take turns, and
# the later ones find the data in place. Without it, both would insert the assets and one
# would fail on the primary key. On SQLite, the immediate write lock already serialises them.
SEED_LOCK_ID = 727_003


class SeedAsset(BaseModel):
    token_type: str
    description: str
    price_usd: Decimal


class SeedHouse(BaseModel):
    username: str
    email: str
    liquidity: dict[str, Decimal]


class SeedUser(BaseModel):
    username: str
    email: str
    password: str
    balances: dict[str, Decimal]


class SeedData(BaseModel):
    """The demo data file ``seed/demo.json``."""

    assets: list[SeedAsset]
    house: SeedHouse
    demo_user: SeedUser


def load_seed() -> SeedData:
    text = resources.files("desk.seed").joinpath("demo.json").read_text(encoding="utf-8")
    return SeedData.model_validate(json.loads(text))


def create_schema(database: Database) -> None:
    """Create or migrate the schema to the latest revision."""
    schema.upgrade(database)


def seed_database(database: Database, hasher: PasswordHasher, now: datetime, *,
                  demo: bool = True, data: SeedData | None = None) -> list[str]:
    """Add whatever part of the demo data is missing; return what was added."""
    data = data or load_seed()
    added: list[str] = []
    demo_hash = None
    if demo and not _user_exists(database, data.demo_user.username):
        demo_hash = hasher.hash(data.demo_user.password)  # slow: outside the transaction
    with database.write() as connection:
        if database.dialect == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": SEED_LOCK_ID})
        added += _seed_assets(connection, data, now)
        house = _seed_house(connection, data, now, added)
        if demo_hash is not None:
            _seed_demo_user(connection, data, house, demo_hash, now, added)
    for item in added:
        log.info("seeded %s", item)
    return added


def _seed_assets(connection: Connection, data: SeedData, now: datetime) -> list[str]:
    added = []
    known = set(connection.execute(select(TokenType.token_type)).scalars())
    priced = set(connection.execute(select(MarketPrice.token_type)).scalars())
    btc_usd = next(asset.price_usd for asset in data.assets if asset.token_type == BTC)
    for position, asset in enumerate(data.assets):
        name = asset.token_type
        if name not in known:
            connection.execute(insert(TokenType).values(
                token_type=name, description=asset.description, places=PLACES[name],
                position=position))
            added.append(f"asset {name}")
        if name not in priced:
            price_btc = truncate(divide(asset.price_usd, btc_usd), PRICE_PLACES)
            values = {"token_type": name, "price_btc": price_btc, "price_usd": asset.price_usd}
            connection.execute(insert(MarketPrice).values(**values, last_updated=now))
            connection.execute(insert(PricePoint).values(**values, at=now))
            added.append(f"price of {name}")
    return added


def _seed_house(connection: Connection, data: SeedData, now: datetime,
                added: list[str]) -> int:
    house = connection.execute(select(User.id).where(User.kind == "house")).scalar_one_or_none()
    if house is not None:
        return house
    house = connection.execute(
        insert(User).values(username=data.house.username, email=data.house.email,
                            password_hash=UNUSABLE_PASSWORD, kind="house", created_at=now)
        .returning(User.id)
    ).scalar_one()
    create_accounts(connection, house)
    issuance = [Change(house, asset, balance=to_minor(amount, asset), reason="issuance")
                for asset, amount in data.house.liquidity.items()]
    apply_changes(connection, issuance, "seed:house", now)
    added.append("house account with its liquidity")
    return house


def _seed_demo_user(connection: Connection, data: SeedData, house: int, password_hash: str,
                    now: datetime, added: list[str]) -> None:
    user = data.demo_user
    if _username_taken(connection, user.username):
        return  # created by a concurrent seeding since the check outside the transaction
    user_id = connection.execute(
        insert(User).values(username=user.username, email=user.email,
                            password_hash=password_hash, kind="trader", created_at=now)
        .returning(User.id)
    ).scalar_one()
    create_accounts(connection, user_id)
    grant = []
    for asset, amount in user.balances.items():
        minor = to_minor(amount, asset)
        grant.append(Change(house, asset, balance=-minor, reason="grant"))
        grant.append(Change(user_id, asset, balance=minor, reason="grant"))
    apply_changes(connection, grant, f"user:{user_id}", now)
    added.append(f"demo user {user.username!r}")


def _username_taken(connection: Connection, username: str) -> bool:
    found = connection.execute(
        select(User.id).where(func.lower(User.username) == username.lower())
    ).first()
    return found is not None


def _user_exists(database: Database, username: str) -> bool:
    with database.read() as connection:
        return _username_taken(connection, username)
