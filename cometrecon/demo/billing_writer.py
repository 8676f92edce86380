"""billing/: FOCUS 1.2 charge lines, the balance query's daily quota, the billing usage JSON.

Hourly FOCUS Usage lines are exact: BilledCost = Σ gateway quota of the consume rows
created in that hour and model ÷ 500,000. Two extra lines are planted: an Adjustment
inside the window that nothing explains, and a Correction of an April period.
"""

from __future__ import annotations

import csv
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import polars as pl

from cometrecon.demo.jsontext import decimal_text, dumps
from cometrecon.demo.quota import list_cost, usd_from_quota
from cometrecon.demo.static_writers import utc_text
from cometrecon.demo.world import (
    ACCOUNT_USERNAME,
    BILLING_ACCOUNT_ID,
    MODELS,
    QUOTA_PER_USD,
    TOKEN_NAMES,
    World,
)

FOCUS_COLUMNS = (
    "InvoiceId",
    "BillingAccountId",
    "ChargePeriodStart",
    "ChargePeriodEnd",
    "ChargeCategory",
    "ChargeClass",
    "ServiceName",
    "SkuId",
    "PricingQuantity",
    "PricingUnit",
    "ListCost",
    "EffectiveCost",
    "BilledCost",
    "BillingCurrency",
    "x_RequestCount",
    "x_GroupRatio",
    "x_ChargeDescription",
)
CORRECTION_PERIOD = datetime(2026, 4, 27, tzinfo=UTC)


def quota_usd_text(quota: int) -> str:
    """quota / 500,000 with exactly six decimals."""
    sign = "-" if quota < 0 else ""
    q = abs(quota)
    return f"{sign}{q // QUOTA_PER_USD}.{(q % QUOTA_PER_USD) * 2:06d}"


@dataclass(frozen=True)
class FocusRow:
    charge_period_start: datetime
    charge_period_end: datetime
    category: str
    charge_class: str
    sku: str
    pricing_quantity: str
    pricing_unit: str
    list_cost: Decimal
    billed_cost: Decimal
    billed_text: str
    requests: str
    description: str


@dataclass
class BillingAccumulator:
    """Provider-side totals collected while gateway hours are flushed."""

    usage: list[tuple[datetime, int, int, int, tuple[int, int, int, int]]] = field(
        default_factory=list
    )  # (hour, model, quota, requests, token sums)
    daily_token: dict[tuple[str, int], list[int]] = field(
        default_factory=lambda: defaultdict(lambda: [0, 0])
    )
    daily_model: dict[tuple[str, int], int] = field(default_factory=lambda: defaultdict(int))

    def add_hour(self, hour_start: datetime, rows: pl.DataFrame) -> None:
        consume = rows.filter(pl.col("type") == 2)
        if consume.height == 0:
            return
        day = hour_start.strftime("%Y-%m-%d")
        by_model = (
            consume.group_by(model=pl.col("model").cast(pl.Int64))
            .agg(
                pl.col("quota").sum(),
                requests=pl.len().cast(pl.Int64),
                base=pl.col("base").sum(),
                cache_read=pl.col("cache_read").sum(),
                cache_write=pl.col("cache_write").sum(),
                output=pl.col("output").sum(),
            )
            .sort("model")
        )
        for r in by_model.iter_rows(named=True):
            sums = (int(r["base"]), int(r["cache_read"]), int(r["cache_write"]), int(r["output"]))
            self.usage.append(
                (hour_start, int(r["model"]), int(r["quota"]), int(r["requests"]), sums)
            )
            self.daily_model[(day, int(r["model"]))] += int(r["quota"])
        by_token = consume.group_by(token=pl.col("token").cast(pl.Int64)).agg(
            pl.col("quota").sum(), requests=pl.len().cast(pl.Int64)
        )
        for r in by_token.iter_rows(named=True):
            entry = self.daily_token[(day, int(r["token"]))]
            entry[0] += int(r["quota"])
            entry[1] += int(r["requests"])


