"""The words of an incident's outputs: the final statement, closure criteria, unknowns."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
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


def _window_phrase(start: datetime, end: datetime) -> str:
    """The window as a finance reader says it: a whole UTC day (or run of days) as dates."""
    midnight = time(0, 0)
    if start.time() == midnight and end.time() == midnight and end > start:
        last_day = end - timedelta(days=1)
        if last_day.date() == start.date():
            return f"On {start:%Y-%m-%d} (UTC)"
        return f"From {start:%Y-%m-%d} to {last_day:%Y-%m-%d} (UTC)"
    if start.date() == end.date():
        return f"Between {start:%H:%M} and {end:%H:%M} UTC on {start:%Y-%m-%d}"
    return f"Between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M} UTC"


def signed_usd(amount: Decimal) -> str:
    return ("+" if amount > 0 else "") + usd(amount)


# what a cause's figure rests on, as the statement says it, per part of the statement
_ITEM_NOTE = {
    ("own", "likely"): " (estimate)",
    ("provider", "unresolved"): " (awaiting confirmation)",
    ("provider", "explained"): " (documented by both sources)",
    ("provider", "likely"): " (estimate)",
}


def statement_group(attribution: Attribution) -> str:
    """Which of the statement's three parts a cause belongs to: our own side (what our logs,
    rates and calendars show), the provider's side, or unexplained."""
    if attribution.variance_class == "unknown" or attribution.cause == "other_parser_mistake":
        return "unexplained"
    if attribution.variance_class == "account_specific_billing_issue":
        return "provider"
    return "own"


def final_statement(evidence: IncidentEvidence) -> str:
    """One sentence a finance reviewer reads without a calculator: the variance, then what
    our own side, the provider's side and the unexplained rest add to it. The three parts
    sum to the variance to the cent (the unexplained part takes the rounding)."""
    variance = evidence.variance_usd
    forecast, billed = evidence.paths["forecast"], evidence.paths["billed"]
    when = _window_phrase(evidence.window_start, evidence.window_end)
    if variance.quantize(CENT) == 0:
        head = (
            f"{when}, the {evidence.provider} bill matched the forecast "
            f"({usd(billed)} billed, {usd(forecast)} forecast)"
        )
    else:
        direction = "above" if variance > 0 else "below"
        head = (
            f"{when}, the {evidence.provider} bill was {usd(abs(variance))} {direction} the "
            f"forecast (forecast {usd(forecast)}, billed {usd(billed)})"
        )
    groups: dict[str, list[Attribution]] = {"own": [], "provider": [], "unexplained": []}
    for item in evidence.attribution:
        groups[statement_group(item)].append(item)
    own = sum((a.amount_usd for a in groups["own"]), Decimal(0)).quantize(CENT)
    provider = sum((a.amount_usd for a in groups["provider"]), Decimal(0)).quantize(CENT)
    unexplained = variance.quantize(CENT) - own - provider

    def named(group: str) -> str:
        shown = sorted(
            (a for a in groups[group] if abs(a.amount_usd) >= CENT),
            key=lambda a: -abs(a.amount_usd),
        )
        return "; ".join(
            f"{_phrase(a.cause)} {signed_usd(a.amount_usd)}"
            f"{_ITEM_NOTE.get((group, a.claim_status), '')}"
            for a in shown
        )

    parts = []
    for total, label, group in (
        (own, "Our own side", "own"),
        (provider, "The provider's side", "provider"),
        (unexplained, "Unexplained", "unexplained"),
    ):
        detail = named(group)
        if total == 0 and not detail:
            continue
        parts.append(f"{label} {signed_usd(total)}" + (f": {detail}." if detail else "."))
    sentence = " ".join([head + ".", *parts])
    estimates = [a for a in evidence.attribution if a.claim_status == "likely"]
    follow_ups = sorted(
        {
            FOLLOW_UPS[a.variance_class]
            for a in explained(evidence) + estimates
            if a.variance_class in FOLLOW_UPS
        }
    )
    if follow_ups:
        sentence += f" Follow-ups: {', '.join(follow_ups)}."
    return sentence


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
