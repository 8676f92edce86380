"""Everything an incident's outputs say, read from the marts in one read-only session."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb


@dataclass(frozen=True)
class Attribution:
    variance_class: str
    cause: str
    amount_usd: Decimal
    evidence_count: int
    confidence: str
    action: str
    waterfall_step: int
    claim_status: str


@dataclass(frozen=True)
class PathPair:
    path_a: str
    path_b: str
    amount_a_usd: Decimal
    amount_b_usd: Decimal
    residual_usd: Decimal
    residual_percent: Decimal | None
    is_within_tolerance: bool


@dataclass(frozen=True)
class HourlyAmounts:
    hour_start: datetime
    forecast_usd: Decimal
    recomputed_usd: Decimal
    gateway_usd: Decimal
    billed_usd: Decimal | None


@dataclass
class IncidentEvidence:
    incident_id: str
    window_start: datetime
    window_end: datetime
    buffered_start: datetime
    buffered_end: datetime
    buffer_minutes: int
    finance_timezone: str | None
    owner: str | None
    finance_reviewer: str | None
    tolerance_percent: Decimal
    tolerance_abs_usd: Decimal
    provider: str
    paths: dict[str, Decimal]
    attribution: list[Attribution]
    path_pairs: list[PathPair]
    usage_rollup: dict[str, Any]
    service_labels: list[dict[str, Any]]
    source_documents: list[dict[str, Any]]
    endpoints: list[str]
    billing_lines: list[dict[str, Any]]
    account_ids: list[str]
    hourly: list[HourlyAmounts]
    confidence: dict[str, str]
    has_billing_export: bool
    quarantined_rows: int
    rejected_files: list[str] = field(default_factory=list)
    # FOCUS lines whose charge period crosses a window edge: flagged, never counted
    edge_crossing_lines: list[dict[str, Any]] = field(default_factory=list)
    # the incident review beyond the variance: contract, usage checklist, timeline, plan
    contract: list[dict[str, Any]] = field(default_factory=list)
    usage_checks: list[dict[str, Any]] = field(default_factory=list)
    timeline: list[dict[str, Any]] = field(default_factory=list)
    remediation: list[dict[str, Any]] = field(default_factory=list)
    # requested labels the gateway billed as another label, and what the ledger's columns hold
    label_substitutions: list[dict[str, Any]] = field(default_factory=list)
    ledger_conventions: list[dict[str, Any]] = field(default_factory=list)

    @property
    def variance_usd(self) -> Decimal:
        return self.paths["billed"] - self.paths["forecast"]


def _rows(
    con: duckdb.DuckDBPyConnection, sql: str, params: list[Any] | dict[str, Any]
) -> list[dict[str, Any]]:
    cursor = con.execute(sql, params)
    names = [d[0] for d in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def incident_ids(db_path: Path) -> list[str]:
    with duckdb.connect(str(db_path), read_only=True) as con:
        return [
            r[0]
            for r in con.execute(
                "select incident_id from marts.dim_incident_windows order by 1"
            ).fetchall()
        ]


def load_evidence(db_path: Path, incident_id: str) -> IncidentEvidence:
    with duckdb.connect(str(db_path), read_only=True) as con:
        con.execute("set TimeZone = 'UTC'")
        incidents = _rows(
            con, "select * from marts.dim_incident_windows where incident_id = ?", [incident_id]
        )
        if not incidents:
            raise KeyError(f"no incident {incident_id!r} in {db_path}")
        incident = incidents[0]
        window = [incident["window_start"], incident["window_end"]]
        pairs = [
            PathPair(**row)
            for row in _rows(
                con,
                "select path_a, path_b, amount_a_usd, amount_b_usd, residual_usd, residual_percent, "
                "is_within_tolerance from marts.fct_computation_paths where incident_id = ? "
                "order by path_a, path_b",
                [incident_id],
            )
        ]
        paths: dict[str, Decimal] = {}
        for pair in pairs:
            paths[pair.path_a] = pair.amount_a_usd
            paths[pair.path_b] = pair.amount_b_usd
        attribution = [
            Attribution(**row)
            for row in _rows(
                con,
                "select variance_class, cause, amount_usd, evidence_count, confidence, action, "
                "waterfall_step, claim_status from marts.fct_variance_attribution where incident_id = ? "
                "order by waterfall_step, abs(amount_usd) desc",
                [incident_id],
            )
        ]
        rollup = _rows(
            con,
            """
            with requests as (
                select
                    logical_request_id,
                    count(*) as attempts,
                    bool_or(is_final_success) as succeeded
                from intermediate.int_app_attempts_deduplicated
                -- the requests first sent in the window (every row of a request carries
                -- its first send): the scan reads the window's days, not the history
                where request_first_sent_at >= ? and request_first_sent_at < ?
                group by logical_request_id
            )
            select
                count(*) as request_count,
                count(*) filter (where succeeded) as successful_request_count,
                count(*) filter (where not succeeded) as failed_request_count,
                count(*) filter (where attempts > 1) as retried_request_count,
                coalesce(sum(attempts), 0) as attempt_count
            from requests
            """,
            window,
        )[0]
        units = _rows(
            con,
            "select dimension, sum(quantity) as units, count(distinct attempt_key) as attempts "
            "from marts.fct_attempt_charges where billed_at >= ? and billed_at < ? group by 1 order by 1",
            window,
        )
        rollup["billed_units_by_dimension"] = {u["dimension"]: int(u["units"]) for u in units}
        rollup["gateway_only_request_count"] = con.execute(
            "select count(*) from intermediate.int_attempts_joined where not has_app_record "
            "and billed_at >= ? and billed_at < ?",
            window,
        ).fetchall()[0][0]
        labels = _rows(
            con,
            """
            select priced_label as service_label,
                   count(distinct attempt_key) as billed_attempts,
                   sum(amount_usd) as recomputed_usd,
                   any_value(rate_source_url) as rate_source_url,
                   min(rate_captured_at) as rate_captured_at,
                   case when bool_and(rate_confidence = 'verified') then 'verified'
                        when bool_or(rate_confidence = 'unknown') then 'unknown' else 'inferred' end
                       as rate_confidence
            from marts.fct_attempt_charges
            where billed_at >= ? and billed_at < ?
            group by 1 order by 1
            """,
            window,
        )
        rates = _rows(
            con,
            "select service_label, dimension, published_rate, unit_size, currency, valid_from, "
            "rate_confidence from marts.dim_pricing_rates where rate_source_kind = 'catalog_snapshot' "
            "and valid_from <= ? and (valid_to is null or valid_to > ?) order by 1, 2",
            [incident["window_start"], incident["window_start"]],
        )
        for label in labels:
            label["rates"] = [
                {
                    k: r[k]
                    for k in (
                        "dimension",
                        "published_rate",
                        "unit_size",
                        "currency",
                        "rate_confidence",
                    )
                }
                for r in rates
                if r["service_label"] == label["service_label"]
            ]
        sources = _rows(
            con,
            """
            select 'api_docs' as type, source_url as url, captured_at,
                   'Verify endpoint, auth, request, and response contract' as purpose
            from staging.stg_contracts__api_contracts
            union all
            select distinct 'pricing_page', source_url, captured_at,
                   'Verify pricing unit and applicable service label'
            from staging.stg_pricing__catalog_prices where source_url is not null
            union all
            select distinct 'internal_rate_sheet', rate_source, null, 'The rates the forecast used'
            from staging.stg_pricing__rate_sheet
            order by 1, 3
            """,
            [],
        )
        files = _rows(
            con,
            "select stream, source_path, file_sha256, rows_landed, rows_quarantined from staging.stg_ingest__files "
            "where is_current_version order by stream, source_path",
            [],
        )
        for f in files:
            sources.append(
                {
                    "type": f"landed_{f['stream']}",
                    "url": f["source_path"],
                    "captured_at": None,
                    "purpose": f"sha256 {f['file_sha256'][:16]}…, {f['rows_landed']} rows landed, "
                    f"{f['rows_quarantined']} quarantined",
                }
            )
        endpoints = [
            r[0]
            for r in con.execute(
                "select distinct coalesce(request_path, endpoint) from intermediate.int_attempts_joined "
                "where billed_at >= ? and billed_at < ? and coalesce(request_path, endpoint) is not null order by 1",
                window,
            ).fetchall()
        ]
        billing = _rows(
            con,
            "select focus.charge_line_key, focus.invoice_id, focus.billing_account_id, focus.sku_id, "
            "focus.charge_category, focus.charge_class, focus.charge_period_start, "
            "focus.charge_period_end, focus.billed_cost, focus.billing_currency, "
            "placed.window_position "
            "from intermediate.int_incident_charge_lines_windowed as placed "
            "inner join staging.stg_billing__focus_charges as focus using (charge_line_key) "
            "where placed.incident_id = ? and (placed.is_counted_in_billed or placed.crosses_window_edge) "
            "order by focus.charge_period_start, focus.sku_id",
            [incident_id],
        )
        edge_crossing = [b for b in billing if b["window_position"] != "inside"]
        billing = [b for b in billing if b["window_position"] == "inside"]
        accounts = sorted({b["billing_account_id"] for b in billing if b["billing_account_id"]})
        hourly = [
            HourlyAmounts(**row)
            for row in _rows(
                con,
                """
                with hours as (
                    select unnest(generate_series(date_trunc('hour', $start::timestamptz),
                                                  $end::timestamptz - interval 1 second,
                                                  interval 1 hour)) as hour_start
                ),
                -- the hours' span as bounds on the scans (they read those days, not the
                -- history); hours past the last are dropped by the join below
                recomputed as (
                    select date_trunc('hour', billed_at) as hour_start, sum(amount_usd) as usd
                    from marts.fct_attempt_charges
                    where billed_at >= date_trunc('hour', $start::timestamptz)
                        and billed_at < $end::timestamptz + interval 1 hour
                    group by 1
                ),
                gateway as (
                    select date_trunc('hour', billed_at) as hour_start, sum(quota_usd) as usd
                    from intermediate.int_gateway_requests_deduplicated
                    where billed_at >= date_trunc('hour', $start::timestamptz)
                        and billed_at < $end::timestamptz + interval 1 hour
                    group by 1
                ),
                billed as (
                    select date_trunc('hour', charge_period_start) as hour_start, sum(billed_cost) as usd
                    from staging.stg_billing__focus_charges where billing_currency = 'USD' group by 1
                ),
                forecast as (
                    select date_trunc('hour', bucket_start_as_read) as hour_start,
                           sum(sheet_amount) as usd
                    from intermediate.int_ledger_quantities_priced group by 1
                )
                select hours.hour_start,
                       coalesce(forecast.usd, 0) as forecast_usd,
                       coalesce(recomputed.usd, 0) as recomputed_usd,
                       coalesce(gateway.usd, 0) as gateway_usd,
                       billed.usd as billed_usd
                from hours
                left join forecast using (hour_start)
                left join recomputed using (hour_start)
                left join gateway using (hour_start)
                left join billed using (hour_start)
                order by hours.hour_start
                """,
                {"start": incident["buffered_start"], "end": incident["buffered_end"]},
            )
        ]
        alignment = con.execute(
            "select string_agg(distinct time_alignment_confidence, ', ') from intermediate.int_ledger_buckets_aligned"
        ).fetchall()[0][0]
        quantity_labels = con.execute(
            "select string_agg(distinct quantity_confidence, ', ' order by quantity_confidence) "
            "from marts.fct_attempt_charges where billed_at >= ? and billed_at < ?",
            window,
        ).fetchall()[0][0]
        rate_labels = {label["rate_confidence"] for label in labels}
        has_export = bool(billing)
        review = {
            name: _rows(
                con,
                f"select * from marts.{table} where incident_id = ? order by {order}",
                [incident_id],
            )
            for name, table, order in (
                ("contract", "fct_contract_verification", "item_order, item"),
                ("usage_checks", "fct_usage_validation", "check_order"),
                ("timeline", "fct_incident_timeline", "event_order"),
                ("remediation", "fct_remediation_plan", "item_order"),
                (
                    "label_substitutions",
                    "fct_label_substitutions",
                    "requested_label, billed_label",
                ),
            )
        }
        review["ledger_conventions"] = _rows(
            con,
            "select ledger_source, service_label, ledger_column, convention, confidence, "
            "buckets_compared, buckets_exact, is_tie, tied_conventions "
            "from marts.fct_ledger_conventions "
            "order by ledger_source, service_label, ledger_column",
            [],
        )
        quarantined = con.execute(
            "select count(*) from staging.stg_ingest__quarantined_rows where is_current_version"
        ).fetchall()[0][0]
        rejected = [
            r[0]
            for r in con.execute(
                "select distinct source_path from staging.stg_ingest__files where file_status = 'rejected' "
                "and source_path not in (select source_path from staging.stg_ingest__files "
                "where file_status in ('landed', 'unchanged'))"
            ).fetchall()
        ]
    return IncidentEvidence(
        incident_id=incident_id,
        window_start=incident["window_start"],
        window_end=incident["window_end"],
        buffered_start=incident["buffered_start"],
        buffered_end=incident["buffered_end"],
        buffer_minutes=int(incident["buffer_minutes"]),
        finance_timezone=incident["finance_timezone"],
        owner=incident["incident_owner"],
        finance_reviewer=incident["finance_reviewer"],
        tolerance_percent=incident["tolerance_percent"] or Decimal(0),
        tolerance_abs_usd=incident["tolerance_abs_usd"] or Decimal(0),
        provider=incident["provider_name"] or "CometAPI",
        paths=paths,
        attribution=attribution,
        path_pairs=pairs,
        usage_rollup=rollup,
        service_labels=labels,
        source_documents=sources,
        endpoints=endpoints,
        billing_lines=billing,
        account_ids=accounts,
        hourly=hourly,
        confidence={
            "usage_fields": quantity_labels or "unavailable",
            "pricing_fields": "verified_from_captured_pricing_page"
            if rate_labels == {"verified"}
            else ", ".join(sorted(rate_labels)) or "unknown",
            "ledger_time_alignment": alignment or "unknown",
            "rounding_rule": "unknown_until_confirmed",
        },
        has_billing_export=bool(has_export),
        quarantined_rows=int(quarantined),
        rejected_files=rejected,
        edge_crossing_lines=edge_crossing,
        **review,
    )
