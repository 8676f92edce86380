"""usage_ledger/: the business ledger the forecast was built from (CSV or Parquet).

`bucket_start` is landed exactly as written (text and naive clock time); its timezone
comes from a `timezone` column, the file's sidecar, or an explicit offset in the value.
With none of these it stays null: staging never guesses.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pyarrow as pa
import yaml

from ingest.fields import OFFSET_PATTERN, Field, StreamTable, sql_quote, token_count
from ingest.readers import Format, RejectedFile, csv_records, parquet_records
from ingest.sanitize import CREDENTIAL_KEYS
from ingest.source import SourceFile

STREAM = "usage_ledger"
SIDECAR_SUFFIXES = (".sidecar.json", ".sidecar.yaml", ".sidecar.yml")

_NAIVE = f"regexp_replace(trim(r.\"bucket_start\"), '{OFFSET_PATTERN}', '')"

# What each quantity column may hold, as a sidecar can declare it (docs/attribution.md);
# the first value of each is the default the models keep on a tie.
CONVENTIONS: dict[str, tuple[str, ...]] = {
    "input_tokens": (
        "excludes_cache",
        "includes_cache_reads",
        "includes_cache_writes",
        "includes_cache_reads_and_writes",
    ),
    "cached_tokens": ("reads", "reads_and_writes", "absent"),
    "output_tokens": ("reasoning_once", "reasoning_twice", "reasoning_omitted"),
    "request_count": ("logical_requests", "attempts"),
}


@dataclass(frozen=True)
class Sidecar:
    timezone: str | None = None
    convention: dict[str, str] = field(default_factory=dict)


def _declared_convention_fields(convention: dict[str, str]) -> tuple[Field, ...]:
    return tuple(
        Field(
            f"declared_{column}_convention",
            "text",
            source=sql_quote(convention[column]) if column in convention else "null",
        )
        for column in CONVENTIONS
    )


def table(sidecar: Sidecar) -> StreamTable:
    sidecar_timezone = sidecar.timezone
    declared = sql_quote(sidecar_timezone) if sidecar_timezone else "null"
    return StreamTable(
        content_keys=CREDENTIAL_KEYS,
        table="usage_ledger",
        description="One row per ledger bucket × tenant × model, as written.",
        fields=(
            Field("bucket_start_text", "text", path="bucket_start", required=True),
            Field("bucket_start_local", "timestamp", source=_NAIVE),
            Field(
                "bucket_start_offset",
                "text",
                source=f"nullif(regexp_extract(trim(r.\"bucket_start\"), '{OFFSET_PATTERN}'), '')",
            ),
            Field(
                "bucket_minutes",
                "int",
                path="bucket_minutes",
                required=True,
                checks=(("{v} between 1 and 44640", "'bucket_minutes out of range'"),),
            ),
            Field(
                "timezone",
                "text",
                source=f"coalesce(nullif(trim(r.\"timezone\"), ''), {declared})",
                checks=(
                    ("{v} in (select name from pg_timezone_names())", "'unknown timezone name'"),
                ),
            ),
            Field(
                "timezone_source",
                "text",
                source=(
                    "case when nullif(trim(r.\"timezone\"), '') is not null then 'column' "
                    f"when {declared} is not null then 'sidecar' "
                    f"when regexp_matches(trim(r.\"bucket_start\"), '{OFFSET_PATTERN}') then 'offset' end"
                ),
            ),
            Field("tenant", "text", path="tenant"),
            Field("model", "text", path="model", required=True),
            token_count("input_tokens", "input_tokens", required=True),
            token_count("cached_tokens", "cached_tokens"),
            token_count("output_tokens", "output_tokens", required=True),
            Field(
                "request_count",
                "int",
                path="request_count",
                checks=(("{v} >= 0", "'negative request count'"),),
            ),
            Field("ledger_source", "text", path="ledger_source"),
            *_declared_convention_fields(sidecar.convention),
        ),
    )


TABLES = (table(Sidecar()),)


def sidecar_for(path: Path) -> Path | None:
    stem = path.name.split(".")[0]
    for suffix in SIDECAR_SUFFIXES:
        candidate = path.with_name(stem + suffix)
        if candidate.exists():
            return candidate
    return None


def is_sidecar(path: Path) -> bool:
    return path.name.endswith(SIDECAR_SUFFIXES)


def _read_sidecar(sidecar: Path | None) -> Sidecar:
    if sidecar is None:
        return Sidecar()
    try:
        document = yaml.safe_load(sidecar.read_text(encoding="utf-8-sig"))
    except (yaml.YAMLError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise RejectedFile(f"unreadable sidecar {sidecar.name}: {error}") from error
    if not isinstance(document, dict):
        raise RejectedFile(f"sidecar {sidecar.name} is not a mapping")
    timezone = document.get("timezone")
    return Sidecar(
        timezone=str(timezone) if timezone else None,
        convention=_declared_convention(document.get("convention"), sidecar.name),
    )


def _declared_convention(declared: object, sidecar_name: str) -> dict[str, str]:
    if declared is None:
        return {}
    if not isinstance(declared, dict):
        raise RejectedFile(f"sidecar {sidecar_name}: `convention` is not a mapping")
    convention: dict[str, str] = {}
    for column, value in declared.items():
        if column not in CONVENTIONS:
            raise RejectedFile(
                f"sidecar {sidecar_name}: `convention` names an unknown column {column!r}"
                f" (known: {', '.join(CONVENTIONS)})"
            )
        if value not in CONVENTIONS[column]:
            raise RejectedFile(
                f"sidecar {sidecar_name}: convention {column}={value!r} is not one of"
                f" {', '.join(CONVENTIONS[column])}"
            )
        convention[column] = str(value)
    return convention


def records(source: SourceFile) -> Iterator[tuple[StreamTable, pa.Table]]:
    ledger = table(_read_sidecar(source.sidecar))
    if source.detected.format is Format.CSV:
        batches = csv_records(source.path, source.detected.gzipped)
    elif source.detected.format is Format.PARQUET:
        batches = parquet_records(source.path)
    else:
        raise RejectedFile(
            f"usage_ledger expects CSV or Parquet, found {source.detected.format.value}"
        )
    for batch in batches:
        yield ledger, batch
