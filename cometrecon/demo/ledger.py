"""usage_ledger/: the business ledger, bucketed hourly in the finance timezone's clock time.

One entry per logical request that succeeded: the usage of its final successful attempt,
bucketed by that attempt's `sent_at`. Per bucket (true UTC hour × tenant × model) the
canonical quantities of those attempts are summed (docs/attribution.md, step 4): `B` input
outside caches, `R` cache reads, `W` cache writes, `O` output incl. reasoning/thoughts,
`Z` the reasoning part of `O` as the response reports it (0 for `anthropic_messages`),
`N` their count, and `A` every app attempt of the tenant and model sent in the bucket,
whatever its outcome. The columns are written from them under the world's
`LedgerConvention`; the demo's default is input = B+R+W, cached = R, output = O,
requests = N. A bucket is a row when it holds at least one ledgered request.
`bucket_start` is naive local clock time; the timezone is declared only in the sidecar,
and so is the convention when `convention_declared`.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from cometrecon.demo.jsontext import dumps
from cometrecon.demo.world import (
    K_OK,
    MODELS,
    MS_PER_HOUR,
    TENANTS,
    LedgerConvention,
    World,
)

LEDGER_STEM = "llm_usage_hourly"
LEDGER_SOURCE = "warehouse.llm_usage_hourly"
CANONICAL = ("B", "R", "W", "O", "Z", "N", "A")
LEDGER_COLUMNS = ("input_tokens", "cached_tokens", "output_tokens", "request_count")
ANTHROPIC_MODELS = [i for i, m in enumerate(MODELS) if m.usage_semantic_anthropic]


def ledger_part(attempts: pl.DataFrame) -> pl.DataFrame:
    """Canonical quantities of one chunk of app attempts, keyed by the true UTC hour."""
    ok = pl.col("kind") == K_OK
    reasoning = (
        pl.when(pl.col("model").cast(pl.Int64).is_in(ANTHROPIC_MODELS))
        .then(0)
        .otherwise(pl.col("reasoning"))
    )
    return (
        attempts.filter(pl.col("tenant") >= 0)
        .group_by(
            utc_hour=pl.col("sent_ms") // MS_PER_HOUR,
            tenant=pl.col("tenant").cast(pl.Int64),
            model=pl.col("model").cast(pl.Int64),
        )
        .agg(
            B=pl.col("base").filter(ok).sum().cast(pl.Int64),
            R=pl.col("cache_read").filter(ok).sum().cast(pl.Int64),
            W=pl.col("cache_write").filter(ok).sum().cast(pl.Int64),
            O=pl.col("output").filter(ok).sum().cast(pl.Int64),
            Z=reasoning.filter(ok).sum().cast(pl.Int64),
            N=ok.sum().cast(pl.Int64),
            A=pl.len().cast(pl.Int64),
        )
    )


def convention_columns(convention: LedgerConvention) -> list[pl.Expr]:
    """The ledger's four columns from the canonical quantities, under `convention`."""
    b, r, w, o, z = (pl.col(c) for c in ("B", "R", "W", "O", "Z"))
    input_tokens = {
        "excludes_cache": b,
        "includes_cache_reads": b + r,
        "includes_cache_writes": b + w,
        "includes_cache_reads_and_writes": b + r + w,
    }[convention.input_tokens]
    cached_tokens = {
        "reads": r,
        "reads_and_writes": r + w,
        "absent": pl.lit(None, dtype=pl.Int64),
    }[convention.cached_tokens]
    output_tokens = o + convention.reasoning_factor * z
    request_count = pl.col("A") if convention.counts_attempts else pl.col("N")
    return [
        input_tokens.alias("input_tokens"),
        cached_tokens.alias("cached_tokens"),
        output_tokens.alias("output_tokens"),
        request_count.alias("request_count"),
    ]


def finalize(parts: list[pl.DataFrame], world: World) -> pl.DataFrame:
    """All ledger rows, sorted: the canonical quantities, the ledger's columns under the
    world's convention and the naive local `bucket_start` label."""
    schema: dict[str, pl.DataType | type[pl.DataType]] = {
        "utc_hour": pl.Int64,
        "tenant": pl.Int64,
        "model": pl.Int64,
        **dict.fromkeys(CANONICAL, pl.Int64),
    }
    local = (
        pl.from_epoch(pl.col("utc_hour") * 3600, time_unit="s")
        .dt.replace_time_zone("UTC")
        .dt.convert_time_zone(world.incident.finance_timezone)
    )
    frame = pl.concat(parts) if parts else pl.DataFrame(schema=schema)
    return (
        frame.group_by("utc_hour", "tenant", "model")
        .agg(pl.col(*CANONICAL).sum())
        .filter(pl.col("N") > 0)
        .sort("utc_hour", "tenant", "model")
        .with_columns(
            *convention_columns(world.ledger_convention),
            bucket_start=local.dt.strftime("%Y-%m-%d %H:%M:%S"),
        )
    )


def sidecar_document(world: World) -> dict[str, object]:
    document: dict[str, object] = {
        "timezone": world.incident.finance_timezone,
        "bucket_start_meaning": "local clock time at the start of the hour",
        "source": LEDGER_SOURCE,
    }
    if world.convention_declared:
        document["convention"] = world.ledger_convention.as_dict()
    return document


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
    sidecar.write_text(dumps(sidecar_document(world)), encoding="utf-8")
    return [csv_path, sidecar]
