"""reconciliation_record.json: the checklist's sanitized record, extended."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from importlib import resources
from typing import Any

import jsonschema

from cometrecon.reports.evidence import IncidentEvidence
from cometrecon.reports.narrative import closure_criteria, final_statement, open_unknowns
from cometrecon.reports.review import (
    contract_rows,
    remediation_rows,
    timeline_rows,
    usage_rows,
)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return (
        value.strftime("%Y-%m-%dT%H:%M:%SZ") if value.utcoffset() is not None else value.isoformat()
    )


def _money(value: Decimal | None) -> str | None:
    """Money leaves as a decimal string, never a JSON float."""
    if value is None:
        return None
    return (
        format(value.normalize(), "f")
        if value == value.to_integral()
        else format(value, "f").rstrip("0")
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return _money(value)
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def build_record(
    evidence: IncidentEvidence, run_id: str, validation: dict[str, Any]
) -> dict[str, Any]:
    criteria = closure_criteria(evidence)
    billed = evidence.paths["billed"]
    recomputed = evidence.paths["recomputed"]
    forecast = evidence.paths["forecast"]
    variance = billed - forecast
    labels = evidence.service_labels
    record = {
        "reconciliation_run_id": run_id,
        "provider": evidence.provider,
        "incident_id": evidence.incident_id,
        "incident_window_utc": {
            "start": _iso(evidence.window_start),
            "end": _iso(evidence.window_end),
        },
        "buffer_minutes": evidence.buffer_minutes,
        "finance_timezone": evidence.finance_timezone,
        "owner": evidence.owner,
        "finance_reviewer": evidence.finance_reviewer,
        "source_documents": evidence.source_documents,
        "service_or_model_labels": [label["service_label"] for label in labels],
        "pricing_assumption": {
            "rate_source": "official_pricing_page_snapshot",
            "price_unit": "USD per 1M tokens (per call for per-request models)",
            "currency": "USD",
            "rates": [
                {
                    "service_label": label["service_label"],
                    "rate_confidence": label["rate_confidence"],
                    "source_url": label["rate_source_url"],
                    "captured_at": label["rate_captured_at"],
                    "rates": label["rates"],
                }
                for label in labels
            ],
        },
        "usage_rollup": evidence.usage_rollup,
        "computed_charge": {
            "forecast_amount": forecast,
            "expected_amount": recomputed,
            "gateway_amount": evidence.paths["gateway"],
            "provider_reported_amount": billed,
            "variance_amount": variance,
            "variance_percent": (variance * 100 / forecast).quantize(Decimal("0.0001"))
            if forecast
            else None,
            "tolerance_abs_usd": evidence.tolerance_abs_usd,
            "tolerance_percent": evidence.tolerance_percent,
        },
        "confidence": evidence.confidence,
        "final_statement": final_statement(evidence),
        "next_action": (
            "Escalate to CometAPI support with the support packet: provider-side amounts remain after usage and contract checks"
            if any(
                a.variance_class in ("account_specific_billing_issue", "unknown")
                and abs(a.amount_usd) >= Decimal("0.01")
                for a in evidence.attribution
            )
            else "Close after finance review: the variance is explained by our own evidence"
        ),
        "attribution": [
            {
                "variance_class": a.variance_class,
                "cause": a.cause,
                "amount_usd": a.amount_usd,
                "evidence_count": a.evidence_count,
                "confidence": a.confidence,
                "action": a.action,
                "waterfall_step": a.waterfall_step,
            }
            for a in evidence.attribution
        ],
        "ledger_conventions": [
            {
                "ledger_source": c["ledger_source"],
                "service_label": c["service_label"],
                "ledger_column": c["ledger_column"],
                "convention": c["convention"],
                "confidence": c["confidence"],
                "buckets_compared": c["buckets_compared"],
                "buckets_exact": c["buckets_exact"],
                "is_tie": c["is_tie"],
            }
            for c in evidence.ledger_conventions
        ],
        "label_substitutions": [
            {
                "requested_label": s["requested_label"],
                "billed_label": s["billed_label"],
                "attempts": s["attempts"],
                "ledgered_attempts": s["ledgered_attempts"],
                "cost_usd": s["cost_usd"],
            }
            for s in evidence.label_substitutions
        ],
        "computation_paths": [
            {"path": name, "amount_usd": amount} for name, amount in evidence.paths.items()
        ],
        "path_comparisons": [
            {
                "path_a": p.path_a,
                "path_b": p.path_b,
                "residual_usd": p.residual_usd,
                "residual_percent": p.residual_percent,
                "within_tolerance": p.is_within_tolerance,
            }
            for p in evidence.path_pairs
        ],
        "closure": [{"criterion": c.criterion, "met": c.met, "why": c.why} for c in criteria],
        "open_unknowns": open_unknowns(evidence),
        "contract_verification": contract_rows(evidence),
        "usage_validation": usage_rows(evidence),
        "timeline": timeline_rows(evidence),
        "remediation_plan": remediation_rows(evidence),
        # what closure says: reconciled only when every closure criterion is met
        "status": "reconciled" if all(c.met for c in criteria) else "open",
        "unmet_criteria": [c.criterion for c in criteria if not c.met],
        "validation": validation,
    }
    return _plain(record)  # type: ignore[no-any-return]


def blocked_record(incident_id: str, run_id: str, validation: dict[str, Any]) -> dict[str, Any]:
    """The record of an incident the validation gate stopped: what failed, nothing else."""
    failed = validation["failed_expectations"]
    return {
        "reconciliation_run_id": run_id,
        "incident_id": incident_id,
        "status": "blocked_by_validation",
        "validation": validation,
        "final_statement": (
            f"No reconciliation statement for {incident_id}: {len(failed)} validation "
            "expectation(s) failed on data this incident depends on ("
            + "; ".join(f"{f['suite']}: {f['description']}" for f in failed)
            + "). Fix the data or the models and rerun."
        ),
    }


def record_schema() -> dict[str, Any]:
    text = (
        resources.files("cometrecon.reports")
        .joinpath("schema/reconciliation_record.schema.json")
        .read_text()
    )
    return json.loads(text)  # type: ignore[no-any-return]


def validate_record(record: dict[str, Any]) -> None:
    jsonschema.validate(record, record_schema())
