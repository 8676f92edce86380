"""closure.md: each closure criterion of the checklist, met or not and why; open assumptions."""

from __future__ import annotations

from cometrecon.reports.evidence import IncidentEvidence
from cometrecon.reports.markdown import md
from cometrecon.reports.narrative import closure_criteria, final_statement, open_unknowns
from cometrecon.reports.review import (
    contract_disagreements,
    remediation_rows,
    timeline_rows,
    usage_rows,
)


def closure_markdown(evidence: IncidentEvidence) -> str:
    criteria = closure_criteria(evidence)
    lines = [
        f"# Closure checklist: {md(evidence.incident_id)}",
        "",
        f"**Final statement.** {md(final_statement(evidence))}",
        "",
        "| criterion | met | why |",
        "|---|---|---|",
        *[f"| {md(c.criterion)} | {'yes' if c.met else 'no'} | {md(c.why)} |" for c in criteria],
        "",
        f"The incident can close when every criterion is met: {sum(c.met for c in criteria)} of {len(criteria)} are.",
        "",
        "## Unresolved assumptions",
        "",
        "| assumption | owner | next action |",
        "|---|---|---|",
        *[
            f"| {md(u['assumption'])} | {md(u['owner'])} | {md(u['next_action'])} |"
            for u in open_unknowns(evidence)
        ],
        "",
        "## Contract verification: disagreements",
        "",
        "| contract item | item | documented | observed | evidence | can explain |",
        "|---|---|---|---|---|---|",
        *[
            f"| {md(r['contract_item'])} | {md(r['item'])} | {md(r['documented_value'] or '(not documented)')} "
            f"| {md(r['observed_value'] or '(not observed)')} | {r['evidence_count']:,} "
            f"| {md(r['linked_cause'] or '')} |"
            for r in contract_disagreements(evidence)
        ],
        "",
        "## Usage validation",
        "",
        "| checklist item | count | confidence |",
        "|---|---|---|",
        *[
            f"| {md(r['checklist_item'])} | {r['check_count']:,}"
            + (f" of {r['out_of']:,}" if r["out_of"] is not None else "")
            + f" | {md(r['confidence'])} |"
            for r in usage_rows(evidence)
        ],
        "",
        "## Timeline (UTC)",
        "",
        *[
            f"- {r['event_at']:%Y-%m-%d %H:%M} {md(r['event_kind'])}: {md(r['event'])} ({md(r['detail'])})"
            + (f"; likely trigger: {md(r['likely_trigger'])}" if r["likely_trigger"] else "")
            for r in timeline_rows(evidence)
        ],
        "",
        "## Remediation plan (track separately from these notes)",
        "",
        "| item | called for by | evidence | owner |",
        "|---|---|---|---|",
        *[
            f"| {md(r['checklist_item'])} | {md(r['called_for_by'])} | {md(r['evidence'])} | {md(r['owner'])} |"
            for r in remediation_rows(evidence)
        ],
        "",
    ]
    return "\n".join(lines)
