"""The table of ``DESK_*`` settings in docs/deployment.md, generated from ``Settings``.

Print it with ``python -m desk.settings_doc`` and paste it between the page's markers; a test
fails while the page's table differs from this output.
"""

from __future__ import annotations

from typing import Any

from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from desk.settings import Settings

# Units read from the end of a setting's name, where its Field gives none.
SUFFIX_UNITS = {"_seconds": "seconds", "_minutes": "minutes"}


def settings_table() -> str:
    """Return a Markdown table of every setting: variable, default, unit and meaning."""
    lines = ["| variable | default | unit | meaning |", "| --- | --- | --- | --- |"]
    for name, field in Settings.model_fields.items():
        variable = f"`DESK_{name.upper()}`"
        cells = [variable, _default(field), _unit(name, field), field.description or ""]
        lines.append("| " + " | ".join(cell.replace("|", "\\|") for cell in cells) + " |")
    return "\n".join(lines)


def _extra(field: FieldInfo) -> dict[str, Any]:
    extra = field.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _unit(name: str, field: FieldInfo) -> str:
    unit = _extra(field).get("unit")
    if isinstance(unit, str):
        return unit
    for suffix, suffix_unit in SUFFIX_UNITS.items():
        if name.endswith(suffix):
            return suffix_unit
    return "—"


def _default(field: FieldInfo) -> str:
    text = _extra(field).get("default_text")
    if isinstance(text, str):
        return text
    value: Any = field.default
    if value is PydanticUndefined and field.default_factory is not None:
        value = field.default_factory()  # type: ignore[call-arg]
    if value is None:
        return "unset"
    if isinstance(value, bool):
        return "`true`" if value else "`false`"
    if isinstance(value, list):
        return ", ".join(f"`{item}`" for item in value) if value else "none"
    return f"`{value}`"


if __name__ == "__main__":
    print(settings_table())
