"""Accounts: registration with the starting grant, login, and the house account."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from typing import Any

from pydantic import validate_email
from pydantic_core import PydanticCustomError
from sqlalchemy import Connection, Row, func, insert, select
from sqlalchemy.exc import IntegrityError

from desk.backend import schemas
from desk.backend.errors import Conflict, InvalidInput, NotFound, Unauthenticated
from desk.backend.ledger import Change, apply_changes, create_accounts, lock_balances
from desk.backend.models import User
from desk.backend.money import to_minor
from desk.backend.security import (
    PasswordHasher,
    check_password,
    check_password_size,
    check_text,
)
from desk.backend.store import Database

USERNAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{2,31}")
MAX_USERNAME_LENGTH = 32
MAX_EMAIL_LENGTH = 254
HOUSE_USERNAME = "house"
BAD_LOGIN = "invalid username or password"


def check_username(username: object) -> str:
    """Return a valid username or raise ``InvalidInput`` naming the rule it breaks."""
    if not isinstance(username, str) or not USERNAME_PATTERN.fullmatch(username):
        raise InvalidInput(
            "username",
            "must be 3 to 32 characters: letters, digits, '.', '_' or '-', "
            "starting with a letter or digit",
        )
    return username


def check_email(email: object) -> str:
    """Return the normalised email address in lower case, or raise ``InvalidInput``.

    Addresses are unique ignoring case. The unique index compares SQL's lower(), which folds
    only ASCII letters on SQLite (and on PostgreSQL with the C locale), so the address is
    stored already folded by Python, which folds every script.
    """
    if not isinstance(email, str) or not email or len(email) > MAX_EMAIL_LENGTH:
        raise InvalidInput(
            "email", f"must be an email address of at most {MAX_EMAIL_LENGTH} characters"
        )
    try:
        _, normalised = validate_email(email)
    except PydanticCustomError as error:
        raise InvalidInput("email", f"{email!r} is not a valid email address") from error
    return normalised.lower()


def user_model(row: Row[Any]) -> schemas.User:
    return schemas.User(id=row.id, username=row.username, email=row.email,
                        created_at=row.created_at)


def register(
    database: Database,
    hasher: PasswordHasher,
    grant: Mapping[str, Decimal],
    now: datetime,
    username: object,
    email: object,
    password: object,
) -> schemas.User:
    """Create a trader account and pay it the starting grant from the house account."""
    username = check_username(username)
    email = check_email(email)
    password_hash = hasher.hash(check_password(password))  # slow: outside the transaction
    try:
        with database.write() as connection:
            _check_free(connection, username, email)
            user_id = connection.execute(
                insert(User).values(username=username, email=email, password_hash=password_hash,
                                    kind="trader", created_at=now).returning(User.id)
            ).scalar_one()
            create_accounts(connection, user_id)
            _pay_grant(connection, user_id, grant, now)
            row = connection.execute(select(User).where(User.id == user_id)).one()
    except IntegrityError:
        # Another registration took the name or address between the check and the insert.
        raise Conflict(f"username {username!r} or email {email!r} is already registered") from None
    return user_model(row)


def check_credentials(username: object, password: object) -> tuple[str, str]:
    """Return the username and password of a login, or raise ``InvalidInput``.

    Rejects only what no account can have: an empty or overlong username or password, or one
    with a NUL character or an unpaired surrogate.
    """
    if not isinstance(username, str) or not username:
        raise InvalidInput("username", "is required")
    check_text(username, "username")
    if len(username) > MAX_USERNAME_LENGTH:
        raise InvalidInput("username", f"must be at most {MAX_USERNAME_LENGTH} characters")
    if not isinstance(password, str) or not password:
        raise InvalidInput("password", "is required")
    check_password_size(password)
    return username, password


def find_login(database: Database, hasher: PasswordHasher, username: object,
               password: object) -> int:
    """Return the id of the trader whose credentials these are, else raise ``Unauthenticated``.

    Every bad login gets the same message and costs the same bcrypt time, so that a caller
    cannot learn which usernames exist.
    """
    username, password = check_credentials(username, password)
    with database.read() as connection:
        row = connection.execute(
            select(User.id, User.password_hash).where(
                func.lower(User.username) == username.lower(), User.kind == "trader"
            )
        ).one_or_none()
    # verify() runs bcrypt even for an unknown user, so both failures take the same time.
    valid = hasher.verify(password, row.password_hash if row else None)
    if row is None or not valid:
        raise Unauthenticated(BAD_LOGIN)
    return row.id


def load_user(connection: Connection, user_id: int) -> schemas.User:
    row = connection.execute(select(User).where(User.id == user_id)).one_or_none()
    if row is None:
        raise NotFound(f"user {user_id} not found")
    return user_model(row)


def house_id(connection: Connection) -> int:
    """Return the id of the house account, the market's own counterparty."""
    found = connection.execute(select(User.id).where(User.kind == "house")).scalar_one_or_none()
    if found is None:
        raise NotFound("the market has no house account; run 'desk init-db' to create it")
    return found


def _check_free(connection: Connection, username: str, email: str) -> None:
    taken = connection.execute(
        select(User.username, User.email).where(
            (func.lower(User.username) == username.lower())
            | (func.lower(User.email) == email.lower())
        )
    ).first()
    if taken is None:
        return
    if taken.username.lower() == username.lower():
        raise Conflict(f"username {username!r} is already taken")
    raise Conflict(f"email {email!r} is already registered")


def _pay_grant(connection: Connection, user_id: int, grant: Mapping[str, Decimal],
               now: datetime) -> None:
    """Pay the starting grant from the house, issuing to the house whatever it lacks."""
    amounts = {asset: to_minor(value, asset) for asset, value in grant.items() if value > 0}
    if not amounts:
        return
    house = house_id(connection)
    current = lock_balances(connection, [(house, asset) for asset in sorted(amounts)])
    changes = []
    for asset, amount in amounts.items():
        balance, held = current.get((house, asset), (0, 0))
        shortfall = amount - (balance - held)
        if shortfall > 0:
            changes.append(Change(house, asset, balance=shortfall, reason="issuance"))
        changes.append(Change(house, asset, balance=-amount, reason="grant"))
        changes.append(Change(user_id, asset, balance=amount, reason="grant"))
    apply_changes(connection, changes, f"user:{user_id}", now)
