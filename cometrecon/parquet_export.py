"""Every raw table of the warehouse as Parquet, the form another engine (Spark) reads.

One folder per table (`OUT_DIR/<table>/part-0.parquet`), the layout Spark and Hive expect
of a table's location. The export is written beside OUT_DIR and swapped in whole, so a
crash never leaves a half-exported folder where a reader looks.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb

RAW_SCHEMA = "raw"


def _sql_text(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def export_raw_parquet(db_path: Path, out_dir: Path) -> dict[str, int]:
    """Write each raw table (landed rows, quarantine, ingest bookkeeping) to Parquet;
    returns the rows written per table."""
    if not db_path.exists():
        raise FileNotFoundError(f"no warehouse at {db_path}")
    out_dir = out_dir.resolve()
    partial = out_dir.with_name(out_dir.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    partial.mkdir(parents=True)
    rows_written: dict[str, int] = {}
    with duckdb.connect(str(db_path), read_only=True) as con:
        tables = [
            str(row[0])
            for row in con.execute(
                "select table_name from duckdb_tables() where schema_name = ? order by 1",
                [RAW_SCHEMA],
            ).fetchall()
        ]
        for table in tables:
            (partial / table).mkdir()
            target = partial / table / "part-0.parquet"
            written = con.execute(
                f'copy {RAW_SCHEMA}."{table}" to {_sql_text(str(target))} (format parquet)'
            ).fetchall()
            rows_written[table] = int(written[0][0])
    retired = out_dir.with_name(out_dir.name + ".old")
    shutil.rmtree(retired, ignore_errors=True)
    if out_dir.exists():
        out_dir.rename(retired)
    partial.rename(out_dir)
    shutil.rmtree(retired, ignore_errors=True)
    return rows_written
