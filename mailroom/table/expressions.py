"""Update expressions shared by the stores."""

from __future__ import annotations

from typing import Any

from mailroom.table.client import Condition


def set_fields(entity: str, fields: dict[str, Any], *, counter: str | None = None) -> Condition:
    """``SET`` every field (``REMOVE`` the ``None`` ones) and the ``entity`` marker; start
    ``counter`` at 0 if absent. Saving a profile this way never resets a counter kept on the item."""
    names = {"#entity": "entity"}
    values: dict[str, Any] = {":entity": entity}
    sets = ["#entity = :entity"]
    if counter:
        names["#counter"] = counter
        values[":zero"] = 0
        sets.append("#counter = if_not_exists(#counter, :zero)")
    removes: list[str] = []
    for index, (name, value) in enumerate(sorted(fields.items())):
        names[f"#f{index}"] = name
        if value is None:
            removes.append(f"#f{index}")
        else:
            values[f":f{index}"] = value
            sets.append(f"#f{index} = :f{index}")
    expression = "SET " + ", ".join(sets) + (" REMOVE " + ", ".join(removes) if removes else "")
    return Condition(expression, names, values)
