"""usage_ledger/: the business ledger, bucketed hourly in the finance timezone's clock time.

One entry per logical request that succeeded: the usage of its final successful attempt,
bucketed by that attempt's `sent_at`, in ledger semantics (input = all prompt tokens
including cache reads and writes, output = completion including reasoning/thoughts,
cached = cache reads). `bucket_start` is naive local clock time; the timezone is declared
only in the sidecar.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from cometrecon.demo.jsontext import dumps
from cometrecon.demo.world import K_OK, MODELS, MS_PER_HOUR, TENANTS, World

LEDGER_STEM = "llm_usage_hourly"
LEDGER_SOURCE = "warehouse.llm_usage_hourly"


def ledger_part(attempts: pl.DataFrame) -> pl.DataFrame:
    """Ledger contributions of one chunk of attempts, keyed by the true UTC hour."""
    return (
        attempts.filter((pl.col("kind") == K_OK) & (pl.col("tenant") >= 0))
        .group_by(
            utc_hour=pl.col("sent_ms") // MS_PER_HOUR,
            tenant=pl.col("tenant").cast(pl.Int64),
            model=pl.col("model").cast(pl.Int64),
        )
        .agg(
            input_tokens=(pl.col("base") + pl.col("cache_read") + pl.col("cache_write")).sum(),
            cached_tokens=pl.col("cache_read").sum(),
            output_tokens=pl.col("output").sum(),
            request_count=pl.len().cast(pl.Int64),
        )
    )


def finalize(parts: list[pl.DataFrame], world: World) -> pl.DataFrame:
    """All ledger rows, sorted, with the naive local `bucket_start` label."""
    if not parts:
        return pl.DataFrame(
            schema={
                "utc_hour": pl.Int64,
                "tenant": pl.Int64,
                "model": pl.Int64,
                "input_tokens": pl.Int64,
                "cached_tokens": pl.Int64,
                "output_tokens": pl.Int64,
                "request_count": pl.Int64,
                "bucket_start": pl.String,
            }
        )
    local = (
        pl.from_epoch(pl.col("utc_hour") * 3600, time_unit="s")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(world.incident.finance_timezone)
    )
    return (
        pl.concat(parts)
        .group_by("utc_hour", "tenant", "model")
        .agg(pl.col("input_tokens", "cached_tokens", "output_tokens", "request_count").sum())
        .sort("utc_hour", "tenant", "model")
        .with_columns(bucket_start=local.dt.strftime("%Y-%m-%d %H:%M:%S"))
    )


def write_ledger(landing: Path, ledger: pl.DataFrame, world: World) -> list[Path]:
    directory = landing / "usage_ledger"
    directory.mkdir(parents=True, exist_ok=True)
    csv_path = directory / f"{LEDGER_STEM}.csv"
    ledger.select(
        "bucket_start",
        bucket_minutes=pl.lit(60, dtype=pl.Int64),
        tenant=pl.col("tenant").replace_strict(
            old=list(range(len(TENANTS))), new=list(TENANTS), return_dtype=pl.String
        ),
        model=pl.col("model").replace_strict(
            old=list(range(len(MODELS))), new=[m.label for m in MODELS], return_dtype=pl.String
        ),
        input_tokens="input_tokens",
        cached_tokens="cached_tokens",
        output_tokens="output_tokens",
        request_count="request_count",
        ledger_source=pl.lit(LEDGER_SOURCE),
    ).write_csv(csv_path)
    sidecar = directory / f"{LEDGER_STEM}.sidecar.json"
    sidecar.write_text(
        dumps(
            {
                "timezone": world.incident.finance_timezone,
                "bucket_start_meaning": "local clock time at the start of the hour",
                "source": LEDGER_SOURCE,
            }
        ),
        encoding="utf-8",
    )
    return [csv_path, sidecar]