def focus_rows(world: World, billing: BillingAccumulator) -> list[FocusRow]:
    rows: list[FocusRow] = []
    for hour, model, quota, requests, sums in sorted(billing.usage, key=lambda u: (u[0], u[1])):
        spec = MODELS[model]
        rows.append(
            FocusRow(
                charge_period_start=hour,
                charge_period_end=hour + timedelta(hours=1),
                category="Usage",
                charge_class="",
                sku=spec.label,
                pricing_quantity=str(quota),
                pricing_unit="Quota Units",
                list_cost=list_cost(spec, *sums),
                billed_cost=usd_from_quota(quota),
                billed_text=quota_usd_text(quota),
                requests=str(requests),
                description=f"Hourly usage {spec.label}",
            )
        )
    if world.window_requests:
        adjustment_start = world.incident.end - timedelta(hours=1)
        rows.append(
            FocusRow(
                charge_period_start=adjustment_start,
                charge_period_end=adjustment_start + timedelta(hours=1),
                category="Adjustment",
                charge_class="",
                sku="",
                pricing_quantity="",
                pricing_unit="",
                list_cost=world.adjustment_usd,
                billed_cost=world.adjustment_usd,
                billed_text=f"{world.adjustment_usd:.2f}",
                requests="",
                description="Manual balance adjustment",
            )
        )
    rows.append(
        FocusRow(
            charge_period_start=CORRECTION_PERIOD,
            charge_period_end=CORRECTION_PERIOD + timedelta(days=1),
            category="Usage",
            charge_class="Correction",
            sku="gpt-4o-mini",
            pricing_quantity="",
            pricing_unit="",
            list_cost=world.correction_usd,
            billed_cost=world.correction_usd,
            billed_text=f"{world.correction_usd:.2f}",
            requests="",
            description="Correction of 2026-04-27 usage (re-rated)",
        )
    )
    return rows


def write_focus(landing: Path, world: World, rows: list[FocusRow]) -> Path:
    path = landing / "billing" / f"focus_{world.incident.start:%Y-%m}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    group = decimal_text(world.group_ratio)
    invoice = f"INV-{world.incident.start:%Y-%m}-COMET-1042"
    with path.open("w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(FOCUS_COLUMNS)
        for r in rows:
            writer.writerow(
                [
                    invoice,
                    BILLING_ACCOUNT_ID,
                    utc_text(r.charge_period_start),
                    utc_text(r.charge_period_end),
                    r.category,
                    r.charge_class,
                    "CometAPI",
                    r.sku,
                    r.pricing_quantity,
                    r.pricing_unit,
                    decimal_text(r.list_cost),
                    r.billed_text,
                    r.billed_text,
                    "USD",
                    r.requests,
                    group if r.category == "Usage" else "",
                    r.description,
                ]
            )
    return path


def write_balance(landing: Path, billing: BillingAccumulator) -> Path:
    days = sorted({day for day, _ in billing.daily_token})
    daily: dict[str, list[dict[str, object]]] = {}
    per_token: dict[int, int] = defaultdict(int)
    total_quota = total_requests = 0
    for day in days:
        entries: list[dict[str, object]] = []
        for token in range(len(TOKEN_NAMES)):
            quota, requests = billing.daily_token.get((day, token), [0, 0])
            if requests == 0:
                continue
            entries.append(
                {
                    "token_name": TOKEN_NAMES[token],
                    "quota_used": usd_from_quota(quota),
                    "request_count": requests,
                }
            )
            per_token[token] += quota
            total_quota += quota
            total_requests += requests
        daily[day] = entries
    used = usd_from_quota(total_quota)
    topped_up = Decimal((int(used) // 1000 + 3) * 1000)
    document = {
        "success": True,
        "username": ACCOUNT_USERNAME,
        "total_quota": topped_up - used,
        "total_used_quota": used,
        "request_count": total_requests,
        "keys": [
            {"name": TOKEN_NAMES[t], "remain_quota": -1, "used_quota": usd_from_quota(q)}
            for t, q in sorted(per_token.items())
        ],
        "start_date": days[0] if days else None,
        "end_date": days[-1] if days else None,
        "daily_quota": daily,
    }
    stamp = days[-1] if days else "empty"
    path = landing / "billing" / f"balance_query_{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(document), encoding="utf-8")
    return path


def write_billing_usage(landing: Path, billing: BillingAccumulator) -> Path:
    days = sorted({day for day, _ in billing.daily_model})
    daily_costs: list[dict[str, object]] = []
    total = 0
    for day in days:
        items: list[dict[str, object]] = []
        for model in range(len(MODELS)):
            quota = billing.daily_model.get((day, model), 0)
            if quota:
                items.append({"name": MODELS[model].label, "cost": Decimal(quota) / 5000})
                total += quota
        stamp = int(datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC).timestamp())
        daily_costs.append({"timestamp": stamp, "line_items": items})
    end = (
        (datetime.strptime(days[-1], "%Y-%m-%d") + timedelta(days=1)).strftime("%Y-%m-%d")
        if days
        else None
    )
    document = {
        "object": "billing_usage",
        "total_usage": Decimal(total) / 5000,
        "start_date": days[0] if days else None,
        "end_date": end,
        "daily_costs": daily_costs,
    }
    path = landing / "billing" / f"billing_usage_{days[-1] if days else 'empty'}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dumps(document), encoding="utf-8")
    return path
