"""Idempotency keys: a request repeated with its key gets the first outcome, not a second action.

A client that loses the response to a request cannot tell whether the market acted on it. If
it sent an idempotency key, it can send the same request with the same key again: the market
returns the stored outcome of the first request and acts no second time. Keys belong to one
user, and expire after a lifetime (24 hours by default).

``run_once`` claims the key, runs the action and stores its outcome in one write transaction,
so an action and its key are committed together or not at all, whenever the process dies. Of
two concurrent requests with one key, the second waits until the first one's transaction ends
(for SQLite's write lock, or on PostgreSQL for the key row that the first one inserted) and
then replays its outcome.

The outcome stored is the result, or the ``DeskError`` that the action raised, such as a 409
for an offer that is no longer active, or a 403. An ``InvalidInput`` (422) is not stored: the
caller may correct the request and send it with the same key. Nor is anything stored when the
transaction fails for another reason, such as an unavailable database. In both cases nothing
happened, the key stays free, and the next request with it acts.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy import Connection, delete, select, tuple_, update
from sqlalchemy.dialects import postgresql, sqlite

from desk.backend.errors import ERRORS_BY_CODE, DeskError, InvalidInput
from desk.backend.models import IdempotencyKey
from desk.backend.store import Database

KEY_FIELD = "Idempotency-Key"
MAX_KEY_LENGTH = 200
# Visible ASCII: what fits in an HTTP header unchanged. A UUID is the usual choice.
_KEY_PATTERN = re.compile(rf"[\x21-\x7e]{{1,{MAX_KEY_LENGTH}}}")
DEFAULT_KEY_LIFETIME = timedelta(hours=24)
# Rows deleted per transaction when purging expired keys, so that SQLite's write lock is
# never held for long.
PURGE_BATCH = 1000

ResultT = TypeVar("ResultT", bound=BaseModel)


def check_key(key: object) -> str:
    """Return ``key`` if it is a valid idempotency key, else raise ``InvalidInput``."""
    if not isinstance(key, str) or not _KEY_PATTERN.fullmatch(key):
        raise InvalidInput(
            KEY_FIELD, f"must be 1 to {MAX_KEY_LENGTH} visible ASCII characters, such as a UUID"
        )
    return key


class Idempotency:
    """The idempotency key of one request, and whether the market replayed an earlier outcome.

    ``replayed`` becomes True when the market returned the stored outcome of an earlier request
    with the same key instead of acting.
    """

    def __init__(self, key: object) -> None:
        self.key = check_key(key)
        self.replayed = False

    def __repr__(self) -> str:
        return f"Idempotency({self.key!r}, replayed={self.replayed})"


def fingerprint(operation: str, arguments: Mapping[str, object]) -> str:
    """Return the SHA-256 digest, in hexadecimal, of an operation and its arguments as sent.

    Each value keeps its type, so the string "10", the number 10 and the number 10.0 are
    different arguments. A retry sends the same body, so it has the same fingerprint.
    """
    typed = {name: _typed(value) for name, value in arguments.items()}
    text = json.dumps([operation, typed], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def _typed(value: object) -> list[Any]:
    if value is None:
        return ["null"]
    if isinstance(value, bool):
        return ["bool", value]
    if isinstance(value, int):
        # hex() has no digit limit, unlike str() of a very long int.
        return ["int", hex(value)]
    if isinstance(value, Decimal):
        return ["decimal", str(value)]
    if isinstance(value, str):
        return ["str", value]
    return [type(value).__name__, repr(value)]


@dataclass(frozen=True)
class Claim:
    """One user's request to make idempotent: its key, operation, fingerprint and time."""

    user_id: int
    idempotency: Idempotency
    operation: str
    fingerprint: str
    now: datetime
    lifetime: timedelta = DEFAULT_KEY_LIFETIME


def run_once(database: Database, claim: Claim | None, result_type: type[ResultT],
             action: Callable[[Database], ResultT]) -> ResultT:
    """Run ``action`` unless ``claim``'s key already has an outcome; return the outcome.

    ``action`` gets the database to open its write transaction on. With a claim, that
    transaction is a savepoint inside the transaction that claimed the key, and the outcome
    is stored before both commit. A replayed error is raised again. Raises ``InvalidInput``
    if the key was used for a different request that has not expired, and passes on the
    action's own ``InvalidInput`` without claiming the key.
    """
    if claim is None:
        return action(database)

    with database.write() as connection:
        stored = _claim(connection, claim)
        if stored is None:
            result, error = _perform(database, connection, action)
            outcome = _encode_error(error) if error is not None else _encode_result(result)
            connection.execute(
                update(IdempotencyKey)
                .where(IdempotencyKey.user_id == claim.user_id,
                       IdempotencyKey.key == claim.idempotency.key)
                .values(outcome=outcome)
            )
    if stored is not None:
        claim.idempotency.replayed = True
        return _decode(stored, result_type)
    if error is not None:
        raise error
    assert result is not None
    return result


