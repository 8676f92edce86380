"""The incident review beyond the variance, as plain rows for every output: the contract
verification, the usage-validation checklist, the timeline and the remediation plan."""

from __future__ import annotations

from typing import Any

from cometrecon.reports.evidence import IncidentEvidence

CONTRACT_FIELDS = (
    "contract_item",
    "item_kind",
    "item",
    "documented_value",
    "observed_value",
    "evidence_count",
    "status",
    "why_it_matters",
    "linked_cause",
    "source_to_check",
)
USAGE_FIELDS = ("check_name", "checklist_item", "check_count", "out_of", "evidence", "confidence")
TIMELINE_FIELDS = (
    "event_at",
    "event_kind",
    "event",
    "detail",
    "cause",
    "likely_trigger",
    "confidence",
    "amount_usd",
)
REMEDIATION_FIELDS = ("remediation_item", "checklist_item", "called_for_by", "evidence", "owner")


def _pick(rows: list[dict[str, Any]], fields: tuple[str, ...]) -> list[dict[str, Any]]:
    return [{f: row.get(f) for f in fields} for row in rows]


def contract_rows(evidence: IncidentEvidence) -> list[dict[str, Any]]:
    return _pick(evidence.contract, CONTRACT_FIELDS)


def contract_disagreements(evidence: IncidentEvidence) -> list[dict[str, Any]]:
    return [row for row in contract_rows(evidence) if row["status"] == "disagrees"]


def usage_rows(evidence: IncidentEvidence) -> list[dict[str, Any]]:
    return _pick(evidence.usage_checks, USAGE_FIELDS)


def timeline_rows(evidence: IncidentEvidence) -> list[dict[str, Any]]:
    return _pick(evidence.timeline, TIMELINE_FIELDS)


def remediation_rows(evidence: IncidentEvidence) -> list[dict[str, Any]]:
    return _pick(evidence.remediation, REMEDIATION_FIELDS)
