"""The answer key: the design's waterfall computed in Python from the generated attempts.

Token quantities are summed exactly in integers per model and category while the
attempts are generated; every money figure is then a `Decimal` (token sums × USD per 1M
tokens, or quota ÷ 500,000), so `forecast + Σ attribution == billed` holds exactly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import polars as pl

from cometrecon.demo.billing_writer import FocusRow
from cometrecon.demo.jsontext import decimal_text
from cometrecon.demo.quota import TOKENS_PER_MILLION, exact_quota, list_cost, usd_from_quota
from cometrecon.demo.static_writers import sheet_rates, utc_text
from cometrecon.demo.world import (
    ACCOUNT_USERNAME,
    BATCH_MODEL,
    BILLABLE_KINDS,
    CONTENT_EMAILS,
    FAILED_SCENARIOS,
    GATEWAY_IPS,
    K_CONN,
    K_CUT,
    K_ERROR,
    K_INVALID,
    K_OK,
    K_TIMEOUT,
    MODELS,
    N_ATTEMPTS_BY_SCENARIO,
    PROMPT_SENTENCES,
    SCENARIO_NAMES,
    SYSTEM_PROMPT,
    TINY_MODEL,
    TOKEN_NAMES,
    World,
)

CATEGORIES = (
    "ledgered_in_window",
    "gap_retry_amplification",
    "gap_stream_after_disconnect",
    "gap_untracked_job",
    "boundary_in",
    "boundary_out",
    "billed_in_window",
    "billed_in_window_minimum",
)
STATS = ("base", "cache_read", "cache_write", "output", "rows", "quota", "cached_rows")
COUNTS = (
    "app_attempts_sent_in_window",
    "app_ok_attempts_sent_in_window",
    "app_timed_out_attempts_sent_in_window",
    "app_error_attempts_sent_in_window",
    "app_connection_error_attempts_sent_in_window",
    "app_invalid_request_attempts_sent_in_window",
    "app_stream_disconnect_attempts_sent_in_window",
    "app_attempts_without_request_id_sent_in_window",
    "gateway_consume_rows_in_window",
    "gateway_error_rows_in_window",
    "app_attempts_total",
    "gateway_consume_rows_total",
    "gateway_error_rows_total",
)
ACTIONS = {
    "time_window_mismatch": "Align reporting calendar and rerun",
    "pricing_source_mismatch": "Replace stale rate source and backfill affected estimates",
    "field_interpretation_gap": "Update parser and add regression test",
    "usage_capture_gap": "Fix instrumentation and rerun reconciliation",
    "account_specific_billing_issue": "Prepare support packet through the Help Center",
    "unknown": "Mark unresolved and define next evidence request",
}


@dataclass
class GroundTruthAccumulator:
    """Exact integer sums per category × model, filled chunk by chunk."""

    world: World
    sums: dict[str, list[list[int]]] = field(default_factory=dict)
    counts: Counter[str] = field(default_factory=Counter)
    window_scenarios: Counter[str] = field(default_factory=Counter)
    logical_total: int = 0

    def __post_init__(self) -> None:
        for category in CATEGORIES:
            self.sums[category] = [[0] * len(STATS) for _ in MODELS]

    def add_logical(self, in_window: bool, scenario: npt.NDArray[np.int8]) -> None:
        self.logical_total += int(scenario.size)
        if in_window:
            for index, count in zip(*np.unique(scenario, return_counts=True), strict=True):
                self.window_scenarios[SCENARIO_NAMES[int(index)]] += int(count)

    def add_attempts(self, frame: pl.DataFrame) -> None:
        start, end = self.world.incident.start_ms, self.world.incident.end_ms
        kind = pl.col("kind")
        sent = pl.col("sent_ms")
        billed_ms = pl.col("created_at").fill_null(-1) * 1000
        sent_in = (sent >= start) & (sent < end)
        billed_in = (billed_ms >= start) & (billed_ms < end)
        billable = kind.is_in(list(BILLABLE_KINDS))
        app = pl.col("tenant") >= 0
        masks = {
            "ledgered_in_window": (kind == K_OK) & app & sent_in,
            "gap_retry_amplification": (kind == K_TIMEOUT) & sent_in,
            "gap_stream_after_disconnect": (kind == K_CUT) & sent_in,
            "gap_untracked_job": ~app & billable & sent_in,
            "boundary_in": billable & billed_in & (sent < start),
            "boundary_out": billable & sent_in & (billed_ms >= end),
            "billed_in_window": billable & billed_in,
            "billed_in_window_minimum": billable & billed_in & pl.col("is_minimum"),
        }
        has_cache = (pl.col("cache_read") > 0) | (pl.col("cache_write") > 0)
        aggregations: list[pl.Expr] = []
        for category, mask in masks.items():
            aggregations += [
                pl.col("base").filter(mask).sum().alias(f"{category}|base"),
                pl.col("cache_read").filter(mask).sum().alias(f"{category}|cache_read"),
                pl.col("cache_write").filter(mask).sum().alias(f"{category}|cache_write"),
                pl.col("output").filter(mask).sum().alias(f"{category}|output"),
                mask.sum().cast(pl.Int64).alias(f"{category}|rows"),
                pl.col("quota").filter(mask).sum().alias(f"{category}|quota"),
                (mask & has_cache).sum().cast(pl.Int64).alias(f"{category}|cached_rows"),
            ]
        by_model = frame.group_by(model=pl.col("model").cast(pl.Int64)).agg(aggregations)
        for row in by_model.iter_rows(named=True):
            model = int(row["model"])
            for category in CATEGORIES:
                target = self.sums[category][model]
                for i, stat in enumerate(STATS):
                    target[i] += int(row[f"{category}|{stat}"] or 0)

        gateway_row = pl.col("created_at").is_not_null()
        counters = frame.select(
            (app & sent_in).sum().alias("app_attempts_sent_in_window"),
            (app & sent_in & (kind == K_OK)).sum().alias("app_ok_attempts_sent_in_window"),
            (sent_in & (kind == K_TIMEOUT)).sum().alias("app_timed_out_attempts_sent_in_window"),
            (sent_in & (kind == K_ERROR)).sum().alias("app_error_attempts_sent_in_window"),
            (sent_in & (kind == K_CONN))
            .sum()
            .alias("app_connection_error_attempts_sent_in_window"),
            (sent_in & (kind == K_INVALID))
            .sum()
            .alias("app_invalid_request_attempts_sent_in_window"),
            (sent_in & (kind == K_CUT))
            .sum()
            .alias("app_stream_disconnect_attempts_sent_in_window"),
            (app & sent_in & pl.col("rid").is_null())
            .sum()
            .alias("app_attempts_without_request_id_sent_in_window"),
            (billable & billed_in).sum().alias("gateway_consume_rows_in_window"),
            (gateway_row & ~billable & billed_in).sum().alias("gateway_error_rows_in_window"),
            app.sum().alias("app_attempts_total"),
            (gateway_row & billable).sum().alias("gateway_consume_rows_total"),
            (gateway_row & ~billable).sum().alias("gateway_error_rows_total"),
        ).row(0, named=True)
        for name, value in counters.items():
            self.counts[name] += int(value or 0)


def _cost(sums: list[list[int]]) -> Decimal:
    total = Decimal(0)
    for model, s in enumerate(sums):
        total += list_cost(MODELS[model], s[0], s[1], s[2], s[3])
    return total


def _exact_quota(sums: list[list[int]], group_ratio: Decimal) -> Decimal:
    total = Decimal(0)
    for model, s in enumerate(sums):
        total += exact_quota(MODELS[model], group_ratio, s[0], s[1], s[2], s[3])
    return total


def _column(sums: list[list[int]], stat: str) -> int:
    return sum(s[STATS.index(stat)] for s in sums)


def _row(
    variance_class: str, cause: str, amount: Decimal, count: int, unit: str, confidence: str
) -> dict[str, object]:
    return {
        "variance_class": variance_class,
        "cause": cause,
        "amount_usd": decimal_text(amount),
        "evidence_count": count,
        "evidence_unit": unit,
        "confidence": confidence,
        "action": ACTIONS[variance_class],
    }


def compute(
    world: World,
    acc: GroundTruthAccumulator,
    ledger: pl.DataFrame,
    focus: list[FocusRow],
) -> dict[str, object]:
    """The ground-truth document (everything but the file list)."""
    incident = world.incident
    sheet = sheet_rates(world)
    naive_start = incident.start.strftime("%Y-%m-%d %H:%M:%S")
    naive_end = incident.end.strftime("%Y-%m-%d %H:%M:%S")
    with localcontext() as context:
        context.prec = 80

        # 1. forecast: ledger as read × sheet rates; 2. timezone shift to true UTC buckets.
        forecast = aligned_sheet = stale = aligned_verified = Decimal(0)
        as_read_rows: set[tuple[int, int, int]] = set()
        aligned_rows: set[tuple[int, int, int]] = set()
        stale_rows = 0
        aligned_totals = [[0, 0, 0, 0] for _ in MODELS]
        for r in ledger.iter_rows(named=True):
            spec = MODELS[int(r["model"])]
            key = (int(r["utc_hour"]), int(r["tenant"]), int(r["model"]))
            tokens_in, tokens_out = int(r["input_tokens"]), int(r["output_tokens"])
            sheet_in, sheet_out = sheet[(spec.label, "input")], sheet[(spec.label, "output")]
            at_sheet = (tokens_in * sheet_in + tokens_out * sheet_out) / TOKENS_PER_MILLION
            if naive_start <= str(r["bucket_start"]) < naive_end:
                forecast += at_sheet
                as_read_rows.add(key)
            if incident.start_ms <= key[0] * 3_600_000 < incident.end_ms:
                aligned_rows.add(key)
                aligned_sheet += at_sheet
                stale += (
                    tokens_in * (spec.input_price - sheet_in)
                    + tokens_out * (spec.output_price - sheet_out)
                ) / TOKENS_PER_MILLION
                aligned_verified += (
                    tokens_in * spec.input_price + tokens_out * spec.output_price
                ) / TOKENS_PER_MILLION
                if spec.label == world.stale_model:
                    stale_rows += 1
                totals = aligned_totals[key[2]]
                totals[0] += tokens_in
                totals[1] += int(r["cached_tokens"])
                totals[2] += tokens_out
                totals[3] += int(r["request_count"])
        timezone_shift = aligned_sheet - forecast

        ledgered = acc.sums["ledgered_in_window"]
        for model, s in enumerate(ledgered):
            expected = [s[0] + s[1] + s[2], s[1], s[3], s[4]]
            if aligned_totals[model] != expected:
                raise RuntimeError(f"ledger rows disagree with ledgered attempts for {model}")

        # 4. field interpretation: correct semantics at verified rates.
        correct = _cost(ledgered)
        cached_as_input = correct - aligned_verified

        # 5. capture gaps and the window boundary.
        retry = _cost(acc.sums["gap_retry_amplification"])
        stream_cut = _cost(acc.sums["gap_stream_after_disconnect"])
        untracked = _cost(acc.sums["gap_untracked_job"])
        boundary = _cost(acc.sums["boundary_in"]) - _cost(acc.sums["boundary_out"])
        recomputed = _cost(acc.sums["billed_in_window"])
        running = (
            forecast
            + timezone_shift
            + stale
            + cached_as_input
            + retry
            + stream_cut
            + untracked
            + boundary
        )
        if running != recomputed:
            raise RuntimeError(f"waterfall {running} does not reach recomputed {recomputed}")

        # 6. provider side.
        billed_sums = acc.sums["billed_in_window"]
        minimum_sums = acc.sums["billed_in_window_minimum"]
        quota_in_window = _column(billed_sums, "quota")
        minimum_rows = _column(minimum_sums, "rows")
        gateway = usd_from_quota(quota_in_window)
        exact_total = _exact_quota(billed_sums, world.group_ratio)
        exact_minimum = _exact_quota(minimum_sums, world.group_ratio)
        quota_not_minimum = quota_in_window - _column(minimum_sums, "quota")
        rounding = (quota_not_minimum - (exact_total - exact_minimum)) / 500_000
        minimum_charge = (minimum_rows - exact_minimum) / 500_000
        discount = exact_total / 500_000 - recomputed
        billed = sum(
            (
                r.billed_cost
                for r in focus
                if incident.start <= r.charge_period_start < incident.end
            ),
            Decimal(0),
        )
        residual = billed - gateway

        consume_rows = _column(billed_sums, "rows")
        attribution = [
            _row(
                "time_window_mismatch",
                "timezone_shift",
                timezone_shift,
                len(as_read_rows ^ aligned_rows),
                "ledger_rows",
                "verified",
            ),
            _row(
                "pricing_source_mismatch",
                "stale_rate",
                stale,
                stale_rows,
                "ledger_rows",
                "verified",
            ),
            _row(
                "field_interpretation_gap",
                "cached_tokens_priced_as_input",
                cached_as_input,
                _column(ledgered, "cached_rows"),
                "attempts",
                "verified_from_response",
            ),
            _row(
                "usage_capture_gap",
                "retry_amplification",
                retry,
                _column(acc.sums["gap_retry_amplification"], "rows"),
                "attempts",
                "verified_from_server_log",
            ),
            _row(
                "usage_capture_gap",
                "stream_after_disconnect",
                stream_cut,
                _column(acc.sums["gap_stream_after_disconnect"], "rows"),
                "attempts",
                "verified_from_server_log",
            ),
            _row(
                "usage_capture_gap",
                "untracked_job",
                untracked,
                _column(acc.sums["gap_untracked_job"], "rows"),
                "gateway_rows",
                "verified_from_server_log",
            ),
            _row(
                "time_window_mismatch",
                "window_boundary",
                boundary,
                _column(acc.sums["boundary_in"], "rows")
                + _column(acc.sums["boundary_out"], "rows"),
                "attempts",
                "verified_from_server_log",
            ),
            _row(
                "account_specific_billing_issue",
                "rounding",
                rounding,
                consume_rows - minimum_rows,
                "gateway_rows",
                "verified_from_server_log",
            ),
            _row(
                "account_specific_billing_issue",
                "minimum_charge",
                minimum_charge,
                minimum_rows,
                "gateway_rows",
                "inferred",
            ),
            _row(
                "account_specific_billing_issue",
                "account_discount",
                discount,
                consume_rows,
                "gateway_rows",
                "inferred",
            ),
            _row(
                "unknown",
                "unexplained_residual",
                residual,
                sum(
                    1
                    for r in focus
                    if r.category == "Adjustment"
                    and incident.start <= r.charge_period_start < incident.end
                ),
                "focus_rows",
                "unknown",
            ),
        ]
        total = forecast + sum((Decimal(str(a["amount_usd"])) for a in attribution), Decimal(0))
        if total != billed:
            raise RuntimeError(f"forecast + attribution {total} != billed {billed}")

    offset = incident.start.astimezone(ZoneInfo(incident.finance_timezone)).utcoffset()
    offset_minutes = int(offset.total_seconds() // 60) if offset is not None else 0
    window_logical = sum(acc.window_scenarios.values())
    retried = sum(
        n
        for name, n in acc.window_scenarios.items()
        if N_ATTEMPTS_BY_SCENARIO[SCENARIO_NAMES.index(name)] > 1
    )
    failed = sum(
        n
        for name, n in acc.window_scenarios.items()
        if SCENARIO_NAMES.index(name) in FAILED_SCENARIOS
    )
    counts: dict[str, object] = {
        "logical_requests": window_logical,
        "retried_requests": retried,
        "failed_requests": failed,
        "successful_requests": window_logical - failed,
        "attempts_of_window_requests": sum(
            n * N_ATTEMPTS_BY_SCENARIO[SCENARIO_NAMES.index(name)]
            for name, n in acc.window_scenarios.items()
        ),
        "scenarios": {name: acc.window_scenarios.get(name, 0) for name in SCENARIO_NAMES},
        **{name: acc.counts[name] for name in COUNTS},
        "untracked_job_rows": world.batch_requests,
        "minimum_charge_rows_in_window": minimum_rows,
        "ledger_rows_total": ledger.height,
        "ledger_rows_as_read_in_window": len(as_read_rows),
        "ledger_rows_aligned_in_window": len(aligned_rows),
        "logical_requests_total": acc.logical_total,
        "definitions": {
            "window": "[start_utc, end_utc); logical requests by their first attempt's sent_at",
            "retried": "a logical request with more than one attempt",
            "failed": (
                "final attempt not successful: http_status not 2xx, or client_disconnected, "
                "or usage null"
            ),
            "gateway_rows_in_window": "created_at (unix seconds, completion) inside the window",
        },
    }
    verified_rates = {
        m.label: {
            "input": decimal_text(m.input_price),
            "input_cache_read": decimal_text(m.cache_read_price),
            **(
                {"input_cache_write": decimal_text(m.cache_write_price)}
                if m.cache_creation_ratio
                else {}
            ),
            "output": decimal_text(m.output_price),
        }
        for m in MODELS
    }
    sheet_by_model: dict[str, dict[str, str]] = {}
    for (label, dimension), rate in sheet.items():
        sheet_by_model.setdefault(label, {})[dimension] = decimal_text(rate)
    stale_spec = MODELS[[m.label for m in MODELS].index(world.stale_model)]
    verified_stale = (
        stale_spec.input_price if world.stale_dimension == "input" else stale_spec.output_price
    )
    keys_in_logs = [world.api_keys[t] for t in TOKEN_NAMES if t != "batch-backfill"]
    return {
        "generator": {
            "name": "cometrecon.demo",
            "seed": world.seed,
            "attempts_requested": world.attempts_requested,
        },
        "incident": {
            "incident_id": incident.incident_id,
            "start_utc": utc_text(incident.start),
            "end_utc": utc_text(incident.end),
            "finance_timezone": incident.finance_timezone,
            "buffer_minutes": incident.buffer_minutes,
            "tolerance_percent": str(incident.tolerance_percent),
            "tolerance_abs_usd": f"{incident.tolerance_abs_usd:.2f}",
        },
        "traffic": {
            "start_utc": utc_text(world.traffic_start),
            "end_utc": utc_text(world.traffic_end),
        },
        "counts": counts,
        "paths": {
            "forecast": decimal_text(forecast),
            "recomputed": decimal_text(recomputed),
            "gateway": decimal_text(gateway),
            "billed": decimal_text(billed),
        },
        "attribution": attribution,
        "checks": {
            "forecast_plus_attribution": decimal_text(total),
            "equals_billed": total == billed,
            "waterfall_reaches_recomputed": running == recomputed,
            "aligned_forecast_at_sheet_rates": decimal_text(aligned_sheet),
            "exact_unrounded_gateway_usd": decimal_text(exact_total / 500_000),
        },
        "injected": {
            "group_ratio": decimal_text(world.group_ratio),
            "group_name": "enterprise",
            "stale_rate": {
                "model": world.stale_model,
                "dimension": world.stale_dimension,
                "sheet_rate": decimal_text(world.stale_old_rate),
                "verified_rate": decimal_text(verified_stale),
                "unit": "USD per 1M tokens",
            },
            "timeout_change": {
                "changed_at": utc_text(world.change_at),
                "key": "llm_client.timeout_seconds",
                "old_value": world.old_timeout_seconds,
                "new_value": world.timeout_seconds,
                "deploy_id": world.timeout_deploy_id,
            },
            "untracked_job": {
                "token_name": "batch-backfill",
                "model": MODELS[BATCH_MODEL].label,
                "gateway_rows": world.batch_requests,
            },
            "minimum_charge_model": MODELS[TINY_MODEL].label,
            "unexplained_adjustment_usd": decimal_text(world.adjustment_usd),
            "out_of_window_correction_usd": decimal_text(world.correction_usd),
            "out_of_window_correction_period_start": "2026-04-27T00:00:00Z",
            "window_scenario_plan": dict(world.window_scenario_counts),
            "balance_daily_quota_dates": "UTC calendar days of the gateway created_at",
            "focus_usage_lines": "hourly per model: sum of consume-row quota / 500000",
        },
        "ledger": {
            "path": "usage_ledger/llm_usage_hourly.csv",
            "declared_timezone": incident.finance_timezone,
            "declared_in": "usage_ledger/llm_usage_hourly.sidecar.json",
            "true_utc_offset": _offset_text(offset_minutes),
            "true_utc_offset_minutes": offset_minutes,
            "bucket_minutes": 60,
            "semantics": {
                "input_tokens": "all prompt tokens incl. cache reads and cache writes",
                "cached_tokens": "cache reads",
                "output_tokens": "completion incl. reasoning/thoughts",
            },
        },
        "rates": {"verified": verified_rates, "rate_sheet": sheet_by_model},
        "planted_secrets": {
            "api_keys": keys_in_logs,
            "bearer_tokens": [f"Bearer {k}" for k in keys_in_logs],
            "emails": [ACCOUNT_USERNAME, *CONTENT_EMAILS],
            "prompt_sentences": [*PROMPT_SENTENCES, SYSTEM_PROMPT],
            "ip_addresses": list(GATEWAY_IPS),
        },
    }


def _offset_text(minutes: int) -> str:
    sign = "+" if minutes >= 0 else "-"
    hours, mins = divmod(abs(minutes), 60)
    return f"{sign}{hours:02d}:{mins:02d}"
