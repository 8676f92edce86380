"""The Great Expectations gate: each suite, fed exactly the corruption it guards against,
blocks the run with the right message; the clean demo passes it.

Each corruption is made with SQL on a copy of the built demo warehouse, then the real
`cometrecon report` runs the real GX checkpoints on it (in process, so GX is imported once).
"""

from __future__ import annotations

import json
import re
import shutil
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import pytest
from conftest import cometrecon

from cometrecon.cli import EXIT_BLOCKED, EXIT_OK, main
from cometrecon.reports.record import validate_record

INCIDENT = "INC-2026-05-11-001"


@pytest.fixture(scope="module")
def demo(demo_warehouse: Callable[[int], dict[str, Any]]) -> dict[str, Any]:
    return demo_warehouse(42)


def corrupted_report(
    demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str], *statements: str
) -> tuple[int, str, dict[str, Any], Path]:
    """Copy the warehouse, corrupt it, run `cometrecon report`; return rc, output, record."""
    db = tmp_path / "corrupted.duckdb"
    shutil.copy(demo["db"], db)
    with duckdb.connect(str(db)) as con:
        for statement in statements:
            con.execute(statement)
    reports = tmp_path / "reports"
    capsys.readouterr()
    rc = main(["report", INCIDENT, "--db", str(db), "--reports", str(reports)])
    captured = capsys.readouterr()
    out = captured.out + captured.err
    record = json.loads((reports / INCIDENT / "reconciliation_record.json").read_text())
    validate_record(record)
    return rc, out, record, reports


def assert_blocked(
    rc: int, out: str, record: dict[str, Any], reports: Path, suite: str, description: str
) -> dict[str, Any]:
    assert rc == EXIT_BLOCKED, out
    assert record["status"] == "blocked_by_validation"
    assert not (reports / INCIDENT / "support_packet.md").exists()
    assert not (reports / INCIDENT / "report.html").exists()
    failed = [f for f in record["validation"]["failed_expectations"] if f["suite"] == suite]
    assert failed, record["validation"]["failed_expectations"]
    failure = next(f for f in failed if description in f["description"])
    line = next(
        line
        for line in out.splitlines()
        if line.strip().startswith(f"FAILED {suite} ") and description in line
    )
    assert failure["table"] in line
    assert f"{failure['unexpected_count']} unexpected" in line
    assert re.search(r"Data Docs: .*_validation/data_docs/index\.html", out)
    return failure


def test_clean_demo_passes_the_gate_and_records_it(demo: dict[str, Any]) -> None:
    run = demo["run"]
    assert run.returncode == EXIT_OK, run.stdout[-3000:] + run.stderr[-3000:]
    assert re.search(r"validation: 29 suites, \d+ expectations, 0 failed", run.stdout)
    for concern in (
        "confidence_labels",
        "window_alignment",
        "money_invariants",
        "row_conservation",
    ):
        assert re.search(rf"{concern}\s+\d+ suites\s+\d+ expectations\s+all passed", run.stdout)
    record = json.loads((demo["reports"] / INCIDENT / "reconciliation_record.json").read_text())
    unmet = [c["criterion"] for c in record["closure"] if not c["met"]]
    assert record["status"] == ("open" if unmet else "reconciled")
    assert record["unmet_criteria"] == unmet
    assert record["validation"]["status"] == "passed"
    assert record["validation"]["failed_expectations"] == []
    # named relative to the reports folder: no path of this machine in the record
    assert record["validation"]["data_docs"] == "_validation/data_docs/index.html"
    docs = demo["reports"] / record["validation"]["data_docs"]
    assert docs.is_file() and docs.parent == demo["reports"] / "_validation" / "data_docs"
    index = docs.read_text()
    assert "window_alignment.int_incident_attempts_attributed" in index


