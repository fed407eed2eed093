"""Password hashing (bcrypt through passlib's API) and session tokens (JWT, HS256)."""

from __future__ import annotations

import contextlib
import math
import os
import re
import secrets
import tempfile
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

import jwt
from passlib.context import CryptContext

from desk.backend.errors import InvalidInput, Unauthenticated
from desk.backend.models import MAX_ID

# bcrypt reads at most 72 bytes of a password; longer ones are rejected, not truncated.
MAX_PASSWORD_BYTES = 72
MIN_PASSWORD_LENGTH = 6
JWT_ALGORITHM = "HS256"
SECRET_KEY_FILE = "secret.key"
# A hash of no password, never stored: it marks accounts that cannot log in (the house).
UNUSABLE_PASSWORD = "!"
# The subject of a session token: a user id in ASCII digits, without a leading zero.
_USER_ID = re.compile(r"[1-9][0-9]{0,18}")


def check_text(value: str, field: str) -> str:
    """Return ``value`` if it is text that the databases and bcrypt can store and read.

    PostgreSQL rejects NUL characters in text, bcrypt rejects them in passwords, and an unpaired
    surrogate (which a JSON ``\\ud800`` escape can carry) has no UTF-8 encoding.
    """
    if "\x00" in value:
        raise InvalidInput(field, "must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidInput(field, "must be valid Unicode text, without unpaired surrogates"
                           ) from None
    return value


def check_password_size(password: str) -> None:
    """Reject a password that bcrypt could not read in full."""
    check_text(password, "password")
    size = len(password.encode("utf-8"))
    if size > MAX_PASSWORD_BYTES:
        raise InvalidInput(
            "password", f"must be at most {MAX_PASSWORD_BYTES} bytes in UTF-8, got {size} bytes"
        )


def check_password(password: object) -> str:
    """Return ``password`` if it is long enough and bcrypt can hash it in full."""
    if not isinstance(password, str):
        raise InvalidInput("password", "must be a string")
    check_password_size(password)
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput("password", f"must be at least {MIN_PASSWORD_LENGTH} characters")
    return password


class PasswordHasher:
    """Hashes and verifies passwords with bcrypt at a configurable cost."""

    def __init__(self, rounds: int = 12) -> None:
        self._context = CryptContext(schemes=["bcrypt"], bcrypt__rounds=rounds)

    def hash(self, password: str) -> str:
        return self._context.hash(check_password(password))

    def verify(self, password: str, password_hash: str | None) -> bool:
        """Check a password; with no hash, spend the same time and return False."""
        too_long = len(password.encode("utf-8")) > MAX_PASSWORD_BYTES
        if password_hash is None or password_hash == UNUSABLE_PASSWORD or too_long:
            self._context.dummy_verify()
            return False
        return bool(self._context.verify(password, password_hash))


class TokenIssuer:
    """Issues and verifies the bearer tokens of login sessions."""

    def __init__(self, secret: str, lifetime: timedelta, clock: Callable[[], datetime]) -> None:
        if len(secret) < 32:
            raise ValueError("the signing key must be at least 32 characters long")
        self._secret = secret
        self.lifetime = lifetime
        self._clock = clock

    def issue(self, user_id: int) -> str:
        now = self._clock()
        claims = {"sub": str(user_id), "iat": now, "exp": now + self.lifetime}
        return jwt.encode(claims, self._secret, algorithm=JWT_ALGORITHM)

    def verify(self, token: str) -> int:
        """Return the user id in a valid token; raise ``Unauthenticated`` for any other."""
        try:
            claims = jwt.decode(
                token,
                self._secret,
                algorithms=[JWT_ALGORITHM],
                # Times are checked below against the injected clock, not the system clock.
                options={"require": ["exp", "sub"], "verify_exp": False, "verify_iat": False},
            )
        except jwt.PyJWTError:
            raise Unauthenticated("invalid session token; log in again") from None
        expires = claims["exp"]
        valid_expiry = (isinstance(expires, (int, float)) and not isinstance(expires, bool)
                        and math.isfinite(expires))
        if not valid_expiry:
            raise Unauthenticated("invalid session token; log in again")
        if expires <= self._clock().timestamp():
            raise Unauthenticated("session expired; log in again")
        subject = claims["sub"]
        # str.isdigit() is also true for "²" and "١", which int() rejects or reads as a digit.
        if not isinstance(subject, str) or not _USER_ID.fullmatch(subject):
            raise Unauthenticated("invalid session token; log in again")
        user_id = int(subject)
        if user_id > MAX_ID:
            raise Unauthenticated("invalid session token; log in again")
        return user_id


def load_or_create_secret(folder: Path) -> str:
    """Return the signing key kept in ``folder``, creating a random one on first use."""
    path = folder / SECRET_KEY_FILE
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        pass
    folder.mkdir(parents=True, exist_ok=True)
    # Write the whole key to a private temporary file, then link it into place: the link
    # fails if another process got there first, and nobody ever reads a half-written key.
    descriptor, temporary = tempfile.mkstemp(dir=folder, prefix=".secret-")
    try:
        with os.fdopen(descriptor, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48))
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return path.read_text(encoding="ascii").strip()
