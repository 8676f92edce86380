"""closure.md: each closure criterion of the checklist, met or not and why; open assumptions."""

from __future__ import annotations

from cometrecon.reports.evidence import IncidentEvidence
from cometrecon.reports.narrative import closure_criteria, final_statement, open_unknowns


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
    ]
    return "\n".join(lines)
