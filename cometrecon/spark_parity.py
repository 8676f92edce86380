"""The same dbt project on Spark, compared with the DuckDB build mart by mart.

Spark reads the warehouse's raw tables as Parquet (`parquet_export`), dbt builds every
model there with the `spark` target (dbt-spark session mode, `local[2]`), and each public
mart Spark wrote is read back by DuckDB and compared with the DuckDB mart: the same
columns with the same types, and the same rows (a multiset difference both ways, so a
value that differs in its last decimal place is a differing row). Money columns are
DECIMAL on both engines; their totals are reported beside the row comparison.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import time
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import duckdb

from cometrecon.dbt_runner import dbt_base_environment, dbt_executable
from cometrecon.paths import project_dir

SPARK_TARGET = "spark"
PUBLIC_SCHEMA = "marts"


@dataclass(frozen=True)
class SparkBuild:
    returncode: int
    seconds: float
    log_path: Path


@dataclass(frozen=True)
class MoneyTotal:
    column: str
    duckdb: Decimal | None
    spark: Decimal | None


@dataclass(frozen=True)
class MartComparison:
    mart: str
    duckdb_rows: int
    spark_rows: int
    only_in_duckdb: int
    only_in_spark: int
    problems: tuple[str, ...]
    money_totals: tuple[MoneyTotal, ...]

    @property
    def identical(self) -> bool:
        return (
            not self.problems
            and self.duckdb_rows == self.spark_rows
            and self.only_in_duckdb == 0
            and self.only_in_spark == 0
            and all(total.duckdb == total.spark for total in self.money_totals)
        )


def spark_unavailable() -> str | None:
    """Why Spark cannot run here, or None."""
    if (
        importlib.util.find_spec("pyspark") is None
        or importlib.util.find_spec("dbt.adapters.spark") is None
    ):
        return "dbt-spark and pyspark are not installed: make test-spark installs them (requirements-spark.lock)"
    if shutil.which("java") is None and not os.environ.get("JAVA_HOME"):
        return "Spark needs a Java runtime (17 or later) on PATH or in JAVA_HOME"
    return None


def build_on_spark(spark_dir: Path, raw_dir: Path) -> SparkBuild:
    """`dbt build --target spark` (seeds, models, data tests) into a fresh metastore and
    warehouse under spark_dir; dbt's and Spark's output go to spark_dir/dbt_build.log."""
    spark_dir = spark_dir.resolve()
    for stale in ("warehouse", "metastore_db", "target"):
        shutil.rmtree(spark_dir / stale, ignore_errors=True)
    spark_dir.mkdir(parents=True, exist_ok=True)
    env = {
        **dbt_base_environment(),
        "COMETRECON_SPARK_DIR": str(spark_dir),
        "COMETRECON_SPARK_RAW": str(raw_dir.resolve()),
        "DBT_TARGET_PATH": str(spark_dir / "target"),
        "DBT_LOG_PATH": str(spark_dir / "logs"),
    }
    command = [
        dbt_executable(),
        "build",
        "--target",
        SPARK_TARGET,
        "--exclude-resource-type",
        "unit_test",
        "--project-dir",
        str(project_dir()),
    ]
    log_path = spark_dir / "dbt_build.log"
    started = time.monotonic()
    with log_path.open("w") as log:
        # cwd: Spark's derby.log lands beside its metastore, not in the project
        completed = subprocess.run(
            command, cwd=spark_dir, env=env, stdout=log, stderr=subprocess.STDOUT, check=False
        )
    return SparkBuild(completed.returncode, time.monotonic() - started, log_path)


def _columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    return [(str(row[0]), str(row[1])) for row in con.execute(f"describe {relation}").fetchall()]


def _count(con: duckdb.DuckDBPyConnection, query: str) -> int:
    return int(con.execute(f"select count(*) from ({query})").fetchall()[0][0])


def _compare_mart(
    con: duckdb.DuckDBPyConnection, mart: str, spark_warehouse: Path
) -> MartComparison:
    duckdb_relation = f'duck.{PUBLIC_SCHEMA}."{mart}"'
    duckdb_columns = _columns(con, duckdb_relation)
    duckdb_rows = _count(con, f"select * from {duckdb_relation}")
    files = sorted((spark_warehouse / f"{PUBLIC_SCHEMA}.db" / mart).glob("*.parquet"))
    if not files:
        return MartComparison(mart, duckdb_rows, 0, duckdb_rows, 0, ("not built on Spark",), ())
    file_list = ", ".join("'" + str(path).replace("'", "''") + "'" for path in files)
    spark_relation = f"read_parquet([{file_list}])"
    spark_columns = _columns(con, f"select * from {spark_relation}")
    problems: list[str] = []
    if [name for name, _ in duckdb_columns] != [name for name, _ in spark_columns]:
        problems.append(
            "columns differ: duckdb "
            + ", ".join(name for name, _ in duckdb_columns)
            + " | spark "
            + ", ".join(name for name, _ in spark_columns)
        )
        spark_rows = _count(con, f"select * from {spark_relation}")
        return MartComparison(mart, duckdb_rows, spark_rows, 0, 0, tuple(problems), ())
    for (name, duckdb_type), (_, spark_type) in zip(duckdb_columns, spark_columns, strict=True):
        if duckdb_type != spark_type:
            problems.append(f"{name}: {duckdb_type} on DuckDB, {spark_type} on Spark")
    # identity casts when the types agree; otherwise the type problem is reported anyway
    spark_select = ", ".join(
        f'cast("{name}" as {column_type}) as "{name}"' for name, column_type in duckdb_columns
    )
    spark_query = f"select {spark_select} from {spark_relation}"
    duckdb_query = f"select * from {duckdb_relation}"
    money_totals = tuple(
        MoneyTotal(
            name,
            con.execute(f'select sum("{name}") from {duckdb_relation}').fetchall()[0][0],
            con.execute(f'select sum("{name}") from {spark_relation}').fetchall()[0][0],
        )
        for name, column_type in duckdb_columns
        if column_type.startswith("DECIMAL")
    )
    return MartComparison(
        mart=mart,
        duckdb_rows=duckdb_rows,
        spark_rows=_count(con, spark_query),
        only_in_duckdb=_count(con, f"{duckdb_query} except all {spark_query}"),
        only_in_spark=_count(con, f"{spark_query} except all {duckdb_query}"),
        problems=tuple(problems),
        money_totals=money_totals,
    )


def compare_marts(db_path: Path, spark_warehouse: Path) -> list[MartComparison]:
    """Every table and view of the DuckDB warehouse's public schema against Spark's table."""
    with duckdb.connect() as con:
        con.execute("set TimeZone = 'UTC'")
        con.execute("attach '" + str(db_path).replace("'", "''") + "' as duck (read_only)")
        marts = [
            str(row[0])
            for row in con.execute(
                "select table_name from duckdb_tables() "
                "where database_name = 'duck' and schema_name = ? "
                "union select view_name from duckdb_views() "
                "where database_name = 'duck' and schema_name = ? and not internal order by 1",
                [PUBLIC_SCHEMA, PUBLIC_SCHEMA],
            ).fetchall()
        ]
        return [_compare_mart(con, mart, spark_warehouse) for mart in marts]


def summary_lines(comparisons: list[MartComparison], build: SparkBuild) -> list[str]:
    header = (
        f"{'public mart':<28} {'rows duckdb':>11} {'rows spark':>10} {'only duckdb':>11} "
        f"{'only spark':>10} {'money cols':>10} {'money totals':>12}  result"
    )
    lines = [header, "-" * len(header)]
    for item in comparisons:
        totals_agree = all(total.duckdb == total.spark for total in item.money_totals)
        lines.append(
            f"{item.mart:<28} {item.duckdb_rows:>11,} {item.spark_rows:>10,} "
            f"{item.only_in_duckdb:>11,} {item.only_in_spark:>10,} {len(item.money_totals):>10} "
            f"{'equal' if totals_agree else 'DIFFER':>12}  "
            f"{'identical' if item.identical else 'DIFFERENT'}"
        )
        lines.extend(f"    {problem}" for problem in item.problems)
    identical = sum(1 for item in comparisons if item.identical)
    rows = sum(item.duckdb_rows for item in comparisons)
    lines.append(
        f"spark parity: {identical} of {len(comparisons)} public marts identical "
        f"({rows:,} rows compared); Spark dbt build {build.seconds:.1f} s"
    )
    return lines


def write_record(path: Path, comparisons: list[MartComparison], build: SparkBuild) -> None:
    """The comparison as JSON (money totals as exact decimal strings)."""
    record = {
        "spark_build_seconds": round(build.seconds, 1),
        "spark_build_log": str(build.log_path),
        "marts": [
            {
                "mart": item.mart,
                "identical": item.identical,
                "duckdb_rows": item.duckdb_rows,
                "spark_rows": item.spark_rows,
                "only_in_duckdb": item.only_in_duckdb,
                "only_in_spark": item.only_in_spark,
                "problems": list(item.problems),
                "money_totals": {
                    total.column: {
                        "duckdb": None if total.duckdb is None else str(total.duckdb),
                        "spark": None if total.spark is None else str(total.spark),
                    }
                    for total in item.money_totals
                },
            }
            for item in comparisons
        ],
    }
    path.write_text(json.dumps(record, indent=2) + "\n")
