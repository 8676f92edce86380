"""Measure the two ways to run the gate's column expectations on a DuckDB warehouse.

    python bench/validation_paths.py WAREHOUSE.duckdb

(a) SQL pushdown: GX's SQL datasource through duckdb_engine with the persisted-connection
    shim (cometrecon/validation/gx_duckdb.py); DuckDB computes every metric.
(b) pandas batches: DuckDB reads only the columns a suite needs (narrow selection) into a
    pandas frame, and GX's pandas engine computes the same expectations.

Both run the same column-level expectations, loaded from the committed suites. Row-query
expectations (UnexpectedRowsExpectation) exist only on SQL and are timed with the full
gate. Prints one line per path: seconds, rows scanned and the peak RSS of this process.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import duckdb

os.environ.setdefault("TQDM_DISABLE", "1")  # GX metric progress bars

ROOT = Path(__file__).resolve().parents[1]
SUITES = ROOT / "expectations" / "gx" / "expectations"


def column_suites() -> list[tuple[str, str, list[dict[str, Any]]]]:
    """(suite name, schema.table, column-level expectation configs) per committed suite."""
    found = []
    for path in sorted(SUITES.rglob("*.json")):
        suite = json.loads(path.read_text())
        asset = suite["meta"]["asset"]
        if asset.startswith("warehouse."):
            continue
        configs = [e for e in suite["expectations"] if "column" in e["kwargs"]]
        if configs:
            found.append((suite["name"], asset, configs))
    return found


def _suite(gx: Any, name: str, configs: list[dict[str, Any]]) -> Any:
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    suite = gx.ExpectationSuite(name=name)
    for config in configs:
        suite.add_expectation_configuration(
            ExpectationConfiguration(type=config["type"], kwargs=config["kwargs"])
        )
    return suite


def run_sql(db: Path, suites: list[tuple[str, str, list[dict[str, Any]]]]) -> tuple[float, int]:
    import great_expectations as gx

    from cometrecon.validation import gx_duckdb

    gx_duckdb.install()
    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_sql(
        name="w", connection_string=f"duckdb:///{db}", kwargs={"connect_args": {"read_only": True}}
    )
    started = time.perf_counter()
    failed = 0
    for name, asset, configs in suites:
        schema, table = asset.split(".")
        batch = source.add_table_asset(
            name=name, table_name=table, schema_name=schema
        ).add_batch_definition_whole_table("all")
        result = batch.get_batch().validate(_suite(gx, name, configs))
        failed += sum(not r.success for r in result.results)
    seconds = time.perf_counter() - started
    gx_duckdb.release(source)
    return seconds, failed


def run_pandas(
    db: Path, suites: list[tuple[str, str, list[dict[str, Any]]]]
) -> tuple[float, float, int]:
    import great_expectations as gx

    context = gx.get_context(mode="ephemeral")
    source = context.data_sources.add_pandas(name="p")
    read_seconds = validate_seconds = 0.0
    failed = 0
    with duckdb.connect(str(db), read_only=True) as con:
        for name, asset, configs in suites:
            columns = sorted({c["kwargs"]["column"] for c in configs})
            started = time.perf_counter()
            frame = con.execute(f"select {', '.join(columns)} from {asset}").df()
            read_seconds += time.perf_counter() - started
            batch = source.add_dataframe_asset(name=name).add_batch_definition_whole_dataframe(
                "all"
            )
            started = time.perf_counter()
            result = batch.get_batch(batch_parameters={"dataframe": frame}).validate(
                _suite(gx, name, configs)
            )
            validate_seconds += time.perf_counter() - started
            failed += sum(not r.success for r in result.results)
            del frame
    return read_seconds, validate_seconds, failed


def main() -> None:
    warnings.simplefilter("ignore")
    db = Path(sys.argv[1]).resolve()
    mode = sys.argv[2] if len(sys.argv) > 2 else "both"
    suites = column_suites()
    with duckdb.connect(str(db), read_only=True) as con:
        rows = con.execute("select count(*) from marts.fct_attempt_charges").fetchone()
        attempts = con.execute("select count(*) from intermediate.int_attempts_joined").fetchone()
    print(
        f"warehouse {db.name}: {attempts[0] if attempts else 0:,} attempts, "
        f"{rows[0] if rows else 0:,} attempt-dimension rows; "
        f"{sum(len(c) for _, _, c in suites)} column expectations in {len(suites)} suites"
    )
    if mode in ("both", "sql"):
        seconds, failed = run_sql(db, suites)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(f"sql pushdown   : {seconds:7.2f} s  failed {failed}  peak RSS {rss:,.0f} MB")
    if mode in ("both", "pandas"):
        read, validate, failed = run_pandas(db, suites)
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(
            f"pandas batches : {read + validate:7.2f} s  (read {read:.2f} s, validate "
            f"{validate:.2f} s)  failed {failed}  peak RSS {rss:,.0f} MB"
        )


if __name__ == "__main__":
    main()