# (corruption SQL, suite, words of the failed expectation's description, unexpected
# count, fields the first sample row must show)
CORRUPTIONS = [
    pytest.param(
        "update marts.fct_variance_attribution set confidence = 'probable' where cause = 'rounding'",
        "confidence_labels.fct_variance_attribution",
        "Attribution labels are verified",
        1,
        {"attribution_key": f"{INCIDENT}:rounding", "confidence": "probable"},
        id="stray-label",
    ),
    pytest.param(
        "update intermediate.int_incident_attempts_attributed set unverified_dimensions = 2 "
        "where incident_attempt_key in (select incident_attempt_key from "
        "intermediate.int_incident_attempts_attributed where capture_status = 'retry_amplification' "
        "and is_sent_in_window order by 1 limit 3)",
        "confidence_labels.fct_variance_attribution",
        "rests on an attempt with an estimated",
        1,
        {"cause": "retry_amplification", "attempts_with_unverified_figures": "3"},
        id="final-claim-on-estimated-figures",
    ),
    pytest.param(
        "alter table marts.dim_incident_windows alter buffered_end type timestamp",
        "window_alignment.timestamp_columns",
        "Every timestamp is an instant in UTC",
        1,
        {"column_path": "marts.dim_incident_windows.buffered_end", "data_type": "TIMESTAMP"},
        id="naive-timestamp",
    ),
    pytest.param(
        "update intermediate.int_incident_attempts_attributed "
        "set sent_at = sent_at + interval 2 day, billed_at = billed_at + interval 2 day "
        "where incident_attempt_key = (select min(incident_attempt_key) "
        "from intermediate.int_incident_attempts_attributed)",
        "window_alignment.int_incident_attempts_attributed",
        "inside [start - buffer, end + buffer)",
        1,
        {"incident_id": INCIDENT},
        id="row-outside-the-window",
    ),
    pytest.param(
        "update intermediate.int_ledger_buckets_aligned "
        "set bucket_start_local = bucket_start_local + interval 7 minute "
        "where ledger_bucket_key = (select min(ledger_bucket_key) "
        "from intermediate.int_ledger_buckets_aligned)",
        "window_alignment.int_ledger_buckets_aligned",
        "multiple of its bucket_minutes",
        1,
        {},
        id="misaligned-ledger-bucket",
    ),
    pytest.param(
        # a line straddling the window end lands after the models were built
        "insert into raw.focus_charges select * replace ("
        "timestamptz '2026-05-11 09:30:00+00' as charge_period_start, "
        "timestamptz '2026-05-11 10:30:00+00' as charge_period_end, "
        "_row_number + 100000 as _row_number) "
        "from raw.focus_charges where _superseded_by is null limit 1",
        "window_alignment.dim_incident_windows",
        "crosses a window edge is flagged",
        1,
        {"incident_id": INCIDENT, "charge_period_start": "2026-05-11 09:30:00+00:00"},
        id="unflagged-focus-line-across-the-window",
    ),
    pytest.param(
        "update marts.fct_variance_attribution set amount_usd = amount_usd + 0.000001 "
        "where cause = 'rounding'",
        "money_invariants.fct_computation_paths",
        "forecast + sum of attribution = billed",
        1,
        {"incident_id": INCIDENT},
        id="broken-identity",
    ),
    pytest.param(
        "update intermediate.int_attempt_charges_priced set quantity = -quantity "
        "where attempt_dimension_key = (select min(attempt_dimension_key) "
        "from marts.fct_attempt_charges where quantity > 0)",
        "money_invariants.fct_attempt_charges",
        "No negative quantities",
        1,
        {},
        id="negative-quantity",
    ),
    pytest.param(
        "update intermediate.int_incident_charge_lines_windowed set billing_currency = 'EUR' "
        "where incident_charge_line_key = (select min(incident_charge_line_key) "
        "from intermediate.int_incident_charge_lines_windowed where is_counted_in_billed)",
        "money_invariants.int_incident_charge_lines_windowed",
        "One currency per incident",
        1,
        {"incident_id": INCIDENT, "currencies": "2"},
        id="second-currency",
    ),
    pytest.param(
        "alter table marts.fct_charge_variance alter variance_usd type double",
        "money_invariants.money_columns",
        "Every money column is DECIMAL",
        1,
        {"column_path": "marts.fct_charge_variance.variance_usd", "data_type": "DOUBLE"},
        id="float-money-column",
    ),
    pytest.param(
        "delete from raw.app_requests where _row_number = 1 and _source_path = "
        "(select min(_source_path) from raw.app_requests)",
        "row_conservation.int_ingest_rows_conserved",
        "rows read = landed + quarantined",
        1,
        {"present_quarantined": "0"},
        id="lost-row",
    ),
    pytest.param(
        # DuckDB enforces the contract's primary key, so the duplicate needs a table rebuilt
        # without it: what a hand-made or foreign-built mart would look like
        "create or replace table marts.dim_service_labels as "
        "select * from marts.dim_service_labels "
        "union all (select * from marts.dim_service_labels order by service_label limit 1)",
        "row_conservation.dim_service_labels",
        "service_label is unique in dim_service_labels",
        2,
        {},
        id="duplicate-mart-key",
    ),
    pytest.param(
        # the largest mart holds its key by tests, not an index: the gate checks it in one pass
        "insert into intermediate.int_attempt_charges_priced "
        "(select * from intermediate.int_attempt_charges_priced "
        "order by attempt_dimension_key limit 1)",
        "row_conservation.fct_attempt_charges",
        "attempt_dimension_key is present and unique",
        1,
        {"rows_with_key": "2"},
        id="duplicate-attempt-charge",
    ),
]


@pytest.mark.parametrize(("corruption", "suite", "words", "count", "sample"), CORRUPTIONS)
def test_each_corruption_blocks_the_run_with_the_right_message(
    demo: dict[str, Any],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    corruption: str,
    suite: str,
    words: str,
    count: int,
    sample: dict[str, str],
) -> None:
    rc, out, record, reports = corrupted_report(demo, tmp_path, capsys, corruption)
    failure = assert_blocked(rc, out, record, reports, suite, words)
    assert failure["unexpected_count"] == count
    if sample:
        first = failure["sample_keys"][0]
        assert {k: first.get(k) for k in sample} == sample, failure["sample_keys"]


