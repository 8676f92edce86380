"""Great Expectations 1.x on a DuckDB file: the compatibility shim, in one place.

GX has no DuckDB dialect. For a dialect it does not know, it opens a pooled connection
per query and closes it before fetching; closing rolls back duckdb_engine's single
shared connection and empties the result. Treating DuckDB like SQLite (one persisted
connection) fixes it. The persisted connection holds the file's lock until released,
so `release` closes it explicitly.
"""

from __future__ import annotations

from typing import Any

import great_expectations.execution_engine.sqlalchemy_execution_engine as gx_sa


class _DuckDBDialect(str):
    value = "duckdb"


def install() -> None:
    """Register DuckDB as a dialect whose connection GX keeps open (idempotent)."""
    dialects: tuple[Any, ...] = gx_sa._PERSISTED_CONNECTION_DIALECTS
    if not any(str(d) == "duckdb" for d in dialects):
        gx_sa._PERSISTED_CONNECTION_DIALECTS = (
            *dialects,
            _DuckDBDialect("duckdb"),
        )


def release(datasource: Any) -> None:
    """Close the persisted connection and dispose of the engines: frees the file lock."""
    engine = datasource.get_execution_engine()
    connection = getattr(engine, "_connection", None)
    if connection is not None:
        connection.close()
    engine.engine.dispose()
    datasource.get_engine().dispose()
