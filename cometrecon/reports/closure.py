"""closure.md: each closure criterion of the checklist, met or not and why; open assumptions."""

from __future__ import annotations

from cometrecon.reports.evidence import IncidentEvidence
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
        f"# Closure checklist: {evidence.incident_id}",
        "",
        f"**Final statement.** {final_statement(evidence)}",
        "",
        "| criterion | met | why |",
        "|---|---|---|",
        *[f"| {c.criterion} | {'yes' if c.met else 'no'} | {c.why} |" for c in criteria],
        "",
        f"The incident can close when every criterion is met: {sum(c.met for c in criteria)} of {len(criteria)} are.",
        "",
        "## Unresolved assumptions",
        "",
        "| assumption | owner | next action |",
        "|---|---|---|",
        *[
            f"| {u['assumption']} | {u['owner']} | {u['next_action']} |"
            for u in open_unknowns(evidence)
        ],
        "",
        "## Contract verification: disagreements",
        "",
        "| contract item | item | documented | observed | evidence | can explain |",
        "|---|---|---|---|---|---|",
        *[
            f"| {r['contract_item']} | {r['item']} | {r['documented_value'] or '(not documented)'} "
            f"| {r['observed_value'] or '(not observed)'} | {r['evidence_count']:,} "
            f"| {r['linked_cause'] or ''} |"
            for r in contract_disagreements(evidence)
        ],
        "",
        "## Usage validation",
        "",
        "| checklist item | count | confidence |",
        "|---|---|---|",
        *[
            f"| {r['checklist_item']} | {r['check_count']:,}"
            + (f" of {r['out_of']:,}" if r["out_of"] is not None else "")
            + f" | {r['confidence']} |"
            for r in usage_rows(evidence)
        ],
        "",
        "## Timeline (UTC)",
        "",
        *[
            f"- {r['event_at']:%Y-%m-%d %H:%M} {r['event_kind']}: {r['event']} ({r['detail']})"
            + (f"; likely trigger: {r['likely_trigger']}" if r["likely_trigger"] else "")
            for r in timeline_rows(evidence)
        ],
        "",
        "## Remediation plan (track separately from these notes)",
        "",
        "| item | called for by | evidence | owner |",
        "|---|---|---|---|",
        *[
            f"| {r['checklist_item']} | {r['called_for_by']} | {r['evidence']} | {r['owner']} |"
            for r in remediation_rows(evidence)
        ],
        "",
    ]
    return "\n".join(lines)