def test_lost_row_names_the_file_and_the_missing_row(
    demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rc, out, record, reports = corrupted_report(demo, tmp_path, capsys, CORRUPTIONS[10].values[0])
    failure = assert_blocked(
        rc, out, record, reports, "row_conservation.int_ingest_rows_conserved", "rows read"
    )
    sample = failure["sample_keys"][0]
    assert sample["source_path"].startswith("app_requests/")
    assert int(sample["rows_landed"]) == int(sample["present_landed"]) + 1
    # an extra landed row is caught the same way: the registry never counted it
    rc, out, record, reports = corrupted_report(demo, tmp_path, capsys, CORRUPTIONS[5].values[0])
    assert_blocked(
        rc, out, record, reports, "row_conservation.int_ingest_rows_conserved", "rows read"
    )


def test_validate_command_alone(demo: dict[str, Any], tmp_path: Path) -> None:
    reports = tmp_path / "reports"
    assert main(["validate", "--db", str(demo["db"]), "--reports", str(reports)]) == EXIT_OK
    summary = json.loads((reports / "_validation" / "summary.json").read_text())
    assert summary["status"] == "passed" and summary["suites"] == 29
    assert set(summary["per_concern"]) == {
        "confidence_labels",
        "window_alignment",
        "money_invariants",
        "row_conservation",
    }


def test_report_reuses_the_gate_only_while_the_warehouse_is_unchanged(
    demo: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db, reports = tmp_path / "warehouse.duckdb", tmp_path / "reports"
    shutil.copy(demo["db"], db)
    record_path = reports / INCIDENT / "reconciliation_record.json"

    def report() -> tuple[int, str, dict[str, Any]]:
        capsys.readouterr()
        rc = main(["report", INCIDENT, "--db", str(db), "--reports", str(reports)])
        captured = capsys.readouterr()
        return rc, captured.out + captured.err, json.loads(record_path.read_text())

    assert main(["validate", "--db", str(db), "--reports", str(reports)]) == EXIT_OK
    rc, out, record = report()
    assert rc == EXIT_OK, out
    assert "validation: reused the gate's result on this unchanged warehouse (29 suites" in out
    assert record["status"] in ("reconciled", "open")  # not blocked: the gate passed

    # a write after the gate: the next report runs the gate again and is blocked by it
    stray_label = CORRUPTIONS[0].values[0]
    with duckdb.connect(str(db)) as con:
        con.execute(stray_label)
    rc, out, record = report()
    assert rc == EXIT_BLOCKED, out
    assert "reused" not in out and re.search(
        r"validation: 29 suites, \d+ expectations, 1 failed", out
    )
    assert record["status"] == "blocked_by_validation"

    # the failed result is reused as it stands: still blocked, with the same failure
    rc, out, record = report()
    assert rc == EXIT_BLOCKED, out
    assert "reused the gate's result" in out and "1 failed" in out
    assert "FAILED confidence_labels.fct_variance_attribution" in out
    assert record["status"] == "blocked_by_validation"
    assert [f["suite"] for f in record["validation"]["failed_expectations"]] == [
        "confidence_labels.fct_variance_attribution"
    ]
    assert not (reports / INCIDENT / "report.html").exists()


def test_landed_focus_line_across_the_window_end_is_flagged_not_counted(
    demo: dict[str, Any], tmp_path: Path
) -> None:
    landing = tmp_path / "landing"
    shutil.copytree(demo["landing"], landing)
    focus = landing / "billing" / "focus_2026-05.csv"
    header, first, *_ = focus.read_text().splitlines()
    fields = dict(zip(header.split(","), first.split(","), strict=True))
    fields.update(
        ChargePeriodStart="2026-05-11T09:30:00Z",
        ChargePeriodEnd="2026-05-11T10:30:00Z",
        BilledCost="7.25",
        EffectiveCost="7.25",
    )
    with focus.open("a") as handle:
        handle.write(",".join(fields[name] for name in header.split(",")) + "\n")
    db = tmp_path / "wh.duckdb"
    run = cometrecon("run", str(landing), db=db, reports=tmp_path / "reports")
    assert run.returncode == EXIT_OK, run.stdout[-3000:] + run.stderr[-3000:]
    assert re.search(r"validation: 29 suites, \d+ expectations, 0 failed", run.stdout)
    with duckdb.connect(str(db), read_only=True) as con:
        placed = con.execute(
            "select window_position, is_counted_in_billed, billed_cost "
            "from intermediate.int_incident_charge_lines_windowed where crosses_window_edge"
        ).fetchall()
        (billed,) = con.execute(
            "select amount_b_usd from marts.fct_computation_paths where path_b = 'billed' limit 1"
        ).fetchone() or (None,)
    assert placed == [("crosses_window_end", False, Decimal("7.25"))]
    assert billed == Decimal(demo["truth"]["paths"]["billed"])
    record = json.loads(
        (tmp_path / "reports" / INCIDENT / "reconciliation_record.json").read_text()
    )
    assert any(
        "1 billing line(s) ($7.25) have a charge period crossing the window edge" in u["assumption"]
        for u in record["open_unknowns"]
    )
