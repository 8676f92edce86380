"""Write every output of an incident into reports/<incident_id>/."""

from __future__ import annotations

import hashlib
import json
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cometrecon.reports.closure import closure_markdown
from cometrecon.reports.evidence import incident_ids, load_evidence
from cometrecon.reports.html_report import report_html
from cometrecon.reports.record import blocked_record, build_record, validate_record
from cometrecon.reports.support_packet import support_packet
from cometrecon.validation import GateResult

OUTPUT_NAMES = ("reconciliation_record.json", "support_packet.md", "closure.md", "report.html")


def incident_validation(
    gate: GateResult, incident_id: str, reports_dir: Path | None = None
) -> dict[str, Any]:
    """The gate's outcome as it concerns one incident: only the failures that touch it. The
    Data Docs are named relative to the reports folder, never by this machine's path."""
    failures = gate.failures_for(incident_id)
    summary = gate.as_dict()
    docs = Path(summary["data_docs"])
    if reports_dir is not None:
        docs = Path(os.path.relpath(docs.resolve(), reports_dir.resolve()))
    return {
        "status": "failed" if failures else "passed",
        "suites": summary["suites"],
        "expectations": summary["expectations"],
        "data_docs": docs.as_posix(),
        "failed_expectations": [
            {k: v for k, v in failure.items() if k != "incident_ids"}
            for failure in summary["failed_expectations"]
            if failure["incident_ids"] is None or incident_id in failure["incident_ids"]
        ],
    }


def _write_json(path: Path, record: dict[str, Any]) -> None:
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


SAFE_FOLDER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")


def incident_folder(reports_dir: Path, incident_id: str) -> Path:
    """The folder of an incident's outputs, always inside `reports_dir`: an id that is a
    plain name is used as it is; any other (a path, `..`, a NUL, an overlong or non-ASCII
    id) becomes a plain name with a hash of the id, so two ids never share a folder."""
    if SAFE_FOLDER_NAME.fullmatch(incident_id) and ".." not in incident_id:
        name = incident_id
    else:
        readable = re.sub(r"[^A-Za-z0-9._-]+", "_", incident_id).strip("._-")[:60] or "incident"
        digest = hashlib.sha256(incident_id.encode("utf-8", "surrogatepass")).hexdigest()[:12]
        name = f"{readable}-{digest}"
    root = reports_dir.resolve()
    folder = (root / name).resolve()
    if folder.parent != root:
        raise ValueError(f"incident folder {folder} is not inside {root}")
    return folder


def write_blocked_record(incident_id: str, reports_dir: Path, gate: GateResult) -> list[Path]:
    """Write only the record, saying `blocked_by_validation`; remove older outputs."""
    run_id = f"rec_{incident_id}_{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    record = blocked_record(
        incident_id, run_id, incident_validation(gate, incident_id, reports_dir)
    )
    validate_record(record)
    out = incident_folder(reports_dir, incident_id)
    out.mkdir(parents=True, exist_ok=True)
    for name in OUTPUT_NAMES[1:]:
        (out / name).unlink(missing_ok=True)
    path = out / OUTPUT_NAMES[0]
    _write_json(path, record)
    return [path]


def write_incident_outputs(
    db_path: Path, incident_id: str, reports_dir: Path, gate: GateResult
) -> list[Path]:
    if gate.failures_for(incident_id):
        return write_blocked_record(incident_id, reports_dir, gate)
    evidence = load_evidence(db_path, incident_id)
    run_id = (
        f"rec_{evidence.window_start:%Y-%m-%d}_{incident_id}_{datetime.now(UTC):%Y%m%dT%H%M%SZ}"
    )
    record = build_record(evidence, run_id, incident_validation(gate, incident_id, reports_dir))
    validate_record(record)
    out = incident_folder(reports_dir, incident_id)
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


def write_all_incidents(
    db_path: Path, reports_dir: Path, gate: GateResult
) -> tuple[dict[str, list[Path]], dict[str, str]]:
    """Every incident's outputs, each on its own: one that fails is named with its reason
    (second dict) and the others still get theirs."""
    written: dict[str, list[Path]] = {}
    failed: dict[str, str] = {}
    for incident in incident_ids(db_path):
        try:
            written[incident] = write_incident_outputs(db_path, incident, reports_dir, gate)
        except Exception as error:  # one incident's failure never stops the others
            failed[incident] = f"{type(error).__name__}: {error}"
    return written, failed
