"""The same dbt project on Spark gives the DuckDB build's public marts, row for row
(`make test-spark`: dbt-spark session mode, pyspark local[2], Java 17)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import cometrecon

from cometrecon.spark_parity import compare_marts

PUBLIC_MARTS = {
    "dim_incident_windows",
    "dim_pricing_rates",
    "dim_service_labels",
    "fct_attempt_charges",
    "fct_charge_variance",
    "fct_computation_paths",
    "fct_contract_verification",
    "fct_incident_timeline",
    "fct_label_substitutions",
    "fct_ledger_conventions",
    "fct_remediation_plan",
    "fct_usage_validation",
    "fct_variance_attribution",
}
# the demo bills every request under the label it requested: compared, but with no rows
EMPTY_ON_THE_DEMO = {"fct_label_substitutions"}


@pytest.fixture(scope="module")
def spark_check(
    demo_warehouse: Callable[[int], dict[str, Any]],
    tmp_path_factory: pytest.TempPathFactory,
    pytestconfig: pytest.Config,
) -> dict[str, Any]:
    built = demo_warehouse(42)
    assert built["run"].returncode == 0, built["run"].stdout + built["run"].stderr
    spark_dir = tmp_path_factory.mktemp("spark")
    completed = cometrecon("spark-check", "--spark-dir", str(spark_dir), db=built["db"])
    capture = pytestconfig.pluginmanager.getplugin("capturemanager")
    with capture.global_and_fixture_disabled():  # the comparison summary, for the reader
        print("\n" + completed.stdout)
    record_path = spark_dir / "spark_parity.json"
    return {
        "completed": completed,
        "record": json.loads(record_path.read_text()) if record_path.exists() else None,
        "spark_dir": spark_dir,
        "db": built["db"],
    }


def test_every_public_mart_is_identical_on_spark(spark_check: dict[str, Any]) -> None:
    completed = spark_check["completed"]
    assert completed.returncode == 0, completed.stdout + completed.stderr
    marts = {item["mart"]: item for item in spark_check["record"]["marts"]}
    assert set(marts) == PUBLIC_MARTS
    for name, item in marts.items():
        assert item["identical"], item
        assert item["problems"] == [], name
        assert item["only_in_duckdb"] == item["only_in_spark"] == 0, name
        assert item["duckdb_rows"] == item["spark_rows"], name
        assert item["duckdb_rows"] > 0 or name in EMPTY_ON_THE_DEMO, name
    assert f"spark parity: {len(PUBLIC_MARTS)} of {len(PUBLIC_MARTS)} public marts identical" in (
        completed.stdout
    )


def test_money_totals_agree_exactly(spark_check: dict[str, Any]) -> None:
    marts = {item["mart"]: item for item in spark_check["record"]["marts"]}
    charges = marts["fct_attempt_charges"]["money_totals"]
    assert charges, "fct_attempt_charges has decimal money columns"
    for item in marts.values():
        for column, totals in item["money_totals"].items():
            assert totals["duckdb"] == totals["spark"], (item["mart"], column)
    with duckdb.connect(str(spark_check["db"]), read_only=True) as con:
        billed = con.execute(
            "select sum(amount_b_usd) from marts.fct_computation_paths where path_b = 'billed'"
        ).fetchall()[0][0]
    spark_billed = duckdb.sql(
        "select sum(amount_b_usd) from read_parquet(?) where path_b = 'billed'",
        params=[
            str(spark_check["spark_dir"] / "warehouse/marts.db/fct_computation_paths/*.parquet")
        ],
    ).fetchall()[0][0]
    assert isinstance(spark_billed, Decimal) and spark_billed == billed > 0


def test_every_raw_row_reaches_spark_as_parquet(spark_check: dict[str, Any]) -> None:
    raw_dir: Path = spark_check["spark_dir"] / "raw"
    with duckdb.connect(str(spark_check["db"]), read_only=True) as con:
        tables = [
            row[0]
            for row in con.execute(
                "select table_name from duckdb_tables() where schema_name = 'raw'"
            ).fetchall()
        ]
        assert "app_requests" in tables and "gateway_logs" in tables
        for table in tables:
            landed = con.execute(f'select count(*) from raw."{table}"').fetchall()[0][0]
            exported = duckdb.sql(
                "select count(*) from read_parquet(?)", params=[str(raw_dir / table / "*.parquet")]
            ).fetchall()[0][0]
            assert exported == landed, table


def _copy_spark_marts(spark_dir: Path, into: Path) -> Path:
    shutil.copytree(spark_dir / "warehouse" / "marts.db", into / "marts.db")
    return into


def _rewrite(mart_dir: Path, select_sql: str) -> None:
    files = sorted(mart_dir.glob("*.parquet"))
    rewritten = mart_dir.parent / "rewritten.parquet"
    duckdb.sql(select_sql.format(source=f"read_parquet({[str(f) for f in files]})")).write_parquet(
        str(rewritten)
    )
    for old in files:
        old.unlink()
    rewritten.rename(mart_dir / "part-0.parquet")


def test_a_difference_in_the_last_decimal_place_is_caught(
    spark_check: dict[str, Any], tmp_path: Path
) -> None:
    warehouse = _copy_spark_marts(spark_check["spark_dir"], tmp_path)
    # one row's amount moved by the smallest step its DECIMAL(38,18) holds
    _rewrite(
        warehouse / "marts.db" / "fct_computation_paths",
        "select * replace (case when row_number() over (order by path_pair_key) = 1 "
        "then residual_usd + 0.000000000000000001 else residual_usd end as residual_usd) "
        "from {source}",
    )
    comparisons = {item.mart: item for item in compare_marts(spark_check["db"], warehouse)}
    paths = comparisons["fct_computation_paths"]
    assert not paths.identical
    assert (paths.only_in_duckdb, paths.only_in_spark) == (1, 1)
    assert paths.duckdb_rows == paths.spark_rows
    total = next(t for t in paths.money_totals if t.column == "residual_usd")
    assert total.spark is not None and total.duckdb is not None
    assert total.spark - total.duckdb == Decimal("0.000000000000000001")
    assert all(item.identical for name, item in comparisons.items() if name != paths.mart)


def test_a_float_money_column_and_a_missing_mart_are_caught(
    spark_check: dict[str, Any], tmp_path: Path
) -> None:
    warehouse = _copy_spark_marts(spark_check["spark_dir"], tmp_path)
    _rewrite(
        warehouse / "marts.db" / "fct_charge_variance",
        "select * replace (cast(variance_usd as double) as variance_usd) from {source}",
    )
    shutil.rmtree(warehouse / "marts.db" / "dim_service_labels")
    comparisons = {item.mart: item for item in compare_marts(spark_check["db"], warehouse)}
    variance = comparisons["fct_charge_variance"]
    assert not variance.identical
    assert any(
        p.startswith("variance_usd: DECIMAL(") and "DOUBLE on Spark" in p for p in variance.problems
    )
    labels = comparisons["dim_service_labels"]
    assert not labels.identical and labels.problems == ("not built on Spark",)
