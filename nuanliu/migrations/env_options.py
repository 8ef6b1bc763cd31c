"""How Alembic compares the models with a database: shared by the migration environment and
the test that the migrations build exactly the models' schema, so both judge alike."""

from __future__ import annotations

from typing import Any

from coordinator.common import UtcDateTime


def _ours(obj, name, type_, reflected, compare_to):  # type: ignore[no-untyped-def]
    # APScheduler creates and owns its job table; Alembic must not drop it.
    return not (type_ == "table" and name == "scheduler_jobs")


def _render(type_, obj, autogen_context):  # type: ignore[no-untyped-def]
    # UtcDateTime only converts in Python; in the schema it is a plain timestamp with zone
    if type_ == "type" and isinstance(obj, UtcDateTime):
        return "sa.DateTime(timezone=True)"
    return False


def compare_options(dialect: str) -> dict[str, Any]:
    """`context.configure` options; SQLite gets batch mode so ALTERs work."""
    return {
        "render_as_batch": dialect == "sqlite",
        "compare_type": True,
        "include_object": _ours,
        "render_item": _render,
    }
