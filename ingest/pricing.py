"""pricing/: the official catalog snapshots and the internal rate sheet, kept apart.

A catalog snapshot's capture sidecar (`<stem>.capture.json`) says where and when it was
captured; without one its rates land with null capture fields and can never be verified.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa

from ingest.fields import Field, StreamTable, sql_quote
from ingest.readers import (
    Format,
    RejectedFile,
    csv_records,
    load_json_document,
    records_from_python,
)
from ingest.sanitize import CREDENTIAL_KEYS, redact
from ingest.source import SourceFile

STREAM = "pricing"
CAPTURE_SUFFIX = ".capture.json"
DIMENSIONS = ("input", "input_cache_read", "input_cache_write", "output", "request", "second")
_PRICE_CHECK = (("{v} >= 0", "'negative price'"),)


def _price(name: str, key: str) -> Field:
    return Field(name, "decimal", path=f"pricing.{key}", checks=_PRICE_CHECK)


def catalog_table(capture: dict[str, Any]) -> StreamTable:
    def literal(key: str) -> str:
        value = capture.get(key)
        return sql_quote(redact(str(value))) if value not in (None, "") else "null"

    return StreamTable(
        content_keys=CREDENTIAL_KEYS,
        table="pricing_catalog",
        description="One row per model in a captured catalog snapshot.",
        fields=(
            Field("model_id", "text", path="id", required=True),
            Field("currency_unit", "text", path="pricing.currency"),
            _price("input_usd_per_unit", "input"),
            _price("output_usd_per_unit", "output"),
            _price("cache_read_usd_per_unit", "cache_read"),
            _price("cache_write_usd_per_unit", "cache_write"),
            _price("per_request_usd", "per_request"),
            _price("per_second_usd", "per_second"),
            Field("pricing_json", "json", source="json_extract(_line, '$.pricing')"),
            Field("source_url", "text", source=literal("source_url")),
            Field("captured_at", "timestamptz", source=literal("captured_at")),
            Field("captured_by", "text", source=literal("captured_by")),
            Field("account_context", "text", source=literal("account_context")),
            Field("capture_status", "text", source=sql_quote("sidecar" if capture else "missing")),
        ),
        record_checks=(("pricing_json is not null", "pricing", "'model has no pricing object'"),),
    )


RATE_SHEET_TABLE = StreamTable(
    content_keys=CREDENTIAL_KEYS,
    table="rate_sheet",
    description="One row per model × dimension in the internal rate sheet.",
    fields=(
        Field("model", "text", path="model", required=True),
        Field(
            "dimension",
            "text",
            path="dimension",
            required=True,
            checks=((f"{{v}} in {DIMENSIONS}", "'unknown billable dimension'"),),
        ),
        Field("rate", "decimal", path="rate", required=True, checks=_PRICE_CHECK),
        Field(
            "unit_size",
            "decimal",
            path="unit_size",
            required=True,
            checks=(("{v} > 0", "'unit_size must be positive'"),),
        ),
        Field("currency", "text", path="currency"),
        Field(
            "effective_from",
            "timestamptz",
            required=True,
            source=(
                "case when regexp_full_match(trim(r.\"effective_from\"), '[0-9]{4}-[0-9]{2}-[0-9]{2}') "
                'then trim(r."effective_from") || \'T00:00:00Z\' else r."effective_from" end'
            ),
        ),
        Field("rate_source", "text", path="rate_source"),
    ),
)
TABLES = (catalog_table({}), RATE_SHEET_TABLE)


def is_sidecar(path: Path) -> bool:
    return path.name.endswith(CAPTURE_SUFFIX)


def sidecar_for(path: Path) -> Path | None:
    candidate = path.with_name(path.name.removesuffix(".gz").removesuffix(".json") + CAPTURE_SUFFIX)
    return candidate if candidate.exists() else None


def _capture(sidecar: Path | None) -> dict[str, Any]:
    if sidecar is None:
        return {}
    try:
        document = json.loads(sidecar.read_text(encoding="utf-8-sig"))
    except (ValueError, UnicodeDecodeError) as error:
        raise RejectedFile(f"unreadable capture sidecar {sidecar.name}: {error}") from error
    if not isinstance(document, dict):
        raise RejectedFile(f"capture sidecar {sidecar.name} is not an object")
    return document


def records(source: SourceFile) -> Iterator[tuple[StreamTable, pa.Table]]:
    detected = source.detected
    if detected.format is Format.CSV:
        for batch in csv_records(source.path, detected.gzipped):
            yield RATE_SHEET_TABLE, batch
        return
    if detected.format is not Format.JSON_DOCUMENT:
        raise RejectedFile(
            f"pricing expects a catalog JSON or a rate-sheet CSV, found {detected.format.value}"
        )
    document = load_json_document(source.path, detected.gzipped)
    models = document.get("data") if isinstance(document, dict) else document
    if not isinstance(models, list):
        raise RejectedFile('catalog JSON is neither a list of models nor {"data": [...]}')
    yield catalog_table(_capture(source.sidecar)), records_from_python(models)