def _perform(database: Database, connection: Connection,
             action: Callable[[Database], ResultT]) -> tuple[ResultT | None, DeskError | None]:
    """Run the action in a savepoint; return its result or the error to store.

    An ``InvalidInput`` propagates, so that the whole transaction, key included, rolls back.
    """
    try:
        return action(_Savepoints(database, connection)), None
    except InvalidInput:
        raise
    except DeskError as error:
        return None, error


def _claim(connection: Connection, claim: Claim) -> str | None:
    """Claim the key for this request, or return the stored outcome of the first request.

    An expired key is claimed anew, as if it had never been used.
    """
    key = claim.idempotency.key
    values = {"user_id": claim.user_id, "key": key, "operation": claim.operation,
              "fingerprint": claim.fingerprint, "outcome": None, "created_at": claim.now}
    if _insert_new(connection, values):
        return None

    row = connection.execute(
        select(IdempotencyKey)
        .where(IdempotencyKey.user_id == claim.user_id, IdempotencyKey.key == key)
        .with_for_update()
    ).one()
    # A committed row always has an outcome; a NULL one is claimed anew all the same.
    if row.created_at <= claim.now - claim.lifetime or row.outcome is None:
        connection.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.user_id == claim.user_id, IdempotencyKey.key == key)
            .values(operation=claim.operation, fingerprint=claim.fingerprint, outcome=None,
                    created_at=claim.now)
        )
        return None
    if row.fingerprint != claim.fingerprint:
        shown = key if len(key) <= 40 else key[:40] + "..."
        raise InvalidInput(
            KEY_FIELD,
            f"{shown!r} was already used for a different request ({row.operation}); send a "
            "new key with each new request, and the same key only to repeat a request exactly",
        )
    return row.outcome


def _insert_new(connection: Connection, values: dict[str, Any]) -> bool:
    """Insert the key's row unless it exists; return whether this call inserted it.

    On PostgreSQL, if another transaction has inserted the same key and not yet committed,
    this waits until it commits (and then inserts nothing) or rolls back.
    """
    dialect = connection.dialect.name
    statement: postgresql.Insert | sqlite.Insert
    if dialect == "postgresql":
        statement = postgresql.insert(IdempotencyKey).on_conflict_do_nothing()
    elif dialect == "sqlite":
        statement = sqlite.insert(IdempotencyKey).on_conflict_do_nothing()
    else:
        raise NotImplementedError(f"idempotency keys are not supported on {dialect}")
    return connection.execute(statement.values(**values)).rowcount == 1


def purge_expired(database: Database, now: datetime,
                  lifetime: timedelta = DEFAULT_KEY_LIFETIME) -> int:
    """Delete the keys older than ``lifetime``, in batches; return how many were deleted."""
    cutoff = now - lifetime
    deleted = 0
    while True:
        batch = (
            select(IdempotencyKey.user_id, IdempotencyKey.key)
            .where(IdempotencyKey.created_at <= cutoff)
            .limit(PURGE_BATCH)
        )
        with database.write() as connection:
            count = connection.execute(
                delete(IdempotencyKey).where(
                    tuple_(IdempotencyKey.user_id, IdempotencyKey.key).in_(batch))
            ).rowcount
        deleted += count
        if count < PURGE_BATCH:
            return deleted


def _encode_result(result: BaseModel | None) -> str:
    assert result is not None
    return '{"result":' + result.model_dump_json() + "}"


def _encode_error(error: DeskError) -> str:
    body: dict[str, Any] = {"code": error.code, "message": error.message}
    if isinstance(error, InvalidInput):
        body["field"] = error.field
        body["reason"] = error.reason
    return json.dumps({"error": body})


def _decode(outcome: str, result_type: type[ResultT]) -> ResultT:
    """Return a stored result, or raise the stored error again."""
    stored = json.loads(outcome)
    if "result" in stored:
        # Validated from JSON, as a client reads the response: amounts are strings there.
        return result_type.model_validate_json(json.dumps(stored["result"]))
    body = stored["error"]
    error_class = ERRORS_BY_CODE.get(body["code"], DeskError)
    if issubclass(error_class, InvalidInput):
        raise InvalidInput(body["field"], body["reason"])
    raise error_class(body["message"])


class _Savepoints(Database):
    """The market database as an action uses it inside a claimed transaction.

    ``write()`` and ``read()`` open a savepoint on that transaction's connection, so that a
    domain error rolls back the action's writes and leaves the key's row in place.
    """

    def __init__(self, outer: Database, connection: Connection) -> None:
        # Shares the outer database's engine; Database.__init__ would create another.
        self.url = outer.url
        self.engine = outer.engine
        self._connection = connection

    @contextmanager
    def read(self) -> Iterator[Connection]:
        with self._connection.begin_nested():
            yield self._connection

    @contextmanager
    def write(self) -> Iterator[Connection]:
        with self._connection.begin_nested():
            yield self._connection

    def dispose(self) -> None:
        raise RuntimeError("the database of a claimed transaction belongs to its caller")
