"""The words of an incident's outputs: the final statement, closure criteria, unknowns."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cometrecon.reports.evidence import Attribution, IncidentEvidence

# Classes whose amounts rest on our own evidence; the provider-side and unknown ones
# stay open until the provider confirms them.
EXPLAINED_CLASSES = (
    "time_window_mismatch",
    "pricing_source_mismatch",
    "field_interpretation_gap",
    "usage_capture_gap",
)
CENT = Decimal("0.01")

FOLLOW_UPS = {
    "field_interpretation_gap": "parser regression test",
    "usage_capture_gap": "instrumentation fix",
    "pricing_source_mismatch": "rate-source update",
    "time_window_mismatch": "reporting-calendar alignment",
}


def usd(amount: Decimal) -> str:
    sign = "-" if amount < 0 else ""
    return f"{sign}${abs(amount).quantize(CENT):,}"


def material(evidence: IncidentEvidence) -> list[Attribution]:
    return [a for a in evidence.attribution if abs(a.amount_usd) >= CENT]


def explained(evidence: IncidentEvidence) -> list[Attribution]:
    return [a for a in material(evidence) if a.variance_class in EXPLAINED_CLASSES]


def unresolved(evidence: IncidentEvidence) -> list[Attribution]:
    return [a for a in material(evidence) if a.variance_class not in EXPLAINED_CLASSES]


def _phrase(cause: str) -> str:
    return cause.replace("_", " ")


def final_statement(evidence: IncidentEvidence) -> str:
    start, end = evidence.window_start, evidence.window_end
    day = start.strftime("%Y-%m-%d")
    same_day = start.date() == end.date() or (
        (end - start).total_seconds() <= 86400 and end.hour == 0
    )
    when = (
        f"Between {start:%H:%M} and {end:%H:%M} UTC on {day}"
        if same_day
        else f"Between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"
    )
    variance = evidence.variance_usd
    parts = [
        f"{when}, expected {evidence.provider} spend differed from account-side reporting by "
        f"{usd(variance)} (forecast {usd(evidence.paths['forecast'])}, billed {usd(evidence.paths['billed'])})."
    ]
    done = sorted(explained(evidence), key=lambda a: -abs(a.amount_usd))
    if done:
        total = sum((a.amount_usd for a in done), Decimal(0))
        named = ", ".join(f"{_phrase(a.cause)} ({usd(a.amount_usd)})" for a in done)
        parts.append(f"{usd(total)} was explained by {named}.")
    still_open = sorted(unresolved(evidence), key=lambda a: -abs(a.amount_usd))
    if still_open:
        total = sum((a.amount_usd for a in still_open), Decimal(0))
        pending = ", ".join(f"{_phrase(a.cause)} ({usd(a.amount_usd)})" for a in still_open)
        parts.append(f"{usd(total)} remains unresolved pending support confirmation on {pending}.")
    follow_ups = sorted(
        {FOLLOW_UPS[a.variance_class] for a in done if a.variance_class in FOLLOW_UPS}
    )
    if follow_ups:
        parts.append(f"Follow-ups: {', '.join(follow_ups)}.")
    return " ".join(parts)


@dataclass(frozen=True)
class Criterion:
    criterion: str
    met: bool
    why: str


def open_unknowns(evidence: IncidentEvidence) -> list[dict[str, str]]:
    owner = evidence.owner or "unassigned"
    unknowns = [
        {
            "assumption": f"{_phrase(a.cause)}: {usd(a.amount_usd)} ({a.confidence})",
            "owner": owner,
            "next_action": a.action,
        }
        for a in unresolved(evidence)
    ]
    if evidence.confidence.get("rounding_rule") == "unknown_until_confirmed":
        unknowns.append(
            {
                "assumption": "Per-request rounding to whole quota units (half away from zero, 1-quota "
                "minimum) is inferred from new-api's code; CometAPI does not document it",
                "owner": owner,
                "next_action": "Ask CometAPI support to confirm the rounding and minimum-charge rule",
            }
        )
    if "inferred" in evidence.confidence.get("ledger_time_alignment", ""):
        unknowns.append(
            {
                "assumption": "The ledger's timezone is not declared; its offset was inferred from the hourly profile",
                "owner": owner,
                "next_action": "Declare the ledger timezone (column or sidecar) and rerun",
            }
        )
    if evidence.rejected_files:
        unknowns.append(
            {
                "assumption": f"{len(evidence.rejected_files)} landing file(s) could not be read: "
                + ", ".join(evidence.rejected_files[:5]),
                "owner": owner,
                "next_action": "Re-export the rejected files and rerun",
            }
        )
    return unknowns


def closure_criteria(evidence: IncidentEvidence) -> list[Criterion]:
    unknowns = open_unknowns(evidence)
    sources = {s["type"] for s in evidence.source_documents}
    missing = [
        name
        for name, present in (
            ("pricing source", "pricing_page" in sources),
            ("API contract source", "api_docs" in sources),
            ("usage rollup", evidence.usage_rollup.get("request_count", 0) > 0),
            ("billing comparison", evidence.has_billing_export),
        )
        if not present
    ]
    residual = sum((a.amount_usd for a in unresolved(evidence)), Decimal(0))
    return [
        Criterion(
            "The variance is explained or formally marked unresolved.",
            True,
            f"{usd(evidence.variance_usd - residual)} is attributed to causes in our own evidence; "
            f"{usd(residual)} is formally marked unresolved with a next action for each part.",
        ),
        Criterion(
            "The evidence packet contains the pricing source, API contract source, usage rollup, and billing comparison.",
            not missing,
            "All four are present." if not missing else f"Missing: {', '.join(missing)}.",
        ),
        Criterion(
            "Any undocumented assumption has an owner and follow-up action.",
            all(u["owner"] != "unassigned" for u in unknowns),
            f"{len(unknowns)} open assumption(s), each with owner {evidence.owner or 'unassigned'} and a next action."
            if evidence.owner
            else "The incident definition names no owner.",
        ),
        Criterion(
            "The finance reviewer agrees with the final impact statement.",
            False,
            f"Needs sign-off from {evidence.finance_reviewer or 'a finance reviewer (none named)'}; "
            "a tool cannot record agreement.",
        ),
        Criterion(
            "Prevention work is tracked separately from the investigation notes.",
            False,
            "Open the follow-ups named in the final statement in your tracker and link them here.",
        ),
    ]
