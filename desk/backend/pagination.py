"""Opaque cursors and page sizes for keyset pagination.

A cursor encodes the sort key of the last row of a page, so the next page starts right after it
however many rows were added or removed meanwhile; offsets would skip or repeat rows.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import UTC, datetime
from typing import Any

from desk.backend.errors import InvalidInput
from desk.backend.models import MAX_ID

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


def check_limit(limit: object, maximum: int = MAX_LIMIT) -> int:
    """Return a page size between 1 and ``maximum``, or raise ``InvalidInput``."""
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise InvalidInput("limit", f"must be a whole number, got {limit!r}")
    if not 1 <= limit <= maximum:
        raise InvalidInput("limit", f"must be between 1 and {maximum}, got {limit}")
    return limit


def encode_cursor(*key: Any) -> str:
    """Encode a sort key (ids and datetimes) as an opaque URL-safe string."""
    parts = [value.isoformat() if isinstance(value, datetime) else value for value in key]
    raw = json.dumps(parts, separators=(",", ":")).encode("utf-8")
    return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")


def decode_id_cursor(cursor: str | None) -> int | None:
    """Decode a cursor made by ``encode_cursor(row_id)``."""
    if cursor is None:
        return None
    parts = _decode(cursor)
    if len(parts) != 1 or not _is_id(parts[0]):
        raise _invalid()
    return int(parts[0])


def decode_time_cursor(cursor: str | None) -> tuple[datetime, int] | None:
    """Decode a cursor made by ``encode_cursor(time, row_id)``."""
    if cursor is None:
        return None
    parts = _decode(cursor)
    if len(parts) != 2 or not isinstance(parts[0], str) or not _is_id(parts[1]):
        raise _invalid()
    try:
        moment = datetime.fromisoformat(parts[0])
    except ValueError:
        raise _invalid() from None
    if moment.tzinfo is None:
        raise _invalid()
    try:
        # Storage converts times to UTC, which a time such as 9999-12-31T23:00-14:00 is beyond.
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise _invalid() from None
    return moment, int(parts[1])


def _decode(cursor: str) -> list[Any]:
    if not isinstance(cursor, str) or not cursor or len(cursor) > 200:
        raise _invalid()
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        parts = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _invalid() from None
    if not isinstance(parts, list):
        raise _invalid()
    return parts


def _is_id(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_ID


def _invalid() -> InvalidInput:
    return InvalidInput("cursor", "invalid cursor; pass the next_cursor of the previous page")
