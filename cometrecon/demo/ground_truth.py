"""The answer key: the design's waterfall computed in Python from the generated attempts.

Token quantities are summed exactly in integers per model and category while the
attempts are generated; every money figure is then a `Decimal` (token sums × USD per 1M
tokens, or quota ÷ 500,000), so `forecast + Σ attribution == billed` holds exactly.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, localcontext
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import polars as pl

from cometrecon.demo.billing_writer import FocusRow
from cometrecon.demo.jsontext import decimal_text
from cometrecon.demo.ledger import ANTHROPIC_MODELS, LEDGER_COLUMNS
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
    LedgerConvention,
    ModelSpec,
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
STATS = (
    "base",
    "cache_read",
    "cache_write",
    "output",
    "rows",
    "quota",
    "cached_rows",
    "reasoning",
    "read_rows",
    "write_rows",
    "reasoning_rows",
)
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
        # the reasoning part of the output as the response reports it (none for anthropic)
        reasoning = (
            pl.when(pl.col("model").cast(pl.Int64).is_in(ANTHROPIC_MODELS))
            .then(0)
            .otherwise(pl.col("reasoning"))
        )
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
                reasoning.filter(mask).sum().alias(f"{category}|reasoning"),
                (mask & (pl.col("cache_read") > 0))
                .sum()
                .cast(pl.Int64)
                .alias(f"{category}|read_rows"),
                (mask & (pl.col("cache_write") > 0))
                .sum()
                .cast(pl.Int64)
                .alias(f"{category}|write_rows"),
                (mask & (reasoning > 0)).sum().cast(pl.Int64).alias(f"{category}|reasoning_rows"),
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


# Ledger column → the billable dimension the forecast prices it as.
COLUMN_DIMENSION = {
    "input_tokens": "input",
    "cached_tokens": "input_cache_read",
    "output_tokens": "output",
    "request_count": "request",
}
# Canonical ledger quantities checked against the accumulator's ledgered attempts.
CANONICAL_CHECKED = ("B", "R", "W", "O", "Z", "N")
CANONICAL_STATS = ("base", "cache_read", "cache_write", "output", "reasoning", "rows")
CONVENTION_SEMANTICS = {
    "input_tokens": {
        "excludes_cache": "prompt tokens outside any cache",
        "includes_cache_reads": "prompt tokens incl. cache reads, excl. cache writes",
        "includes_cache_writes": "prompt tokens incl. cache writes, excl. cache reads",
        "includes_cache_reads_and_writes": "all prompt tokens incl. cache reads and cache writes",
    },
    "cached_tokens": {
        "reads": "cache reads",
        "reads_and_writes": "cache reads plus cache writes",
        "absent": "empty (null)",
    },
    "output_tokens": {
        "reasoning_once": "completion incl. reasoning/thoughts",
        "reasoning_twice": "completion incl. reasoning/thoughts, plus the reasoning again",
        "reasoning_omitted": "completion without reasoning/thoughts",
    },
    "request_count": {
        "logical_requests": "ledgered (final successful) requests",
        "attempts": "every app attempt of the tenant and model sent in the bucket",
    },
}


def money(dimension: str, quantity: int, rate: Decimal) -> Decimal:
    """USD of a quantity: token rates are per 1M tokens, request rates per request."""
    if dimension == "request":
        return quantity * rate
    return quantity * rate / TOKENS_PER_MILLION


def verified_rate(
    spec: ModelSpec, dimension: str, sheet: dict[tuple[str, str], Decimal]
) -> Decimal:
    """The captured catalog's rate for a dimension; where it has none, the sheet's; else 0.

    The catalog lists input, output and cache read for every model, cache write only where
    the model has one, and no per-request price.
    """
    catalog = {
        "input": spec.input_price,
        "input_cache_read": spec.cache_read_price,
        "output": spec.output_price,
    }
    if spec.cache_creation_ratio:
        catalog["input_cache_write"] = spec.cache_write_price
    if dimension in catalog:
        return catalog[dimension]
    return sheet.get((spec.label, dimension), Decimal(0))


def convention_causes(convention: LedgerConvention) -> list[str]:
    """The field-interpretation causes the convention claims (docs/attribution.md's table)."""
    causes: list[str] = []
    a, b = convention.input_includes_reads, convention.input_includes_writes
    c_r, c_w = convention.cached_holds_reads, convention.cached_holds_writes
    if a:
        causes.append("cached_tokens_priced_as_input")
    elif not c_r:
        causes.append("cache_reads_omitted")
    if b:
        causes.append("cache_writes_priced_as_input")
    elif c_w:
        causes.append("cache_writes_priced_as_cache_reads")
    else:
        causes.append("cache_writes_omitted")
    if convention.reasoning_factor == 1:
        causes.append("reasoning_tokens_double_counted")
    elif convention.reasoning_factor == -1:
        causes.append("reasoning_tokens_omitted")
    if convention.counts_attempts:
        causes.append("attempts_counted_as_requests")
    return causes


def bucket_causes(
    convention: LedgerConvention,
    spec: ModelSpec,
    sheet: dict[tuple[str, str], Decimal],
    row: dict[str, Any],
) -> dict[str, Decimal]:
    """One aligned bucket's convention causes at the label's verified rates."""
    rate = {d: verified_rate(spec, d, sheet) for d in ("input", "input_cache_read", "output")}
    rate_in, rate_cr, rate_out = rate["input"], rate["input_cache_read"], rate["output"]
    rate_cw = verified_rate(spec, "input_cache_write", sheet)
    rate_req = verified_rate(spec, "request", sheet)
    reads, writes, reasoning = int(row["R"]), int(row["W"]), int(row["Z"])
    c_r, c_w = int(convention.cached_holds_reads), int(convention.cached_holds_writes)
    amounts = {
        "cached_tokens_priced_as_input": reads * (rate_cr - rate_in - c_r * rate_cr),
        "cache_reads_omitted": reads * rate_cr,
        "cache_writes_priced_as_input": writes * (rate_cw - rate_in - c_w * rate_cr),
        "cache_writes_priced_as_cache_reads": writes * (rate_cw - rate_cr),
        "cache_writes_omitted": writes * rate_cw,
        "reasoning_tokens_double_counted": -reasoning * rate_out,
        "reasoning_tokens_omitted": reasoning * rate_out,
    }
    found = {
        cause: amounts[cause] / TOKENS_PER_MILLION
        for cause in convention_causes(convention)
        if cause in amounts
    }
    if convention.counts_attempts:
        found["attempts_counted_as_requests"] = (int(row["N"]) - int(row["A"])) * rate_req
    return found


def check_ledger_row(convention: LedgerConvention, row: dict[str, Any]) -> None:
    """The written columns are what the convention predicts from the canonical sums."""
    b, r, w, o, z = (int(row[c]) for c in ("B", "R", "W", "O", "Z"))
    predicted = {
        "input_tokens": b
        + r * convention.input_includes_reads
        + w * convention.input_includes_writes,
        "cached_tokens": None
        if convention.cached_tokens == "absent"
        else r * convention.cached_holds_reads + w * convention.cached_holds_writes,
        "output_tokens": o + convention.reasoning_factor * z,
        "request_count": int(row["A"]) if convention.counts_attempts else int(row["N"]),
    }
    actual = {column: row[column] for column in LEDGER_COLUMNS}
    if actual != predicted:
        raise RuntimeError(f"ledger row {actual} is not the convention's {predicted}")


def _convention_evidence(cause: str, ledgered: list[list[int]], surplus_attempts: int) -> int:
    """Ledgered attempts in the window that carry the quantity a cause reprices."""
    if cause in ("cached_tokens_priced_as_input", "cache_reads_omitted"):
        return _column(ledgered, "read_rows")
    if cause.startswith("cache_writes_"):
        return _column(ledgered, "write_rows")
    if cause.startswith("reasoning_tokens_"):
        return _column(ledgered, "reasoning_rows")
    return surplus_attempts  # attempts_counted_as_requests: app attempts beyond the ledgered


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
    convention = world.ledger_convention
    convention_confidence = "verified" if world.convention_declared else "inferred"
    with localcontext() as context:
        context.prec = 80

        # 1. forecast: every ledger column as read at the sheet's rate for its dimension
        # (0 where the sheet has none); 2. timezone shift to true UTC buckets; 3. stale
        # rates (dimensions the sheet prices) and rates missing from the sheet (the rest).
        forecast = aligned_sheet = stale = missing = aligned_verified = Decimal(0)
        as_read_rows: set[tuple[int, int, int]] = set()
        aligned_rows: set[tuple[int, int, int]] = set()
        stale_rows = missing_rows = 0
        convention_amounts = dict.fromkeys(convention_causes(convention), Decimal(0))
        aligned_canonical = [[0] * len(CANONICAL_CHECKED) for _ in MODELS]
        surplus_attempts = 0
        for r in ledger.iter_rows(named=True):
            spec = MODELS[int(r["model"])]
            key = (int(r["utc_hour"]), int(r["tenant"]), int(r["model"]))
            check_ledger_row(convention, r)
            quantities = {
                dimension: int(r[column] or 0)  # a null column counts 0
                for column, dimension in COLUMN_DIMENSION.items()
            }
            at_sheet = sum(
                (
                    money(dimension, q, sheet.get((spec.label, dimension), Decimal(0)))
                    for dimension, q in quantities.items()
                ),
                Decimal(0),
            )
            if naive_start <= str(r["bucket_start"]) < naive_end:
                forecast += at_sheet
                as_read_rows.add(key)
            if not incident.start_ms <= key[0] * 3_600_000 < incident.end_ms:
                continue
            aligned_rows.add(key)
            aligned_sheet += at_sheet
            unpriced = False
            for dimension, q in quantities.items():
                verified = verified_rate(spec, dimension, sheet)
                aligned_verified += money(dimension, q, verified)
                if (spec.label, dimension) in sheet:
                    stale += money(dimension, q, verified - sheet[(spec.label, dimension)])
                else:
                    missing += money(dimension, q, verified)
                    unpriced = unpriced or (q != 0 and verified != 0)
            missing_rows += unpriced
            if spec.label == world.stale_model:
                stale_rows += 1
            for cause, amount in bucket_causes(convention, spec, sheet, r).items():
                convention_amounts[cause] += amount
            surplus_attempts += int(r["A"]) - int(r["N"])
            totals = aligned_canonical[key[2]]
            for i, name in enumerate(CANONICAL_CHECKED):
                totals[i] += int(r[name])
        timezone_shift = aligned_sheet - forecast
        if forecast + timezone_shift + stale + missing != aligned_verified:
            raise RuntimeError("steps 1 to 3 do not reach the aligned ledger at verified rates")

        ledgered = acc.sums["ledgered_in_window"]
        for model, s in enumerate(ledgered):
            expected = [s[STATS.index(stat)] for stat in CANONICAL_STATS]
            if aligned_canonical[model] != expected:
                raise RuntimeError(f"ledger rows disagree with ledgered attempts for {model}")

        # 4. field interpretation: the ledgered attempts at verified rates against the
        # aligned ledger at verified rates, explained by the convention's causes.
        correct = _cost(ledgered)
        other_parser_mistake = (
            correct - aligned_verified - sum(convention_amounts.values(), Decimal(0))
        )
        if other_parser_mistake != 0:
            raise RuntimeError(f"the convention's causes leave {other_parser_mistake} unexplained")

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
            + missing
            + sum(convention_amounts.values(), Decimal(0))
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
                "pricing_source_mismatch",
                "rate_missing_from_sheet",
                missing,
                missing_rows,
                "ledger_rows",
                "verified",
            ),
            *(
                _row(
                    "field_interpretation_gap",
                    cause,
                    amount,
                    _convention_evidence(cause, ledgered, surplus_attempts),
                    "attempts",
                    convention_confidence,
                )
                for cause, amount in convention_amounts.items()
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
            "other_parser_mistake": decimal_text(other_parser_mistake),
            "rate_sheet_prices_cache_reads": world.sheet_prices_cache_reads,
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
            "convention": convention.as_dict(),
            "convention_declared": world.convention_declared,
            "convention_declared_in": (
                "usage_ledger/llm_usage_hourly.sidecar.json" if world.convention_declared else None
            ),
            "convention_confidence": convention_confidence,
            "rows": "one per true UTC hour x tenant x model holding a ledgered request",
            "semantics": {
                column: CONVENTION_SEMANTICS[column][value]
                for column, value in convention.as_dict().items()
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
