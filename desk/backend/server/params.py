"""Query parameters shared by the paginated routes.

The market checks the range of ``limit`` and decodes the cursor, so both backends reject bad
values with the same messages. These declarations give the JSON types and document the
ranges.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Query

from desk.backend.money import ASSETS
from desk.backend.pagination import DEFAULT_LIMIT, MAX_LIMIT

# Maximum length of a cursor that the market decodes.
MAX_CURSOR_LENGTH = 200

Limit = Annotated[int, Query(
    description=f"page size, 1 to {MAX_LIMIT}",
    json_schema_extra={"minimum": 1, "maximum": MAX_LIMIT}, examples=[DEFAULT_LIMIT])]

Cursor = Annotated[str | None, Query(
    description="the next_cursor of the previous page; omit it for the first page",
    json_schema_extra={"maxLength": MAX_CURSOR_LENGTH}, examples=["WzExOF0"])]

TokenFilter = Annotated[str | None, Query(
    description="only trades with this token type on that side",
    json_schema_extra={"enum": list(ASSETS)}, examples=["OpenAI"])]
