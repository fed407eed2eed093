"""Column types that store exact decimals and UTC times the same way on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import DateTime, Dialect, Numeric, String
from sqlalchemy.types import TypeDecorator, TypeEngine


class ExactDecimal(TypeDecorator[Decimal]):
    """A decimal with a fixed number of places: NUMERIC on PostgreSQL, text on SQLite.

    SQLite has no exact decimal type (its NUMERIC affinity stores binary floats), so the value
    is kept as its decimal text there. Only prices and rates use this type; amounts that SQL
    adds and compares are integer counts of the asset's smallest unit instead.
    """

    impl = String(48)
    cache_ok = True

    def __init__(self, places: int) -> None:
        super().__init__()
        self.places = places
        self._quantum = Decimal(1).scaleb(-places)

    def __repr__(self) -> str:
        # Alembic writes this into migrations, so it must rebuild the same type.
        return f"ExactDecimal(places={self.places})"

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(Numeric(38, self.places, asdecimal=True))
        return dialect.type_descriptor(String(48))

    def process_bind_param(self, value: Decimal | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        exact = Decimal(value).quantize(self._quantum)
        if dialect.name == "postgresql":
            return exact
        return f"{exact:f}"

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(value).quantize(self._quantum)


class UTCDateTime(TypeDecorator[datetime]):
    """A point in time, always returned as an aware UTC datetime.

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text, which sorts in time order.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime; pass an aware UTC datetime")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)
