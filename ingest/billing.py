"""billing/: provider-side numbers.

FOCUS 1.2 CSV charge lines, the balance query's `daily_quota` JSON and the legacy
`/v1/dashboard/billing/usage` JSON (`total_usage` in cents). Costs are exact decimals.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pyarrow as pa

from ingest.fields import Field, StreamTable, sql_quote
from ingest.readers import (
    Format,
    RejectedFile,
    csv_header,
    csv_records,
    load_json_document,
    records_from_python,
)
from ingest.sanitize import CREDENTIAL_KEYS
from ingest.source import SourceFile

STREAM = "billing"
CHARGE_CATEGORIES = ("Usage", "Purchase", "Tax", "Credit", "Adjustment")

_FOCUS_FIELDS = (
    Field("billed_cost", "decimal", path="BilledCost", required=True),
    Field("effective_cost", "decimal", path="EffectiveCost"),
    Field("list_cost", "decimal", path="ListCost"),
    Field("contracted_cost", "decimal", path="ContractedCost"),
    Field("billing_currency", "text", path="BillingCurrency", required=True),
    Field("charge_period_start", "timestamptz", path="ChargePeriodStart", required=True),
    Field("charge_period_end", "timestamptz", path="ChargePeriodEnd", required=True),
    Field("billing_period_start", "timestamptz", path="BillingPeriodStart"),
    Field("billing_period_end", "timestamptz", path="BillingPeriodEnd"),
    Field(
        "charge_category",
        "text",
        path="ChargeCategory",
        required=True,
        checks=((f"{{v}} in {CHARGE_CATEGORIES}", "'unknown ChargeCategory'"),),
    ),
    Field(
        "charge_class",
        "text",
        source="nullif(trim(r.\"ChargeClass\"), '')",
        checks=(("{v} = 'Correction'", "'ChargeClass must be empty or Correction'"),),
    ),
    Field("charge_description", "text", path="ChargeDescription"),
    Field("service_name", "text", path="ServiceName"),
    Field("sku_id", "text", path="SkuId"),
    Field("sku_price_id", "text", path="SkuPriceId"),
    Field("pricing_quantity", "decimal", path="PricingQuantity"),
    Field("pricing_unit", "text", path="PricingUnit"),
    Field("consumed_quantity", "decimal", path="ConsumedQuantity"),
    Field("consumed_unit", "text", path="ConsumedUnit"),
    Field("list_unit_price", "decimal", path="ListUnitPrice"),
    Field("invoice_id", "text", path="InvoiceId"),
    Field("billing_account_id", "text", path="BillingAccountId"),
    Field("sub_account_id", "text", path="SubAccountId"),
)
_FOCUS_CHECKS = (
    (
        "charge_period_end > charge_period_start",
        "ChargePeriodEnd",
        "'ChargePeriodEnd is not after ChargePeriodStart'",
    ),
)


def focus_table(extension_columns: tuple[str, ...] = ()) -> StreamTable:
    # a header is data, never SQL: its text is read as a string literal (an identifier
    # built from it could close its quotes and inject a query)
    pairs = ", ".join(
        f"{sql_quote(c)}, struct_extract(r, {sql_quote(c)})" for c in extension_columns
    )
    extensions = f"json_object({pairs})" if pairs else "null"
    return StreamTable(
        content_keys=CREDENTIAL_KEYS,
        table="focus_charges",
        description="One row per FOCUS 1.2 charge line.",
        fields=(*_FOCUS_FIELDS, Field("extensions_json", "json", source=extensions)),
        record_checks=_FOCUS_CHECKS,
        extra_keys=extension_columns,
    )


BALANCE_TABLE = StreamTable(
    content_keys=CREDENTIAL_KEYS,
    table="balance_daily_quota",
    description="One row per day × token from the balance query's daily_quota.",
    fields=(
        Field("usage_date", "date", path="date", required=True),
        Field("token_name", "text", path="token_name"),
        Field("quota_used_usd", "decimal", path="quota_used", required=True),
        Field(
            "request_count",
            "int",
            path="request_count",
            checks=(("{v} >= 0", "'negative request count'"),),
        ),
    ),
)

BILLING_USAGE_TABLE = StreamTable(
    content_keys=CREDENTIAL_KEYS,
    table="billing_usage",
    description="One row per /v1/dashboard/billing/usage response (total_usage in cents).",
    fields=(
        Field("total_usage_cents", "decimal", path="total_usage", required=True),
        Field("start_date", "date", path="start_date"),
        Field("end_date", "date", path="end_date"),
        Field("daily_costs_json", "json", path="daily_costs"),
    ),
)
TABLES = (focus_table(), BALANCE_TABLE, BILLING_USAGE_TABLE)


def _balance_rows(document: dict[str, Any]) -> list[dict[str, Any]]:
    daily = document.get("daily_quota")
    if not isinstance(daily, dict):
        raise RejectedFile("balance JSON: daily_quota is not a mapping of date to entries")
    rows: list[dict[str, Any]] = []
    for day, entries in daily.items():
        for entry in entries if isinstance(entries, list) else [entries]:
            row = (
                dict(entry)
                if isinstance(entry, dict)
                else {"__csv_error__": "daily_quota entry is not an object"}
            )
            row["date"] = day
            rows.append(row)
    return rows


def records(source: SourceFile) -> Iterator[tuple[StreamTable, pa.Table]]:
    detected = source.detected
    if detected.format is Format.CSV:
        header = csv_header(source.path, detected.gzipped)
        if "BilledCost" not in header:
            raise RejectedFile("billing CSV is not FOCUS: no BilledCost column")
        focus = focus_table(tuple(c for c in header if c.startswith("x_")))
        for batch in csv_records(source.path, detected.gzipped):
            yield focus, batch
        return
    if detected.format is not Format.JSON_DOCUMENT:
        raise RejectedFile(
            f"billing expects FOCUS CSV or a JSON response, found {detected.format.value}"
        )
    document = load_json_document(source.path, detected.gzipped)
    body = document.get("data", document) if isinstance(document, dict) else None
    if isinstance(body, dict) and "daily_quota" in body:
        yield BALANCE_TABLE, records_from_python(_balance_rows(body))
    elif isinstance(body, dict) and "total_usage" in body:
        yield BILLING_USAGE_TABLE, records_from_python([body])
    else:
        raise RejectedFile(
            "billing JSON has neither daily_quota (balance query) nor total_usage (billing usage)"
        )
