"""Write every output of an incident into reports/<incident_id>/."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from cometrecon.reports.closure import closure_markdown
from cometrecon.reports.evidence import incident_ids, load_evidence
from cometrecon.reports.html_report import report_html
from cometrecon.reports.record import build_record, validate_record
from cometrecon.reports.support_packet import support_packet

OUTPUT_NAMES = ("reconciliation_record.json", "support_packet.md", "closure.md", "report.html")


def write_incident_outputs(db_path: Path, incident_id: str, reports_dir: Path) -> list[Path]:
    evidence = load_evidence(db_path, incident_id)
    run_id = (
        f"rec_{evidence.window_start:%Y-%m-%d}_{incident_id}_{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    )
    record = build_record(evidence, run_id)
    validate_record(record)
    out = reports_dir / incident_id
    out.mkdir(parents=True, exist_ok=True)
    contents = {
        "reconciliation_record.json": json.dumps(record, indent=2, ensure_ascii=False) + "\n",
        "support_packet.md": support_packet(evidence),
        "closure.md": closure_markdown(evidence),
        "report.html": report_html(evidence, run_id),
    }
    written = []
    for name in OUTPUT_NAMES:
        path = out / name
        path.write_text(contents[name], encoding="utf-8")
        written.append(path)
    return written


def write_all_incidents(db_path: Path, reports_dir: Path) -> dict[str, list[Path]]:
    return {
        incident: write_incident_outputs(db_path, incident, reports_dir)
        for incident in incident_ids(db_path)
    }
