"""End to end on the demo: `cometrecon run` ingests the demo landing folder and runs a
real `dbt build`; the staged evidence reproduces the generator's ground truth."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest


@pytest.fixture(scope="module")
def demo_run(demo_warehouse: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    return demo_warehouse(42)


def query(db: Path, sql: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        return con.execute(sql).fetchall()


def test_run_ingests_and_dbt_build_passes(demo_run: dict[str, Any]) -> None:
    run = demo_run["run"]
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "0 files rejected" in run.stdout
    assert "Completed successfully" in run.stdout
    assert "ERROR=0" in run.stdout


def test_window_request_counts_match_the_ground_truth(demo_run: dict[str, Any]) -> None:
    counts = demo_run["truth"]["counts"]
    logical, retried, failed = query(
        demo_run["db"],
        """
        with requests as (
            select
                logical_request_id,
                min(sent_at) as first_sent_at,
                count(*) as attempts,
                arg_max(
                    http_status between 200 and 299 and has_usage and not is_client_disconnected,
                    attempt_number
                ) as final_ok
            from staging.stg_app__request_attempts
            group by logical_request_id
        )
        select count(*), count(*) filter (where attempts > 1), count(*) filter (where not final_ok)
        from requests
        where first_sent_at >= '2026-05-11 08:00:00+00' and first_sent_at < '2026-05-11 10:00:00+00'
        """,
    )[0]
    assert (logical, retried, failed) == (12450, 317, 42)
    assert (logical, retried, failed) == (
        counts["logical_requests"],
        counts["retried_requests"],
        counts["failed_requests"],
    )


def test_billed_and_gateway_paths_match_the_ground_truth_exactly(demo_run: dict[str, Any]) -> None:
    paths = demo_run["truth"]["paths"]
    billed = query(
        demo_run["db"],
        "select sum(billed_cost) from staging.stg_billing__focus_charges "
        "where charge_period_start >= '2026-05-11 08:00:00+00' "
        "and charge_period_start < '2026-05-11 10:00:00+00'",
    )[0][0]
    gateway = query(
        demo_run["db"],
        "select sum(quota_usd) from staging.stg_gateway__logs where log_type_name = 'consume' "
        "and billed_at >= '2026-05-11 08:00:00+00' and billed_at < '2026-05-11 10:00:00+00'",
    )[0][0]
    assert isinstance(billed, Decimal) and isinstance(gateway, Decimal)
    assert billed == Decimal(paths["billed"])
    assert gateway == Decimal(paths["gateway"])


def test_ledger_as_read_and_rate_sheet_reproduce_the_forecast(demo_run: dict[str, Any]) -> None:
    forecast, shifts = query(
        demo_run["db"],
        """
        select
            sum(
                ledger.input_tokens * input_rate.rate / input_rate.unit_size
                + ledger.output_tokens * output_rate.rate / output_rate.unit_size
            ),
            list(distinct ledger.bucket_start_as_read - ledger.bucket_start_declared_utc)
        from staging.stg_ledger__usage_buckets as ledger
        inner join staging.stg_pricing__rate_sheet as input_rate
            on ledger.model = input_rate.service_label and input_rate.dimension = 'input'
        inner join staging.stg_pricing__rate_sheet as output_rate
            on ledger.model = output_rate.service_label and output_rate.dimension = 'output'
        where ledger.bucket_start_as_read >= '2026-05-11 08:00:00+00'
          and ledger.bucket_start_as_read < '2026-05-11 10:00:00+00'
        """,
    )[0]
    assert Decimal(str(forecast)).quantize(Decimal("0.000001")) == Decimal(
        demo_run["truth"]["paths"]["forecast"]
    ).quantize(Decimal("0.000001"))
    # Europe/Berlin in May is UTC+2: the clock time read as UTC is two hours late
    assert [str(s) for s in shifts] == ["2:00:00"]


def test_every_landed_row_is_accounted_for(demo_run: dict[str, Any]) -> None:
    files = query(
        demo_run["db"],
        "select source_path, rows_read, rows_landed, rows_quarantined from staging.stg_ingest__files "
        "where file_status = 'landed'",
    )
    assert (
        len(files) == len([p for p in demo_run["landing"].rglob("*") if p.is_file()]) - 3
    )  # sidecars
    for path, read, landed, quarantined in files:
        assert read == landed + quarantined, path


def test_planted_secrets_are_nowhere_in_the_warehouse(demo_run: dict[str, Any]) -> None:
    planted = [
        value for values in demo_run["truth"]["planted_secrets"].values() for value in values
    ]
    assert len(planted) >= 10
    db: Path = demo_run["db"]
    raw_bytes = b"".join(p.read_bytes() for p in db.parent.glob(db.name + "*"))
    # DuckDB compresses strings, so scan the text of every column of every table too
    with duckdb.connect(str(db), read_only=True) as con:
        columns = con.execute(
            "select table_schema, table_name, column_name from information_schema.columns "
            "where data_type in ('VARCHAR', 'JSON', 'VARCHAR[]')"
        ).fetchall()
        for schema, table, column in columns:
            text_expr = f'cast("{column}" as varchar)'
            for secret in planted:
                hits = con.execute(
                    f'select count(*) from "{schema}"."{table}" where contains({text_expr}, ?)',
                    [secret],
                ).fetchall()[0][0]
                assert hits == 0, f"{secret!r} found in {schema}.{table}.{column}"
    for secret in planted:
        assert secret.encode() not in raw_bytes


def test_planted_secrets_are_not_in_the_logs(demo_run: dict[str, Any]) -> None:
    planted = [
        value for values in demo_run["truth"]["planted_secrets"].values() for value in values
    ]
    logs = Path(__file__).resolve().parents[1] / "logs"
    texts = [demo_run["run"].stdout, demo_run["run"].stderr]
    texts += [p.read_text(errors="replace") for p in logs.glob("*.log")] if logs.exists() else []
    assert texts
    for secret in planted:
        assert all(secret not in text for text in texts), secret
