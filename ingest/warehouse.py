"""The raw schema: one table per stream table, its quarantine twin, and the registry."""

from __future__ import annotations

import duckdb

from ingest.fields import StreamTable

RAW_SCHEMA = "raw"

PROVENANCE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("_source_path", "VARCHAR NOT NULL"),
    ("_file_sha256", "VARCHAR NOT NULL"),
    ("_row_number", "BIGINT NOT NULL"),
    ("_load_id", "VARCHAR NOT NULL"),
    ("_loaded_at", "TIMESTAMPTZ NOT NULL"),
    ("_superseded_by", "VARCHAR"),
)
QUARANTINE_COLUMNS: tuple[tuple[str, str], ...] = (
    ("raw_text", "VARCHAR"),
    ("error_column", "VARCHAR NOT NULL"),
    ("error_reason", "VARCHAR NOT NULL"),
)

REGISTRY_DDL = f"""
create table if not exists {RAW_SCHEMA}._ingest_loads (
    load_id varchar primary key,
    landing_dir varchar not null,
    started_at timestamptz not null,
    finished_at timestamptz,
    status varchar not null,            -- running, complete, complete_with_rejections
    files_seen integer,
    files_landed integer,
    files_unchanged integer,
    files_rejected integer,
    rows_landed bigint,
    rows_quarantined bigint
);
create table if not exists {RAW_SCHEMA}._ingest_files (
    load_id varchar not null,
    source_path varchar not null,
    file_sha256 varchar not null,
    sidecar_path varchar,
    sidecar_sha256 varchar,
    stream varchar not null,
    detected_format varchar,
    size_bytes bigint not null,
    modified_ns bigint,                 -- the file's mtime when read (nanoseconds since epoch)
    status varchar not null,            -- landed, unchanged, rejected, sidecar
    reason varchar,
    rows_read bigint not null,
    rows_landed bigint not null,
    rows_quarantined bigint not null,
    rows_skipped bigint not null,
    version integer,
    superseded_by varchar,
    recorded_at timestamptz not null
);
"""


def _columns_ddl(columns: list[tuple[str, str]]) -> str:
    return ",\n    ".join(f'"{name}" {sql_type}' for name, sql_type in columns)


def ensure_table(con: duckdb.DuckDBPyConnection, table: StreamTable) -> None:
    """Create the raw table and its quarantine twin; add columns a newer version declares."""
    columns = [(f.name, f.column_type) for f in table.fields] + list(PROVENANCE_COLUMNS)
    quarantine = [*PROVENANCE_COLUMNS, *QUARANTINE_COLUMNS]
    for name, cols in ((table.table, columns), (f"{table.table}__quarantine", quarantine)):
        con.execute(
            f"create table if not exists {RAW_SCHEMA}.{name} (\n    {_columns_ddl(cols)}\n)"
        )
        existing = {
            row[0]
            for row in con.execute(
                "select column_name from information_schema.columns where table_schema = ? and table_name = ?",
                [RAW_SCHEMA, name],
            ).fetchall()
        }
        for column, sql_type in cols:
            if column not in existing:
                nullable = sql_type.replace(" NOT NULL", "")
                con.execute(f'alter table {RAW_SCHEMA}.{name} add column "{column}" {nullable}')


def ensure_schema(con: duckdb.DuckDBPyConnection, tables: list[StreamTable]) -> None:
    con.execute(f"create schema if not exists {RAW_SCHEMA}")
    con.execute(REGISTRY_DDL)
    # a warehouse registered before the modification time was recorded
    con.execute(
        f"alter table {RAW_SCHEMA}._ingest_files add column if not exists modified_ns bigint"
    )
    for table in tables:
        ensure_table(con, table)
