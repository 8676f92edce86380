"""The words of an incident's outputs: the final statement, closure criteria, unknowns."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from cometrecon.reports.evidence import Attribution, IncidentEvidence

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
    """Material causes proven by our own evidence, every figure under them verified."""
    return [a for a in evidence.attribution if a.claim_status == "explained"]


def likely(evidence: IncidentEvidence) -> list[Attribution]:
    """Our own evidence, but resting on an inferred or estimated figure: an impact estimate."""
    return [a for a in evidence.attribution if a.claim_status == "likely"]


def unresolved(evidence: IncidentEvidence) -> list[Attribution]:
    """Material causes only the provider or more evidence can settle."""
    return [a for a in evidence.attribution if a.claim_status == "unresolved"]


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
    estimates = sorted(likely(evidence), key=lambda a: -abs(a.amount_usd))
    if estimates:
        total = sum((a.amount_usd for a in estimates), Decimal(0))
        named = ", ".join(f"{_phrase(a.cause)} ({usd(a.amount_usd)})" for a in estimates)
        parts.append(
            f"{usd(total)} is likely due to {named}: an estimate, not a claim, "
            "until the figures under it are verified."
        )
    still_open = sorted(unresolved(evidence), key=lambda a: -abs(a.amount_usd))
    if still_open:
        total = sum((a.amount_usd for a in still_open), Decimal(0))
        pending = ", ".join(f"{_phrase(a.cause)} ({usd(a.amount_usd)})" for a in still_open)
        parts.append(f"{usd(total)} remains unresolved pending support confirmation on {pending}.")
    follow_ups = sorted(
        {FOLLOW_UPS[a.variance_class] for a in done + estimates if a.variance_class in FOLLOW_UPS}
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
    unknowns.extend(
        {
            "assumption": f"{_phrase(a.cause)}: {usd(a.amount_usd)} ({a.confidence}; part of it "
            "rests on an estimated quantity or an inferred rate)",
            "owner": owner,
            "next_action": "Capture the provider's usage for these attempts and rerun to verify",
        }
        for a in likely(evidence)
    )
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
    if evidence.edge_crossing_lines:
        lines = evidence.edge_crossing_lines
        amount = sum((Decimal(line["billed_cost"] or 0) for line in lines), Decimal(0))
        unknowns.append(
            {
                "assumption": f"{len(lines)} billing line(s) ({usd(amount)}) have a charge period "
                "crossing the window edge and were left out of billed: "
                + ", ".join(
                    f"{line['sku_id'] or 'no SKU'} {line['charge_period_start']:%Y-%m-%d %H:%M}"
                    f"–{line['charge_period_end']:%Y-%m-%d %H:%M} UTC"
                    for line in lines[:5]
                ),
                "owner": owner,
                "next_action": "Request hourly (or finer) billing lines for the window, or "
                "align the incident window to the billing periods, and rerun",
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
    estimated = sum((a.amount_usd for a in likely(evidence)), Decimal(0))
    return [
        Criterion(
            "The variance is explained or formally marked unresolved.",
            True,
            f"{usd(evidence.variance_usd - residual - estimated)} is attributed to causes in our "
            f"own verified evidence; {usd(estimated)} is likely but rests on estimated or "
            f"inferred figures; {usd(residual)} is formally marked unresolved with a next "
            "action for each part.",
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
