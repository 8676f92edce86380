"""support_packet.md: exactly the fields the checklist lists for escalation, from evidence."""

from __future__ import annotations

from decimal import Decimal

from cometrecon.reports.evidence import IncidentEvidence
from cometrecon.reports.markdown import md
from cometrecon.reports.narrative import unresolved, usd

MAX_IDS = 20


def exact_question(evidence: IncidentEvidence) -> str:
    parts = unresolved(evidence)
    amounts = {a.cause: a.amount_usd for a in parts}
    asks = []
    if "account_discount" in amounts:
        asks.append(
            f"which account-specific multiplier (group ratio) applied to account {', '.join(md(a) for a in evidence.account_ids) or '(see below)'} "
            f"in this window, and whether it is contractual ({usd(amounts['account_discount'])} against list prices)"
        )
    if "rounding" in amounts or "minimum_charge" in amounts:
        asks.append(
            "whether each request is rounded to whole quota units (half away from zero) with a one-unit minimum"
        )
    if "unexplained_residual" in amounts:
        asks.append(
            f"what the billing lines not matched by per-request logs are for ({usd(amounts['unexplained_residual'])} "
            "between the per-request log total and the billed total)"
        )
    credits = [a for a in evidence.attribution if a.cause == "credit_or_refund" and a.amount_usd]
    if credits and credits[0].confidence != "verified":
        asks.append(
            f"what the credit lines in the window are for ({usd(credits[0].amount_usd)}), since the "
            "gateway's refund records do not add up to them"
        )
    if "unpriced_usage" in amounts:
        asks.append("which rates applied to requests whose log entries carry no ratios")
    substitutions = [
        f"{md(s['requested_label'])} as {md(s['billed_label'])}"
        for s in evidence.label_substitutions
    ]
    if substitutions:
        asks.append(
            "why requests for "
            + ", ".join(substitutions)
            + " were billed under another label, at that label's price"
        )
    if not asks:
        return "No provider-side question remains: the variance is explained by our own evidence."
    return "Could you confirm " + "; and ".join(asks) + "?"


def support_packet(evidence: IncidentEvidence) -> str:
    billing = evidence.billing_lines
    charge_ids = [b["invoice_id"] or b["charge_line_key"] for b in billing]
    unusual = [b for b in billing if b["charge_category"] != "Usage" or b["charge_class"]]
    rollup = evidence.usage_rollup
    in_question = sum((a.amount_usd for a in unresolved(evidence)), Decimal(0))
    lines = [
        f"# Support packet: {md(evidence.incident_id)}",
        "",
        f"Amount in question: {usd(in_question)}. Prepared from the reconciliation evidence; nothing here "
        "contains API keys, prompts, raw logs or customer data.",
        "",
        "## Account identifier",
        ", ".join(md(a) for a in evidence.account_ids)
        or "not in the billing export (add it if safe to share)",
        "",
        "## Incident window (UTC)",
        f"{evidence.window_start:%Y-%m-%dT%H:%M:%SZ} to {evidence.window_end:%Y-%m-%dT%H:%M:%SZ} "
        f"(start inclusive, end exclusive); finance reports in {md(evidence.finance_timezone or 'UTC')}.",
        "",
        "## Affected endpoint paths",
        *[f"- {md(path)}" for path in evidence.endpoints],
        "",
        "## Affected service or model labels",
        *[f"- {md(label['service_label'])}" for label in evidence.service_labels],
        *[
            f"- requested {md(s['requested_label'])}, billed as {md(s['billed_label'])}: "
            f"{s['attempts']:,} attempts ({s['ledgered_attempts']:,} in the usage ledger), "
            f"{usd(s['cost_usd'] or Decimal(0))} at the billed label's rates"
            for s in evidence.label_substitutions
        ],
        "",
        "## Request IDs or charge-line IDs",
        f"Charge lines in the window: {len(billing)} (invoice {', '.join(md(i) for i in sorted(set(charge_ids))[:MAX_IDS])}).",
        *[
            f"- {md(b['charge_category'])}{' / ' + md(b['charge_class']) if b['charge_class'] else ''} line "
            f"{md(b['charge_line_key'][:12])} for {md(b['sku_id'] or 'no SKU')} at "
            f"{b['charge_period_start']:%Y-%m-%dT%H:%MZ}: {usd(b['billed_cost'])} {md(b['billing_currency'])}"
            for b in unusual
        ],
        "",
        "## Sanitized usage rollup",
        f"- Requests: {rollup['request_count']:,} ({rollup['successful_request_count']:,} successful, "
        f"{rollup['failed_request_count']:,} failed, {rollup['retried_request_count']:,} retried); "
        f"{rollup['attempt_count']:,} attempts; {rollup['gateway_only_request_count']:,} billed requests with no application record",
        *[
            f"- Billed {dimension} units: {units:,}"
            for dimension, units in rollup["billed_units_by_dimension"].items()
        ],
        "",
        "## Pricing source URL and capture time",
        *[
            f"- {md(s['url'])} captured {s['captured_at']:%Y-%m-%dT%H:%M:%SZ}"
            for s in evidence.source_documents
            if s["type"] == "pricing_page" and s["captured_at"] is not None
        ],
        "",
        "## Expected charge calculation summary",
        f"- Forecast (usage ledger × internal rate sheet): {usd(evidence.paths['forecast'])}",
        f"- Expected (our request logs × captured list prices): {usd(evidence.paths['recomputed'])}",
        f"- Gateway per-request log total (quota ÷ 500,000): {usd(evidence.paths['gateway'])}",
        "- Formula: Σ billable quantity × rate ÷ published unit size, per billable dimension "
        "(input, cache read, cache write, output), each rate the one in force when the request was sent.",
        "",
        "## Provider-side charge being questioned",
        f"Billed for the window: {usd(evidence.paths['billed'])}. Of the difference to the forecast, these parts are not "
        "explained by our own evidence:",
        *[
            f"- {a.cause.replace('_', ' ')}: {usd(a.amount_usd)} ({a.evidence_count:,} records, {a.confidence})"
            for a in unresolved(evidence)
        ],
        "",
        "## Exact question",
        exact_question(evidence),
        "",
    ]
    return "\n".join(lines)
